/**
 * The rate sweep of one relay at one stream count: a latching warm-up, then the offered rate
 * stepped up until a step loses >= 0.1 % (re-run once, since one stall on a shared machine
 * can cost that much), then a step at the fixed cost rate when the sweep did not already
 * measure it. The result says how far the relay went and why it stopped.
 */
import type { LoadProcess } from './load-process.ts';
import { waitForQuiet } from './proc-stats.ts';
import { runStep, type StepKind, type StepRecord } from './step-runner.ts';
import type { RelayInstance } from './targets.ts';

export interface SweepOptions {
  rates: number[];
  costRate: number;
  durationMs: number;
  drainMs: number;
  /** A step where other processes used more than this (% of one CPU) is re-run once. */
  maxOtherPct: number;
  /** Before a sweep and a re-run, wait up to this long for the machine to be quiet. */
  waitQuietMs: number;
  /** Quiet = less than this % of all CPUs busy. */
  quietPct: number;
  /** performance.now() after which no new step starts. */
  deadline: number;
  onStep: (record: StepRecord) => void;
}

export type StopReason =
  /** a step failed twice: the relay's limit */
  | 'relay'
  /** the generator or the sink saturated first: the relay can do at least max */
  | 'harness'
  /** every rate of the list passed */
  | 'rates'
  /** the time budget ran out */
  | 'time';

export interface SweepResult {
  target: string;
  streams: number;
  /** Highest offered rate that passed below the first confirmed failure (0 if none passed). */
  maxPps: number;
  stoppedBy: StopReason;
  /** The step at max (for cost and latency at max), if any. */
  atMax: StepRecord | null;
  /** The step at the cost rate (sweep step or a dedicated one). */
  atCost: StepRecord | null;
  /** Streams that received nothing after the latching warm-up (should be 0). */
  warmupSilentStreams: number;
  /** The relay's stderr at the end (its own counters, errors). */
  relayLog?: string;
  steps: StepRecord[];
}

export async function sweep(
  target: string,
  load: LoadProcess,
  relay: RelayInstance,
  opts: SweepOptions,
): Promise<SweepResult> {
  const steps: StepRecord[] = [];
  const run = async (rate: number, kind: StepKind): Promise<StepRecord> => {
    let rec = await runStep(target, kind, load, relay, rate, opts.durationMs, opts.drainMs);
    steps.push(rec);
    opts.onStep(rec);
    if (rec.otherPct > opts.maxOtherPct && kind !== 'warmup') {
      rec.superseded = true;
      await waitForQuiet(opts.quietPct, opts.waitQuietMs);
      rec = await runStep(target, 'rerun', load, relay, rate, opts.durationMs, opts.drainMs);
      steps.push(rec);
      opts.onStep(rec);
    }
    return rec;
  };

  await waitForQuiet(opts.quietPct, opts.waitQuietMs);
  // Every leg latches on its first packet; a few packets per stream at a low rate do it.
  const S = load.streams;
  const warmRate = Math.min(20_000, Math.max(2_000, S * 20));
  const warm = await run(warmRate, 'warmup');

  let maxPps = 0;
  let atMax: StepRecord | null = null;
  let stoppedBy: StopReason = 'rates';
  for (const rate of opts.rates) {
    if (performance.now() > opts.deadline) {
      stoppedBy = 'time';
      break;
    }
    let rec = await run(rate, 'sweep');
    if (rec.status === 'FAIL') rec = await run(rate, 'retry');
    if (rec.status === 'ok') {
      maxPps = rate;
      atMax = rec;
      continue;
    }
    stoppedBy = rec.status === 'FAIL' ? 'relay' : 'harness';
    break;
  }

  const costCandidates = steps.filter((s) => s.offeredPps === opts.costRate && s.kind !== 'warmup' && !s.superseded);
  let atCost = costCandidates.find((s) => s.status === 'ok') ?? costCandidates.at(-1) ?? null;
  if (!atCost && performance.now() <= opts.deadline) atCost = await run(opts.costRate, 'cost');

  return {
    target,
    streams: S,
    maxPps,
    stoppedBy,
    atMax,
    atCost,
    warmupSilentStreams: warm.load.silent_streams,
    steps,
  };
}
