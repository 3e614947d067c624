/**
 * NAT detection for signalling peers (the "mini-SBC" behaviour of Kamailio's nathelper
 * `nat_uac_test` and Asterisk's `force_rport`/`rewrite_contact`).
 *
 * A peer is behind NAT when the address it advertises (top Via sent-by, Contact host) is not
 * routable on the public Internet (RFC 1918, RFC 6598, loopback, link-local, 192.0.0.0/24,
 * unique-local or link-local IPv6: src/net/address.ts), or is an address literal that simply
 * differs from the source of the packet that carried it. For such peers pinlatch trusts the
 * packet source for signalling (RFC 3581 symmetric response routing) and for media latching.
 */
import { isRoutable, parseIp } from '../../net/address.js';
import { normalizedIp } from '../wire/normalizedIp.js';

export type NatReason =
  /** The advertised address cannot be reached from the Internet. */
  | 'non-routable'
  /** The advertised address is public but not the one the packet came from. */
  | 'address-differs'
  /** Same address, different port: a NAT (or a port-rewriting firewall) remapped the port. */
  | 'port-differs';

export interface Endpoint {
  address: string;
  port: number;
}

export interface AdvertisedEndpoint {
  /** Host as written (IP literal or host name). */
  host: string;
  /** Port as written, or null when the header gave none. */
  port: number | null;
}

/**
 * Why `advertised` cannot be trusted as the way back to the peer whose packet came from
 * `source`, or null when it can. A host name is trusted (it cannot be compared with an address).
 * `defaultPort` is the port implied when the header gives none (5060 for sip over UDP/TCP).
 */
export function natReason(advertised: AdvertisedEndpoint, source: Endpoint, defaultPort = 5060): NatReason | null {
  const ip = parseIp(advertised.host);
  if (ip === null) return null;
  if (!isRoutable(ip)) return 'non-routable';
  if (ip.text !== normalizedIp(source.address)) return 'address-differs';
  if ((advertised.port ?? defaultPort) !== source.port) return 'port-differs';
  return null;
}

/** True when an SDP or header address is usable as a destination across the Internet. */
export function isTrustworthyAddress(address: string | null): address is string {
  const ip = address === null ? null : parseIp(address);
  return ip !== null && isRoutable(ip);
}
