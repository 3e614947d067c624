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
import type { SipProxyStats } from '../sip/proxy/Proxy.js';

export interface MetricsSources {
  media: MediaRelay;
  ng?: NgServer | undefined;
  sip?: { stats(): SipProxyStats } | undefined;
}

/** Sampling timer of the event-loop delay histogram; Node records each whole interval, this included. */
const LAG_RESOLUTION_MS = 10;

export class MetricsServer {
  readonly registry = new Registry();
  #server: Server | undefined;
  readonly #lag: IntervalHistogram = monitorEventLoopDelay({ resolution: LAG_RESOLUTION_MS });

  constructor(sources: MetricsSources) {
    const { registry } = this;
    collectDefaultMetrics({ register: registry, prefix: 'pinlatch_' });
    new Gauge({
      name: 'pinlatch_media_sessions',
      help: 'Media sessions open in the relay',
      registers: [registry],
      collect() {
        this.set(sources.media.size);
      },
    });
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
    const sip = sources.sip;
    if (sip !== undefined) {
      new Gauge({
        name: 'pinlatch_sip_transactions',
        help: 'SIP transactions held by the proxy (server: requests received, client: requests forwarded)',
        labelNames: ['kind'],
        registers: [registry],
        collect() {
          const stats = sip.stats();
          this.set({ kind: 'server' }, stats.serverTransactions);
          this.set({ kind: 'client' }, stats.clientTransactions);
        },
      });
      new Gauge({
        name: 'pinlatch_sip_dialogs',
        help: 'SIP dialogs held by the proxy: early, confirmed, and ended ones kept 64*T1 for retransmitted BYE/ACK',
        registers: [registry],
        collect() {
          this.set(sip.stats().dialogs);
        },
      });
    }
    const ng = sources.ng;
    if (ng !== undefined) {
      const ngCounter = (name: string, help: string, read: () => number) =>
        new Counter({
          name,
          help,
          registers: [registry],
          collect() {
            this.reset();
            this.inc(read());
          },
        });
      ngCounter('pinlatch_ng_requests_total', 'NG requests processed', () => ng.counters.requests);
      ngCounter('pinlatch_ng_retransmissions_total', 'NG requests answered from the cookie cache', () => ng.counters.retransmissions);
      ngCounter('pinlatch_ng_errors_total', 'NG requests answered with result: error', () => ng.counters.errors);
      ngCounter('pinlatch_ng_dropped_total', 'NG datagrams without a usable cookie', () => ng.counters.dropped);
    }
  }

  async listen(address: string, port: number): Promise<number> {
    const server = createServer((req, res) => {
      if (req.method !== 'GET' || req.url !== '/metrics') {
        res.writeHead(404).end();
        return;
      }
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
