/**
 * The memory figures of a cps step, pure: RSS per 1,000 calls in progress (issue 12: "reported,
 * and bounded"), and what the relay holds after the load stops (issue 12: "heap and RSS return
 * to near their starting level a minute after the load").
 *
 * Calls in progress are the caller's: sipp's CurrentCall (-trace_stat), read while the step runs;
 * the RSS sampled at the moment the most calls were up, minus the RSS before the step, divided
 * by those calls, is what a call in progress costs with everything it keeps (its transactions,
 * dialog, media session, and the transactions of the calls that just ended and linger for
 * Timer J/L/M, RFC 3261 §17.2.2, RFC 6026 §7.1).
 */
import { lastCsvRow } from './call-outcomes.ts';

export interface StepMemory {
  /** RSS before the step: the idle baseline the per-call figure is taken over. */
  rssStartKiB: number;
  /** The most calls the caller had in progress at one sample, and the relay's RSS then. */
  peakCalls: number;
  rssAtPeakKiB: number;
  /** Seconds the relay was left idle after the step (--idle-s), 0 when not. */
  idleS: number;
  /** RSS right after the last call and after idleS; null when not sampled. */
  rssEndKiB: number | null;
  rssIdleKiB: number | null;
  /** V8 heap used right after the last call and after idleS (pinlatch only). */
  heapEndBytes: number | null;
  heapIdleBytes: number | null;
}

/** sipp's calls in progress now, from its -trace_stat CSV so far; 0 when it wrote none yet. */
export function callsInProgress(statCsv: string): number {
  const n = Number(lastCsvRow(statCsv).get('CurrentCall'));
  return Number.isFinite(n) ? n : 0;
}

/** KiB of RSS per 1,000 calls in progress; null when no call was seen in progress. */
export function rssPer1000Calls(m: StepMemory): number | null {
  if (m.peakCalls === 0) return null;
  return ((m.rssAtPeakKiB - m.rssStartKiB) * 1000) / m.peakCalls;
}

/** The value of an unlabelled metric in a Prometheus text exposition, or null when absent. */
export function metricValue(exposition: string, name: string): number | null {
  const m = new RegExp(`^${name} (\\S+)`, 'm').exec(exposition);
  if (!m) return null;
  const v = Number(m[1]);
  return Number.isFinite(v) ? v : null;
}

/** Follows the step: the sample with the most calls in progress wins. */
export class PeakCalls {
  calls = 0;
  rssKiB = 0;
  observe(calls: number, rssKiB: number): void {
    if (calls > this.calls) {
      this.calls = calls;
      this.rssKiB = rssKiB;
    }
  }
}
