/**
 * `npm run bench`: the micro benchmarks (every bench/micro/*.ts exporting `register(bench)`,
 * run together with tinybench), then the pps suite (bench/pps.ts) within a bounded time.
 *
 *   npm run bench                    micro + full pps run (see docs/benchmarks.md)
 *   npm run bench -- --quick         short micro + short pps run (a couple of minutes)
 *   npm run bench -- --micro-only | --pps-only
 * Other options are passed to the pps suite (--targets, --streams, --rates, --duration...).
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Bench } from 'tinybench';
import { BENCH_DIR } from './lib/native-tools.ts';
import { runPps } from './pps.ts';

type Register = (bench: Bench) => void;

async function runMicro(quick: boolean): Promise<void> {
  const dir = join(BENCH_DIR, 'micro');
  const bench = new Bench({ name: 'pinlatch micro', time: quick ? 100 : 1000, warmupTime: quick ? 50 : 250 });
  const loaded: string[] = [];
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.ts')).sort()) {
    const mod = (await import(pathToFileURL(join(dir, file)).href)) as { register?: Register };
    if (typeof mod.register === 'function') {
      mod.register(bench);
      loaded.push(file);
    }
  }
  process.stdout.write(`micro benchmarks: ${loaded.join(', ')} (${bench.tasks.length} tasks)\n`);
  await bench.run();
  console.table(bench.table());
}

const args = process.argv.slice(2);
const has = (flag: string) => args.includes(flag);
const quick = has('--quick');
const ppsArgs = args.filter((a) => a !== '--micro-only' && a !== '--pps-only');

try {
  if (!has('--pps-only')) await runMicro(quick);
  if (!has('--micro-only')) {
    process.stdout.write('\n');
    await runPps(ppsArgs, 'npm run bench --');
  }
} catch (err) {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
}
