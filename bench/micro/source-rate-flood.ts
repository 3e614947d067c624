/**
 * Micro benchmark of the per-source rate limiter (src/sip/edge/SourceRateLimiter.ts) under the
 * flood it exists for: a table full of banned sources (65,536, the default bound), and every
 * datagram from a new, spoofed address, so that each one makes room in the full table. The cost
 * per new source is what a stranger can make the SIP thread pay per datagram; it must not grow
 * with the table. `register(bench)` adds the tasks to a shared tinybench Bench; run this file
 * directly (`node --import tsx bench/micro/source-rate-flood.ts`) for a standalone table.
 */
import { fileURLToPath } from 'node:url';
import { Bench } from 'tinybench';
import { SourceRateLimiter } from '../../src/sip/edge/SourceRateLimiter.ts';

const SOURCES = 65_536;

function addressOf(prefix: number, i: number): string {
  return `${prefix}.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
}

export function register(bench: Bench): void {
  // burst 1: a source's second request is refused and bans it.
  const banned = new SourceRateLimiter({ requestsPerSec: 1, burst: 1, banSec: 60, sources: SOURCES });
  let now = 0;
  for (let i = 0; i < SOURCES; i++) {
    banned.take(addressOf(10, i), now);
    banned.take(addressOf(10, i), now);
  }
  let n = 0;
  bench.add('SourceRateLimiter new spoofed source, table full of bans (64Ki)', () => {
    // 1 µs of clock per datagram: within the bans' 60 s however long the run.
    now += 0.001;
    const source = addressOf(11 + ((n >> 24) & 63), n++);
    banned.take(source, now);
    banned.take(source, now);
  });

  const open = new SourceRateLimiter({ requestsPerSec: 200, burst: 400, banSec: 60, sources: SOURCES });
  let clock = 0;
  let m = 0;
  bench.add('SourceRateLimiter new source, table full of recent sources (64Ki)', () => {
    clock += 0.001;
    open.take(addressOf(12 + ((m >> 24) & 63), m++), clock);
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const bench = new Bench({ name: 'source-rate-flood', time: 1000 });
  register(bench);
  await bench.run();
  console.table(bench.table());
}
