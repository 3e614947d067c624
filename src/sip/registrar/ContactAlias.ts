/**
 * The fallback for registrars without Path support (RFC 3327): the flow goes into the Contact
 * instead, like Kamailio's contact alias. A phone's Contact `sip:1001@192.168.1.100:5060` is
 * registered as `sip:1001@203.0.113.10:5060;pl-flow=TOKEN;pl-contact=BASE64`, so the registrar
 * sends requests for the phone to pinlatch, which finds the flow in the token and puts the
 * phone's own Contact back into the Request-URI. Answers to the phone show its own Contact again.
 *
 * The phone's Contact is carried as lowercase hex of its text: a URI parameter's value compares
 * case-insensitively (RFC 3261 §19.1.4), so only a case-free encoding survives every hop. The
 * base64url form of earlier versions is still read: a value that is not hex, or whose hex is not
 * a URI, is taken as base64url.
 */
import { parseUri, SipUri, type Uri } from '../wire/uri.js';

export const FLOW_PARAM = 'pl-flow';
export const CONTACT_PARAM = 'pl-contact';

export interface AliasTarget {
  host: string;
  port: number;
  transport: 'udp' | 'tcp';
}

/** The Contact URI the registrar is given for the phone's `original` one. */
export function aliasContact(original: Uri, token: string, at: AliasTarget): SipUri {
  const params: Array<[string, string | null]> = [
    [FLOW_PARAM, token],
    [CONTACT_PARAM, Buffer.from(original.toString()).toString('hex')],
  ];
  if (at.transport === 'tcp') params.push(['transport', 'tcp']);
  return new SipUri({ user: original.kind === 'sip' ? original.user : undefined, host: at.host, port: at.port, params });
}

/** The flow token and the phone's own Contact in an aliased URI, or null for any other URI. */
export function unalias(uri: Uri): { token: string; original: Uri } | null {
  if (uri.kind !== 'sip') return null;
  const token = uri.params.get(FLOW_PARAM);
  const encoded = uri.params.get(CONTACT_PARAM);
  if (typeof token !== 'string' || typeof encoded !== 'string') return null;
  const original = (HEX.test(encoded) && encoded.length % 2 === 0 ? uriOf(Buffer.from(encoded, 'hex')) : null) ?? uriOf(Buffer.from(encoded, 'base64url'));
  return original ? { token, original } : null;
}

const HEX = /^[0-9A-Fa-f]+$/;

function uriOf(text: Buffer): Uri | null {
  try {
    return parseUri(text.toString());
  } catch {
    return null;
  }
}
