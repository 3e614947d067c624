/**
 * The running relay: builds every component from one validated configuration, starts them in
 * dependency order (media first, then its clients) and stops them in reverse.
 */
import type { Logger } from 'pino';
import type { MediaConfig, PinlatchConfig } from '../config/index.js';
import { MediaRelay, type MediaRelayOptions } from '../media/MediaRelay.js';
import { NgController } from '../control/NgController.js';
import { NgServer } from '../control/NgServer.js';
import { CidrSet } from '../net/cidr.js';
import { SipProxy } from '../sip/proxy/Proxy.js';
import { MetricsServer } from './MetricsServer.js';

export interface PinlatchOptions {
  config: PinlatchConfig;
  logger: Logger;
}

export interface ListenPoint {
  service: 'sip' | 'ng' | 'media' | 'metrics';
  transport: 'udp' | 'tcp';
  address: string;
  port: number | string;
}

/** The media section of a configuration as MediaRelay options. */
export function mediaRelayOptions(media: MediaConfig, logger?: Logger): MediaRelayOptions {
  return {
    address: media.address,
    advertise: media.advertise,
    ports: media.ports,
    shards: media.shards,
    timeoutMs: media.timeoutSec * 1000,
    quarantineMs: media.quarantineMs,
    latchSyncMs: media.latchSyncMs,
    restoreTimeoutMs: media.restoreTimeoutMs,
    handoverSilenceMs: media.latching.handoverSilenceMs,
    handoverMaxSeqGap: media.latching.handoverMaxSeqGap,
    ...(logger === undefined ? {} : { logger }),
  };
}

export class Pinlatch {
  readonly config: PinlatchConfig;
  readonly #log: Logger;
  #media: MediaRelay | undefined;
  #ng: NgServer | undefined;
  #sip: SipProxy | undefined;
  #metrics: MetricsServer | undefined;
  #stopping: Promise<void> | undefined;

  constructor(options: PinlatchOptions) {
    this.config = options.config;
    this.#log = options.logger;
  }

  get media(): MediaRelay {
    if (this.#media === undefined) throw new Error('pinlatch is not started');
    return this.#media;
  }

  /** Starts every configured component; on failure, stops what already started and rethrows. */
  async start(): Promise<ListenPoint[]> {
    const { config } = this;
    const points: ListenPoint[] = [];
    try {
      const m = config.media;
      this.#media = await MediaRelay.start(mediaRelayOptions(m, this.#log.child({ component: 'media' })));
      points.push({ service: 'media', transport: 'udp', address: m.address, port: `${m.ports.min}-${m.ports.max}` });

      if (config.ng !== null) {
        const ngLog = this.#log.child({ component: 'ng' });
        const allow = config.ng.allow;
        const controller = new NgController(this.#media);
        this.#ng = new NgServer(controller, {
          address: config.ng.address,
          port: config.ng.port,
          tcp: config.ng.tcp,
          allow: CidrSet.parse(allow),
          onProblem: (p) => ngLog.warn({ peer: p.peer, code: p.code }, p.message),
          onRefused: (r) => ngLog.warn({ peer: r.peer, refused: r.count, allow }, 'NG command from a source outside ng.allow dropped'),
        });
        await this.#ng.listen();
        points.push({ service: 'ng', transport: 'udp', address: config.ng.address, port: this.#ng.udpPort });
        const tcpPort = this.#ng.tcpPort;
        if (tcpPort !== undefined) points.push({ service: 'ng', transport: 'tcp', address: config.ng.address, port: tcpPort });
      }

      if (config.sip !== null) {
        this.#sip = new SipProxy({ config, media: this.#media, logger: this.#log.child({ component: 'sip' }) });
        await this.#sip.start();
        for (const l of this.#sip.listenPoints) points.push({ service: 'sip', transport: l.transport, address: l.address, port: l.port });
      }

      if (config.metrics !== null) {
        this.#metrics = new MetricsServer({ media: this.#media, ng: this.#ng, sip: this.#sip, phones: this.#sip?.phones });
        const port = await this.#metrics.listen(config.metrics.address, config.metrics.port);
        points.push({ service: 'metrics', transport: 'tcp', address: config.metrics.address, port });
      }
      return points;
    } catch (err) {
      await this.stop();
      throw err;
    }
  }

  /** True once a drain began (the SIP proxy refuses new calls); a readiness check reads it. */
  get draining(): boolean {
    return this.#sip?.draining ?? false;
  }

  /**
   * Lets the running calls finish for `deadlineMs` (default `sip.drainSec`) while refusing new
   * ones, then ends the rest with BYE both ways (SipProxy.drain). Without SIP there is nothing to
   * drain. A second call with a shorter deadline brings the end forward.
   */
  async drain(deadlineMs = (this.config.sip?.drainSec ?? 0) * 1000): Promise<void> {
    await this.#sip?.drain(deadlineMs);
  }

  /** Stops clients first, then the media plane (closing every socket). Idempotent. */
  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      await this.#metrics?.close();
      await this.#sip?.stop();
      await this.#ng?.close();
      await this.#media?.close();
    })();
    return this.#stopping;
  }
}
