/**
 * Micro benchmark of SDP anchoring (signalling path, once per offer/answer, never per packet):
 * parse + describe + anchor of typical bodies, as the SIP proxy does per offer and per answer, so
 * the per-call SDP cost is known. Each task runs twice side by side: "line copy" is src/sdp, "ref"
 * the sdp-transform parse and write it replaced (test/sdp/reference/), so the ratio of the two is
 * measured in one process. `register(bench)` adds the tasks to a shared tinybench Bench; run this
 * file directly (`node --import tsx bench/micro/sdp-rewrite.ts`) for a standalone table with the
 * ratios.
 */
import { fileURLToPath } from 'node:url';
import { Bench } from 'tinybench';
import { anchorParsed, anchorSdp, describeParsed, describeSdp, parseSdp, SdpVersionState, type AnchorPlan } from '../../src/sdp/index.ts';
import { anchorParsed as refAnchorParsed, anchorSdp as refAnchorSdp } from '../../test/sdp/reference/anchor.ts';
import { describeParsed as refDescribeParsed, describeSdp as refDescribeSdp } from '../../test/sdp/reference/describe.ts';
import { parseSdp as refParseSdp } from '../../test/sdp/reference/parse.ts';

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

/** A desk phone's audio + video offer without ICE: media-level c= on video, a=rtcp, b= lines. */
const audioVideoOffer = crlf([
  'v=0', 'o=bob 2808844564 2808844564 IN IP4 192.0.2.20', 's=call', 'c=IN IP4 192.0.2.20', 'b=AS:2048', 't=0 0',
  'm=audio 49172 RTP/AVP 0 8 9 101', 'a=rtpmap:0 PCMU/8000', 'a=rtpmap:8 PCMA/8000', 'a=rtpmap:9 G722/8000',
  'a=rtpmap:101 telephone-event/8000', 'a=fmtp:101 0-16', 'a=ptime:20', 'a=rtcp:49173', 'a=sendrecv',
  'm=video 51372 RTP/AVP 96 97', 'c=IN IP4 192.0.2.21', 'b=TIAS:1900000', 'a=rtpmap:96 H264/90000',
  'a=fmtp:96 profile-level-id=42e01f;packetization-mode=1', 'a=rtpmap:97 VP8/90000', 'a=rtcp-fb:* nack pli',
  'a=rtcp:51373', 'a=sendrecv',
]);

interface Implementation {
  readonly label: string;
  /** What the proxy does per SDP: parse once, describe, anchor the parsed body. */
  readonly proxied: (text: string, plan: (streams: number) => AnchorPlan) => void;
  readonly describe: (text: string) => void;
  readonly anchor: (text: string, plan: AnchorPlan) => void;
}

const implementations: readonly Implementation[] = [
  {
    label: 'line copy',
    proxied: (text, plan) => {
      const view = parseSdp(text);
      anchorParsed(view, plan(describeParsed(view).media.length));
    },
    describe: describeSdp,
    anchor: anchorSdp,
  },
  {
    label: 'ref',
    proxied: (text, plan) => {
      const session = refParseSdp(text);
      refAnchorParsed(session, plan(refDescribeParsed(session).media.length));
    },
    describe: refDescribeSdp,
    anchor: refAnchorSdp,
  },
];

const relayPlan = (version: SdpVersionState) => (streams: number): AnchorPlan => ({
  address: RELAY,
  version,
  streams: Array.from({ length: streams }, (_, i) => ({ rtpPort: 30000 + 4 * i })),
});

export function register(bench: Bench): void {
  // Each task's two implementations run one right after the other, so that both see the same load.
  const states = new Map(implementations.map((impl) => [impl, new SdpVersionState()]));
  const tasks: Array<[string, (impl: Implementation) => void]> = [
    ['parse + describe + anchor A/V offer, no ICE', (impl) => impl.proxied(audioVideoOffer, relayPlan(states.get(impl)!))],
    ['parse + describe + anchor PBX offer', (impl) => impl.proxied(pbxOffer, relayPlan(states.get(impl)!))],
    ['describe PBX offer', (impl) => impl.describe(pbxOffer)],
    ['anchor WebRTC audio+video offer, ICE stripped', (impl) => impl.anchor(webrtcOffer, { address: RELAY, streams: [{ rtpPort: 30000 }, { rtpPort: 30004 }] })],
  ];
  for (const [name, run] of tasks) {
    for (const impl of implementations) bench.add(`sdp: ${name} (${impl.label})`, () => run(impl));
  }
}

/**
 * Each "ref" task's latency over its "line copy" twin (how many times faster the line copy is), by
 * median and by mean: on a shared machine preemption inflates some samples, the median less so.
 */
function ratios(bench: Bench): string[] {
  const latency = new Map(bench.tasks.map((t) => [t.name, t.result && 'latency' in t.result ? t.result.latency : undefined]));
  return [...latency].filter(([name]) => name.endsWith('(line copy)')).map(([name, fast]) => {
    const ref = latency.get(name.replace('(line copy)', '(ref)'));
    const ratio = (of: 'p50' | 'mean') => (fast && ref ? (ref[of] / fast[of]).toFixed(2) : 'n/a');
    return `${name.replace(' (line copy)', '')}: ${ratio('p50')}x by median, ${ratio('mean')}x by mean`;
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const bench = new Bench({ time: Number(process.env.PINLATCH_BENCH_MS ?? 1000) });
  register(bench);
  await bench.run();
  console.table(bench.table());
  console.log(`ref latency / line copy latency:\n  ${ratios(bench).join('\n  ')}`);
}
