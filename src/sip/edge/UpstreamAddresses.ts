/**
 * The addresses the upstream PBX sends from: its URI's host (resolved, and resolved again on an
 * interval when it is a name, like a trunk's) and the networks `admission.upstreamNetworks` adds.
 */
import type { SipUriTarget } from '../../config/index.js';
import { CidrSet } from '../../net/cidr.js';
import { normalizeIp } from '../../net/address.js';
import type { LookupFunction } from '../proxy/TrunkResolver.js';
import type { AddressMatcher } from './SourceClassifier.js';

export class UpstreamAddresses implements AddressMatcher {
  private resolved: ReadonlySet<string>;
  private readonly networks: CidrSet;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly upstream: SipUriTarget | null,
    networks: readonly string[],
    private readonly lookup: LookupFunction,
    private readonly onError: (err: unknown) => void = () => undefined,
  ) {
    this.networks = CidrSet.parse(networks);
    const literal = upstream ? normalizeIp(upstream.host) : null;
    this.resolved = new Set(literal === null ? [] : [literal]);
  }

  /** Resolves a host name now and every `intervalSec` after. */
  async start(intervalSec: number): Promise<void> {
    if (!this.upstream || normalizeIp(this.upstream.host) !== null) return;
    await this.refresh();
    this.timer = setInterval(() => void this.refresh(), intervalSec * 1000);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  private async refresh(): Promise<void> {
    try {
      const addresses = await this.lookup(this.upstream!.host);
      if (addresses.length > 0) this.resolved = new Set(addresses.map((a) => normalizeIp(a) ?? a));
    } catch (err) {
      this.onError(err);
    }
  }

  has(address: string): boolean {
    return this.resolved.has(address) || this.networks.has(address);
  }
}
