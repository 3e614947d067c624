/**
 * Interoperation with strict routers (RFC 2543 routing, no `lr`), as RFC 3261 asks of a loose
 * routing proxy. pinlatch record-routes as a loose router (`<sip:host:port;lr[;pin=trunk]>`); a
 * strict router next to it routes on the Request-URI instead of the Route header, which shows in
 * two ways:
 *
 * - Upstream (§16.4): a strict router (or an RFC 2543 UA, §12.2.1.1) put our Record-Route URI into
 *   the Request-URI and the remote target at the end of Route. The proxy takes the last Route value
 *   back into the Request-URI and removes it from Route, then routes as usual. The `pin` parameter
 *   of that URI marks a pinned dialog just as it does in a Route entry.
 * - Downstream (§16.6 step 6, §12.2.1.1): the first Route after ours has no `lr`. The proxy puts the
 *   Request-URI at the end of Route, moves that first Route value into the Request-URI (without the
 *   parameters a Request-URI may not carry, §19.1.1) and sends the request there. The next hop is
 *   the same one a loose router would use (the first Route value), so `nextHop` (RoutePin.ts) is
 *   decided before the rewrite and does not change with it.
 *
 * The functions on URIs and Route lists are pure; `undoStrictRouting` and `routeToStrictRouter`
 * apply them to a request.
 */
import { NameAddr } from '../wire/headers/nameAddr.js';
import type { SipRequest } from '../wire/message.js';
import type { SipUri, Uri } from '../wire/uri.js';

/** Whether a SIP URI names this proxy (its advertised or listening address and port). */
export type OwnAddressTest = (uri: SipUri) => boolean;

/**
 * True when `uri` is one of the Record-Route URIs this proxy writes: it names the proxy, has no
 * user part and carries `lr`. The user part and `lr` tell it apart from an initial request sent
 * to the proxy's address (`sip:4930123@proxy`), which is routed by the route table instead.
 */
export function isOwnRecordRouteUri(uri: Uri, isOwn: OwnAddressTest): uri is SipUri {
  return uri.kind === 'sip' && uri.user === undefined && uri.lr && isOwn(uri);
}

/**
 * A copy of a URI as it may stand in a Request-URI: without the `method` parameter and without
 * headers, the two components §19.1.1 (Table 1) does not allow there.
 */
export function requestUriForm(uri: Uri): Uri {
  const out = uri.clone();
  if (out.kind === 'sip') {
    out.params.delete('method');
    out.headers = [];
  }
  return out;
}

/** The `pin` parameter of one of our Record-Route URIs (the pinned trunk), or null. */
export function pinOf(uri: SipUri): string | null {
  const pin = uri.params.get('pin');
  return typeof pin === 'string' ? pin : null;
}

export type StrictRestore =
  /** The Request-URI was not ours: nothing to undo. */
  | { kind: 'none' }
  /** Request-URI restored from the last Route value, which is removed from `routes`. */
  | { kind: 'restored'; requestUri: Uri; routes: NameAddr[]; pin: string | null; ours: SipUri }
  /** Our Record-Route URI in the Request-URI but no Route left to restore it from. */
  | { kind: 'missing-route'; pin: string | null; ours: SipUri };

/** §16.4: undoes what a strict router upstream did to the Request-URI. */
export function restoreRequestUri(requestUri: Uri, routes: readonly NameAddr[], isOwn: OwnAddressTest): StrictRestore {
  if (!isOwnRecordRouteUri(requestUri, isOwn)) return { kind: 'none' };
  const pin = pinOf(requestUri);
  const last = routes.at(-1);
  if (!last) return { kind: 'missing-route', pin, ours: requestUri };
  return { kind: 'restored', requestUri: requestUriForm(last.uri), routes: routes.slice(0, -1), pin, ours: requestUri };
}

export interface StrictRewrite {
  requestUri: Uri;
  routes: NameAddr[];
}

/**
 * §16.6 step 6 / §12.2.1.1: when the first Route value (ours already removed) has no `lr`, it
 * becomes the Request-URI and the Request-URI becomes the last Route value. Null when the next
 * hop is a loose router or there is no Route at all (nothing to rewrite).
 */
export function strictRewrite(requestUri: Uri, routes: readonly NameAddr[]): StrictRewrite | null {
  const first = routes[0];
  if (!first || (first.uri.kind === 'sip' && first.uri.lr)) return null;
  return {
    requestUri: requestUriForm(first.uri),
    routes: [...routes.slice(1), new NameAddr({ uri: requestUri.clone() })],
  };
}

function writeRouting(request: SipRequest, requestUri: Uri, routes: readonly NameAddr[]): void {
  request.uri = requestUri;
  request.remove('route');
  if (routes.length > 0) request.set('Route', routes.map((r) => r.toString()).join(', '));
}

/**
 * Applies §16.4 to a received request (before the proxy removes its own Route entries): restores
 * the Request-URI when a strict router put our Record-Route URI there. Returns what it found; on
 * 'missing-route' the request is left as it was.
 */
export function undoStrictRouting(request: SipRequest, isOwn: OwnAddressTest): StrictRestore {
  const restore = restoreRequestUri(request.uri, request.routes, isOwn);
  if (restore.kind === 'restored') writeRouting(request, restore.requestUri, restore.routes);
  return restore;
}

/**
 * Applies §16.6 step 6 to a request about to be forwarded (our own Route entries removed, next
 * hop already chosen): rewrites Request-URI and Route when the next Route is a strict router.
 * True when it rewrote.
 */
export function routeToStrictRouter(request: SipRequest): boolean {
  const rewrite = strictRewrite(request.uri, request.routes);
  if (!rewrite) return false;
  writeRouting(request, rewrite.requestUri, rewrite.routes);
  return true;
}
