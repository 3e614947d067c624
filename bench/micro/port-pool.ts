/**
 * Micro benchmark of the PortPool (src/media/PortPool.ts): one allocate + release per call
 * setup/teardown, so its cost bounds the call rate the media plane can take, not the packet
 * rate. `register(bench)` adds the tasks to a shared tinybench Bench; run this file directly
 * (`node --import tsx bench/micro/port-pool.ts`) for a standalone table.
 */
import { fileURLToPath } from 'node:url';
import { Bench } from 'tinybench';
import { PortPool } from '../../src/media/PortPool.ts';

/** 20,000 RTP/RTCP pairs: a wide production range. */
const RANGE = { min: 20000, max: 59999 };

export function register(bench: Bench): void {
  const direct = new PortPool({ range: RANGE, quarantineMs: 0 });
  bench.add('PortPool allocate+release (no quarantine)', () => {
    direct.release(direct.allocate());
  });

  // Steady state of a busy relay: 5,000 calls up, each op ends the oldest call and starts a new
  // one; the clock moves 1 ms per op, so with a 2 s quarantine ~2,000 pairs wait to be reused.
  let clock = 0;
  const busy = new PortPool({ range: RANGE, quarantineMs: 2000, now: () => clock });
  const live: number[] = [];
  for (let i = 0; i < 5000; i++) live.push(busy.allocate());
  let oldest = 0;
  bench.add('PortPool call churn (5k live, 2 s quarantine)', () => {
    clock += 1;
    busy.release(live[oldest]!);
    live[oldest] = busy.allocate();
    oldest = (oldest + 1) % live.length;
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const bench = new Bench({ name: 'port-pool', time: 500 });
  register(bench);
  await bench.run();
  console.table(bench.table());
}
