/**
 * The running side of phone support: the registrar state (Registrar.ts) and the timers around it —
 * expiring registrations, and keepalives that hold UDP NAT mappings open and find dead phones.
 *
 * A UDP phone that has not been heard from for `keepalive.intervalSec` (its REGISTERs and its
 * answers to these pings count) gets an OPTIONS (RFC 3261 §11; what Kamailio's nathelper pings
 * with); one that leaves `maxMissed` of them unanswered has a dead flow, and requests for it fail
 * fast with 430 (RFC 5626 §5.3) until it registers again. A TCP flow dies with its connection.
 */
import type { PhonesConfig } from '../../config/types.js';
import type { Flow } from './Flow.js';
import type { FlowTokens } from './FlowToken.js';
import type { KeepalivePings, Ping, PingOrigin } from './KeepalivePing.js';
import { Registrar } from './Registrar.js';

const SWEEP_MS = 5000;

export interface PhonesIo {
  /** Sends the keepalive `ping` over `flow`; resolves true when any response came back. */
  ping(flow: Flow, ping: Ping): Promise<boolean>;
  /** pinlatch's address toward `flow`, for the Via and From of its pings. */
  origin(flow: Flow): PingOrigin;
  now(): number;
  onDead?(flow: Flow): void;
}

export interface RegistrationListing {
  aor: string;
  contact: string;
  flow: Flow;
  alive: boolean;
  /** Seconds until the phone's lease ends, and until the registrar's. */
  expiresInSec: number;
  registrarExpiresInSec: number;
}

export class Phones {
  readonly registrar: Registrar;
  private sweepTimer: NodeJS.Timeout | null = null;
  private pingTimer: NodeJS.Timeout | null = null;
  private readonly pinging = new Set<string>();
  /** Keepalive OPTIONS sent and left unanswered. */
  readonly keepalives = { sent: 0, missed: 0 };

  constructor(
    private readonly config: PhonesConfig,
    tokens: FlowTokens,
    private readonly io: PhonesIo,
    private readonly pings: KeepalivePings,
  ) {
    this.registrar = new Registrar(tokens, { maxBindings: config.maxBindings, throttle: config.throttle });
  }

  start(): void {
    this.sweepTimer = setInterval(() => this.registrar.expire(this.io.now()), SWEEP_MS).unref();
    const { intervalSec } = this.config.keepalive;
    if (intervalSec > 0) {
      // A tenth of the interval: each flow is pinged close to when it falls silent, and the
      // pings of many phones spread out instead of leaving in one burst.
      this.pingTimer = setInterval(() => this.pingSilent(), Math.max(1000, (intervalSec * 1000) / 10)).unref();
    }
  }

  stop(): void {
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    if (this.pingTimer) clearInterval(this.pingTimer);
    this.sweepTimer = this.pingTimer = null;
  }

  /** A TCP connection closed: every flow over it is dead. */
  connectionClosed(remote: { address: string; port: number }): void {
    for (const state of this.registrar.flows.values()) {
      if (state.flow.transport === 'tcp' && state.flow.address === remote.address && state.flow.port === remote.port) state.alive = false;
    }
  }

  private pingSilent(): void {
    const now = this.io.now();
    const silentSince = now - this.config.keepalive.intervalSec * 1000;
    for (const state of this.registrar.flows.values()) {
      if (state.flow.transport !== 'udp' || !state.alive || state.lastSeen > silentSince || this.pinging.has(state.key)) continue;
      const contact = state.contact;
      if (contact === null) continue;
      this.pinging.add(state.key);
      this.keepalives.sent += 1;
      void this.io.ping(state.flow, this.pings.next(contact, this.io.origin(state.flow))).then(
        (answered) => this.pinged(state.key, answered, now),
        () => this.pinged(state.key, false, now),
      );
    }
  }

  private pinged(key: string, answered: boolean, sentAt: number): void {
    this.pinging.delete(key);
    const state = this.registrar.flows.get(key);
    // Heard from since the ping left (it registered again): an unanswered ping proves nothing.
    if (!state || (!answered && state.lastSeen > sentAt)) return;
    if (answered) {
      state.missed = 0;
      state.lastSeen = this.io.now();
      return;
    }
    this.keepalives.missed += 1;
    state.missed += 1;
    // Counted from the last answer: a flow that answers again is alive again (touch()).
    if (state.missed >= this.config.keepalive.maxMissed && state.alive) {
      state.alive = false;
      this.io.onDead?.(state.flow);
    } else {
      state.lastSeen = this.io.now() - this.config.keepalive.intervalSec * 1000;
    }
  }

  /** Every binding with its flow's state (the `/registrations` listing). */
  listing(): RegistrationListing[] {
    const now = this.io.now();
    return [...this.registrar.bindings.values()].map((b) => {
      const state = this.registrar.flows.get(b.flowKey);
      return {
        aor: b.aor,
        contact: b.contact,
        flow: state?.flow ?? ({ transport: 'udp', address: '', port: 0, localAddress: '', localPort: 0 } as Flow),
        alive: state?.alive ?? false,
        expiresInSec: Math.max(0, Math.round((b.phoneExpiresAt - now) / 1000)),
        registrarExpiresInSec: Math.max(0, Math.round((b.registrarExpiresAt - now) / 1000)),
      };
    });
  }
}
