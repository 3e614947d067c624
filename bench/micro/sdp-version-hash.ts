/**
 * Micro benchmark of what SdpVersionState (src/sdp/version-state.ts) does per anchored SDP to
 * tell a changed output from an unchanged one (RFC 3264 §8): comparing with the kept text (what
 * it did before), or a SHA-1 digest of it (what it keeps now: 20 bytes, not the SDP text, per
 * direction of every call). Run it directly (`node --import tsx bench/micro/sdp-version-hash.ts`)
 * for a standalone table.
 */
import { createHash } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { Bench } from 'tinybench';
import { SdpVersionState } from '../../src/sdp/version-state.ts';

/** An anchored answer as the relay writes it, its o= version blanked (~430 B). */
const body = [
  'v=0', 'o=- 1707480323 * IN IP4 203.0.113.1', 's=Asterisk', 'c=IN IP4 203.0.113.1', 't=0 0',
  'm=audio 30000 RTP/AVP 0 8 101', 'a=rtpmap:0 PCMU/8000', 'a=rtpmap:8 PCMA/8000',
  'a=rtpmap:101 telephone-event/8000', 'a=fmtp:101 0-16', 'a=ptime:20', 'a=sendrecv', 'a=rtcp:30001',
  'a=ice-lite', 'a=label:1', 'a=ssrc:1234567 cname:abcdefghijklmnop', '',
].join('\r\n');
const same = body.split('').join('');

export function register(bench: Bench): void {
  const state = new SdpVersionState();
  let kept = body;
  bench
    .add('text compare with the kept SDP (~430 B)', () => {
      if (same !== kept) kept = same;
    })
    .add('SHA-1 digest of the SDP (createHash)', () => {
      createHash('sha1').update(same, 'latin1').digest();
    })
    .add('SdpVersionState.next (digest and compare)', () => {
      state.next(same, 1n);
    });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const bench = new Bench({ name: 'SDP version state', time: Number(process.env.PINLATCH_BENCH_MS ?? 500) });
  register(bench);
  await bench.run();
  console.table(bench.table());
}
