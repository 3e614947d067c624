/**
 * Shard-fault benchmark: how long the sessions of a dead shard take to come back, and what the
 * latch reports cost the shards while nothing fails.
 *
 *   node --import tsx bench/shard-restore.ts [--sessions 1,100,500] [--repeat 3] [--streams 1000]
 *
 * Restore: a MediaRelay with 1 shard holds N sessions (one stream each, both legs with a policy
 * and a latched peer restored from a report); the shard's worker is terminated and the time from
 * the kill to every session restored is measured (worker start included), N = each --sessions
 * value, --repeat times, median reported.
 *
 * Ports: 61000 and up (above Linux's default ephemeral range, so no port-0 socket is in the way).
 *
 * Latch report cost: one native relay in this thread with --streams streams open and no latch
 * change; the time of one takeLatchChanges() call (what every shard does every latchSyncMs),
 * median of 200 calls.
 */
import { parseArgs } from 'node:util';
import { addon } from '../src/native.ts';
import { MediaRelay } from '../src/media/MediaRelay.ts';
import type { LegHint } from '../src/media/api.ts';

const { values } = parseArgs({
  options: {
    sessions: { type: 'string', default: '1,100,500' },
    repeat: { type: 'string', default: '3' },
    streams: { type: 'string', default: '1000' },
  },
});
const sessionCounts = values.sessions.split(',').map(Number);
const repeat = Number(values.repeat);
const streamCount = Number(values.streams);

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const HINT: LegHint = { sdpAddress: null, sdpPort: 4000, rtcpMux: false, signalSource: '127.0.0.1', mode: 'address' };

/** Milliseconds from the kill until the new worker is up, and until every session is restored. */
async function restoreOnce(sessions: number): Promise<{ up: number; restored: number }> {
  const relay = await MediaRelay.start({
    address: '127.0.0.1',
    ports: { min: 61000, max: 61000 + 4 * sessions + 3 },
    shards: 1,
    timeoutMs: 0,
    quarantineMs: 0,
  });
  try {
    const legs = [
      { index: 0, leg: 'a' as const, hint: HINT },
      { index: 0, leg: 'b' as const, hint: HINT },
    ];
    for (let i = 0; i < sessions; i++) await relay.ensureSession(`s${i}`, 1, legs);
    const start = performance.now();
    await relay.terminateShard(0);
    let up = Number.NaN;
    while (relay.faultCounters().sessionsRestored < sessions) {
      if (relay.faultCounters().sessionsLost > 0) throw new Error('a session was lost');
      if (Number.isNaN(up) && relay.isShardUp(0)) up = performance.now() - start;
      await new Promise((r) => setTimeout(r, 1));
    }
    const restored = performance.now() - start;
    return { up: Number.isNaN(up) ? restored : up, restored };
  } finally {
    await relay.close();
  }
}

function latchReportCost(): number {
  const relay = addon.createRelay();
  try {
    for (let i = 0; i < streamCount; i++) {
      const id = relay.openStream({ address: '127.0.0.1', aPort: 61000 + 4 * i, bPort: 61002 + 4 * i });
      relay.setLeg(id, 'a', { mode: 'address', address: '127.0.0.1', rtcpMux: false, handoverSilenceMs: 1000, handoverMaxSeqGap: 100 });
    }
    relay.takeLatchChanges();
    const times: number[] = [];
    for (let i = 0; i < 200; i++) {
      const t = performance.now();
      relay.takeLatchChanges();
      times.push(performance.now() - t);
    }
    return median(times) * 1000;
  } finally {
    relay.close();
  }
}

for (const sessions of sessionCounts) {
  const runs: Array<{ up: number; restored: number }> = [];
  for (let r = 0; r < repeat; r++) runs.push(await restoreOnce(sessions));
  const up = median(runs.map((r) => r.up));
  const restored = median(runs.map((r) => r.restored));
  const after = median(runs.map((r) => r.restored - r.up));
  console.log(
    `restore ${sessions} sessions: median ${restored.toFixed(0)} ms from the kill (new worker up after ${up.toFixed(0)} ms, ` +
      `sessions restored ${after.toFixed(0)} ms later); runs: ${runs.map((r) => r.restored.toFixed(0)).join(', ')} ms`,
  );
}
console.log(`takeLatchChanges with ${streamCount} streams, nothing changed: median ${latchReportCost().toFixed(1)} µs per call`);
