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
 * The queue target defaults to T1/4 (the lag limit to T1: a blocked loop also shows in the probe):
 * a request answered later than T1 after it was sent crosses its sender's first retransmission
 * (RFC 3261 §17.1.1.2, §17.1.2.2), and the proxy's own client transactions retransmit toward
 * callees whose answers are still waiting in the queue.
 *
 * Refusing every new request whenever the queue is over the target refuses far more than the
 * excess: the queue drains for a probe's round trip and more before that is seen, and a cold
 * process (code not yet optimised) would spend its first seconds mostly refusing. So the shedder
 * admits a share of the new requests and steers that share by the queueing time, the way TCP
 * steers its window by its round trip: over the target, the share shrinks by a quarter — at most
 * once per queueing time, since a cut shows in the queue only after what is already in it has
 * been read; under half the target it grows back by a step per control interval. Admissions are
 * spread evenly (a credit of `share` per request, one admits). Only past four times the target (T1
 * by default), or with the loop lagging over its limit, is every new request refused: answers
 * would then cross the senders' retransmissions.
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

/** Over the target, the admitted share is multiplied by this (at most once per queueing time). */
const CUT = 0.75;
/** Under half the target, the share grows by this per control interval (0 to 1 in 20 intervals). */
const GROW = 0.05;
/** The share never goes below this: some calls still get through and show what the process can do. */
const MIN_SHARE = 0.05;
/**
 * Past this many times the target (T1 at the default target of T1/4), every new request is
 * refused: an answer read that late crosses its sender's first retransmission. Below it a burst
 * of waiting (a stall, a descheduled process) costs one cut of the share, not every call queued.
 */
const HARD = 4;

export class LoadShedder {
  readonly #options: LoadShedderOptions;
  /** Share of the new requests admitted, 0..1. */
  #share = 1;
  #credit = 0;
  /** When the share was last cut (ms): the next cut waits for the queue to show the last one. */
  #cutAt = -Infinity;
  #hard = false;
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

  /**
   * One control step at `now` with the sockets' queueing time (called every control interval):
   * cuts the admitted share when the queue is over the target, grows it when the queue is short.
   */
  adjust(queueMs: number, now: number): void {
    const { maxQueueMs } = this.#options;
    this.#hard = this.#overLimits(queueMs, now);
    if (queueMs > maxQueueMs) {
      if (now - this.#cutAt >= Math.max(queueMs, maxQueueMs)) {
        this.#share = Math.max(MIN_SHARE, this.#share * CUT);
        this.#cutAt = now;
      }
    } else if (queueMs < maxQueueMs / 2) {
      this.#share = Math.min(1, this.#share + GROW);
    }
  }

  /** Whether a new request arriving at `now` is admitted, given the sockets' queueing time. */
  admit(queueMs: number, now: number): boolean {
    this.#hard = this.#overLimits(queueMs, now);
    if (this.#hard) return false;
    if (this.#share >= 1) return true;
    this.#credit += this.#share;
    if (this.#credit < 1) return false;
    this.#credit -= 1;
    return true;
  }

  /** Past four times the queue target or the lag limit: every new request is refused. */
  #overLimits(queueMs: number, now: number): boolean {
    return queueMs > HARD * this.#options.maxQueueMs || this.lag(now) > this.#options.maxLagMs;
  }

  /** The share of new requests admitted now (1: none refused). */
  get share(): number {
    return this.#hard ? 0 : this.#share;
  }

  /** True while some new requests are refused. */
  get shedding(): boolean {
    return this.#hard || this.#share < 1;
  }
}

