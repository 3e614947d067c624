/**
 * A finished soak's verdict and chart from its samples and final counts, pure: what a run does at
 * its end and what `npm run soak -- --render FILE.json` does again for a saved run.
 */
import { judge, type FlatnessLimits, type Judgement } from './flatness.ts';
import type { SippCounts } from './probes.ts';
import type { RtpPeerStats } from './rtp-peer.ts';
import type { SoakSample } from './samples.ts';
import { soakSvg } from './svg.ts';

/**
 * Transactions and dialogs outlive their call by 64·T1 (32 s at the default T1 of 500 ms: Timer
 * J/K/L/M, RFC 6026, and the dialog's linger for stray retransmissions), so the counts are steady
 * only from hold + 32 s on; the judged window starts after that and a margin.
 */
export const SETTLE_AFTER_HOLD_S = 40;

/** The judged window: the second half of the load, but never before the counts have settled. */
export function judgedWindow(durationS: number, holdS: number): { from: number; to: number } {
  return { from: Math.max(durationS / 2, holdS + SETTLE_AFTER_HOLD_S), to: durationS };
}

export interface RunShape {
  durationS: number;
  rate: number;
  holdS: number;
  limits: FlatnessLimits;
}

export interface SoakTotals {
  caller: SippCounts;
  callee: SippCounts | null;
  rtp: RtpPeerStats;
}

export function assess(samples: readonly SoakSample[], run: RunShape, totals: SoakTotals, machine: string): { judgement: Judgement; svg: string } {
  const planned = Math.round(run.rate * run.durationS);
  const { caller, rtp } = totals;
  const judgement = judge({
    samples,
    window: judgedWindow(run.durationS, run.holdS),
    limits: run.limits,
    calls: { planned, successful: caller.successful, failed: Math.max(caller.failed, planned - caller.successful) },
  });
  if (rtp.silent > 0 || rtp.misrouted > 0) {
    judgement.verdicts.push({ check: 'rtp streams', ok: false, line: `RTP STREAMS: ${rtp.silent} silent, ${rtp.misrouted} packets misrouted` });
    judgement.ok = false;
  }
  const failed = judgement.verdicts.filter((v) => !v.ok).map((v) => v.check);
  const minutes = (run.durationS / 60).toFixed(run.durationS % 60 === 0 ? 0 : 1);
  const svg = soakSvg({
    samples,
    judgement,
    title: `pinlatch soak: ${minutes} min at ${run.rate} cps, ${run.holdS} s calls with RTP both ways — ` +
      (judgement.ok ? 'passed' : `FAILED (${failed.join(', ')})`),
    subtitle: `${caller.successful}/${planned} calls ok, ${caller.failed} failed; ${rtp.delivered}/${rtp.sent} RTP packets out; ${machine}`,
  });
  return { judgement, svg };
}
