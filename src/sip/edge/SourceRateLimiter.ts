/**
 * Per-source request rate, like Kamailio's pike module: each source IP address has a token
 * bucket of `burst` requests refilled at `requestsPerSec`. The request that finds the bucket empty
 * is refused (the caller answers it 503 with Retry-After, RFC 3261 §21.5.4) and the source is then
 * banned — its requests ignored without an answer — for `banSec`, so that a flood costs no more
 * than reading it. Pure logic: the caller passes the time.
 *
 * The table is bounded (`sources`): when full, idle sources (bucket full again, not banned) are
 * dropped first, then the oldest entry that is not banned; a source that is forgotten starts with a
 * full bucket, which only makes the limiter more lenient, never wrong about a legitimate peer.
 * Only when every entry is banned does the oldest ban end early. Each of those choices costs
 * constant time (two first-in-first-out queues, below), whatever the table holds: a table full of
 * banned sources is what a flood from spoofed addresses builds, and a scan of it per new source
 * would make every further spoofed datagram cost the SIP thread a walk over 65,536 entries.
 */
import { KeyQueue } from '../../collections/KeyQueue.js';

export interface SourceRateOptions {
  requestsPerSec: number;
  burst: number;
  banSec: number;
  sources: number;
}

/** What to do with one request: pass it, answer it 503 (first refusal), or drop it (banned). */
export type RateVerdict = 'pass' | 'refuse' | 'drop';

interface SourceEntry {
  tokens: number;
  /** Time (ms) the tokens were last brought up to date. */
  at: number;
  /** Banned until this time (ms), 0 when not banned. */
  bannedUntil: number;
  /** The stamp of the entry's place in a KeyQueue: its places with other stamps are stale. */
  stamp: number;
}

export interface SourceRateStats {
  /** Requests refused with 503 (the first over the rate, one per ban). */
  refused: number;
  /** Requests of banned sources ignored. */
  dropped: number;
  /** Bans started. */
  bans: number;
  /** Sources in the table. */
  sources: number;
  /** Sources whose ban is still running. */
  banned: number;
  /** Entries evicted because the table was full. */
  evicted: number;
}

export class SourceRateLimiter {
  #options: SourceRateOptions;
  readonly #table = new Map<string, SourceEntry>();
  /** Sources banned, by the time their ban ends (for `banned` without a scan). */
  readonly #bans = new Map<string, number>();
  /** Entries not banned, oldest first (eviction's first choice after the sweep). */
  readonly #open = new KeyQueue();
  /**
   * Banned entries by the start of their ban: by their end too, as every ban lasts banSec (after
   * a reconfiguration shortens banSec, a ban over behind a longer one waits until it is at the front).
   */
  readonly #banned = new KeyQueue();
  #stamp = 0;
  #lastSweep = 0;
  /** A place is current while its entry is in the table with that stamp. */
  readonly #current = (source: string, stamp: number): boolean => this.#table.get(source)?.stamp === stamp;
  readonly stats: Omit<SourceRateStats, 'sources' | 'banned'> = { refused: 0, dropped: 0, bans: 0, evicted: 0 };

  constructor(options: SourceRateOptions) {
    if (options.requestsPerSec <= 0 || options.burst <= 0 || options.sources <= 0) throw new RangeError('SourceRateLimiter: rate, burst and sources must be positive');
    this.#options = options;
  }

  /**
   * New options (a configuration reload): the sources' buckets and bans stay, the new rate and
   * burst apply from their next request; a smaller table sheds its oldest unbanned entries now.
   */
  reconfigure(options: SourceRateOptions, now: number): void {
    if (options.requestsPerSec <= 0 || options.burst <= 0 || options.sources <= 0) throw new RangeError('SourceRateLimiter: rate, burst and sources must be positive');
    this.#options = options;
    while (this.#table.size > options.sources && this.#makeRoom(now));
  }

  /** Takes one request from `source` at time `now` (ms). */
  take(source: string, now: number): RateVerdict {
    let entry = this.#table.get(source);
    if (entry === undefined) {
      if (this.#table.size >= this.#options.sources) this.#makeRoom(now);
      entry = { tokens: this.#options.burst, at: now, bannedUntil: 0, stamp: 0 };
      this.#table.set(source, entry);
      this.#enqueue(this.#open, source, entry);
    }
    if (entry.bannedUntil !== 0) {
      if (now < entry.bannedUntil) {
        this.stats.dropped++;
        return 'drop';
      }
      entry.bannedUntil = 0;
      this.#bans.delete(source);
      this.#enqueue(this.#open, source, entry);
      entry.tokens = this.#options.burst;
      entry.at = now;
    }
    entry.tokens = Math.min(this.#options.burst, entry.tokens + ((now - entry.at) * this.#options.requestsPerSec) / 1000);
    entry.at = now;
    if (entry.tokens >= 1) {
      entry.tokens -= 1;
      return 'pass';
    }
    this.stats.refused++;
    if (this.#options.banSec > 0) {
      entry.bannedUntil = now + this.#options.banSec * 1000;
      this.#bans.set(source, entry.bannedUntil);
      this.#enqueue(this.#banned, source, entry);
      this.stats.bans++;
    }
    return 'refuse';
  }

  /** True while `source` is banned (its requests are dropped unanswered). */
  isBanned(source: string, now: number): boolean {
    const until = this.#table.get(source)?.bannedUntil ?? 0;
    return until !== 0 && now < until;
  }

  snapshot(now: number): SourceRateStats {
    for (const [source, until] of this.#bans) if (until <= now) this.#bans.delete(source);
    return { ...this.stats, sources: this.#table.size, banned: this.#bans.size };
  }

  /** Gives the entry a new place at the end of `queue` (its older place goes stale). */
  #enqueue(queue: KeyQueue, source: string, entry: SourceEntry): void {
    entry.stamp = ++this.#stamp;
    queue.push(source, entry.stamp);
    if (queue.length > 2 * this.#table.size + 1024) queue.compact(this.#current);
  }

  #evict(source: string): void {
    this.#table.delete(source);
    this.#bans.delete(source);
    this.stats.evicted++;
  }

  /**
   * The table is full: idle entries go (at most one full sweep per second), else the oldest entry
   * not banned (a ban already over counts as not banned), else the oldest ban ends early. False
   * when the table was empty.
   */
  #makeRoom(now: number): boolean {
    const refillMs = (this.#options.burst * 1000) / this.#options.requestsPerSec;
    if (now - this.#lastSweep >= 1000) {
      this.#lastSweep = now;
      for (const [source, e] of this.#table) {
        if ((e.bannedUntil === 0 || e.bannedUntil <= now) && now - e.at >= refillMs) this.#evict(source);
      }
      if (this.#table.size < this.#options.sources) return true;
    }
    const oldestBan = this.#banned.peek(this.#current);
    if (oldestBan !== undefined && this.#table.get(oldestBan)!.bannedUntil <= now) {
      this.#banned.shift(this.#current);
      this.#evict(oldestBan);
      return true;
    }
    const victim = this.#open.shift(this.#current) ?? this.#banned.shift(this.#current);
    if (victim === undefined) return false;
    this.#evict(victim);
    return true;
  }
}
