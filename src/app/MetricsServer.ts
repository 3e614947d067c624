/**
 * The management HTTP endpoint: Prometheus metrics (prom-client), health and readiness checks, and
 * the phones' registrations. Metric values are read when scraped — from the counters the media
 * shards, the SIP proxy, the NG server and the registrar keep — so nothing is counted twice and
 * no JavaScript runs per packet. It serves state an operator needs and a stranger must not see
 * (`/registrations` names every phone and where it is): bind `metrics.address` to a management
 * address, never to a public one.
 *
 *   GET /metrics        Prometheus text exposition (docs/metrics.md)
 *   GET /healthz        200 while the process runs
 *   GET /readyz         200 when SIP and media listen and no drain runs, else 503 (JSON says why)
 *   GET /registrations  JSON: every phone binding with its flow's state (404 without `phones`)
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { once } from 'node:events';
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import { Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { MediaRelay } from '../media/MediaRelay.js';
import type { NgServer } from '../control/NgServer.js';
import type { Phones } from '../sip/registrar/Phones.js';
import { counterFrom, countersFrom, gaugeFrom } from './metrics/from.js';
import { registerMediaMetrics } from './metrics/media.js';
import { registerPhonesMetrics } from './metrics/phones.js';
import { registerSipMetrics, type SipSource } from './metrics/sip.js';
import type { IdleCollectorCounters } from './IdleCollector.js';
import type { Readiness } from './Readiness.js';

export interface MetricsSources {
  media: MediaRelay;
  ng?: NgServer | undefined;
  /** NG commands handled, by name (NgController.commandCounts). */
  ngCommands?: (() => Readonly<Record<string, number>>) | undefined;
  /** The SIP proxy, read at scrape time. */
  sip?: SipSource | undefined;
  /** The phones the proxy registers (SipProxy.phones), when `phones` is configured. */
  phones?: Phones | null | undefined;
  /** What /readyz reports; without it /readyz answers as /healthz. */
  readiness?: (() => Readiness) | undefined;
  /** The idle collections' counters (IdleCollector). */
  idle?: IdleCollectorCounters | undefined;
}

/** Sampling timer of the event-loop delay histogram; Node records each whole interval, this included. */
const LAG_RESOLUTION_MS = 10;

export class MetricsServer {
  readonly registry = new Registry();
  #server: Server | undefined;
  readonly #lag: IntervalHistogram = monitorEventLoopDelay({ resolution: LAG_RESOLUTION_MS });
  readonly #sources: MetricsSources;

  constructor(sources: MetricsSources) {
    this.#sources = sources;
    const { registry } = this;
    collectDefaultMetrics({ register: registry, prefix: 'pinlatch_' });
    registerMediaMetrics(registry, sources.media);
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
    const ngCommands = sources.ngCommands;
    if (ngCommands !== undefined) {
      countersFrom(registry, 'pinlatch_ng_commands_total', 'NG commands handled, by command', ['command'], () =>
        Object.entries(ngCommands()).map(([command, n]) => [{ command }, n] as const),
      );
    }
    if (sources.sip !== undefined) registerSipMetrics(registry, sources.sip);
    if (sources.phones) registerPhonesMetrics(registry, sources.phones);
    const idle = sources.idle;
    if (idle !== undefined) {
      counterFrom(registry, 'pinlatch_idle_collections_total', 'Full garbage collections and malloc trims run because the relay was quiet after a load (memory.idleCollection)', () => idle.collections);
      countersFrom(registry, 'pinlatch_idle_collection_freed_bytes_total', 'Bytes those collections freed, by memory (heap: V8 heap used and external; rss: resident set)', ['memory'], () => [
        [{ memory: 'heap' }, idle.heapFreedBytes],
        [{ memory: 'rss' }, idle.rssFreedBytes],
      ]);
    }
    const readiness = sources.readiness;
    if (readiness !== undefined) gaugeFrom(registry, 'pinlatch_ready', '1 while /readyz answers 200 (SIP and media listening, not draining)', () => (readiness().ready ? 1 : 0));
  }

  async listen(address: string, port: number): Promise<number> {
    const server = createServer((req, res) => this.#route(req, res));
    server.listen(port, address);
    await Promise.race([once(server, 'listening'), once(server, 'error').then(([err]) => Promise.reject(err))]);
    this.#server = server;
    const bound = server.address();
    return typeof bound === 'object' && bound !== null ? bound.port : port;
  }

  #route(req: IncomingMessage, res: ServerResponse): void {
    const path = (req.url ?? '').split('?', 1)[0];
    if (req.method !== 'GET') {
      res.writeHead(405, { allow: 'GET' }).end();
      return;
    }
    switch (path) {
      case '/metrics':
        this.registry.metrics().then(
          (body) => res.writeHead(200, { 'content-type': this.registry.contentType }).end(body),
          (err: unknown) => res.writeHead(500).end(String(err)),
        );
        return;
      case '/healthz':
        json(res, 200, { status: 'up' });
        return;
      case '/readyz': {
        const state = this.#sources.readiness?.() ?? { ready: true };
        json(res, state.ready ? 200 : 503, state);
        return;
      }
      case '/registrations': {
        const phones = this.#sources.phones;
        if (!phones) json(res, 404, { error: 'phones is not configured' });
        else json(res, 200, { registrations: phones.listing() });
        return;
      }
      default:
        res.writeHead(404).end();
    }
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

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(`${JSON.stringify(body)}\n`);
}
