/**
 * Micro benchmark of SDP anchoring (signalling path, once per offer/answer, never per packet):
 * describe + anchor of typical bodies, so the SIP proxy's and NG server's per-call SDP cost is
 * known. `register(bench)` adds the tasks to a shared tinybench Bench; run this file directly
 * (`node --import tsx bench/micro/sdp-rewrite.ts`) for a standalone table.
 */
import { fileURLToPath } from 'node:url';
import { Bench } from 'tinybench';
import { anchorSdp, describeSdp, SdpVersionState } from '../../src/sdp/index.ts';

const RELAY = '203.0.113.10';

const crlf = (lines: string[]): string => `${lines.join('\r\n')}\r\n`;

/** A PBX's G.711 offer: what nearly every call of the NAT gateway scenario carries. */
const pbxOffer = crlf([
  'v=0', 'o=- 1707480323 1707480323 IN IP4 192.168.1.10', 's=Asterisk', 'c=IN IP4 192.168.1.10', 't=0 0',
  'm=audio 10000 RTP/AVP 0 8 101', 'a=rtpmap:0 PCMU/8000', 'a=rtpmap:8 PCMA/8000',
  'a=rtpmap:101 telephone-event/8000', 'a=fmtp:101 0-16', 'a=ptime:20', 'a=maxptime:150', 'a=sendrecv',
]);

/** A browser-style audio + video offer with ICE candidates to strip: the heavy end. */
const webrtcOffer = crlf([
  'v=0', 'o=- 4611731400430051336 2 IN IP4 127.0.0.1', 's=-', 't=0 0', 'a=group:BUNDLE 0 1',
  ...['audio', 'video'].flatMap((kind, i) => [
    kind === 'audio' ? 'm=audio 54321 UDP/TLS/RTP/SAVPF 111 0 8 126' : 'm=video 54323 UDP/TLS/RTP/SAVPF 96 97 98 99',
    'c=IN IP4 198.51.100.7', 'a=rtcp:9 IN IP4 0.0.0.0',
    ...Array.from({ length: 4 }, (_, k) => `a=candidate:${k} 1 udp ${2122260223 - k} 192.168.1.${5 + k} ${54321 + 2 * i} typ host generation 0`),
    'a=ice-ufrag:F7gI', 'a=ice-pwd:x9cml/YzichV2+XlhiMu8g', 'a=ice-options:trickle',
    'a=fingerprint:sha-256 4A:AD:B9:B1:3F:82:18:3B:54:02:12:DF:3E:5D:49:6B:19:E5:7C:AB', 'a=setup:actpass', `a=mid:${i}`,
    'a=sendrecv', 'a=rtcp-mux',
    ...(kind === 'audio'
      ? ['a=rtpmap:111 opus/48000/2', 'a=fmtp:111 minptime=10;useinbandfec=1', 'a=rtpmap:0 PCMU/8000', 'a=rtpmap:8 PCMA/8000', 'a=rtpmap:126 telephone-event/8000']
      : ['a=rtpmap:96 VP8/90000', 'a=rtcp-fb:96 nack', 'a=rtcp-fb:96 nack pli', 'a=rtpmap:97 rtx/90000', 'a=fmtp:97 apt=96', 'a=rtpmap:98 H264/90000', 'a=fmtp:98 profile-level-id=42e01f;packetization-mode=1', 'a=rtpmap:99 rtx/90000', 'a=fmtp:99 apt=98']),
  ]),
]);

export function register(bench: Bench): void {
  const state = new SdpVersionState();
  bench
    .add('sdp: describe PBX offer', () => {
      describeSdp(pbxOffer);
    })
    .add('sdp: anchor PBX offer (with version state)', () => {
      anchorSdp(pbxOffer, { address: RELAY, streams: [{ rtpPort: 30000 }], version: state, replaceOrigin: true });
    })
    .add('sdp: describe + anchor PBX offer (one proxied offer)', () => {
      const info = describeSdp(pbxOffer);
      anchorSdp(pbxOffer, { address: RELAY, streams: info.media.map((_, i) => ({ rtpPort: 30000 + 4 * i })) });
    })
    .add('sdp: anchor WebRTC audio+video offer (ICE stripped)', () => {
      anchorSdp(webrtcOffer, { address: RELAY, streams: [{ rtpPort: 30000 }, { rtpPort: 30004 }] });
    });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const bench = new Bench({ time: Number(process.env.PINLATCH_BENCH_MS ?? 1000) });
  register(bench);
  await bench.run();
  console.table(bench.table());
}
