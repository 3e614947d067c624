/**
 * Garbage collection per step of a bench/cps.ts run: reads the step logs that `--logs DIR` writes
 * with pinlatch under `--node-args=--trace-gc`, and counts for each step the scavenges (young
 * generation) and mark-compacts (whole heap) and the milliseconds they held the main thread.
 * A process that runs through several steps writes its whole output into each step's log; the
 * events a log shares with the one before it (same process, at or before that log's last event)
 * are counted once, in the earlier step.
 *
 *   node --import tsx bench/cps.ts --rates 600,800,1000 --step-s 10 --targets pinlatch \
 *     --logs DIR --node-args=--trace-gc
 *   node --import tsx bench/gc-steps.ts DIR/*.log
 */
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface GcStep {
  name: string;
  scavenges: number;
  scavengeMs: number;
  scavengeMaxMs: number;
  markCompacts: number;
  markCompactMs: number;
  markCompactMaxMs: number;
  /** From the step's first counted event to its last (s). */
  spanS: number;
}

// [3617:0x20391e10]       68 ms: Scavenge 4.4 (4.5) -> 3.8 (5.5) MB, 2.49 / 0.01 ms  (...)
const EVENT = /^\[(\d+):0x[0-9a-f]+\]\s+(\d+) ms: (Scavenge|Mark-Compact|Mark-Sweep|Mark-sweep)\b[^,]*MB, ([0-9.]+) \/ [0-9.]+ ms/;

/** The steps' GC, logs in step order. */
export function gcSteps(logs: ReadonlyArray<{ name: string; text: string }>): GcStep[] {
  const seen = new Map<number, number>();
  return logs.map(({ name, text }) => {
    const step: GcStep = { name, scavenges: 0, scavengeMs: 0, scavengeMaxMs: 0, markCompacts: 0, markCompactMs: 0, markCompactMaxMs: 0, spanS: 0 };
    const last = new Map<number, number>();
    let first = Infinity;
    let end = -Infinity;
    for (const line of text.split('\n')) {
      const m = EVENT.exec(line);
      if (!m) continue;
      const pid = Number(m[1]);
      const at = Number(m[2]);
      last.set(pid, Math.max(last.get(pid) ?? -Infinity, at));
      if (at <= (seen.get(pid) ?? -Infinity)) continue;
      first = Math.min(first, at);
      end = Math.max(end, at);
      const ms = Number(m[4]);
      if (m[3] === 'Scavenge') {
        step.scavenges++;
        step.scavengeMs += ms;
        step.scavengeMaxMs = Math.max(step.scavengeMaxMs, ms);
      } else {
        step.markCompacts++;
        step.markCompactMs += ms;
        step.markCompactMaxMs = Math.max(step.markCompactMaxMs, ms);
      }
    }
    for (const [pid, at] of last) seen.set(pid, Math.max(seen.get(pid) ?? -Infinity, at));
    step.spanS = end > first ? (end - first) / 1000 : 0;
    return step;
  });
}

function main(files: string[]): void {
  if (files.length === 0) throw new RangeError('usage: bench/gc-steps.ts STEP.log... (bench/cps.ts --logs DIR with --node-args=--trace-gc)');
  const steps = gcSteps(files.map((file) => ({ name: basename(file), text: readFileSync(file, 'latin1') })));
  console.log('| step | scavenges | scavenge ms (max) | mark-compacts | mark-compact ms (max) | over s | scavenge share |');
  console.log('|---|---|---|---|---|---|---|');
  for (const s of steps) {
    const share = s.spanS > 0 ? `${((s.scavengeMs / (s.spanS * 1000)) * 100).toFixed(1)} %` : '–';
    console.log(`| ${s.name} | ${s.scavenges} | ${s.scavengeMs.toFixed(0)} (${s.scavengeMaxMs.toFixed(1)}) | ${s.markCompacts} | ${s.markCompactMs.toFixed(0)} (${s.markCompactMaxMs.toFixed(1)}) | ${s.spanS.toFixed(1)} | ${share} |`);
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) main(process.argv.slice(2));
