/**
 * pps: packets per second through an RTP relay, side by side for several relays in one run.
 *
 *   node --import tsx bench/pps.ts [--targets direct,limit,js,pinlatch] [--streams 2,200,2000]
 *        [--rates 20k,50k,...] [--duration 2] [--drain 0.3] [--cost-rate 100k] [--quick]
 *        [--shards N] [--no-pin] [--max-minutes 25] [--wait-quiet 20] [--quiet-pct 15]
 *        [--max-other-pct 20] [--address 127.0.0.1] [--interleave] [--out FILE]
 *        [--realtime PRIO] [--load-realtime PRIO] [--rcvbuf BYTES] [--relay-cpus LIST] [--load-cpus LIST]
 *
 * --realtime runs every relay's forwarding thread under SCHED_FIFO (barefwd and the JS relay by
 * chrt, pinlatch's shard threads by media.realtime; needs CAP_SYS_NICE), --rcvbuf sets every
 * relay's SO_RCVBUF. --load-realtime does the same for rtpload (the harness), so that a busy
 * machine does not keep the generator from offering its rate. pinlatch's shards are pinned one per relay CPU (media.cpus). A target
 * `pinlatch:N` is pinlatch with N shards: `--targets pinlatch:1,pinlatch:2 --relay-cpus 0-1`
 * measures how it scales across cores. The results go to a JSON file and an SVG chart beside it
 * (bench/lib/chart-pps.ts).
 *
 * --interleave keeps every target's relay running for a stream count and lets them take turns
 * step by step (rate 1 for each target, then rate 2...), so that a machine that is slower for a
 * minute slows every target's same step, not one target's whole sweep.
 * S streams = S/2 calls, each with one stream A -> relay -> B and one B -> relay -> A, sent
 * from the same sockets they are received on (symmetric RTP), so latching relays work as with
 * real phones. See docs/benchmarks.md for what every column means.
 */
import { mkdirSync, writeFileSync, existsSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, release } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { LoadProcess } from './lib/load-process.ts';
import { machineCpu } from './lib/proc-stats.ts';
import { buildNativeTools, BENCH_DIR } from './lib/native-tools.ts';
import { stepHeader, stepLine, summarize, summaryMarkdown, summaryTable } from './lib/report.ts';
import { RateSweep, sweep, type SweepOptions, type SweepResult } from './lib/sweep.ts';
import type { RelayInstance } from './lib/targets.ts';
import { expandCpuList, RELAY_RCVBUF_BYTES, REPO_DIR, targetNamed, type TargetContext } from './lib/targets.ts';
import { ppsChartOfResults } from './lib/chart-pps.ts';
import { isLoopback } from './relays/relay-handshake.ts';

export class PpsUsageError extends Error {
  readonly code = 'ERR_PINLATCH_BENCH_USAGE';
}

const USAGE = `usage: node --import tsx bench/pps.ts [options]   (or: npm run bench -- [--pps-only] [options])
  --targets direct,limit,js,pinlatch   --streams 2,200,2000   --rates 20k,50k,...   --cost-rate 100k
  --duration S (2)   --drain S (0.3)   --quick   --shards N   --no-pin   --max-minutes M (25)
  --wait-quiet S (20)   --quiet-pct P (15)   --max-other-pct P (20)   --address 127.0.0.1|::1   --interleave   --out FILE
  --realtime PRIO (SCHED_FIFO for every relay)   --load-realtime PRIO (for rtpload)   --rcvbuf BYTES (262144)   --relay-cpus LIST   --load-cpus LIST
  targets: direct, limit, js, pinlatch, pinlatch:N (N shards)
See docs/benchmarks.md.`;

const DEFAULT_RATES = '20k,50k,100k,150k,200k,300k,400k,600k,800k';
const QUICK_RATES = '20k,100k,200k';

function parseRate(text: string): number {
  const m = /^(\d+(?:\.\d+)?)([kKmM]?)$/.exec(text.trim());
  if (!m) throw new PpsUsageError(`not a rate: ${text} (e.g. 50000, 50k, 1M)`);
  const mult = m[2] === '' ? 1 : m[2]!.toLowerCase() === 'k' ? 1e3 : 1e6;
  const rate = Number(m[1]) * mult;
  if (rate <= 0) throw new PpsUsageError(`rate must be > 0: ${text}`);
  return rate;
}

function parseList<T>(text: string, each: (s: string) => T): T[] {
  return text.split(',').filter((s) => s.trim() !== '').map(each);
}

export function pinlatchAvailable(): boolean {
  return existsSync(join(REPO_DIR, 'src/media/MediaRelay.ts')) && existsSync(join(REPO_DIR, 'build/Release/pinlatch.node'));
}

/** Busy share of the whole machine over `ms`, in % of all CPUs. */
async function backgroundBusyPct(ms: number): Promise<number> {
  const a = machineCpu();
  await new Promise((r) => setTimeout(r, ms));
  const b = machineCpu();
  return (100 * (b.busyTicks - a.busyTicks)) / Math.max(1, b.totalTicks - a.totalTicks);
}

/** Runs the suite; `invokedAs` is the command line recorded with the results. */
export async function runPps(argv: string[], invokedAs = 'node --import tsx bench/pps.ts'): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      targets: { type: 'string' },
      streams: { type: 'string' },
      rates: { type: 'string' },
      duration: { type: 'string' },
      drain: { type: 'string' },
      'cost-rate': { type: 'string', default: '100k' },
      quick: { type: 'boolean', default: false },
      shards: { type: 'string' },
      'no-pin': { type: 'boolean', default: false },
      'max-minutes': { type: 'string' },
      'max-other-pct': { type: 'string', default: '20' },
      'wait-quiet': { type: 'string' },
      'quiet-pct': { type: 'string', default: '15' },
      address: { type: 'string', default: '127.0.0.1' },
      out: { type: 'string' },
      interleave: { type: 'boolean', default: false },
      realtime: { type: 'string' },
      'load-realtime': { type: 'string' },
      rcvbuf: { type: 'string' },
      'relay-cpus': { type: 'string' },
      'load-cpus': { type: 'string' },
      help: { type: 'boolean', default: false },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const quick = values.quick;
  if (!isLoopback(values.address)) throw new PpsUsageError(`refusing --address ${values.address}: loopback only (127.0.0.0/8, ::1)`);
  const requestedTargets = values.targets ? parseList(values.targets, (s) => s.trim()) : null;
  let targets = requestedTargets ?? ['direct', 'limit', 'js', 'pinlatch'];
  for (const t of targets) if (!targetNamed(t)) throw new PpsUsageError(`unknown target ${t} (direct, limit, js, pinlatch, pinlatch:N)`);
  const isPinlatch = (t: string) => t === 'pinlatch' || t.startsWith('pinlatch:');
  if (!pinlatchAvailable() && targets.some(isPinlatch)) {
    if (requestedTargets) throw new PpsUsageError('pinlatch target needs src/media/MediaRelay.ts and build/Release/pinlatch.node (npm run build)');
    process.stdout.write('note: pinlatch not built yet (src/media/MediaRelay.ts or build/Release/pinlatch.node missing): skipped\n');
    targets = targets.filter((t) => !isPinlatch(t));
  }
  const streamCounts = parseList(values.streams ?? (quick ? '2,200' : '2,200,2000'), (s) => {
    const n = Number(s);
    if (!Number.isInteger(n) || n < 2 || n % 2 !== 0) throw new PpsUsageError(`stream count must be even and >= 2: ${s}`);
    return n;
  });
  const rates = parseList(values.rates ?? (quick ? QUICK_RATES : DEFAULT_RATES), parseRate).sort((a, b) => a - b);
  const costRate = parseRate(values['cost-rate']);
  const durationMs = 1000 * Number(values.duration ?? (quick ? 0.5 : 2));
  const drainMs = 1000 * Number(values.drain ?? (quick ? 0.2 : 0.3));
  const maxMinutes = Number(values['max-minutes'] ?? (quick ? 4 : 25));
  const maxOtherPct = Number(values['max-other-pct']);
  const waitQuietMs = 1000 * Number(values['wait-quiet'] ?? (quick ? 3 : 20));
  const quietPct = Number(values['quiet-pct']);
  if (!(durationMs >= 100) || !(drainMs >= 0) || !(maxMinutes > 0)) throw new PpsUsageError('bad --duration, --drain or --max-minutes');

  const ncpu = availableParallelism();
  const pin = !values['no-pin'] && ncpu >= 2;
  const relayCpus = pin ? (values['relay-cpus'] ?? String(ncpu - 1)) : null;
  const loadCpus = pin ? (values['load-cpus'] ?? (ncpu === 2 ? '0' : `0-${ncpu - 2}`)) : null;
  for (const list of [relayCpus, loadCpus]) {
    if (list === null) continue;
    try {
      if (expandCpuList(list).some((cpu) => cpu >= ncpu)) throw new PpsUsageError(`CPU list ${list} names a CPU this machine lacks (0-${ncpu - 1})`);
    } catch (err) {
      throw err instanceof PpsUsageError ? err : new PpsUsageError((err as Error).message);
    }
  }
  const shards = Number(values.shards ?? (pin ? expandCpuList(relayCpus!).length : ncpu));
  if (!Number.isInteger(shards) || shards < 1) throw new PpsUsageError(`--shards must be a positive integer: ${values.shards}`);
  const priority = (option: 'realtime' | 'load-realtime'): number | null => {
    const text = values[option];
    if (text === undefined) return null;
    const value = Number(text);
    if (!(Number.isInteger(value) && value >= 1 && value <= 99)) throw new PpsUsageError(`--${option} must be a SCHED_FIFO priority 1..99: ${text}`);
    return value;
  };
  const realtime = priority('realtime');
  const loadRealtime = priority('load-realtime');
  const rcvbuf = Number(values.rcvbuf ?? RELAY_RCVBUF_BYTES);
  if (!Number.isInteger(rcvbuf) || rcvbuf < 4096 || rcvbuf > 268_435_456) throw new PpsUsageError(`--rcvbuf must be 4096..268435456: ${values.rcvbuf}`);
  const tools = buildNativeTools();
  const ctx: TargetContext = { tools, relayCpus, shards, realtime, rcvbuf };

  const startedAt = new Date();
  const deadline = performance.now() + maxMinutes * 60_000;
  const backgroundBefore = await backgroundBusyPct(1000);
  const command = `${invokedAs} ${argv.join(' ')}`.trim();
  const machine = {
    cpus: ncpu,
    model: cpus()[0]?.model ?? 'unknown',
    kernel: release(),
    node: process.version,
    loadavg: loadavg(),
    backgroundBusyPctBefore: backgroundBefore,
  };
  process.stdout.write(
    `pps: targets ${targets.join(',')} | streams ${streamCounts.join(',')} | rates ${rates.join(',')} | ` +
      `${durationMs / 1000}s/step | relay CPU ${relayCpus ?? 'any'}, load CPU ${loadCpus ?? 'any'} | ` +
      `relay scheduling ${realtime === null ? 'normal' : `SCHED_FIFO ${realtime}`}, load ${loadRealtime === null ? 'normal' : `SCHED_FIFO ${loadRealtime}`}, rcvbuf ${rcvbuf} | ` +
      `${ncpu} x ${machine.model} | background busy ${backgroundBefore.toFixed(1)}%\n\n${stepHeader()}\n`,
  );

  const results: SweepResult[] = [];
  const errors: { target: string; streams: number; error: string }[] = [];
  const sweepOptions: SweepOptions = {
    rates,
    costRate,
    durationMs,
    drainMs,
    maxOtherPct,
    waitQuietMs,
    quietPct,
    deadline,
    onStep: (r) => process.stdout.write(`${stepLine(r)}\n`),
  };
  const startRelay = async (name: string, S: number, load: LoadProcess): Promise<RelayInstance | null> => {
    try {
      return await targetNamed(name)!.start(values.address, load.ports, ctx);
    } catch (err) {
      errors.push({ target: name, streams: S, error: String(err) });
      process.stdout.write(`${name} S=${S}: could not start: ${String(err).split('\n')[0]}\n`);
      return null;
    }
  };
  for (const S of streamCounts) {
    const load = await LoadProcess.start(tools.rtpload, S, values.address, loadCpus, loadRealtime);
    try {
      if (values.interleave) {
        const running: Array<{ relay: RelayInstance; run: RateSweep }> = [];
        try {
          for (const name of targets) {
            const relay = await startRelay(name, S, load);
            if (!relay) continue;
            const run = new RateSweep(name, load, relay, sweepOptions);
            running.push({ relay, run });
            await load.setDestinations(relay.ports);
            await run.start();
          }
          while (running.some(({ run }) => !run.done) && performance.now() <= deadline) {
            for (const { relay, run } of running) {
              if (run.done) continue;
              await load.setDestinations(relay.ports);
              await run.step();
            }
          }
        } finally {
          for (const { relay, run } of running) {
            const result = run.result();
            result.relayLog = await relay.stop();
            results.push(result);
          }
        }
        continue;
      }
      for (const name of targets) {
        if (performance.now() > deadline) break;
        const relay = await startRelay(name, S, load);
        if (!relay) continue;
        let result: SweepResult | null = null;
        try {
          await load.setDestinations(relay.ports);
          result = await sweep(name, load, relay, sweepOptions);
          results.push(result);
        } finally {
          const log = await relay.stop();
          if (result) result.relayLog = log;
        }
      }
    } finally {
      await load.stop();
    }
  }

  const summary = summarize(results, costRate);
  process.stdout.write(
    `\nsummary (max pps: highest rate with < 0.1 % loss; '+' = stopped by the harness/rate list/time, not the relay;\n` +
      ` cost = ${costRate / 1000}k pps offered; s/Mpkt = relay CPU seconds per million delivered packets)\n` +
      `${summaryTable(summary)}\n\n${summaryMarkdown(summary)}\n`,
  );
  for (const r of results) {
    if (r.warmupSilentStreams > 0) process.stdout.write(`warning: ${r.target} S=${r.streams}: ${r.warmupSilentStreams} streams silent after warm-up\n`);
  }

  const outFile =
    values.out ?? join(BENCH_DIR, 'results', `pps-${startedAt.toISOString().replace(/[:.]/g, '-').slice(0, 19)}.json`);
  mkdirSync(join(outFile, '..'), { recursive: true });
  const output = {
    command,
    startedAt: startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    machine,
    options: {
      targets, streamCounts, rates, costRate, durationMs, drainMs, relayCpus, loadCpus, shards, realtime, loadRealtime, rcvbuf,
      maxOtherPct, waitQuietMs, quietPct, interleave: values.interleave,
    },
    summary,
    errors,
    sweeps: results,
  };
  writeFileSync(outFile, `${JSON.stringify(output, null, 1)}\n`);
  const chartFile = `${outFile.replace(/\.json$/, '')}.svg`;
  writeFileSync(chartFile, ppsChartOfResults(output));
  process.stdout.write(`results: ${outFile}\nchart: ${chartFile}\n`);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  runPps(process.argv.slice(2)).catch((err: unknown) => {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  });
}
