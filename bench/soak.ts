/**
 * `npm run soak`: calls with media through the real pinlatch CLI at a steady rate for a long
 * time, sampling its memory, descriptors, sessions, transactions, dialogs and event-loop lag;
 * exits non-zero unless every line is flat under load, back to zero after it, and no call failed.
 * Not part of `npm test` (test/bench/soak.test.ts runs the same code for two minutes).
 *
 *   npm run soak -- [--duration 3600] [--rate 20] [--hold 10] [--interval 10] [--drain 45]
 *        [--idle 20] [--shards 1] [--subnet 127.0.21] [--cli built|sources] [--out FILE.json]
 *
 * Writes FILE.json (every sample, the verdicts) and FILE.svg (the chart); the default FILE is
 * bench/results/soak-<time>. See docs/benchmarks.md.
 *
 *   npm run soak -- --render FILE.json
 *
 * judges a saved run again and redraws its chart (FILE.svg), with the limits it ran with.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { SOAK_LIMITS } from './soak/flatness.ts';
import { assess, type RunShape, type SoakTotals } from './soak/report.ts';
import { runSoak, SoakUsageError } from './soak/run.ts';
import type { SoakSample } from './soak/samples.ts';
import { BENCH_DIR } from './lib/native-tools.ts';

interface SavedRun extends Partial<SoakTotals> {
  options: RunShape;
  machine: string;
  samples: SoakSample[];
}

/** A saved run judged and drawn again; false when it failed (or never finished). */
function render(file: string): boolean {
  const doc = JSON.parse(readFileSync(file, 'utf8')) as SavedRun;
  if (doc.caller === undefined || doc.rtp === undefined) throw new SoakUsageError(`${file}: the run did not finish (no final counts)`);
  const { judgement, svg } = assess(doc.samples, doc.options, { caller: doc.caller, callee: doc.callee ?? null, rtp: doc.rtp }, doc.machine);
  const svgFile = `${file.replace(/\.json$/, '')}.svg`;
  writeFileSync(svgFile, svg);
  writeFileSync(file, `${JSON.stringify({ ...doc, judgement }, null, 1)}\n`);
  for (const v of judgement.verdicts) console.log(v.line);
  console.log(`chart: ${svgFile}`);
  return judgement.ok;
}

export async function main(argv: string[]): Promise<boolean> {
  const { values } = parseArgs({
    args: argv,
    options: {
      duration: { type: 'string', default: '3600' },
      rate: { type: 'string', default: '20' },
      hold: { type: 'string', default: '10' },
      interval: { type: 'string', default: '10' },
      drain: { type: 'string', default: '45' },
      idle: { type: 'string', default: '20' },
      shards: { type: 'string', default: '1' },
      subnet: { type: 'string', default: '127.0.21' },
      cli: { type: 'string', default: 'built' },
      out: { type: 'string' },
      render: { type: 'string' },
    },
    strict: true,
  });
  if (values.render !== undefined) return render(values.render);
  if (values.cli !== 'built' && values.cli !== 'sources') throw new SoakUsageError(`--cli: built or sources, got ${values.cli}`);
  const stop = new AbortController();
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => stop.abort(new Error(`${sig}: stopped early, samples so far kept`)));
  const stamp = new Date().toISOString().replace(/[:.]/g, '-').slice(0, 19);
  const result = await runSoak({
    durationS: Number(values.duration),
    rate: Number(values.rate),
    holdS: Number(values.hold),
    intervalS: Number(values.interval),
    drainS: Number(values.drain),
    idleS: Number(values.idle),
    shards: Number(values.shards),
    subnet: values.subnet,
    cli: values.cli,
    limits: SOAK_LIMITS,
    out: values.out ?? join(BENCH_DIR, 'results', `soak-${stamp}.json`),
    log: (line) => console.log(line),
    signal: stop.signal,
  });
  for (const v of result.judgement.verdicts) console.log(v.line);
  console.log(`samples: ${result.files.json}\nchart:   ${result.files.svg}`);
  console.log(result.judgement.ok ? 'SOAK PASSED: flat, drained, no failed call' : 'SOAK FAILED: see the lines above in capitals');
  return result.judgement.ok;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main(process.argv.slice(2)).then(
    (ok) => {
      process.exitCode = ok ? 0 : 1;
    },
    (err: unknown) => {
      console.error(err instanceof Error ? err.message : err);
      process.exitCode = 2;
    },
  );
}
