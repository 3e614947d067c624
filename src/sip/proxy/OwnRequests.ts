/**
 * The requests the proxy writes itself rather than forwards, as pure builders (no Via: the
 * caller adds its own with the branch it chooses):
 * - the hop-by-hop ACK of a non-2xx final response to a forwarded INVITE (RFC 3261 §17.1.1.3),
 * - the CANCEL of a forwarded INVITE's branch (§9.1),
 * - the ACK of a 2xx the proxy does not pass on (§13.2.2.4 with the route set of §12.1.2, which
 *   routeSetTowardCallee works out),
 * - a BYE on behalf of one side of a dialog (§15.1.1), with a Reason (RFC 3326).
 * (The OPTIONS keepalive to a phone behind NAT is src/sip/registrar/KeepalivePing.ts.)
 */
import type { NameAddr } from '../wire/headers/nameAddr.js';
import { SipRequest, type SipResponse } from '../wire/message.js';

function finish(request: SipRequest): SipRequest {
  request.set('Max-Forwards', '70');
  request.setBody(Buffer.alloc(0));
  return request;
}

/** §17.1.1.3: same Request-URI, Call-ID, From, Route and top Via as the INVITE; To of the response. */
export function hopByHopAck(invite: SipRequest, response: SipResponse): SipRequest {
  const ack = new SipRequest({ method: 'ACK', uri: invite.uriText, fields: [] });
  ack.set('Via', invite.get('via')!.split(',')[0]!.trim());
  for (const name of ['route', 'from', 'call-id']) {
    for (const value of invite.getAll(name)) ack.append(name, value);
  }
  ack.set('To', response.get('to') ?? invite.get('to') ?? '');
  ack.set('CSeq', `${invite.cseq?.seq ?? 1} ACK`);
  return finish(ack);
}

/** §9.1: same Request-URI, Call-ID, To, From, Route, CSeq number and top Via (branch) as the INVITE. */
export function cancelOf(invite: SipRequest): SipRequest {
  const cancel = new SipRequest({ method: 'CANCEL', uri: invite.uriText, fields: [] });
  cancel.set('Via', invite.get('via')!.split(',')[0]!.trim());
  for (const name of ['route', 'from', 'to', 'call-id']) {
    for (const value of invite.getAll(name)) cancel.append(name, value);
  }
  cancel.set('CSeq', `${invite.cseq?.seq ?? 1} CANCEL`);
  return finish(cancel);
}

/**
 * The Route set from a proxy toward the UAS of a 2xx or 1xx (§12.1.2 seen from the middle): the
 * Record-Route entries the downstream proxies put above the proxy's own (`isOwn`), reversed so that
 * the nearest comes first.
 */
export function routeSetTowardCallee(response: SipResponse, isOwn: (route: NameAddr) => boolean): string[] {
  const rr = response.recordRoutes;
  const own = rr.findIndex(isOwn);
  return (own < 0 ? rr : rr.slice(0, own)).map((r) => r.toString()).reverse();
}

/** What the ACK of a 2xx takes from its INVITE (§13.2.2.4): From, Call-ID and the CSeq number. */
export interface InviteIdentity {
  from: string;
  callId: string;
  cseq: number;
}

export function inviteIdentity(invite: SipRequest): InviteIdentity {
  return { from: invite.get('from') ?? '', callId: invite.callId ?? '', cseq: invite.cseq?.seq ?? 1 };
}

/** The ACK of a 2xx to `invite`: to the 2xx's Contact, along `routeSet` (routeSetTowardCallee). */
export function ackOf2xx(invite: InviteIdentity, response: SipResponse, contact: string, routeSet: readonly string[]): SipRequest {
  const ack = new SipRequest({ method: 'ACK', uri: contact, fields: [] });
  for (const route of routeSet) ack.append('Route', route);
  ack.set('From', invite.from);
  ack.set('To', response.get('to') ?? '');
  ack.set('Call-ID', invite.callId);
  ack.set('CSeq', `${invite.cseq} ACK`);
  return finish(ack);
}

export interface ByeParties {
  callId: string;
  /** Remote target of the side that receives the BYE (its Contact, with or without <>). */
  target: string;
  /** From and To header values: the side the BYE speaks for, and the side it goes to. */
  from: string;
  to: string;
  cseq: number;
  /** RFC 3326 Reason header value. */
  reason: string;
}

export function byeOf(parties: ByeParties): SipRequest {
  const bye = new SipRequest({ method: 'BYE', uri: parties.target.replace(/^.*<|>.*$/g, ''), fields: [] });
  bye.set('From', parties.from);
  bye.set('To', parties.to);
  bye.set('Call-ID', parties.callId);
  bye.set('CSeq', `${parties.cseq} BYE`);
  bye.set('Reason', parties.reason);
  return finish(bye);
}
