/**
 * Memory back after a load (issue 12: "heap and RSS return to near their starting level a minute
 * after the load stops"). V8 collects when allocation asks it to: once the relay goes quiet,
 * nothing allocates and the garbage of the load stays counted in the heap (and its pages in RSS)
 * for as long as the quiet lasts. glibc likewise keeps the buffers freed by every thread in its
 * arenas. So when the relay has been quiet for `quietSec` — signalling at most `maxMessagesPerSec`
 * or a twentieth of its peak rate, and calls in progress at most a quarter of their peak or no
 * more than when the quiet began (peaks since the last collection) — and the heap grew since
 * then, one full collection runs, then
 * malloc_trim gives the C library's free pages back. The peak-relative rate lets the tail of a
 * load count as quiet: the retransmissions of its last unanswered transactions (up to 64 × T1
 * after it, RFC 3261 §17) would otherwise hold the collection off past the minute.
 *
 * A full collection stops the main thread (tens of milliseconds for a heap of a few hundred MiB),
 * which is why it only runs when the relay is quiet, at most once per `minIntervalSec`. The media
 * shards relay RTP in native code on their own threads and keep running meanwhile; malloc_trim
 * holds each arena's lock in turn, briefly.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { Logger } from 'pino';
import type { IdleCollectionConfig } from '../config/index.js';

/** What the relay is doing, read once a check. */
export interface RelayLoad {
  /** Signalling messages received so far (SIP messages and NG commands): a running total. */
  messages: number;
  /** Calls in progress now (media sessions). */
  calls: number;
}

export interface MemoryReading {
  /** V8 heap used plus memory outside it that JavaScript objects hold (Buffers). */
  heapBytes: number;
  rssBytes: number;
}

/** What frees memory: a full V8 collection, and the C library's trim (NativeAddon.trimMemory). */
export interface Reclaimer {
  collect(): void;
  trim(): boolean;
}

export interface IdleCollectorCounters {
  collections: number;
  /** Bytes the collections took off the heap (heapBytes before − after), summed. */
  heapFreedBytes: number;
  /** Bytes of RSS they gave back, summed (0 for a collection after which RSS did not drop). */
  rssFreedBytes: number;
}

/** How often the relay's load is read. */
export const CHECK_INTERVAL_MS = 1000;
/** Calls in progress at most peak / this count as well below the peak. */
export const BELOW_PEAK_DIVISOR = 4;
/** A message rate at most the peak rate / this counts as quiet (whatever maxMessagesPerSec says). */
export const RATE_BELOW_PEAK_DIVISOR = 20;
/** A heap grown by less than this since the last collection is not worth a pause. */
export const MIN_GROWTH_BYTES = 8 * 1024 * 1024;

let exposedGc: (() => void) | undefined;

/**
 * V8's `gc()` without the operator passing --expose-gc: the flag set at run time makes every
 * context created afterwards get the function, so one new context is made to take it from, and
 * the flag goes back off. An operator's own --expose-gc is used as it is.
 */
export function fullCollection(): () => void {
  if (exposedGc) return exposedGc;
  const own = (globalThis as { gc?: unknown }).gc;
  if (typeof own === 'function') {
    exposedGc = own as () => void;
    return exposedGc;
  }
  setFlagsFromString('--expose-gc');
  try {
    exposedGc = runInNewContext('gc') as () => void;
  } finally {
    setFlagsFromString('--no-expose-gc');
  }
  return exposedGc;
}

export function readMemory(): MemoryReading {
  const m = process.memoryUsage();
  return { heapBytes: m.heapUsed + m.external, rssBytes: m.rss };
}

export interface IdleCollectorOptions {
  /** The configuration in force (read at every check: a reload changes it). */
  config: () => IdleCollectionConfig;
  load: () => RelayLoad;
  reclaimer: Reclaimer;
  memory?: () => MemoryReading;
  log?: Logger;
}

export class IdleCollector {
  readonly counters: IdleCollectorCounters = { collections: 0, heapFreedBytes: 0, rssFreedBytes: 0 };
  readonly #opts: IdleCollectorOptions;
  readonly #memory: () => MemoryReading;
  #timer: NodeJS.Timeout | undefined;
  #lastMessages: number;
  #lastCheckAt: number;
  #peakCalls = 0;
  /** The highest message rate (per second, between two checks) since the last collection. */
  #peakRate = 0;
  #quietSince: number | null = null;
  /** Calls in progress when the quiet began. */
  #quietCalls = 0;
  #lastCollectionAt: number | null = null;
  /** Heap after the last collection (at the start: the heap then). */
  #heapBase: number;

  constructor(opts: IdleCollectorOptions, now = performance.now()) {
    this.#opts = opts;
    this.#memory = opts.memory ?? readMemory;
    this.#lastMessages = opts.load().messages;
    this.#lastCheckAt = now;
    this.#heapBase = this.#memory().heapBytes;
  }

  start(): void {
    this.#timer ??= setInterval(() => this.check(), CHECK_INTERVAL_MS).unref();
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** One check of the load; collects when the relay has been quiet long enough. True when it collected. */
  check(now = performance.now()): boolean {
    const config = this.#opts.config();
    const load = this.#opts.load();
    const seconds = Math.max(now - this.#lastCheckAt, 1) / 1000;
    const rate = (load.messages - this.#lastMessages) / seconds;
    this.#lastMessages = load.messages;
    this.#lastCheckAt = now;
    this.#peakCalls = Math.max(this.#peakCalls, load.calls);
    this.#peakRate = Math.max(this.#peakRate, rate);
    const fewMessages = config.quietSec > 0 && rate <= Math.max(config.maxMessagesPerSec, this.#peakRate / RATE_BELOW_PEAK_DIVISOR);
    // Calls well below their peak, or none added since the quiet began: calls that stay up
    // without signalling (and media sessions left to their media timeout) are no load.
    const fewCalls = load.calls * BELOW_PEAK_DIVISOR <= this.#peakCalls || (this.#quietSince !== null && load.calls <= this.#quietCalls);
    if (!fewMessages || (this.#quietSince !== null && !fewCalls)) {
      this.#quietSince = null;
      return false;
    }
    if (this.#quietSince === null) {
      this.#quietSince = now;
      this.#quietCalls = load.calls;
    }
    if (now - this.#quietSince < config.quietSec * 1000) return false;
    if (this.#lastCollectionAt !== null && now - this.#lastCollectionAt < config.minIntervalSec * 1000) return false;
    const before = this.#memory();
    if (before.heapBytes - this.#heapBase < MIN_GROWTH_BYTES) return false;
    this.#collect(before, load.calls, rate, now);
    return true;
  }

  #collect(before: MemoryReading, calls: number, rate: number, now: number): void {
    const started = performance.now();
    this.#opts.reclaimer.collect();
    const trimmed = this.#opts.reclaimer.trim();
    const pauseMs = performance.now() - started;
    const after = this.#memory();
    const heapFreed = Math.max(0, before.heapBytes - after.heapBytes);
    const rssFreed = Math.max(0, before.rssBytes - after.rssBytes);
    this.counters.collections += 1;
    this.counters.heapFreedBytes += heapFreed;
    this.counters.rssFreedBytes += rssFreed;
    this.#heapBase = after.heapBytes;
    this.#lastCollectionAt = now;
    this.#peakCalls = calls;
    this.#peakRate = rate;
    this.#opts.log?.info(
      { heapBefore: before.heapBytes, heapAfter: after.heapBytes, rssBefore: before.rssBytes, rssAfter: after.rssBytes, trimmed, pauseMs: Math.round(pauseMs), calls },
      'idle: full collection',
    );
  }
}
