/**
 * pinlatch's own Route entries in a request (its Record-Route coming back, §16.4): removed, and
 * read for what pinlatch wrote into them — the pinned trunk, the route token, a phone's flow
 * token (Path, RFC 5626 §5.2) and the spiral pass.
 */
import type { SipRequest } from '../wire/message.js';
import type { SipUri, Uri } from '../wire/uri.js';
import { pinOf } from './StrictRoute.js';

/** What pinlatch's own Route entries in a request said (popOwnRoutes). */
export interface OwnRoute {
  pin: string | null;
  token: 'valid' | 'invalid' | 'none';
  /** The user part of a Path URI of ours: a phone's flow token. */
  flow: string | null;
  /** The spiral pass our Record-Route entry named (`sp`), 0 without one. */
  spiral: number;
}

/** The Record-Route parameter naming the spiral pass of a dialog (Dialog.spiral) after the first. */
export const SPIRAL_PARAM = 'sp';

export function spiralOf(uri: Uri | undefined): number {
  const value = uri?.kind === 'sip' ? uri.params.get(SPIRAL_PARAM) : undefined;
  const n = typeof value === 'string' ? Number(value) : 0;
  return Number.isInteger(n) && n > 0 && n < 70 ? n : 0;
}

/**
 * Removes the Route entries naming this proxy (§16.4; two when record-routed twice) and reads
 * what pinlatch wrote into them: the pinned trunk and the route token. `restored`: our URI a
 * strict router had put into the Request-URI.
 */
export function popOwnRoutes(
  request: SipRequest,
  restored: SipUri | null,
  own: { refersToUs(uri: Uri): boolean },
  tokens: { tokenOf(uri: SipUri, callId: string | undefined, pin: string | null): OwnRoute['token'] },
): OwnRoute {
  const ours: SipUri[] = restored ? [restored] : [];
  for (let first = request.routes[0]; first && own.refersToUs(first.uri); first = request.routes[0]) {
    ours.push(first.uri as SipUri);
    request.popRoute();
  }
  let pin: string | null = null;
  let token: OwnRoute['token'] = 'none';
  let flow: string | null = null;
  const spiral = ours.reduce((n, uri) => Math.max(n, spiralOf(uri)), 0);
  for (const uri of ours) {
    if (uri.user !== undefined) flow ??= uri.user;
    const p = pinOf(uri);
    const t = tokens.tokenOf(uri, request.callId, p);
    if (t === 'none') continue;
    if (t === 'invalid') return { pin: null, token: 'invalid', flow, spiral };
    token = 'valid';
    pin = p;
  }
  return { pin, token, flow, spiral };
}
