/**
 * Outbound routing: the ordered `routes` of the configuration pick the trunks for a request that
 * did not come from a trunk. A rule matches when every pattern it has matches (user part of the
 * Request-URI, host part); the first matching rule wins; nothing matching means 404 (RFC 3261
 * §16.5: the proxy has no target for the Request-URI). A rule names one trunk or several; with
 * several, its `fork` says whether they are tried one after another or all at once (§16.6:
 * the target set of the request, visited serially or in parallel).
 *
 * Every rule serves the upstream PBX; a rule with `from` networks also serves the sources within
 * them (admission, src/sip/edge/Admission.ts): nobody else may reach a trunk.
 */
import type { RouteConfig, TrunkConfig } from '../../config/types.js';
import { CidrSet } from '../../net/cidr.js';

export interface RequestTarget {
  /** User part of the Request-URI, or null (e.g. sip:203.0.113.1). */
  user: string | null;
  host: string;
}

/** The target set a matching rule gives: its trunks in order and how to visit them. */
export interface RouteChoice {
  readonly trunks: readonly TrunkConfig[];
  readonly fork: RouteConfig['fork'];
  readonly failoverAfterMs: number | null;
}

export class RouteTable {
  private readonly trunks: ReadonlyMap<string, TrunkConfig>;
  private readonly choices: readonly RouteChoice[];
  private readonly from: readonly CidrSet[];

  constructor(
    private readonly routes: readonly RouteConfig[],
    trunks: readonly TrunkConfig[],
  ) {
    this.trunks = new Map(trunks.map((t) => [t.name, t]));
    this.from = routes.map((route) => CidrSet.parse(route.from));
    this.choices = routes.map((route) => {
      if (route.trunks.length === 0) throw new RangeError('a route names no trunk');
      return {
        trunks: route.trunks.map((name) => {
          const trunk = this.trunks.get(name);
          if (!trunk) throw new RangeError(`route names unknown trunk "${name}"`);
          return trunk;
        }),
        fork: route.fork,
        failoverAfterMs: route.failoverAfterMs,
      };
    });
  }

  /**
   * The target set of the first rule that matches, or null (answer 404). `stranger`: the address
   * of a source that is not the upstream, which only rules with it in their `from` serve.
   */
  select(target: RequestTarget, stranger?: string): RouteChoice | null {
    for (let i = 0; i < this.routes.length; i++) {
      const route = this.routes[i]!;
      if (stranger !== undefined && !this.from[i]!.has(stranger)) continue;
      if (route.userPattern && !route.userPattern.test(target.user ?? '')) continue;
      if (route.hostPattern && !route.hostPattern.test(target.host)) continue;
      return this.choices[i]!;
    }
    return null;
  }

  trunk(name: string): TrunkConfig | undefined {
    return this.trunks.get(name);
  }
}
