/**
 * Micro benchmark of the NG codec (src/control/bencode.ts) and request parsing: the per-request
 * CPU cost of the control plane before any media work. `register(bench)` adds the tasks to a
 * shared tinybench Bench; run this file directly (`node --import tsx bench/micro/bencode.ts`)
 * for a standalone table.
 */
import { fileURLToPath } from 'node:url';
import { Bench } from 'tinybench';
import { decode, decodeJson, encode, type BencodeDict } from '../../src/control/bencode.ts';
import { parseNgRequest } from '../../src/control/NgRequest.ts';

const sdp = [
  'v=0', 'o=- 1707480323 1707480323 IN IP4 192.168.1.10', 's=Asterisk', 'c=IN IP4 192.168.1.10', 't=0 0',
  'm=audio 10000 RTP/AVP 0 8 101', 'a=rtpmap:0 PCMU/8000', 'a=rtpmap:8 PCMA/8000',
  'a=rtpmap:101 telephone-event/8000', 'a=fmtp:101 0-16', 'a=ptime:20', 'a=sendrecv', '',
].join('\r\n');

/** What Kamailio's rtpengine module sends for rtpengine_offer("trust-address replace-origin"). */
const offer = {
  sdp,
  'call-id': '1-20464@192.168.1.10',
  'received-from': ['IP4', '192.168.1.10'],
  flags: ['trust-address'],
  replace: ['origin'],
  'from-tag': '20464caller1',
  command: 'offer',
};
const offerWire = encode(offer);
const offerJson = Buffer.from(JSON.stringify(offer));
const reply = { result: 'ok', sdp };

export function register(bench: Bench): void {
  bench
    .add('bencode decode: Kamailio offer (~450 B)', () => {
      decode(offerWire);
    })
    .add('bencode decode + parseNgRequest: offer', () => {
      parseNgRequest(decode(offerWire) as BencodeDict);
    })
    .add('JSON decode: same offer', () => {
      decodeJson(offerJson);
    })
    .add('bencode encode: offer reply with SDP', () => {
      encode(reply);
    });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const bench = new Bench({ name: 'NG codec', time: Number(process.env.PINLATCH_BENCH_MS ?? 500) });
  register(bench);
  await bench.run();
  console.table(bench.table());
}
