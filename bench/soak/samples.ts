/**
 * What a soak run records every interval, and the series the judgement and the chart read from
 * it. Pure data: no I/O.
 */

/** idle: pinlatch up, no calls yet; load: sipp placing calls; drain: sipp done, waiting for timers. */
export type SoakPhase = 'idle' | 'load' | 'drain';

export interface SoakSample {
  /** Seconds since the load started (negative while idle). */
  t: number;
  phase: SoakPhase;
  /** pinlatch's resident set (/proc/PID/status VmRSS), MiB. */
  rssMiB: number;
  /** pinlatch's open file descriptors (/proc/PID/fd). */
  fds: number;
  /** pinlatch CPU since the previous sample, % of one CPU (every thread, /proc/PID/stat). */
  cpuPct: number;
  /** The same for the load: both sipps and the RTP peer. */
  harnessCpuPct: number;
  /** The whole machine busy since the previous sample, % of one CPU (all CPUs: up to N × 100). */
  machineCpuPct: number;
  /** From /metrics: pinlatch_media_sessions. */
  sessions: number;
  /** pinlatch_sip_dialogs. */
  dialogs: number;
  /** pinlatch_sip_server_transactions + pinlatch_sip_client_transactions. */
  transactions: number;
  /** pinlatch_event_loop_lag_seconds p99 and max since the previous scrape, ms. */
  lagP99Ms: number;
  lagMaxMs: number;
  /** sipp caller, cumulative (its -trace_stat file). */
  callsStarted: number;
  callsSuccessful: number;
  callsFailed: number;
  /** RTP peer, cumulative: packets sent into pinlatch, packets that came out on the far side. */
  rtpSent: number;
  rtpDelivered: number;
}

/** The series the soak judges and draws: a name, a unit, and how to read it from a sample. */
export interface Series {
  key: string;
  label: string;
  unit: string;
  read: (s: SoakSample) => number;
}

export const SERIES = {
  rss: { key: 'rss', label: 'RSS', unit: 'MiB', read: (s) => s.rssMiB },
  fds: { key: 'fds', label: 'open fds', unit: '', read: (s) => s.fds },
  sessions: { key: 'sessions', label: 'media sessions', unit: '', read: (s) => s.sessions },
  dialogs: { key: 'dialogs', label: 'SIP dialogs', unit: '', read: (s) => s.dialogs },
  transactions: { key: 'transactions', label: 'SIP transactions', unit: '', read: (s) => s.transactions },
  lagP99: { key: 'lagP99', label: 'event-loop lag p99', unit: 'ms', read: (s) => s.lagP99Ms },
  lagMax: { key: 'lagMax', label: 'event-loop lag max', unit: 'ms', read: (s) => s.lagMaxMs },
  cpu: { key: 'cpu', label: 'pinlatch', unit: '%', read: (s) => s.cpuPct },
  harnessCpu: { key: 'harnessCpu', label: 'sipp + RTP peer', unit: '%', read: (s) => s.harnessCpuPct },
  machineCpu: { key: 'machineCpu', label: 'whole machine', unit: '%', read: (s) => s.machineCpuPct },
} as const satisfies Record<string, Series>;
