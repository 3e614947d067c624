/**
 * Prometheus endpoint (prom-client). Values are read when scraped — from the media session table
 * and the NG server's counters — so nothing is counted twice and the packet path is untouched.
 */
import { createServer, type Server } from 'node:http';
import { once } from 'node:events';
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { MediaRelay } from '../media/MediaRelay.js';
import type { NgServer } from '../control/NgServer.js';
import type { ProxyStats } from '../sip/proxy/Proxy.js';
import type { Phones } from '../sip/registrar/Phones.js';

export interface MetricsSources {
  media: MediaRelay;
  ng?: NgServer | undefined;
  /** The SIP proxy's edge limits (SipProxy.stats), read at scrape time. */
  sip?: { stats(): ProxyStats } | undefined;
  /** Phones registering through pinlatch (the `phones` section), or null/undefined: none. */
  phones?: Phones | null | undefined;
}

/** Sampling timer of the event-loop delay histogram; Node records each whole interval, this included. */
const LAG_RESOLUTION_MS = 10;

export class MetricsServer {
  readonly registry = new Registry();
  #server: Server | undefined;
  readonly #lag: IntervalHistogram = monitorEventLoopDelay({ resolution: LAG_RESOLUTION_MS });
  /** Counts scrapes, so that one stats() read of the SIP proxy serves every metric of one scrape. */
  #scrapes = 0;

  constructor(sources: MetricsSources) {
    const { registry } = this;
    collectDefaultMetrics({ register: registry, prefix: 'pinlatch_' });
    gaugeFrom(registry, 'pinlatch_media_sessions', 'Media sessions open in the relay', () => sources.media.size);
    const faults = () => sources.media.faultCounters();
    counterFrom(registry, 'pinlatch_media_shard_restarts_total', 'Media shard workers that died and were restarted', () => faults().shardRestarts);
    counterFrom(registry, 'pinlatch_media_sessions_restored_total', 'Media sessions re-created on a restarted shard', () => faults().sessionsRestored);
    counterFrom(registry, 'pinlatch_media_sessions_lost_total', 'Media sessions of a dead shard that could not be restored', () => faults().sessionsLost);
    counterFrom(registry, 'pinlatch_media_refused_legs_total', 'Media legs whose packets all came from sources their latching rule refuses (each logged once)', () => sources.media.refusedLegs);
    const lag = this.#lag;
    lag.enable();
    new Gauge({
      name: 'pinlatch_event_loop_lag_seconds',
      help: `Main-thread event-loop delay since the previous scrape, beyond the ${LAG_RESOLUTION_MS} ms sampling timer (stat: p99, max)`,
      labelNames: ['stat'],
      registers: [registry],
      collect() {
        // prom-client's nodejs_eventloop_lag_* report the same histogram with the timer's interval in them.
        const beyond = (ns: number): number => Math.max(0, ns / 1e6 - LAG_RESOLUTION_MS) / 1000;
        this.set({ stat: 'p99' }, lag.count === 0 ? 0 : beyond(lag.percentile(99)));
        this.set({ stat: 'max' }, lag.count === 0 ? 0 : beyond(lag.max));
        lag.reset();
      },
    });
    const ng = sources.ng;
    if (ng !== undefined) {
      counterFrom(registry, 'pinlatch_ng_requests_total', 'NG requests processed', () => ng.counters.requests);
      counterFrom(registry, 'pinlatch_ng_retransmissions_total', 'NG requests answered from the cookie cache', () => ng.counters.retransmissions);
      counterFrom(registry, 'pinlatch_ng_errors_total', 'NG requests answered with result: error', () => ng.counters.errors);
      counterFrom(registry, 'pinlatch_ng_dropped_total', 'NG datagrams without a usable cookie', () => ng.counters.dropped);
      counterFrom(registry, 'pinlatch_ng_refused_total', 'NG datagrams and TCP connections from sources outside ng.allow, dropped', () => ng.counters.refused);
    }
    if (sources.sip !== undefined) registerSipLimits(registry, sources.sip, () => this.#scrapes);
    if (sources.phones) registerPhones(registry, sources.phones);
  }

  async listen(address: string, port: number): Promise<number> {
    const server = createServer((req, res) => {
      if (req.method !== 'GET' || req.url !== '/metrics') {
        res.writeHead(404).end();
        return;
      }
      this.#scrapes++;
      this.registry.metrics().then(
        (body) => res.writeHead(200, { 'content-type': this.registry.contentType }).end(body),
        (err: unknown) => res.writeHead(500).end(String(err)),
      );
    });
    server.listen(port, address);
    await Promise.race([once(server, 'listening'), once(server, 'error').then(([err]) => Promise.reject(err))]);
    this.#server = server;
    const bound = server.address();
    return typeof bound === 'object' && bound !== null ? bound.port : port;
  }

  async close(): Promise<void> {
    this.#lag.disable();
    const server = this.#server;
    if (server === undefined) return;
    this.#server = undefined;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

/** A counter whose value is a running total kept elsewhere, read when scraped. */
function counterFrom(registry: Registry, name: string, help: string, read: () => number): Counter {
  return new Counter({ name, help, registers: [registry], collect() { this.reset(); this.inc(read()); } });
}

/** A gauge whose value is read when scraped. */
function gaugeFrom(registry: Registry, name: string, help: string, read: () => number): Gauge {
  return new Gauge({ name, help, registers: [registry], collect() { this.set(read()); } });
}

/** Registrations and keepalives of phones behind NAT (docs/phones.md). */
function registerPhones(registry: Registry, phones: Phones): void {
  const { registrar } = phones;
  gaugeFrom(registry, 'pinlatch_phone_bindings', 'Registered bindings (address-of-record + Contact) held (bound: phones.maxBindings)', () => registrar.bindings.size);
  gaugeFrom(registry, 'pinlatch_phone_flows', 'Flows (NAT mappings, TCP connections) phones registered over', () => registrar.flows.size);
  counterFrom(registry, 'pinlatch_phone_registers_total', 'REGISTERs received from phones', () => registrar.counters.registers);
  counterFrom(registry, 'pinlatch_phone_registers_answered_locally_total', 'Refreshes answered by pinlatch itself (phones.throttle)', () => registrar.counters.answeredLocally);
  counterFrom(registry, 'pinlatch_phone_registers_refused_full_total', 'New registrations refused with 503 because phones.maxBindings was reached', () => registrar.counters.refusedFull);
  counterFrom(registry, 'pinlatch_phone_keepalives_sent_total', 'Keepalive OPTIONS sent to silent UDP phones', () => phones.keepalives.sent);
  counterFrom(registry, 'pinlatch_phone_keepalives_missed_total', 'Keepalive OPTIONS left unanswered', () => phones.keepalives.missed);
}

/** The SIP edge limits: one stats() read per scrape feeds every metric of the scrape. */
function registerSipLimits(registry: Registry, sip: { stats(): ProxyStats }, scrape: () => number): void {
  let scraped: { scrape: number; stats: ProxyStats } | undefined;
  const read = (): ProxyStats => {
    const current = scrape();
    if (scraped === undefined || scraped.scrape !== current) scraped = { scrape: current, stats: sip.stats() };
    return scraped.stats;
  };
  const counter = (name: string, help: string, value: (s: ProxyStats) => number) => counterFrom(registry, name, help, () => value(read()));
  const gauge = (name: string, help: string, value: (s: ProxyStats) => number) => gaugeFrom(registry, name, help, () => value(read()));
  counter('pinlatch_sip_rate_limited_total', 'Requests answered 503 because their source went over limits.sourceRate (one per ban)', (s) => s.sourceRate.refused);
  counter('pinlatch_sip_banned_dropped_total', 'Requests of banned sources ignored', (s) => s.sourceRate.dropped);
  counter('pinlatch_sip_bans_total', 'Sources banned for going over limits.sourceRate', (s) => s.sourceRate.bans);
  gauge('pinlatch_sip_banned_sources', 'Sources whose ban is running', (s) => s.sourceRate.banned);
  gauge('pinlatch_sip_rate_sources', 'Sources in the rate table (bound: limits.sourceRate.sources)', (s) => s.sourceRate.sources);
  counter('pinlatch_sip_shed_total', 'New requests answered 503 because the SIP thread was behind (limits.overload)', (s) => s.shed);
  gauge('pinlatch_sip_shedding', '1 while new requests are shed', (s) => (s.shedding ? 1 : 0));
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
  gauge('pinlatch_sip_server_transactions', 'Open server transactions (bound: limits.serverTransactions)', (s) => s.serverTransactions);
  gauge('pinlatch_sip_transaction_bytes', 'Bytes of the requests open server transactions hold (bound: limits.transactionBytes)', (s) => s.transactionBytes);
  gauge('pinlatch_sip_client_transactions', 'Open client transactions', (s) => s.clientTransactions);
  gauge('pinlatch_sip_dialogs', 'Dialogs kept (bound: limits.dialogs)', (s) => s.dialogs);
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
