/**
 * Client transactions (RFC 3261 §17.1, with the RFC 6026 "Accepted" state): the proxy's forwarded
 * requests. The transaction owns retransmission of the request over UDP (Timer A / E), its
 * timeout (Timer B / F), the hop-by-hop ACK of a non-2xx final INVITE response (§17.1.1.3) and
 * absorption of response retransmissions (Timer D / K). 2xx responses to INVITE are end-to-end:
 * each one, retransmissions included, is passed up (RFC 6026 §7.2, Timer M).
 *
 * The transaction works on serialized bytes and a `send` callback, so it knows nothing of the
 * parser: the proxy builds the request and, for a non-2xx, the ACK.
 *
 * A transaction outlives its final response by Timer D (32 s on UDP), K or M (32 s), and at a few
 * hundred calls per second tens of thousands of them linger at once. So it keeps only what each
 * state still needs: the request bytes until a final response stops the retransmissions, the
 * handlers that pass responses up until nothing more goes up (Completed passes nothing: only the
 * link, where to send and whom to tell of the end, stays for the ACK), and the ACK in bytes of its
 * own (ownedBytes). In Accepted the TU may trade its handlers for a smaller one that relays the 2xx
 * retransmissions (lingerWith). The link is an object of the TU's with methods, not closures: one
 * small object per lingering transaction instead of two functions and their context.
 */
import { IoTimer } from './IoTimer.js';
import { ownedBytes } from './owned.js';
import type { TransactionTimers } from './timers.js';

export type ClientState = 'calling' | 'trying' | 'proceeding' | 'accepted' | 'completed' | 'terminated';

/** What a transaction keeps for its whole life, Timer D/K/M included. */
export interface ClientLink {
  /** Sends bytes to the transaction's destination; throws or rejects on a transport error. */
  send(data: Buffer): void | Promise<void>;
  /** The transaction ended (once). */
  onTerminated?(): void;
}

/** What goes up while responses may: let go from Completed on. */
export interface ClientTransactionHandlers<R> {
  /** A response to pass up (provisional, final, and every 2xx of an INVITE). */
  onResponse(response: R, status: number): void;
  /** Timer B / F fired: no final response (the proxy answers 408, §16.7). */
  onTimeout(): void;
  /** The request could not be sent (§17.1.4: treat as 503). */
  onTransportError(err: unknown): void;
  /** Builds the ACK for a non-2xx final response to INVITE (§17.1.1.3). */
  buildAck?(response: R): Buffer;
}

/** What a lingering transaction does on a timeout or a transport error: nothing (one function for all). */
function nothing(): void {}

export class ClientTransaction<R> {
  state: ClientState;
  /** Timer A/E and B/F, let go once a final response came: a lingering transaction has none. */
  private retransmitTimer: IoTimer | null = new IoTimer();
  private timeoutTimer: IoTimer | null = new IoTimer();
  private interval: number;
  private ack: Buffer | undefined;
  /** The request's bytes while they may be sent again; null once a final response came. */
  private request: Buffer | null;
  /** The handlers while responses or failures may still go up; null from Completed on. */
  private handlers: ClientTransactionHandlers<R> | null;

  constructor(
    readonly key: string,
    readonly method: string,
    request: Buffer,
    private readonly reliable: boolean,
    private readonly timers: TransactionTimers,
    private readonly link: ClientLink,
    handlers: ClientTransactionHandlers<R>,
  ) {
    this.state = method === 'INVITE' ? 'calling' : 'trying';
    this.interval = timers.t1;
    this.request = request;
    this.handlers = handlers;
  }

  get isInvite(): boolean {
    return this.method === 'INVITE';
  }

  start(): void {
    if (this.request) this.transmit(this.request);
    if (!this.reliable) this.armRetransmit();
    this.timeoutTimer?.start(this.timers.timeout, () => this.fireTimeout());
  }

  private transmit(data: Buffer): void {
    try {
      const pending = this.link.send(data);
      if (pending) pending.catch((err: unknown) => this.transportError(err));
    } catch (err) {
      this.transportError(err);
    }
  }

  private transportError(err: unknown): void {
    if (this.state === 'terminated' || this.state === 'completed' || this.state === 'accepted') return;
    const handlers = this.handlers;
    this.terminate();
    handlers?.onTransportError(err);
  }

  /**
   * Timer A doubles without bound for INVITE; Timer E doubles up to T2 (§17.1.2.2), T2 in
   * proceeding. A retransmission due while the socket holds a backlog waits for it to be read
   * (at most T2 per retransmission): a duplicate INVITE must not reach a callee whose answer is
   * only waiting in our queue — a UAS like sipp aborts the call on it.
   */
  private armRetransmit(): void {
    let deferredMs = 0;
    const fire = (): void => {
      if (this.state === 'terminated') return;
      const backlog = this.timers.inboundBacklogMs?.() ?? 0;
      if (backlog > 0 && deferredMs < this.timers.t2) {
        const wait = Math.min(backlog, this.timers.t2 - deferredMs);
        deferredMs += wait;
        this.retransmitTimer?.start(wait, fire);
        return;
      }
      if (this.request) this.transmit(this.request);
      this.interval = this.isInvite ? this.interval * 2 : Math.min(this.interval * 2, this.timers.t2);
      if (this.state === 'proceeding') this.interval = this.timers.t2;
      this.armRetransmit();
    };
    this.retransmitTimer?.start(this.interval, fire);
  }

  private fireTimeout(): void {
    if (this.state === 'calling' || this.state === 'trying' || this.state === 'proceeding') {
      const handlers = this.handlers;
      this.terminate();
      handlers?.onTimeout();
    }
  }

  receiveResponse(response: R, status: number): void {
    const handlers = this.handlers;
    if (!handlers) {
      // Completed: §17.1.1.2, a retransmitted final response gets the same ACK again.
      if (this.state === 'completed' && this.ack && status >= 300) this.transmit(this.ack);
      return;
    }
    switch (this.state) {
      case 'calling':
      case 'trying':
      case 'proceeding':
        if (status < 200) {
          if (this.isInvite) {
            // §17.1.1.2: a provisional response stops INVITE retransmissions, and Timer B runs in
            // Calling only: a ringing call waits for its final response (the proxy's Timer C guards it).
            this.retransmitTimer?.stop();
            this.timeoutTimer?.stop();
          } else {
            this.interval = this.timers.t2;
          }
          this.state = 'proceeding';
          handlers.onResponse(response, status);
          return;
        }
        this.stopTimers();
        this.request = null;
        if (this.isInvite && status < 300) {
          this.state = 'accepted';
          this.timers.linger.add(this, this.timers.timeout);
        } else {
          this.state = 'completed';
          this.handlers = null;
          if (this.isInvite) {
            const ack = handlers.buildAck?.(response);
            this.ack = ack && ownedBytes(ack);
            if (this.ack) this.transmit(this.ack);
          }
          const linger = this.reliable ? 0 : this.isInvite ? this.timers.timerD : this.timers.t4;
          this.timers.linger.add(this, linger);
        }
        handlers.onResponse(response, status);
        return;
      case 'accepted':
        // RFC 6026 §8.4: 2xx retransmissions go up (the proxy forwards them); others are dropped.
        if (status >= 200 && status < 300) handlers.onResponse(response, status);
        return;
    }
  }

  /**
   * In Accepted (RFC 6026 §8.4), hands every further 2xx to `onRetransmission` instead of the
   * handlers, which are let go: for Timer M (32 s) the transaction then keeps only what that
   * function holds.
   */
  lingerWith(onRetransmission: (response: R, status: number) => void): void {
    if (this.state !== 'accepted' || !this.handlers) return;
    this.handlers = { onResponse: onRetransmission, onTimeout: nothing, onTransportError: nothing };
  }

  private stopTimers(): void {
    this.retransmitTimer?.stop();
    this.timeoutTimer?.stop();
    this.retransmitTimer = null;
    this.timeoutTimer = null;
  }

  /** Stops every timer; the transaction ends. Idempotent (its linger queue ends it again when its time comes). */
  terminate(): void {
    if (this.state === 'terminated') return;
    this.state = 'terminated';
    this.request = null;
    this.handlers = null;
    this.ack = undefined;
    this.stopTimers();
    this.link.onTerminated?.();
  }
}
