/**
 * Load shedding on the main thread: decides whether a new request is refused at once (503 with
 * Retry-After) because the SIP thread is behind. Pure logic; the proxy feeds it two measurements:
 *
 *  - the SIP UDP socket's queueing time. node:dgram exposes neither a datagram's arrival time
 *    (SO_TIMESTAMP) nor the receive queue's length (SIOCINQ), so it is measured end to end: a
 *    probe datagram sent to the socket's own address joins the kernel's receive queue behind
 *    everything already waiting, and its delay until JavaScript reads it is the time a request
 *    arriving then waits before it is processed (QueueDelayProbe). While a probe is still
 *    outstanding, its age is a lower bound of the current queueing time, so a queue that suddenly
 *    grows is seen before the probe comes back;
 *  - the event loop's lag: how late the probe's interval timer fires (libuv runs timers between
 *    batches of at most 32 datagrams per socket, so a lagging timer means long batches or another
 *    blocking task, e.g. garbage collection).
 *
 * The queue threshold defaults to T1/4 (the lag one to T1: a blocked loop also shows in the probe): a request answered later than T1 after it was sent crosses its
 * sender's first retransmission (RFC 3261 §17.1.1.2, §17.1.2.2), and the proxy's own client
 * transactions retransmit toward callees whose answers are still waiting in the queue. Shedding
 * starts above the threshold and stops below half of it (hysteresis, so the decision does not flap
 * with every sample).
 */

export interface LoadShedderOptions {
  /** Queueing time (ms) of a SIP socket above which new requests are refused. */
  maxQueueMs: number;
  /** Event-loop lag (ms) above which new requests are refused. */
  maxLagMs: number;
}

/** One socket's probe: at most one probe datagram in flight. */
export class QueueDelayProbe {
  #sentAt: number | null = null;
  #last = 0;

  /**
   * Records a probe sent at `now`; false (send nothing) while the previous one is in flight. A
   * probe in flight for `lostAfterMs` is taken as dropped — a receive buffer that overflows drops
   * it like any datagram — and its age so far stands as the last delay until the next one is back.
   */
  send(now: number, lostAfterMs = Infinity): boolean {
    if (this.#sentAt !== null) {
      if (now - this.#sentAt < lostAfterMs) return false;
      this.#last = now - this.#sentAt;
    }
    this.#sentAt = now;
    return true;
  }

  /** The probe came back through the socket at `now`. */
  received(now: number): void {
    if (this.#sentAt === null) return;
    this.#last = now - this.#sentAt;
    this.#sentAt = null;
  }

  /** A probe that could not be sent (send error) is forgotten. */
  lost(): void {
    this.#sentAt = null;
  }

  /** The queueing time as known at `now`: the last probe's delay, or the age of the one in flight. */
  delay(now: number): number {
    return this.#sentAt === null ? this.#last : Math.max(this.#last, now - this.#sentAt);
  }
}

export class LoadShedder {
  readonly #options: LoadShedderOptions;
  #shedding = false;
  /** When the lag timer is next expected to fire (ms), null before the first tick. */
  #tickDue: number | null = null;
  #lastLag = 0;

  constructor(options: LoadShedderOptions) {
    this.#options = options;
  }

  /** The lag timer fired at `now`; it is due again `intervalMs` later. */
  tick(now: number, intervalMs: number): void {
    if (this.#tickDue !== null) this.#lastLag = Math.max(0, now - this.#tickDue);
    this.#tickDue = now + intervalMs;
  }

  /** Event-loop lag known at `now`: the last tick's delay, or how overdue the next one is. */
  lag(now: number): number {
    return this.#tickDue === null ? this.#lastLag : Math.max(this.#lastLag, now - this.#tickDue);
  }

  /** Whether a new request arriving at `now` is refused, given the sockets' queueing time. */
  shouldShed(queueMs: number, now: number): boolean {
    const lag = this.lag(now);
    const { maxQueueMs, maxLagMs } = this.#options;
    if (this.#shedding) {
      this.#shedding = queueMs > maxQueueMs / 2 || lag > maxLagMs / 2;
    } else {
      this.#shedding = queueMs > maxQueueMs || lag > maxLagMs;
    }
    return this.#shedding;
  }

  get shedding(): boolean {
    return this.#shedding;
  }
}
