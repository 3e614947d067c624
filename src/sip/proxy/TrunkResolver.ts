/**
 * Trunk addresses. A trunk given by IP literal is fixed; one given by host name is resolved with
 * the system resolver (`dns.lookup`, i.e. getaddrinfo: /etc/hosts and nsswitch work, not only
 * DNS) at start and again when its DNS record expires or `resolveIntervalSec` has passed,
 * whichever comes first, so a dynamic-DNS gateway whose public address changes keeps working for
 * new calls. getaddrinfo does not expose record TTLs, so the TTL comes from a DNS query of its own
 * (c-ares, the servers of /etc/resolv.conf); a name DNS does not know (an /etc/hosts entry) is
 * simply re-resolved on the interval. Calls in progress are not affected: their dialogs keep the
 * address they were pinned to (RoutePin).
 *
 * The resolver also recognises requests coming from a trunk by their source address.
 */
import { Resolver, lookup as dnsLookup } from 'node:dns/promises';
import { EventEmitter } from 'node:events';
import type { TrunkConfig } from '../../config/types.js';
import { normalizeIp } from '../../net/address.js';
import { normalizedIp } from '../wire/normalizedIp.js';
import type { HopTarget } from './RoutePin.js';

/** Resolves a host name to its addresses, preferred first. Injectable for unit tests. */
export type LookupFunction = (host: string) => Promise<string[]>;

export const systemLookup: LookupFunction = async (host) =>
  (await dnsLookup(host, { all: true, order: 'verbatim' })).map((a) => a.address);

/** Seconds until a host name's DNS records expire, or null when DNS does not answer for it. */
export type TtlFunction = (host: string) => Promise<number | null>;

/**
 * The smallest TTL of the name's A and AAAA records (RFC 2181 §5.2: one RRset, one TTL). Bounded
 * (1 s per try, two tries): a slow DNS server delays the next re-resolution by at most that.
 */
export function dnsTtl(resolver = new Resolver({ timeout: 1000, tries: 2 })): TtlFunction {
  return async (host) => {
    const answers = await Promise.allSettled([resolver.resolve4(host, { ttl: true }), resolver.resolve6(host, { ttl: true })]);
    const ttls = answers.flatMap((a) => (a.status === 'fulfilled' ? a.value.map((r) => r.ttl) : []));
    return ttls.length > 0 ? Math.min(...ttls) : null;
  };
}

/** A record with TTL 0 (or a few seconds) is not re-queried more often than this. */
export const MIN_REFRESH_SEC = 1;

export interface TrunkResolverOptions {
  lookup?: LookupFunction;
  /** TTL of a host name's records (default: a DNS query, dnsTtl()). */
  ttl?: TtlFunction;
  /** Called when a resolution fails (the previous addresses stay in use). */
  onError?: (trunk: TrunkConfig, err: unknown) => void;
}

export interface TrunkResolverEvents {
  /** The addresses of a trunk changed (first resolution included). */
  change: [trunk: string, addresses: readonly string[]];
}

export class TrunkResolver extends EventEmitter<TrunkResolverEvents> {
  private readonly lookup: LookupFunction;
  private readonly ttl: TtlFunction;
  private readonly addresses = new Map<string, readonly string[]>();
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private running = false;
  private readonly trunks: ReadonlyMap<string, TrunkConfig>;

  constructor(
    trunks: readonly TrunkConfig[],
    private readonly options: TrunkResolverOptions = {},
  ) {
    super();
    this.lookup = options.lookup ?? systemLookup;
    this.ttl = options.ttl ?? dnsTtl();
    this.trunks = new Map(trunks.map((t) => [t.name, t]));
    for (const trunk of trunks) {
      if (trunk.hostIsAddress) this.addresses.set(trunk.name, [normalizeIp(trunk.host) ?? trunk.host]);
    }
  }

  /** Resolves every host-name trunk once, then again as each one's record expires (or its interval passes). */
  async start(): Promise<void> {
    this.running = true;
    const named = [...this.trunks.values()].filter((t) => !t.hostIsAddress);
    await Promise.all(named.map((t) => this.refreshAndSchedule(t)));
  }

  stop(): void {
    this.running = false;
    for (const timer of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
  }

  private async refreshAndSchedule(trunk: TrunkConfig): Promise<void> {
    const [, ttl] = await Promise.all([this.refresh(trunk.name), this.ttl(trunk.host).catch(() => null)]);
    if (!this.running) return;
    const seconds = ttl === null ? trunk.resolveIntervalSec : Math.min(trunk.resolveIntervalSec, Math.max(ttl, MIN_REFRESH_SEC));
    const timer = setTimeout(() => void this.refreshAndSchedule(trunk), seconds * 1000);
    timer.unref();
    this.timers.set(trunk.name, timer);
  }

  /** Resolves one trunk now; on failure keeps the previous addresses and reports the error. */
  async refresh(name: string): Promise<void> {
    const trunk = this.trunks.get(name);
    if (!trunk || trunk.hostIsAddress) return;
    let resolved: string[];
    try {
      resolved = (await this.lookup(trunk.host)).map((a) => normalizeIp(a) ?? a);
    } catch (err) {
      this.options.onError?.(trunk, err);
      return;
    }
    if (resolved.length === 0) return;
    const previous = this.addresses.get(name);
    if (previous && previous.length === resolved.length && previous.every((a, i) => a === resolved[i])) return;
    this.addresses.set(name, resolved);
    this.emit('change', name, resolved);
  }

  /** Where a new call to the trunk goes now, or null when its host never resolved. */
  target(name: string): HopTarget | null {
    const trunk = this.trunks.get(name);
    const address = this.addresses.get(name)?.[0];
    if (!trunk || address === undefined) return null;
    return { host: address, port: trunk.port, transport: trunk.transport };
  }

  /** The trunk whose current addresses include `address` (a request's source), or null. */
  fromSource(address: string): TrunkConfig | null {
    const normal = normalizedIp(address) ?? address;
    for (const [name, addresses] of this.addresses) {
      if (addresses.includes(normal)) return this.trunks.get(name)!;
    }
    return null;
  }
}
