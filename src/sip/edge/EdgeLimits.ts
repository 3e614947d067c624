/**
 * The edge limits a new request meets before it gets a transaction (`limits` in the
 * configuration): a source over its request rate is answered 503 once and then ignored for its
 * ban; while the SIP socket's queue or the event loop is behind, a share of the new requests gets
 * 503 with Retry-After at once instead of a late answer; a full table (transactions, their bytes,
 * dialogs, media sessions) answers 503 as well. What was refused, by which bound, is counted here
 * for the metrics.
 */
import type { Logger } from 'pino';
import type { LimitsConfig } from '../../config/types.js';
import type { SipRequest } from '../wire/message.js';
import type { Endpoint } from '../transport/SipTransport.js';
import type { LimitKind } from './LimitError.js';
import { LoadShedder } from './LoadShedder.js';
import { LogBudget } from './LogBudget.js';
import type { SourceClass } from './SourceClassifier.js';
import { SourceRateLimiter } from './SourceRateLimiter.js';

/** Why `check` turned a new request away: answered 503 (with Retry-After), or dropped unanswered. */
export type Refusal = { kind: 'drop' } | { kind: 'refuse'; reason: string; retryAfterSec: number };

/** What the limits read from the proxy at the moment a request comes in. */
export interface EdgeLimitsContext {
  /** The `limits` section in force (a reloaded configuration replaces it). */
  limits(): LimitsConfig;
  log: Logger | undefined;
  /** The SIP UDP sockets' queueing time now (ms). */
  queueDelayMs(now: number): number;
  serverTransactions(): number;
  /** Bytes of the requests the open server transactions hold (as received). */
  transactionBytes(): number;
  dialogs(): number;
  mediaSessions(): number;
}

export class EdgeLimits {
  /** Per-source rate limiting (pike-like). */
  readonly rateLimiter: SourceRateLimiter;
  readonly shedder: LoadShedder;
  /** New requests refused with 503 because the SIP thread was behind. */
  shed = 0;
  /** Requests refused (503) because a bound was reached, by bound. */
  readonly limitReached: Record<LimitKind, number> = {
    serverTransactions: 0, transactionBytes: 0, dialogs: 0, mediaSessions: 0, dnsLookups: 0, 'tcp.connections': 0,
  };
  /** When each bound was last logged (ms), so a full table logs once a second at most. */
  private readonly limitLogged = new Map<LimitKind, number>();
  /** Shedding's start and end lines. */
  private readonly overloadLog = new LogBudget();

  constructor(private readonly ctx: EdgeLimitsContext) {
    const limits = ctx.limits();
    this.rateLimiter = new SourceRateLimiter(limits.sourceRate);
    this.shedder = new LoadShedder(limits.overload);
  }

  /**
   * The edge limits for a request that would open a new server transaction: null to go on, else
   * how it is turned away (the order matters: a banned source costs nothing more, a shed request
   * does not count toward the rate, the tables come last).
   */
  check(request: SipRequest, source: Endpoint, size: number, sourceClass: SourceClass): Refusal | null {
    const limits = this.ctx.limits();
    const now = performance.now();
    if (!this.rateExempt(sourceClass)) {
      const verdict = this.rateLimiter.take(source.address, now);
      if (verdict === 'drop') return { kind: 'drop' };
      if (verdict === 'refuse') {
        this.logBan(source.address);
        return { kind: 'refuse', reason: 'Rate Limited', retryAfterSec: Math.max(1, limits.sourceRate.banSec) };
      }
    }
    const retryAfterSec = limits.overload.retryAfterSec;
    const wasShedding = this.shedder.shedding;
    const queueMs = this.ctx.queueDelayMs(now);
    const admitted = this.shedder.admit(queueMs, now);
    this.noteShedding(wasShedding, queueMs, now);
    if (!admitted) {
      this.shed += 1;
      return { kind: 'refuse', reason: 'Overloaded', retryAfterSec };
    }
    const full = (kind: LimitKind, detail: Record<string, number>): Refusal => {
      // One log line per bound and second at most: a full table under a flood must not flood the log.
      if (this.limitReached[kind]++ === 0 || now - (this.limitLogged.get(kind) ?? 0) >= 1000) {
        this.limitLogged.set(kind, now);
        this.ctx.log?.warn({ limit: kind, source: source.address, method: request.method, ...detail, refused: this.limitReached[kind] }, 'limit reached: request refused with 503');
      }
      return { kind: 'refuse', reason: 'Limit Reached', retryAfterSec };
    };
    const serverTransactions = this.ctx.serverTransactions();
    if (serverTransactions >= limits.serverTransactions) return full('serverTransactions', { open: serverTransactions, max: limits.serverTransactions });
    const transactionBytes = this.ctx.transactionBytes();
    if (transactionBytes + size > limits.transactionBytes) return full('transactionBytes', { held: transactionBytes, max: limits.transactionBytes });
    if (request.method === 'INVITE' && request.to?.tag === undefined) {
      const dialogs = this.ctx.dialogs();
      if (dialogs >= limits.dialogs) return full('dialogs', { open: dialogs, max: limits.dialogs });
      if (request.body.length > 0 && this.ctx.mediaSessions() >= limits.mediaSessions) {
        return full('mediaSessions', { open: this.ctx.mediaSessions(), max: limits.mediaSessions });
      }
    }
    return null;
  }

  /**
   * One control step of the load shedder at `now` (the proxy's probe timer): the admitted share
   * follows the SIP sockets' queueing time. Most starts and ends of shedding happen here, between
   * requests, and are logged like those `check` sees.
   */
  adjustShedding(now: number): void {
    const wasShedding = this.shedder.shedding;
    const queueMs = this.ctx.queueDelayMs(now);
    this.shedder.adjust(queueMs, now);
    this.noteShedding(wasShedding, queueMs, now);
  }

  /**
   * Logs a start or end of shedding. It can start and stop many times a second at the edge of
   * capacity: at most one line a second, counting the transitions left out, so that logging does
   * not add to the overload.
   */
  private noteShedding(wasShedding: boolean, queueMs: number, now: number): void {
    const shedding = this.shedder.shedding;
    if (shedding === wasShedding) return;
    const transitionsLeftOut = this.overloadLog.take(now);
    if (transitionsLeftOut === null) return;
    const lagMs = this.shedder.lag(now);
    if (shedding) {
      const { maxQueueMs, maxLagMs } = this.ctx.limits().overload;
      this.ctx.log?.warn({ queueMs, lagMs, share: this.shedder.share, maxQueueMs, maxLagMs, transitionsLeftOut }, 'overloaded: a share of the new requests refused with 503');
    } else {
      this.ctx.log?.info({ queueMs, lagMs, shed: this.shed, transitionsLeftOut }, 'overload over: new requests accepted again');
    }
  }

  /**
   * A phone's STUN keepalive counts toward its source's rate like a request: a spoofed flood of
   * Binding requests starts the source's ban and is dropped instead of reflected.
   */
  admitKeepalive(address: string, sourceClass: SourceClass): boolean {
    if (this.rateExempt(sourceClass)) return true;
    const verdict = this.rateLimiter.take(address, performance.now());
    if (verdict === 'refuse') this.logBan(address, 'a STUN keepalive over it dropped');
    return verdict === 'pass';
  }

  /** The upstream and the trunks are not rate limited per source: all their calls come from one address. */
  rateExempt(sourceClass: SourceClass): boolean {
    return sourceClass.kind === 'upstream' || sourceClass.kind === 'trunk';
  }

  /** One line per ban: who, and why. */
  logBan(address: string, first = 'answered 503'): void {
    const { requestsPerSec, burst, banSec } = this.ctx.limits().sourceRate;
    this.ctx.log?.warn({ source: address, requestsPerSec, burst, banSec }, `source over its request rate: ${first}, then ignored for the ban`);
  }
}
