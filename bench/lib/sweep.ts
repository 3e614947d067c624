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

/**
 * One relay's sweep, a step at a time, so that several relays can take turns step by step
 * (`--interleave`): start() waits for a quiet machine and warms the latches up, each step()
 * measures the next rate (or, once the rates are done, the cost rate), result() sums it up.
 */
export class RateSweep {
  readonly steps: StepRecord[] = [];
  private phase: 'rates' | 'cost' | 'done' = 'rates';
  private next = 0;
  private maxPps = 0;
  private atMax: StepRecord | null = null;
  private atCost: StepRecord | null = null;
  private stoppedBy: StopReason = 'rates';
  private warmupSilentStreams = 0;

  constructor(
    readonly target: string,
    private readonly load: LoadProcess,
    private readonly relay: RelayInstance,
    private readonly opts: SweepOptions,
  ) {}

  /** Nothing left to measure. */
  get done(): boolean {
    return this.phase === 'done';
  }

  async start(): Promise<void> {
    await waitForQuiet(this.opts.quietPct, this.opts.waitQuietMs);
    // Every leg latches on its first packet; a few packets per stream at a low rate do it.
    const warmRate = Math.min(20_000, Math.max(2_000, this.load.streams * 20));
    const warm = await this.attempt(warmRate, 'warmup');
    this.warmupSilentStreams = warm.load.silent_streams;
  }

  /**
   * The next measurement: the next rate of the list until one fails (or the list or the time
   * runs out), then the cost rate unless the sweep already measured it.
   */
  async step(): Promise<void> {
    if (this.phase === 'rates') {
      if (this.next >= this.opts.rates.length) {
        this.phase = 'cost';
      } else if (performance.now() > this.opts.deadline) {
        this.stoppedBy = 'time';
        this.phase = 'cost';
      } else {
        const rate = this.opts.rates[this.next++]!;
        const rec = await this.measure(rate, 'sweep');
        if (rec.status === 'ok') {
          this.maxPps = rate;
          this.atMax = rec;
        } else {
          this.stoppedBy = rec.status === 'FAIL' ? 'relay' : 'harness';
          this.phase = 'cost';
        }
        return;
      }
    }
    if (this.phase === 'cost') {
      const costCandidates = this.steps.filter((s) => s.offeredPps === this.opts.costRate && s.kind !== 'warmup' && !s.superseded);
      this.atCost = costCandidates.at(-1) ?? null;
      if (!this.atCost && performance.now() <= this.opts.deadline) this.atCost = await this.measure(this.opts.costRate, 'cost');
      this.phase = 'done';
    }
  }

  result(): SweepResult {
    return {
      target: this.target,
      streams: this.load.streams,
      maxPps: this.maxPps,
      stoppedBy: this.stoppedBy,
      atMax: this.atMax,
      atCost: this.atCost,
      warmupSilentStreams: this.warmupSilentStreams,
      steps: this.steps,
    };
  }

  private async attempt(rate: number, kind: StepKind): Promise<StepRecord> {
    const rec = await runStep(this.target, kind, this.load, this.relay, rate, this.opts.durationMs, this.opts.drainMs);
    this.steps.push(rec);
    this.opts.onStep(rec);
    return rec;
  }

  /**
   * A step that failed, was generator- or sink-limited, or ran while other processes were busy
   * is measured again after waiting for a quiet machine, and the last attempt counts: on a
   * shared machine one stall of a few ms loses 0.1 % of a step. A retry that is itself
   * disturbed gets one more attempt.
   */
  private async measure(rate: number, kind: 'sweep' | 'cost'): Promise<StepRecord> {
    let rec = await this.attempt(rate, kind);
    const doubtful = (r: StepRecord) => r.status !== 'ok' || r.otherPct > this.opts.maxOtherPct;
    for (let retries = 0; doubtful(rec) && retries < MAX_RETRIES; retries++) {
      if (retries > 0 && rec.otherPct <= this.opts.maxOtherPct) break;
      rec.superseded = true;
      await waitForQuiet(this.opts.quietPct, this.opts.waitQuietMs);
      rec = await this.attempt(rate, 'retry');
    }
    return rec;
  }
}

/** The whole sweep of one relay, its steps back to back. */
export async function sweep(target: string, load: LoadProcess, relay: RelayInstance, opts: SweepOptions): Promise<SweepResult> {
  const run = new RateSweep(target, load, relay, opts);
  await run.start();
  while (!run.done) await run.step();
  return run.result();
}
