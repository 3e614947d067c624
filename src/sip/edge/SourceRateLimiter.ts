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
 */

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
  #lastSweep = 0;
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
    while (this.#table.size > options.sources) this.#makeRoom(now);
  }

  /** Takes one request from `source` at time `now` (ms). */
  take(source: string, now: number): RateVerdict {
    let entry = this.#table.get(source);
    if (entry === undefined) {
      if (this.#table.size >= this.#options.sources) this.#makeRoom(now);
      entry = { tokens: this.#options.burst, at: now, bannedUntil: 0 };
      this.#table.set(source, entry);
    }
    if (entry.bannedUntil !== 0) {
      if (now < entry.bannedUntil) {
        this.stats.dropped++;
        return 'drop';
      }
      entry.bannedUntil = 0;
      this.#bans.delete(source);
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

  /** The table is full: idle entries go (at most one full sweep per second), else the oldest unbanned one. */
  #makeRoom(now: number): void {
    const refillMs = (this.#options.burst * 1000) / this.#options.requestsPerSec;
    if (now - this.#lastSweep >= 1000) {
      this.#lastSweep = now;
      for (const [source, e] of this.#table) {
        if ((e.bannedUntil === 0 || e.bannedUntil <= now) && now - e.at >= refillMs) {
          this.#table.delete(source);
          this.#bans.delete(source);
          this.stats.evicted++;
        }
      }
      if (this.#table.size < this.#options.sources) return;
    }
    for (const [source, e] of this.#table) {
      if (e.bannedUntil === 0 || e.bannedUntil <= now) {
        this.#table.delete(source);
        this.#bans.delete(source);
        this.stats.evicted++;
        return;
      }
    }
    // Every entry is banned: the oldest ban ends early rather than the table growing.
    const oldest = this.#table.keys().next().value;
    if (oldest !== undefined) {
      this.#table.delete(oldest);
      this.#bans.delete(oldest);
      this.stats.evicted++;
    }
  }
}
