/**
 * The proxy's counters and levels as the metrics endpoint reads them at scrape time
 * (src/app/metrics/sip.ts).
 */
import type { LimitKind } from '../edge/LimitError.js';
import type { SourceRateStats } from '../edge/SourceRateLimiter.js';
import type { RegistrarCounters } from '../registrar/Registrar.js';

/** What the proxy's edge limits have done and hold now, read by the metrics endpoint at scrape time. */
export interface ProxyStats {
  /** Per-source rate limiting (pike-like). */
  sourceRate: SourceRateStats;
  /** New requests refused with 503 because the SIP thread was behind. */
  shed: number;
  /** True while new requests are being shed. */
  shedding: boolean;
  /** Share of the new requests admitted now (1: none shed). */
  admittedShare: number;
  /** The SIP UDP sockets' queueing time and the event-loop lag as last measured (ms). */
  queueDelayMs: number;
  loopLagMs: number;
  /** Requests refused (503) because a bound was reached, by bound. */
  limitReached: Record<LimitKind, number>;
  /** Server transactions held: the ones not answered yet and the answered ones lingering (Timer J, L). */
  serverTransactions: number;
  /** The ones not answered yet (bound: limits.serverTransactions). */
  pendingServerTransactions: number;
  transactionBytes: number;
  clientTransactions: number;
  /** Dialogs held: calls not ended, and ended ones waiting out Timer J for late requests. */
  dialogs: number;
  /** The ones not ended (bound: limits.dialogs). */
  activeDialogs: number;
  dnsLookups: number;
  tcp: { connections: number; refusedTotal: number; refusedPerSource: number; bufferOverflows: number; messageTimeouts: number; idleTimeouts: number };
  /** Phone registrations (`phones`), null when phones are not configured. */
  phones: PhoneStats | null;
}

export interface PhoneStats extends RegistrarCounters {
  /** Bindings held (bound: phones.maxBindings) and the flows they are on. */
  bindings: number;
  flows: number;
  keepalivesSent: number;
  keepalivesMissed: number;
}
