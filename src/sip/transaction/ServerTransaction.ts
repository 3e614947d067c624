/**
 * Server transactions (RFC 3261 §17.2, with the RFC 6026 "Accepted" state): requests received by
 * the proxy. A retransmitted request is absorbed and the last response sent again; final
 * non-2xx INVITE responses are retransmitted over UDP (Timer G) until the ACK arrives (Timer H
 * bounds the wait, Timer I absorbs ACK retransmissions); non-INVITE transactions linger for
 * Timer J. After a 2xx to INVITE the transaction stays "accepted" for Timer L so that
 * retransmitted INVITEs are absorbed while the 2xx retransmissions come end-to-end.
 *
 * Tens of thousands of transactions linger at once at a few hundred calls per second (Timer J
 * and L: 32 s on UDP), so a transaction keeps only the last response it may have to send again,
 * in bytes of its own (ownedBytes): the final response in Completed, the 2xx in Accepted (the
 * TU sends it again for each retransmission of the 2xx downstream, resendAccepted).
 */
import { IoTimer } from './IoTimer.js';
import { ownedBytes } from './owned.js';
import type { TransactionTimers } from './timers.js';

export type ServerState = 'trying' | 'proceeding' | 'accepted' | 'completed' | 'confirmed' | 'terminated';

export interface ServerTransactionHandlers {
  /** Sends bytes back toward the request's sender (§18.2.2). */
  send(data: Buffer): void | Promise<void>;
  /** Timer H fired: the ACK for a non-2xx final response never came. */
  onAckTimeout?(): void;
  /**
   * Once: the request is answered (a final response went out) or the transaction ended without
   * one. What follows is lingering for retransmissions (Timer J, L, I), with `keptBytes` of that
   * final response kept to send again (0 when there is none).
   */
  onAnswered?(keptBytes: number): void;
  onTerminated?(): void;
}

export class ServerTransaction {
  state: ServerState;
  /** Status of the last response sent, 0 when none. */
  lastStatus = 0;
  private lastResponse: Buffer | undefined;
  private handlers: ServerTransactionHandlers | null;
  /** Timer G and H: only a non-2xx final response to INVITE has them (most transactions never do). */
  private retransmitTimer: IoTimer | null = null;
  private ackTimer: IoTimer | null = null;
  private interval: number;
  private answered = false;

  constructor(
    readonly key: string,
    readonly method: string,
    private readonly reliable: boolean,
    private readonly timers: TransactionTimers,
    handlers: ServerTransactionHandlers,
  ) {
    this.handlers = handlers;
    this.state = method === 'INVITE' ? 'proceeding' : 'trying';
    this.interval = timers.t1;
  }

  get isInvite(): boolean {
    return this.method === 'INVITE';
  }

  private transmit(data: Buffer): void {
    if (!this.handlers) return;
    try {
      const pending = this.handlers.send(data);
      if (pending) pending.catch(() => this.terminate());
    } catch {
      // §17.2.4: a transport error on a response ends the transaction.
      this.terminate();
    }
  }

  /** The same request arrived again: answer with the last response, if any. */
  receiveRetransmission(): void {
    if (this.state === 'terminated' || this.state === 'confirmed' || this.state === 'accepted') return;
    if (this.lastResponse) this.transmit(this.lastResponse);
  }

  /**
   * The next hop retransmitted the 2xx this transaction passed on (RFC 6026 §8.4: a 2xx
   * retransmission is forwarded too): the same bytes again, as its content is the same.
   */
  resendAccepted(): void {
    if (this.state === 'accepted' && this.lastResponse) this.transmit(this.lastResponse);
  }

  /** An ACK matched this INVITE transaction (non-2xx final response was sent). */
  receiveAck(): void {
    if (this.state !== 'completed' || !this.isInvite) return;
    this.state = 'confirmed';
    this.stopTimers();
    this.timers.linger.add(this, this.reliable ? 0 : this.timers.t4);
  }

  /** Sends a response; ignored once a final response has been sent (except 2xx retransmissions in accepted). */
  respond(status: number, data: Buffer): void {
    if (this.state === 'terminated' || this.state === 'completed' || this.state === 'confirmed') return;
    if (this.state === 'accepted') {
      if (status >= 200 && status < 300) this.transmit(data);
      return;
    }
    this.lastStatus = status;
    this.lastResponse = data;
    this.transmit(data);
    if (status < 200) {
      this.state = 'proceeding';
      return;
    }
    this.markAnswered(data.length);
    if (this.isInvite && status < 300) {
      this.state = 'accepted';
      this.lastResponse = ownedBytes(data);
      this.timers.linger.add(this, this.timers.timeout);
      return;
    }
    this.state = 'completed';
    this.lastResponse = ownedBytes(data);
    if (this.isInvite) {
      if (!this.reliable) this.armRetransmit();
      this.ackTimer = new IoTimer();
      this.ackTimer.start(this.timers.timeout, () => {
        const handlers = this.handlers;
        this.terminate();
        handlers?.onAckTimeout?.();
      });
    } else {
      this.timers.linger.add(this, this.reliable ? 0 : this.timers.timeout);
    }
  }

  private markAnswered(keptBytes: number): void {
    if (this.answered) return;
    this.answered = true;
    this.handlers?.onAnswered?.(keptBytes);
  }

  /** Timer G: doubles up to T2 (§17.2.1). */
  private armRetransmit(): void {
    this.retransmitTimer ??= new IoTimer();
    this.retransmitTimer.start(this.interval, () => {
      if (this.state !== 'completed' || !this.lastResponse) return;
      this.transmit(this.lastResponse);
      this.interval = Math.min(this.interval * 2, this.timers.t2);
      this.armRetransmit();
    });
  }

  private stopTimers(): void {
    this.retransmitTimer?.stop();
    this.ackTimer?.stop();
    this.retransmitTimer = null;
    this.ackTimer = null;
  }

  /** Ends the transaction (idempotent: its linger queue ends it again when its time comes). */
  terminate(): void {
    if (this.state === 'terminated') return;
    this.state = 'terminated';
    this.stopTimers();
    this.lastResponse = undefined;
    this.markAnswered(0);
    const handlers = this.handlers;
    this.handlers = null;
    handlers?.onTerminated?.();
  }
}
