/**
 * Settings that are valid but unsafe on a public address: each one makes pinlatch (part of) an
 * open relay, reachable by the SIP scanners that probe every address for a way to the PSTN.
 * `--check-config` prints them and the relay logs them at start; they do not stop it, because a
 * lab or a private network may want exactly that.
 */
import { parseCidr } from '../net/cidr.js';
import type { PinlatchConfig } from './types.js';

export interface ConfigWarning {
  readonly path: string;
  readonly message: string;
}

/** Networks this wide admit a large part of the Internet: /8 for IPv4 (16M hosts), /32 for IPv6. */
const WIDE_PREFIX = { 4: 8, 6: 32 } as const;

function wideNetworks(networks: readonly string[]): string[] {
  return networks.filter((text) => {
    const cidr = parseCidr(text);
    return cidr.prefix <= WIDE_PREFIX[cidr.family];
  });
}

export function openRelayWarnings(config: PinlatchConfig): ConfigWarning[] {
  const warnings: ConfigWarning[] = [];
  config.routes.forEach((route, i) => {
    const wide = wideNetworks(route.from);
    if (wide.length > 0) {
      warnings.push({
        path: `routes[${i}].from`,
        message: `${wide.join(', ')} lets a large part of the Internet call trunk ${route.trunks.join(', ')}: an open relay for toll fraud`,
      });
    }
  });
  const wideUpstream = wideNetworks(config.admission.upstreamNetworks);
  if (wideUpstream.length > 0 && config.routes.length > 0) {
    warnings.push({
      path: 'admission.upstreamNetworks',
      message: `${wideUpstream.join(', ')} counts a large part of the Internet as the upstream PBX, which may call every route: an open relay for toll fraud`,
    });
  }
  return warnings;
}
