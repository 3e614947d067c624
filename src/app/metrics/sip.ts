/**
 * The SIP side's metrics: the edge limits (SipProxy.stats), messages and calls (SipCounters), the
 * calls held now (SipProxy.calls), admission (Gatekeeper.counters) and the drain.
 */
import { Counter, type Registry } from 'prom-client';
import type { AdmissionCounters } from '../../sip/edge/Gatekeeper.js';
import { answeredByTrunk, type SipCallView } from '../../sip/proxy/CallView.js';
import type { ProxyStats } from '../../sip/proxy/ProxyStats.js';
import type { SipCounters } from '../../sip/proxy/SipCounters.js';
import { byLabel, counterFrom, countersFrom, gaugeFrom, gaugesFrom, perScrape } from './from.js';

/** What the metrics read of the SIP proxy (SipProxy has all of it). */
export interface SipSource {
  stats(): ProxyStats;
  readonly counters: SipCounters;
  calls(): SipCallView[];
  readonly gate: { readonly counters: AdmissionCounters };
  readonly draining: boolean;
}

export function registerSipMetrics(registry: Registry, sip: SipSource): void {
  registerSipLimits(registry, perScrape(() => sip.stats()));
  const c = sip.counters;
  countersFrom(registry, 'pinlatch_sip_requests_received_total', 'SIP requests received (retransmissions included), by method', ['method'], () => byLabel('method', c.requestsReceived));
  countersFrom(registry, 'pinlatch_sip_responses_received_total', 'SIP responses received (retransmissions included), by status class', ['class'], () => byLabel('class', c.responsesReceived));
  countersFrom(registry, 'pinlatch_sip_requests_sent_total', 'SIP requests sent (retransmissions and the proxy\'s own CANCEL, BYE and keepalive OPTIONS included), by method', ['method'], () => byLabel('method', c.requestsSent));
  countersFrom(registry, 'pinlatch_sip_responses_sent_total', 'SIP responses sent (retransmissions included), by status class', ['class'], () => byLabel('class', c.responsesSent));
  countersFrom(registry, 'pinlatch_sip_calls_started_total', 'Initial INVITEs admitted and forwarded, by trunk (the calling trunk, else the first called; none without)', ['trunk'], () => byLabel('trunk', c.callsStarted));
  countersFrom(registry, 'pinlatch_sip_calls_answered_total', 'Calls whose 2xx went to the caller, by trunk (the answering trunk, else the calling one; none without)', ['trunk'], () => byLabel('trunk', c.callsAnswered));
  countersFrom(registry, 'pinlatch_sip_calls_failed_total', 'Calls that failed, by reason (final response class, timeout = 408, cancelled = 487, media_timeout, media_lost)', ['reason'], () => byLabel('reason', c.callsFailed));
  counterFrom(registry, 'pinlatch_sip_pinned_requests_total', 'In-dialog requests (ACK included) sent where a trunk\'s route pin said', () => c.pinnedRequests);
  const calls = perScrape(() => sip.calls());
  gaugesFrom(registry, 'pinlatch_sip_calls', 'Calls held now, by state (ringing: INVITE not answered yet; answered: confirmed dialog)', ['state'], () => {
    const now = calls();
    const answered = now.filter((call) => call.state === 'answered').length;
    return [[{ state: 'ringing' }, now.length - answered], [{ state: 'answered' }, answered]];
  });
  gaugesFrom(registry, 'pinlatch_sip_trunk_calls', 'Answered calls held now, by trunk (none: calls without a trunk)', ['trunk'], () => byLabel('trunk', answeredByTrunk(calls())));
  gaugeFrom(registry, 'pinlatch_sip_draining', '1 once a drain began (SIGTERM): new calls are refused with 503', () => (sip.draining ? 1 : 0));
  const gate = sip.gate.counters;
  counterFrom(registry, 'pinlatch_sip_admission_refused_total', 'Initial requests refused with 403 by admission (source may not use the route)', () => gate.refused);
  counterFrom(registry, 'pinlatch_sip_admission_dropped_total', 'Initial requests dropped unanswered by admission (strangers when admission.strangers says so)', () => gate.dropped);
  counterFrom(registry, 'pinlatch_sip_admission_scanners_total', 'Requests dropped because their User-Agent names a scanner (admission.scannerUserAgents)', () => gate.scanners);
  counterFrom(registry, 'pinlatch_sip_in_dialog_refused_total', 'In-dialog requests refused (403/481) or, for ACK, dropped: no valid route token or unknown next hop', () => gate.inDialogRefused);
}

/** The SIP edge limits: one stats() read per scrape feeds every metric of the scrape. */
function registerSipLimits(registry: Registry, read: () => ProxyStats): void {
  const counter = (name: string, help: string, value: (s: ProxyStats) => number) => counterFrom(registry, name, help, () => value(read()));
  const gauge = (name: string, help: string, value: (s: ProxyStats) => number) => gaugeFrom(registry, name, help, () => value(read()));
  counter('pinlatch_sip_rate_limited_total', 'Requests answered 503 because their source went over limits.sourceRate (one per ban)', (s) => s.sourceRate.refused);
  counter('pinlatch_sip_banned_dropped_total', 'Requests of banned sources ignored', (s) => s.sourceRate.dropped);
  counter('pinlatch_sip_bans_total', 'Sources banned for going over limits.sourceRate', (s) => s.sourceRate.bans);
  gauge('pinlatch_sip_banned_sources', 'Sources whose ban is running', (s) => s.sourceRate.banned);
  gauge('pinlatch_sip_rate_sources', 'Sources in the rate table (bound: limits.sourceRate.sources)', (s) => s.sourceRate.sources);
  counter('pinlatch_sip_shed_total', 'New requests answered 503 because the SIP thread was behind (limits.overload)', (s) => s.shed);
  gauge('pinlatch_sip_shedding', '1 while new requests are shed', (s) => (s.shedding ? 1 : 0));
  gauge('pinlatch_sip_admitted_share', 'Share of the new requests admitted while shedding steers the SIP queue (1: none shed)', (s) => s.admittedShare);
  gauge('pinlatch_sip_queue_delay_seconds', 'Queueing time of the SIP UDP sockets, last measured by a probe', (s) => s.queueDelayMs / 1000);
  gauge('pinlatch_sip_loop_lag_seconds', 'Event-loop lag of the SIP thread, last measured', (s) => s.loopLagMs / 1000);
  new Counter({
    name: 'pinlatch_sip_limit_reached_total',
    help: 'Requests refused with 503 because a bound of `limits` was reached, by bound',
    labelNames: ['limit'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [limit, n] of Object.entries(read().limitReached)) this.inc({ limit }, n);
    },
  });
  gauge('pinlatch_sip_server_transactions', 'Server transactions held: not answered yet, and answered ones lingering for retransmissions (Timer J, L: 64 × T1)', (s) => s.serverTransactions);
  gauge('pinlatch_sip_server_transactions_pending', 'Server transactions not answered yet (bound: limits.serverTransactions)', (s) => s.pendingServerTransactions);
  gauge('pinlatch_sip_transaction_bytes', 'Bytes open server transactions hold: their requests as received and the final responses the answered ones keep (bound: limits.transactionBytes)', (s) => s.transactionBytes);
  gauge('pinlatch_sip_client_transactions', 'Open client transactions', (s) => s.clientTransactions);
  gauge('pinlatch_sip_dialogs', 'Dialogs held: calls not ended, and ended ones kept 64 × T1 for late requests', (s) => s.dialogs);
  gauge('pinlatch_sip_dialogs_active', 'Dialogs not ended, early and confirmed (bound: limits.dialogs)', (s) => s.activeDialogs);
  gauge('pinlatch_sip_dns_lookups', 'DNS lookups pending (bound: limits.dnsLookups)', (s) => s.dnsLookups);
  gauge('pinlatch_sip_tcp_connections', 'Open SIP TCP connections (bound: limits.tcp.connections)', (s) => s.tcp.connections);
  new Counter({
    name: 'pinlatch_sip_tcp_closed_total',
    help: 'SIP TCP connections closed by a bound of limits.tcp, by reason',
    labelNames: ['reason'],
    registers: [registry],
    collect() {
      this.reset();
      const { tcp } = read();
      this.inc({ reason: 'connections' }, tcp.refusedTotal);
      this.inc({ reason: 'connectionsPerSource' }, tcp.refusedPerSource);
      this.inc({ reason: 'bufferBytes' }, tcp.bufferOverflows);
      this.inc({ reason: 'messageTimeout' }, tcp.messageTimeouts);
      this.inc({ reason: 'idle' }, tcp.idleTimeouts);
    },
  });
}
