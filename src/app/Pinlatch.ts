/**
 * The running relay: builds every component from one validated configuration, starts them in
 * dependency order (media first, then its clients) and stops them in reverse. A reload swaps in
 * a new configuration when only keys that may change at run time differ (config/reload.ts).
 */
import type { Logger } from 'pino';
import { changedKeys, reloadRefusal, type LineLocator, type LogLevel, type MediaConfig, type PinlatchConfig } from '../config/index.js';
import { MediaRelay, type MediaRelayOptions } from '../media/MediaRelay.js';
import { addon } from '../native.js';
import { NgController } from '../control/NgController.js';
import { NgServer } from '../control/NgServer.js';
import { CidrSet } from '../net/cidr.js';
import { SipProxy } from '../sip/proxy/Proxy.js';
import { warmUpBeforeListening } from '../sip/warmup/warmUpBeforeListening.js';
import { fullCollection, IdleCollector } from './IdleCollector.js';
import { MetricsServer } from './MetricsServer.js';
import { readinessOf, type Readiness } from './Readiness.js';

export interface PinlatchOptions {
  config: PinlatchConfig;
  logger: Logger;
  /** The log level in force whatever `log.level` says, start and reloads alike (`--log-level`). */
  logLevel?: LogLevel;
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
    ...(media.cpus === undefined ? {} : { cpus: [...media.cpus] }),
    ...(media.realtime === undefined ? {} : { realtimePriority: media.realtime }),
    receiveBufferBytes: media.socketBuffers.receiveBytes,
    sendBufferBytes: media.socketBuffers.sendBytes,
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
  #config: PinlatchConfig;
  readonly #log: Logger;
  readonly #logLevel: LogLevel | undefined;
  #media: MediaRelay | undefined;
  #ng: NgServer | undefined;
  #ngController: NgController | undefined;
  #sip: SipProxy | undefined;
  #metrics: MetricsServer | undefined;
  #idle: IdleCollector | undefined;
  #stopping: Promise<void> | undefined;

  constructor(options: PinlatchOptions) {
    this.#config = options.config;
    this.#log = options.logger;
    this.#logLevel = options.logLevel;
  }

  /** The configuration in force (the last one reloaded). */
  get config(): PinlatchConfig {
    return this.#config;
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

      if (config.sip !== null) {
        // Warm before any listener opens: a relay restarted under load takes calls the moment it
        // listens, and no NG session can share the media relay with the warm-up's calls.
        const warmUpLog = this.#log.child({ component: 'sip', warmUp: true });
        warmUpLog.info(await warmUpBeforeListening({ config, media: this.#media, logger: warmUpLog }), 'warm-up done');
      }

      if (config.ng !== null) {
        const ngLog = this.#log.child({ component: 'ng' });
        const allow = config.ng.allow;
        // The SIP proxy starts later: its calls are read when a command asks.
        const controller = new NgController(this.#media, { sipCalls: () => this.#sip?.calls() ?? [] });
        this.#ngController = controller;
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
        const sipLog = this.#log.child({ component: 'sip' });
        this.#sip = new SipProxy({ config, media: this.#media, logger: sipLog });
        await this.#sip.start();
        for (const l of this.#sip.listenPoints) points.push({ service: 'sip', transport: l.transport, address: l.address, port: l.port });
      }

      const media = this.#media;
      const sip = this.#sip;
      const ng = this.#ng;
      this.#idle = new IdleCollector({
        config: () => this.config.memory.idleCollection,
        load: () => ({ messages: (sip?.counters.messagesReceived ?? 0) + (ng?.counters.requests ?? 0), calls: media.size }),
        // gc() is taken at the first collection: with idle collection off, V8's flags stay untouched.
        reclaimer: { collect: () => fullCollection()(), trim: () => addon.trimMemory() },
        log: this.#log.child({ component: 'memory' }),
      });
      this.#idle.start();

      if (config.metrics !== null) {
        const controller = this.#ngController;
        this.#metrics = new MetricsServer({
          media: this.#media,
          ng: this.#ng,
          ngCommands: controller && (() => controller.commandCounts()),
          sip: this.#sip,
          phones: this.#sip?.phones,
          readiness: () => this.readiness(),
          idle: this.#idle.counters,
        });
        const port = await this.#metrics.listen(config.metrics.address, config.metrics.port);
        points.push({ service: 'metrics', transport: 'tcp', address: config.metrics.address, port });
      }
      return points;
    } catch (err) {
      await this.stop();
      throw err;
    }
  }

  /**
   * Ready for new calls (/readyz): every media shard up, SIP listening when configured, no drain
   * and not stopping.
   */
  readiness(): Readiness {
    const media = this.#media;
    const mediaUp = media !== undefined && this.#stopping === undefined && Array.from({ length: media.shards }, (_, s) => media.isShardUp(s)).every(Boolean);
    const sip = this.config.sip === null ? undefined : this.#sip !== undefined && this.#stopping === undefined && this.#sip.listenPoints.length > 0;
    return readinessOf({ media: mediaUp, sip, draining: this.draining });
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

  /**
   * Puts `next` in force: throws the ConfigError naming each key that cannot change at run time
   * (at its line, by `locate`) and keeps the running configuration; else the SIP proxy takes the
   * new trunks, routes, admission and limits for new requests, and the log level changes on the
   * root logger (its children follow it). Resolves with the keys that changed (changedKeys).
   */
  async reload(next: PinlatchConfig, locate?: LineLocator): Promise<string[]> {
    if (this.#stopping) throw new Error('pinlatch is stopping');
    const refusal = reloadRefusal(this.#config, next, locate);
    if (refusal) throw refusal;
    const changed = changedKeys(this.#config, next);
    await this.#sip?.reconfigure(next);
    this.#config = next;
    this.#log.level = this.#logLevel ?? next.log.level;
    return changed;
  }

  /** Stops clients first, then the media plane (closing every socket). Idempotent. */
  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      this.#idle?.stop();
      await this.#metrics?.close();
      await this.#sip?.stop();
      await this.#ng?.close();
      await this.#media?.close();
    })();
    return this.#stopping;
  }
}
