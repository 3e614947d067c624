/**
 * Where an in-dialog request goes next (RFC 3261 §16.12, §8.1.2, §12.2.1.1) — and route pinning,
 * pinlatch's answer to gateways behind NAT.
 *
 * Plain RFC 3261: after the proxy pops its own Route, the next hop is the first remaining Route
 * (loose router, `lr`) or else the Request-URI — the remote target the peer put into Contact. A
 * gateway behind NAT puts its private address there, and the request is lost.
 *
 * Pinned ("don't accept SIP routing changes in dialog", per trunk `pinRoute`): a request toward
 * the trunk side of the dialog always goes to the address:port the dialog was established with,
 * whatever Contact and Record-Route say; the Request-URI is left as the remote target, so the
 * gateway still sees its own Contact. The pinned address is fixed for the life of the dialog
 * (a re-resolved host name only affects new calls).
 */
import type { Uri } from '../wire/uri.js';

export type HopTransport = 'udp' | 'tcp';

export interface HopTarget {
  /** IP literal, or a host name that still needs resolving. */
  host: string;
  port: number;
  transport: HopTransport;
}

export interface UriHop {
  host: string;
  /** Explicit port or null (5060 then, RFC 3263 without SRV). */
  port: number | null;
  /** `transport` URI parameter, or null (UDP). */
  transport: string | null;
}

export interface NextHop extends HopTarget {
  /** True when the pin decided, not the route set or the Request-URI. */
  pinned: boolean;
}

export const DEFAULT_SIP_PORT = 5060;

export class RoutePin {
  constructor(
    /** Name of the trunk whose side of the dialog is pinned. */
    readonly trunk: string,
    /** The address the dialog was established with (resolved when the INVITE was sent). */
    readonly target: Readonly<HopTarget>,
  ) {}

  /** Record-Route parameter value marking the pinned dialog (survives a lost dialog table). */
  get recordRouteParam(): string {
    return this.trunk;
  }
}

/**
 * The next hop of a request whose own Route entries are already removed. `routeSet` is what is
 * left of the Route header (first entry first); `pin` applies when the request goes toward the
 * pinned side.
 */
export function nextHop(requestUri: UriHop, routeSet: readonly UriHop[], pin?: RoutePin | null): NextHop {
  // Written out field by field: in Node 20's optimised code an object spread followed by a new
  // property (`{ ...target, pinned }`) made a new hidden class for every object it returned, in
  // old space, one per in-dialog request, and every function reading them megamorphic.
  if (pin) return { host: pin.target.host, port: pin.target.port, transport: pin.target.transport, pinned: true };
  const uri = routeSet[0] ?? requestUri;
  return {
    host: uri.host,
    port: uri.port ?? DEFAULT_SIP_PORT,
    transport: uri.transport?.toLowerCase() === 'tcp' ? 'tcp' : 'udp',
    pinned: false,
  };
}

/** The next-hop view of a SIP URI (maddr before host, §16.5); other schemes cannot be routed to. */
export function uriHop(uri: Uri): UriHop {
  if (uri.kind !== 'sip') throw new RangeError(`cannot route to a ${uri.toString().split(':')[0]} URI`);
  return { host: uri.maddr ?? uri.host, port: uri.port ?? null, transport: uri.transport ?? null };
}
