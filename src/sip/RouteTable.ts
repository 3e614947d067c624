/**
 * Outbound routing: the ordered `routes` of the configuration pick the trunk for a request that
 * did not come from a trunk. A rule matches when every pattern it has matches (user part of the
 * Request-URI, host part); the first matching rule wins; nothing matching means 404 (RFC 3261
 * §16.5: the proxy has no target for the Request-URI).
 */
import type { RouteConfig, TrunkConfig } from '../config/types.js';

export interface RequestTarget {
  /** User part of the Request-URI, or null (e.g. sip:203.0.113.1). */
  user: string | null;
  host: string;
}

export class RouteTable {
  private readonly trunks: ReadonlyMap<string, TrunkConfig>;

  constructor(
    private readonly routes: readonly RouteConfig[],
    trunks: readonly TrunkConfig[],
  ) {
    this.trunks = new Map(trunks.map((t) => [t.name, t]));
    for (const route of routes) {
      if (!this.trunks.has(route.trunk)) {
        throw new RangeError(`route names unknown trunk "${route.trunk}"`);
      }
    }
  }

  /** The trunk of the first rule that matches, or null (answer 404). */
  select(target: RequestTarget): TrunkConfig | null {
    for (const route of this.routes) {
      if (route.userPattern && !route.userPattern.test(target.user ?? '')) continue;
      if (route.hostPattern && !route.hostPattern.test(target.host)) continue;
      return this.trunks.get(route.trunk)!;
    }
    return null;
  }

  trunk(name: string): TrunkConfig | undefined {
    return this.trunks.get(name);
  }
}
