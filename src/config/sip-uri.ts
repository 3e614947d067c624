/**
 * The `upstream` key: one SIP or SIPS URI (RFC 3261 §19.1) naming where requests from a trunk
 * go. Only the parts a proxy needs to send there are kept (host, port, transport param); the
 * full SIP grammar lives in src/sip/.
 */
import { isIP } from 'node:net';
import { isHostName } from './address.js';

export interface SipUriTarget {
  /** The URI as written in the configuration. */
  readonly uri: string;
  readonly scheme: 'sip' | 'sips';
  /** User part, or null when the URI has none. */
  readonly user: string | null;
  /** IP literal (IPv6 without brackets) or host name. */
  readonly host: string;
  /** Explicit port, or null (RFC 3263 rules then apply: 5060, 5061 for sips). */
  readonly port: number | null;
  /** The `transport` URI parameter, lower-cased, or null. */
  readonly transport: 'udp' | 'tcp' | null;
}

/** Parses the URI, or returns the reason it is not one this proxy can send to. */
export function parseSipUriTarget(uri: string): SipUriTarget | string {
  const m = /^(sips?):(?:([^@;?]+)@)?(\[[0-9a-fA-F:.]+\]|[^:;?@[\]]+)(?::(\d+))?((?:;[^;?]*)*)(?:\?.*)?$/i.exec(uri);
  if (!m) return 'expected a SIP URI such as sip:203.0.113.30:5060';
  const scheme = m[1]!.toLowerCase() as 'sip' | 'sips';
  const rawHost = m[3]!;
  const bracketed = rawHost.startsWith('[');
  const host = bracketed ? rawHost.slice(1, -1) : rawHost;
  if (bracketed ? isIP(host) !== 6 : isIP(host) === 0 && !isHostName(host)) {
    return `"${rawHost}" is neither an IP address nor a host name`;
  }
  if (!bracketed && isIP(host) === 6) return 'an IPv6 address in a SIP URI must be in brackets';
  let port: number | null = null;
  if (m[4] !== undefined) {
    port = Number(m[4]);
    if (port < 1 || port > 65535) return `port ${m[4]} is outside 1..65535`;
  }
  let transport: 'udp' | 'tcp' | null = null;
  for (const param of (m[5] ?? '').split(';').filter(Boolean)) {
    const [name, value = ''] = param.split('=');
    if (name!.toLowerCase() !== 'transport') continue;
    const t = value.toLowerCase();
    if (t !== 'udp' && t !== 'tcp') return `transport=${value} is not supported (udp or tcp)`;
    transport = t;
  }
  return { uri, scheme, user: m[2] ?? null, host, port, transport };
}
