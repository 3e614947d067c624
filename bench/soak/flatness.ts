/**
 * The soak's verdict, pure: are the lines flat while the load is steady, do they come back down
 * when it stops, and did every call succeed.
 *
 * Flat: over the judged window (the second half of the load, after the ramp-up) a least-squares
 * line through each series may rise by at most max(absolute, relative × the window's mean) from
 * the window's start to its end. A leak of a few bytes per call is a steady rise; a sawtooth of
 * garbage collections or a burst of arrivals is not. Falling is never a failure.
 * Drained: once the load stops and the timers ran out, sessions, dialogs and transactions are 0
 * and the open fds are back to where they were before the first call (plus a slack).
 */
import { SERIES, type Series, type SoakSample } from './samples.ts';

export interface GrowthLimit {
  /** Allowed rise over the window, in the series' unit. */
  absolute: number;
  /** Allowed rise as a share of the window's mean (0.05 = 5 %). */
  relative: number;
}

export interface FlatnessLimits {
  rss: GrowthLimit;
  fds: GrowthLimit;
  sessions: GrowthLimit;
  dialogs: GrowthLimit;
  transactions: GrowthLimit;
  lagP99: GrowthLimit;
  /** fds after the drain may exceed the idle count by this much (sockets opened lazily, e.g. DNS). */
  drainFdSlack: number;
  /** Share of RTP packets sent into pinlatch that must come out (loss on a busy machine is not a leak). */
  minRtpDelivery: number;
}

/** Limits for an hour-long run on a quiet machine. */
export const SOAK_LIMITS: FlatnessLimits = {
  rss: { absolute: 8, relative: 0.05 },
  fds: { absolute: 16, relative: 0.05 },
  sessions: { absolute: 8, relative: 0.05 },
  dialogs: { absolute: 8, relative: 0.05 },
  transactions: { absolute: 16, relative: 0.1 },
  lagP99: { absolute: 20, relative: 0 },
  drainFdSlack: 8,
  minRtpDelivery: 0.99,
};

export interface Trend {
  /** Least-squares slope, unit per second. */
  slope: number;
  /** The line goes through (meanT, mean). */
  meanT: number;
  mean: number;
  /** slope × window length: how much the line rises over the window. */
  growth: number;
}

/** Least-squares line through (t, v); null with fewer than 3 points or no spread in t. */
export function trend(points: ReadonlyArray<{ t: number; v: number }>): Trend | null {
  const n = points.length;
  if (n < 3) return null;
  let st = 0;
  let sv = 0;
  for (const p of points) {
    st += p.t;
    sv += p.v;
  }
  const mt = st / n;
  const mv = sv / n;
  let stt = 0;
  let stv = 0;
  for (const p of points) {
    stt += (p.t - mt) ** 2;
    stv += (p.t - mt) * (p.v - mv);
  }
  if (stt === 0) return null;
  const slope = stv / stt;
  const span = points[n - 1]!.t - points[0]!.t;
  return { slope, meanT: mt, mean: mv, growth: slope * span };
}

export interface Verdict {
  check: string;
  ok: boolean;
  /** One line for the console and the docs, saying what was seen against what was allowed. */
  line: string;
}

export interface Judgement {
  ok: boolean;
  /** The judged window, seconds since the load started. */
  window: { from: number; to: number };
  /** Regression of every judged series over the window (for the chart). */
  trends: Record<string, Trend>;
  verdicts: Verdict[];
}

export interface JudgeInput {
  samples: readonly SoakSample[];
  /** The judged stretch of the load, seconds since it started: after the ramp-up, before the end. */
  window: { from: number; to: number };
  limits: FlatnessLimits;
  /** sipp's final counts for the caller (the authority on failed calls). */
  calls: { planned: number; successful: number; failed: number };
}

const fmt = (v: number, digits = 1): string => (Math.abs(v) >= 100 ? v.toFixed(0) : v.toFixed(digits));

export function judge(input: JudgeInput): Judgement {
  const { samples, window, limits, calls } = input;
  const inWindow = samples.filter((s) => s.phase === 'load' && s.t >= window.from && s.t <= window.to);
  const verdicts: Verdict[] = [];
  const trends: Record<string, Trend> = {};

  const flat = (series: Series, limit: GrowthLimit): void => {
    const tr = trend(inWindow.map((s) => ({ t: s.t, v: series.read(s) })));
    const name = `${series.label}${series.unit ? ` (${series.unit})` : ''}`;
    if (tr === null) {
      verdicts.push({ check: `flat ${series.key}`, ok: false, line: `NOT JUDGED ${name}: ${inWindow.length} samples in the window` });
      return;
    }
    trends[series.key] = tr;
    const allowed = Math.max(limit.absolute, limit.relative * Math.abs(tr.mean));
    const ok = tr.growth <= allowed;
    verdicts.push({
      check: `flat ${series.key}`,
      ok,
      line: `${ok ? 'flat' : 'NOT FLAT'} ${name}: mean ${fmt(tr.mean)}, ${tr.growth >= 0 ? '+' : ''}${fmt(tr.growth, 2)} over ` +
        `${fmt(window.to - window.from, 0)} s (${fmt(tr.slope * 3600, 2)}/h; allowed +${fmt(allowed, 2)})`,
    });
  };
  flat(SERIES.rss, limits.rss);
  flat(SERIES.fds, limits.fds);
  flat(SERIES.sessions, limits.sessions);
  flat(SERIES.dialogs, limits.dialogs);
  flat(SERIES.transactions, limits.transactions);
  flat(SERIES.lagP99, limits.lagP99);

  const idle = samples.filter((s) => s.phase === 'idle').at(-1);
  const last = samples.at(-1);
  if (last === undefined || last.phase !== 'drain') {
    verdicts.push({ check: 'drained', ok: false, line: 'NOT DRAINED: no sample after the load stopped' });
  } else {
    const held = { sessions: last.sessions, dialogs: last.dialogs, transactions: last.transactions };
    const left = Object.entries(held).filter(([, v]) => v !== 0);
    verdicts.push({
      check: 'drained',
      ok: left.length === 0,
      line: left.length === 0
        ? `drained: 0 sessions, 0 dialogs, 0 transactions at t = ${fmt(last.t, 0)} s`
        : `NOT DRAINED at t = ${fmt(last.t, 0)} s: ${left.map(([k, v]) => `${v} ${k}`).join(', ')} left`,
    });
    if (idle !== undefined) {
      const ok = last.fds <= idle.fds + limits.drainFdSlack;
      verdicts.push({
        check: 'fds back',
        ok,
        line: `${ok ? 'fds back' : 'FDS NOT BACK'}: ${last.fds} open after the drain, ${idle.fds} before the load (slack ${limits.drainFdSlack})`,
      });
    }
  }

  const callsOk = calls.failed === 0 && calls.successful === calls.planned;
  verdicts.push({
    check: 'calls',
    ok: callsOk,
    line: `${callsOk ? 'calls' : 'FAILED CALLS'}: ${calls.successful} of ${calls.planned} successful, ${calls.failed} failed (sipp)`,
  });

  if (last !== undefined) {
    const delivery = last.rtpSent === 0 ? 0 : last.rtpDelivered / last.rtpSent;
    const ok = delivery >= limits.minRtpDelivery;
    verdicts.push({
      check: 'rtp',
      ok,
      line: `${ok ? 'rtp' : 'RTP LOST'}: ${last.rtpDelivered} of ${last.rtpSent} packets through pinlatch ` +
        `(${fmt(100 * delivery, 2)} %, required ${fmt(100 * limits.minRtpDelivery, 2)} %)`,
    });
  }
  return { ok: verdicts.every((v) => v.ok), window, trends, verdicts };
}
