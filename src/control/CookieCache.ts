/**
 * Retransmission cache of the NG protocol. A client (Kamailio's rtpengine module) resends a
 * request with the same cookie when the reply is late; the request must not act twice (an offer
 * executed twice would be harmless, a delete followed by a retransmitted offer would not), so the
 * first reply is kept and sent again. rtpengine does the same (daemon/cookie_cache.c).
 *
 * Keys are "source address + cookie": a cookie is only unique per client. While the first copy
 * is still being processed, later copies are recognised as in flight and dropped; the client
 * gets the reply when it is ready. Entries expire after `ttlMs`; the cache never holds more than
 * `maxEntries` (oldest evicted first). Every entry lives `ttlMs` from its last write, so the order
 * of the writes is the order of expiry: one queue of them (KeyQueue) finds what is due in constant
 * time per request.
 */
import { KeyQueue } from '../collections/KeyQueue.js';

export interface CookieCacheOptions {
  /** How long a reply is kept for retransmissions (rtpengine keeps them 30 s). */
  ttlMs: number;
  /** Upper bound on cached replies; protects memory against a cookie flood. */
  maxEntries: number;
}

export const DEFAULT_COOKIE_CACHE: Readonly<CookieCacheOptions> = Object.freeze({ ttlMs: 30_000, maxEntries: 20_000 });

interface Entry {
  /** null while the request is in flight. */
  reply: Buffer | null;
  expiresAt: number;
  /** Its place in the expiry queue (older places of the key are stale). */
  stamp: number;
}

export type CookieLookup = { state: 'new' } | { state: 'in-flight' } | { state: 'done'; reply: Buffer };

export class CookieCache {
  private readonly entries = new Map<string, Entry>();
  /** The keys by their last write, oldest first. */
  private readonly order = new KeyQueue();
  private stamp = 0;
  private readonly current = (key: string, stamp: number): boolean => this.entries.get(key)?.stamp === stamp;
  private readonly options: CookieCacheOptions;
  private readonly now: () => number;

  constructor(options: Partial<CookieCacheOptions> = {}, now: () => number = Date.now) {
    this.options = { ...DEFAULT_COOKIE_CACHE, ...options };
    this.now = now;
  }

  get size(): number {
    return this.entries.size;
  }

  /**
   * Looks the request up and, when it is new, marks it in flight (so a retransmission arriving
   * before the reply is not executed a second time).
   */
  begin(key: string): CookieLookup {
    const t = this.now();
    const hit = this.entries.get(key);
    if (hit !== undefined && hit.expiresAt > t) {
      return hit.reply === null ? { state: 'in-flight' } : { state: 'done', reply: hit.reply };
    }
    if (hit !== undefined) this.entries.delete(key);
    this.evict(t);
    this.write(key, null, t);
    return { state: 'new' };
  }

  /** Stores the reply of a request started with begin(); the TTL counts from now. */
  complete(key: string, reply: Buffer): void {
    const t = this.now();
    this.entries.delete(key);
    this.evict(t);
    this.write(key, reply, t);
  }

  /** Stores an entry expiring ttlMs from `t`, queued behind every earlier write. */
  private write(key: string, reply: Buffer | null, t: number): void {
    const stamp = ++this.stamp;
    this.entries.set(key, { reply, expiresAt: t + this.options.ttlMs, stamp });
    this.order.push(key, stamp);
    if (this.order.length > 2 * this.entries.size + 1024) this.order.compact(this.current);
  }

  /** Drops expired entries from the front, then the oldest ones until there is room for one. */
  private evict(t: number): void {
    for (;;) {
      const oldest = this.order.peek(this.current);
      if (oldest === undefined) return;
      if (this.entries.get(oldest)!.expiresAt > t && this.entries.size < this.options.maxEntries) return;
      this.order.shift(this.current);
      this.entries.delete(oldest);
    }
  }

  clear(): void {
    this.entries.clear();
    this.order.clear();
  }
}
