/**
 * Trunk addresses. A trunk given by IP literal is fixed; one given by host name is resolved with
 * the system resolver (`dns.lookup`, i.e. getaddrinfo: /etc/hosts and nsswitch work, not only
 * DNS) at start and again every `resolveIntervalSec`, so a dynamic-DNS gateway whose public
 * address changes keeps working for new calls. getaddrinfo does not expose record TTLs, hence a
 * fixed interval. Calls in progress are not affected: their dialogs keep the address they were
 * pinned to (RoutePin).
 *
 * The resolver also recognises requests coming from a trunk by their source address.
 */
import { lookup as dnsLookup } from 'node:dns/promises';
import { EventEmitter } from 'node:events';
import type { TrunkConfig } from '../config/types.js';
import { normalizeIp } from '../net/address.js';
import type { HopTarget } from './RoutePin.js';

/** Resolves a host name to its addresses, preferred first. Injectable for unit tests. */
export type LookupFunction = (host: string) => Promise<string[]>;

export const systemLookup: LookupFunction = async (host) =>
  (await dnsLookup(host, { all: true, order: 'verbatim' })).map((a) => a.address);

export interface TrunkResolverOptions {
  lookup?: LookupFunction;
  /** Called when a resolution fails (the previous addresses stay in use). */
  onError?: (trunk: TrunkConfig, err: unknown) => void;
}

export interface TrunkResolverEvents {
  /** The addresses of a trunk changed (first resolution included). */
  change: [trunk: string, addresses: readonly string[]];
}

export class TrunkResolver extends EventEmitter<TrunkResolverEvents> {
  private readonly lookup: LookupFunction;
  private readonly addresses = new Map<string, readonly string[]>();
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly trunks: ReadonlyMap<string, TrunkConfig>;

  constructor(
    trunks: readonly TrunkConfig[],
    private readonly options: TrunkResolverOptions = {},
  ) {
    super();
    this.lookup = options.lookup ?? systemLookup;
    this.trunks = new Map(trunks.map((t) => [t.name, t]));
    for (const trunk of trunks) {
      if (trunk.hostIsAddress) this.addresses.set(trunk.name, [normalizeIp(trunk.host) ?? trunk.host]);
    }
  }

  /** Resolves every host-name trunk once, then keeps re-resolving on each trunk's interval. */
  async start(): Promise<void> {
    const named = [...this.trunks.values()].filter((t) => !t.hostIsAddress);
    await Promise.all(named.map((t) => this.refresh(t.name)));
    for (const trunk of named) {
      const timer = setInterval(() => void this.refresh(trunk.name), trunk.resolveIntervalSec * 1000);
      timer.unref();
      this.timers.push(timer);
    }
  }

  stop(): void {
    for (const timer of this.timers.splice(0)) clearInterval(timer);
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
    const normal = normalizeIp(address) ?? address;
    for (const [name, addresses] of this.addresses) {
      if (addresses.includes(normal)) return this.trunks.get(name)!;
    }
    return null;
  }
}
