/**
 * The end of lingering transactions. After its final response a transaction stays to absorb
 * retransmissions (RFC 3261 §17.1.1.2 Timer D, §17.1.2.2 Timer K, §17.2.1 Timer I, §17.2.2 Timer J;
 * RFC 6026 §7 Timers L and M): 32 s on UDP with the default T1, so at a few hundred calls per
 * second tens of thousands linger at once. A Node timer each — a Timeout object and a closure kept
 * for the whole 32 s, a place in the timer list, a clearTimeout when the transaction ends early — is
 * replaced here by a queue per duration and one timer for all of them: transactions that linger
 * for the same time end in the order they began to linger, so each queue is first in, first out.
 *
 * An item that ended early stays queued until its time comes and is ended again then, which
 * `terminate` allows (it is idempotent); what it holds by then is what an ended transaction keeps.
 */

export interface Lingering {
  /** Ends the item; called once its time has come, also when it has ended already. */
  terminate(): void;
}

/** One duration's items, oldest first, in two parallel arrays read from `head` on. */
class Fifo {
  at: number[] = [];
  items: Lingering[] = [];
  head = 0;

  get length(): number {
    return this.items.length - this.head;
  }

  /** Due time of the oldest item (Infinity when empty). */
  get nextAt(): number {
    return this.head < this.items.length ? this.at[this.head]! : Infinity;
  }

  push(at: number, item: Lingering): void {
    this.at.push(at);
    this.items.push(item);
  }

  /** The oldest item, taken off; the arrays are compacted once half of them has been read. */
  shift(): Lingering {
    const item = this.items[this.head]!;
    this.head += 1;
    if (this.head === this.items.length) {
      this.at.length = 0;
      this.items.length = 0;
      this.head = 0;
    } else if (this.head >= 1024 && this.head * 2 >= this.items.length) {
      this.at.splice(0, this.head);
      this.items.splice(0, this.head);
      this.head = 0;
    }
    return item;
  }
}

export class LingerQueue {
  readonly #queues = new Map<number, Fifo>();
  readonly #now: () => number;
  #timer: NodeJS.Timeout | null = null;
  /** When the armed timer fires (Infinity: not armed). */
  #armedAt = Infinity;

  /** `now`: the clock, in ms (performance.now by default; tests drive `expire` with their own). */
  constructor(now: () => number = () => performance.now()) {
    this.#now = now;
  }

  /** Items waiting to be ended. */
  get size(): number {
    let size = 0;
    for (const queue of this.#queues.values()) size += queue.length;
    return size;
  }

  /** `item` is ended `ms` from now. */
  add(item: Lingering, ms: number): void {
    let queue = this.#queues.get(ms);
    if (!queue) {
      queue = new Fifo();
      this.#queues.set(ms, queue);
    }
    const at = this.#now() + ms;
    queue.push(at, item);
    if (at < this.#armedAt) this.#arm(at);
  }

  /** Ends every item due by `now`; returns how many were ended. */
  expire(now: number): number {
    let ended = 0;
    for (const queue of this.#queues.values()) {
      while (queue.nextAt <= now) {
        queue.shift().terminate();
        ended += 1;
      }
    }
    return ended;
  }

  /** Forgets every item without ending it (their owner has ended them all, e.g. a proxy that stops). */
  clear(): void {
    this.#queues.clear();
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    this.#armedAt = Infinity;
  }

  #arm(at: number): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#armedAt = at;
    // Unref'd: lingering is housekeeping, never a reason for the process to stay up.
    this.#timer = setTimeout(() => this.#fire(), Math.max(0, Math.ceil(at - this.#now()))).unref();
  }

  #fire(): void {
    this.#timer = null;
    this.#armedAt = Infinity;
    try {
      this.expire(this.#now());
    } finally {
      let next = Infinity;
      for (const queue of this.#queues.values()) next = Math.min(next, queue.nextAt);
      if (next < Infinity) this.#arm(next);
    }
  }
}
