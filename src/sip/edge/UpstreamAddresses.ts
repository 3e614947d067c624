/**
 * The addresses the upstream PBX sends from: its URI's host (resolved, and resolved again on an
 * interval when it is a name, like a trunk's), the registrar's host when phones register
 * elsewhere, and the networks `admission.upstreamNetworks` adds.
 */
import type { SipUriTarget } from '../../config/index.js';
import { CidrSet } from '../../net/cidr.js';
import { normalizeIp } from '../../net/address.js';
import type { LookupFunction } from '../proxy/TrunkResolver.js';
import type { AddressMatcher } from './SourceClassifier.js';

export class UpstreamAddresses implements AddressMatcher {
  private readonly literals: ReadonlySet<string>;
  private readonly names: readonly string[];
  private resolved: ReadonlySet<string> = new Set();
  private readonly networks: CidrSet;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    targets: ReadonlyArray<SipUriTarget | null>,
    networks: readonly string[],
    private readonly lookup: LookupFunction,
    private readonly onError: (err: unknown) => void = () => undefined,
  ) {
    this.networks = CidrSet.parse(networks);
    const hosts = targets.flatMap((t) => (t ? [t.host] : []));
    this.literals = new Set(hosts.flatMap((h) => normalizeIp(h) ?? []));
    this.names = [...new Set(hosts.filter((h) => normalizeIp(h) === null))];
  }

  /** Resolves the host names now and every `intervalSec` after. */
  async start(intervalSec: number): Promise<void> {
    if (this.names.length === 0) return;
    await this.refresh();
    this.timer = setInterval(() => void this.refresh(), intervalSec * 1000);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  private async refresh(): Promise<void> {
    const next = new Set<string>();
    for (const name of this.names) {
      try {
        for (const a of await this.lookup(name)) next.add(normalizeIp(a) ?? a);
      } catch (err) {
        // A name that does not resolve now keeps the addresses it had.
        for (const a of this.resolved) next.add(a);
        this.onError(err);
      }
    }
    this.resolved = next;
  }

  has(address: string): boolean {
    return this.literals.has(address) || this.resolved.has(address) || this.networks.has(address);
  }
}
