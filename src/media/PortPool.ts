/**
 * The relay's UDP port range as RTP/RTCP pairs: an even RTP port and RTCP on the next odd port
 * (RFC 3550 §11: RTP on an even port, RTCP on the next higher odd port).
 *
 * Every operation is O(1) (amortised for the lazy drain of the quarantine): pairs live in fixed
 * ring buffers sized to the range, no search, no allocation per call.
 *
 * A released pair is quarantined for `quarantineMs` before it is handed out again, so late packets
 * of a finished call (retransmitting peers, jitter-buffer flushes, a stranger that learned the port)
 * do not land on — and are not latched by — the next call that gets the same ports. Rings are FIFO
 * too, so the least recently used pair is reused first.
 *
 * A pair that another process already holds (bind fails with EADDRINUSE) is set aside for
 * `setAsideMs` and retried later, instead of being handed out again on the next allocation.
 */
import { MediaError } from './errors.js';

export interface PortRange {
  /** Lowest port of the range (rounded up to even). */
  min: number;
  /** Highest port of the range (an RTP port needs its RTCP port + 1 inside the range). */
  max: number;
}

export interface PortPoolOptions {
  range: PortRange;
  /** How long a released pair stays unused (ms). */
  quarantineMs: number;
  /** How long a pair that failed to bind stays unused (ms); default 30 s. */
  setAsideMs?: number;
  /** Monotonic clock in ms; default performance.now. */
  now?: () => number;
}

const enum PairState {
  Free = 0,
  InUse = 1,
  Quarantined = 2,
  SetAside = 3,
}

/** Fixed-capacity FIFO of pair indexes with a timestamp each. */
class PairRing {
  readonly #pairs: Int32Array;
  readonly #times: Float64Array;
  #head = 0;
  length = 0;

  constructor(capacity: number) {
    this.#pairs = new Int32Array(capacity);
    this.#times = new Float64Array(capacity);
  }

  push(pair: number, time: number): void {
    const tail = (this.#head + this.length) % this.#pairs.length;
    this.#pairs[tail] = pair;
    this.#times[tail] = time;
    this.length++;
  }

  /** Timestamp of the oldest entry; only valid when length > 0. */
  headTime(): number {
    return this.#times[this.#head]!;
  }

  shift(): number {
    const pair = this.#pairs[this.#head]!;
    this.#head = (this.#head + 1) % this.#pairs.length;
    this.length--;
    return pair;
  }
}

export class PortPool {
  /** Even RTP port of pair 0. */
  readonly base: number;
  /** Number of pairs in the range. */
  readonly size: number;
  readonly quarantineMs: number;
  readonly setAsideMs: number;
  readonly #now: () => number;
  readonly #state: Uint8Array;
  readonly #free: PairRing;
  readonly #quarantine: PairRing;
  readonly #setAside: PairRing;
  #inUse = 0;

  constructor(options: PortPoolOptions) {
    const { range, quarantineMs } = options;
    const setAsideMs = options.setAsideMs ?? 30_000;
    if (!range || !Number.isInteger(range.min) || !Number.isInteger(range.max)) {
      throw new MediaError('ERR_PINLATCH_CONFIG', 'port range needs integer min and max');
    }
    if (range.min < 1 || range.max > 65535 || range.min > range.max) {
      throw new MediaError('ERR_PINLATCH_CONFIG', `port range ${range.min}-${range.max} is not within 1-65535 with min <= max`);
    }
    if (!(quarantineMs >= 0) || !Number.isFinite(quarantineMs) || !(setAsideMs >= 0) || !Number.isFinite(setAsideMs)) {
      throw new MediaError('ERR_PINLATCH_CONFIG', 'quarantineMs and setAsideMs must be finite and >= 0');
    }
    this.base = range.min % 2 === 0 ? range.min : range.min + 1;
    this.size = Math.max(0, Math.floor((range.max - this.base + 1) / 2));
    if (this.size === 0) {
      throw new MediaError('ERR_PINLATCH_CONFIG', `port range ${range.min}-${range.max} holds no even/odd RTP/RTCP pair`);
    }
    this.quarantineMs = quarantineMs;
    this.setAsideMs = setAsideMs;
    this.#now = options.now ?? (() => performance.now());
    this.#state = new Uint8Array(this.size);
    this.#free = new PairRing(this.size);
    this.#quarantine = new PairRing(this.size);
    this.#setAside = new PairRing(this.size);
    for (let pair = 0; pair < this.size; pair++) this.#free.push(pair, 0);
  }

  /** Pairs that can be allocated right now. */
  get available(): number {
    this.#drain();
    return this.#free.length;
  }

  get inUse(): number {
    return this.#inUse;
  }

  /** Released pairs still waiting out their quarantine. */
  get quarantined(): number {
    this.#drain();
    return this.#quarantine.length;
  }

  /** Pairs held apart because binding them failed. */
  get setAside(): number {
    this.#drain();
    return this.#setAside.length;
  }

  /** True when `port` is the RTP port of a pair of this range. */
  contains(port: number): boolean {
    return Number.isInteger(port) && port >= this.base && port % 2 === 0 && (port - this.base) / 2 < this.size;
  }

  /** Takes a free pair; returns its even RTP port (RTCP is the port + 1). */
  allocate(): number {
    this.#drain();
    if (this.#free.length === 0) {
      throw new MediaError(
        'ERR_PINLATCH_PORTS_EXHAUSTED',
        `no free RTP port pair in ${this.base}-${this.base + 2 * this.size - 1}: ` +
          `${this.#inUse} in use, ${this.#quarantine.length} quarantined, ${this.#setAside.length} set aside`,
      );
    }
    const pair = this.#free.shift();
    this.#state[pair] = PairState.InUse;
    this.#inUse++;
    return this.base + 2 * pair;
  }

  /** Returns an allocated pair; it becomes allocatable after the quarantine. */
  release(port: number): void {
    const pair = this.#inUsePair(port, 'release');
    this.#state[pair] = PairState.Quarantined;
    this.#inUse--;
    this.#quarantine.push(pair, this.#now());
  }

  /**
   * Returns an allocated pair that never carried media (its allocation was rolled back before
   * or while binding): it is free again at once, at the back of the free ring.
   */
  returnUnused(port: number): void {
    const pair = this.#inUsePair(port, 'return');
    this.#state[pair] = PairState.Free;
    this.#inUse--;
    this.#free.push(pair, 0);
  }

  /**
   * Frees every quarantined pair at once. Only for pairs that carried the relay's own loopback
   * traffic (the start-up warm-up, before any listener opens): the quarantine guards a new call
   * against a previous peer's late packets, and these pairs never had a peer.
   */
  endQuarantine(): number {
    const ended = this.#quarantine.length;
    this.#drainRing(this.#quarantine, Number.POSITIVE_INFINITY);
    return ended;
  }

  /** Returns an allocated pair that could not be bound; it is retried only after setAsideMs. */
  setAsideFailed(port: number): void {
    const pair = this.#inUsePair(port, 'set aside');
    this.#state[pair] = PairState.SetAside;
    this.#inUse--;
    this.#setAside.push(pair, this.#now());
  }

  #inUsePair(port: number, what: string): number {
    if (!this.contains(port)) {
      throw new MediaError('ERR_PINLATCH_ARG', `cannot ${what} port ${port}: not an RTP port of this pool`);
    }
    const pair = (port - this.base) / 2;
    if (this.#state[pair] !== PairState.InUse) {
      throw new MediaError('ERR_PINLATCH_ARG', `cannot ${what} port ${port}: it is not allocated`);
    }
    return pair;
  }

  /** Moves pairs whose hold time has passed back to the free ring (oldest first). */
  #drain(): void {
    const now = this.#now();
    this.#drainRing(this.#quarantine, now - this.quarantineMs);
    this.#drainRing(this.#setAside, now - this.setAsideMs);
  }

  #drainRing(ring: PairRing, releasedBefore: number): void {
    while (ring.length > 0 && ring.headTime() <= releasedBefore) {
      const pair = ring.shift();
      this.#state[pair] = PairState.Free;
      this.#free.push(pair, 0);
    }
  }
}
