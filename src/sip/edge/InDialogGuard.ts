/**
 * Whether an in-dialog request (a To tag, or the ACK of a 2xx) may be forwarded.
 *
 * A request that claims to be in a dialog names its own next hop (Request-URI, Route, maddr,
 * transport=tcp). Forwarding it on that claim alone makes the proxy an open relay: anyone can
 * invent a To tag. pinlatch forwards it only along a route it put into the dialog itself:
 *
 * - the request must carry pinlatch's Record-Route back as its Route (or, from a strict router,
 *   as its Request-URI, §16.4), with a valid signed token (RouteToken.ts);
 * - when the proxy knows the dialog, the next hop must be one the dialog knows for the other
 *   side: its pin, its packet source behind NAT, its remote target (Contact) or the first hop of
 *   its route set;
 * - when it does not (pinlatch restarted, the dialog already ended), only the upstream PBX and
 *   the trunks — sources trusted to route — may still send one (a BYE after a restart); anyone
 *   else gets 481 (§12.2.2: no such dialog here).
 */
import type { SourceClass } from './SourceClassifier.js';

export interface InDialogFacts {
  /** The own Route's token: valid, invalid, or none (the request did not come through our Route). */
  token: 'valid' | 'invalid' | 'none';
  /** The proxy holds the dialog the request names. */
  dialogKnown: boolean;
  /** The next hop is decided by, or is one of, the hops the dialog knows for the other side. */
  nextHopInDialog: boolean;
  /** The source is the upstream PBX or a trunk. */
  sourceTrusted: boolean;
}

export type InDialogDecision =
  | { readonly kind: 'forward' }
  | { readonly kind: 'refuse'; readonly status: 403 | 481; readonly reason: string };

const FORWARD: InDialogDecision = { kind: 'forward' };

export function decideInDialog(facts: InDialogFacts): InDialogDecision {
  if (facts.token === 'invalid') return { kind: 'refuse', status: 403, reason: 'Invalid Route Token' };
  if (facts.token === 'none') {
    return facts.dialogKnown
      ? { kind: 'refuse', status: 403, reason: 'Not Routed Through This Proxy' }
      : { kind: 'refuse', status: 481, reason: 'Call/Transaction Does Not Exist' };
  }
  if (facts.dialogKnown) {
    return facts.nextHopInDialog ? FORWARD : { kind: 'refuse', status: 403, reason: 'Next Hop Not In Dialog' };
  }
  return facts.sourceTrusted ? FORWARD : { kind: 'refuse', status: 481, reason: 'Call/Transaction Does Not Exist' };
}

/**
 * The upstream PBX and the trunks may send a request of a dialog pinlatch no longer knows (a BYE
 * after a restart); a phone may not: its own Call-ID's token would let it name any next hop.
 */
export function routesTrusted(source: SourceClass): boolean {
  return source.kind === 'upstream' || source.kind === 'trunk';
}
