/**
 * The rate sweep of one relay at one stream count: a latching warm-up, then the offered rate
 * stepped up until a step loses >= 0.1 % (every doubtful step is measured twice, see
 * `measure`), then a step at the fixed cost rate when the sweep did not already measure it.
 * The result says how far the relay went and why it stopped.
 */
import type { LoadProcess } from './load-process.ts';
import { waitForQuiet } from './proc-stats.ts';
import { runStep, type StepKind, type StepRecord } from './step-runner.ts';
import type { RelayInstance } from './targets.ts';

/** Attempts after the first at one rate: one for a doubtful step, one more if that was disturbed. */
const MAX_RETRIES = 2;

export interface SweepOptions {
  rates: number[];
  costRate: number;
  durationMs: number;
  drainMs: number;
  /** A step where other processes used more than this (% of one CPU) is measured again. */
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
  const attempt = async (rate: number, kind: StepKind): Promise<StepRecord> => {
    const rec = await runStep(target, kind, load, relay, rate, opts.durationMs, opts.drainMs);
    steps.push(rec);
    opts.onStep(rec);
    return rec;
  };
  // A step that failed, was generator- or sink-limited, or ran while other processes were busy
  // is measured again after waiting for a quiet machine, and the last attempt counts: on a
  // shared machine one stall of a few ms loses 0.1 % of a step. A retry that is itself
  // disturbed gets one more attempt.
  const measure = async (rate: number, kind: 'sweep' | 'cost'): Promise<StepRecord> => {
    let rec = await attempt(rate, kind);
    const doubtful = (r: StepRecord) => r.status !== 'ok' || r.otherPct > opts.maxOtherPct;
    for (let retries = 0; doubtful(rec) && retries < MAX_RETRIES; retries++) {
      if (retries > 0 && rec.otherPct <= opts.maxOtherPct) break;
      rec.superseded = true;
      await waitForQuiet(opts.quietPct, opts.waitQuietMs);
      rec = await attempt(rate, 'retry');
    }
    return rec;
  };

  await waitForQuiet(opts.quietPct, opts.waitQuietMs);
  // Every leg latches on its first packet; a few packets per stream at a low rate do it.
  const S = load.streams;
  const warmRate = Math.min(20_000, Math.max(2_000, S * 20));
  const warm = await attempt(warmRate, 'warmup');

  let maxPps = 0;
  let atMax: StepRecord | null = null;
  let stoppedBy: StopReason = 'rates';
  for (const rate of opts.rates) {
    if (performance.now() > opts.deadline) {
      stoppedBy = 'time';
      break;
    }
    const rec = await measure(rate, 'sweep');
    if (rec.status === 'ok') {
      maxPps = rate;
      atMax = rec;
      continue;
    }
    stoppedBy = rec.status === 'FAIL' ? 'relay' : 'harness';
    break;
  }

  const costCandidates = steps.filter((s) => s.offeredPps === opts.costRate && s.kind !== 'warmup' && !s.superseded);
  let atCost = costCandidates.at(-1) ?? null;
  if (!atCost && performance.now() <= opts.deadline) atCost = await measure(opts.costRate, 'cost');

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
