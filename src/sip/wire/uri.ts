/**
 * SIP and SIPS URIs (RFC 3261 §19.1, grammar §25.1) and, for every other scheme (tel:, http:,
 * urn:, ...), an opaque absoluteURI that is carried through untouched.
 *
 *   sip:user:password@host:port;uri-parameters?headers
 *
 * The user part may contain ";" "?" "/" "," (user-unreserved) and "%HH" escapes; it is kept
 * escaped as written (RFC 4475 §3.1.1.3 esc01, §3.1.1.9 semiuri: `user;par=u%40example.net`), and
 * `unescapeUriPart` gives the decoded form. Parameter and header names and values are kept as
 * written too; comparison (§19.1.4) unescapes before comparing.
 */
import { normalizeIp, parseIp } from '../../net/address.js';
import { SipUriError } from './errors.js';
import { Params } from './headers/params.js';

export type HostKind = 'ipv4' | 'ipv6' | 'domain';

export class SipUri {
  readonly kind = 'sip' as const;
  scheme: 'sip' | 'sips';
  /** User part as written (escapes kept), or undefined when the URI has no userinfo. */
  user: string | undefined;
  password: string | undefined;
  /** Host without brackets: a domain name, an IPv4 literal or an IPv6 literal. */
  host: string;
  hostKind: HostKind;
  port: number | undefined;
  params: Params;
  /** `?name=value&...` pairs, escapes kept (RFC 3261 §19.1.1 "headers"). */
  headers: Array<[string, string]>;

  constructor(init: {
    scheme?: 'sip' | 'sips';
    user?: string | undefined;
    password?: string | undefined;
    host: string;
    port?: number | undefined;
    params?: Params | Iterable<[string, string | null]>;
    headers?: Array<[string, string]>;
  }, hostKind?: HostKind) {
    this.scheme = init.scheme ?? 'sip';
    this.user = init.user;
    this.password = init.password;
    const host = init.host.startsWith('[') && init.host.endsWith(']') ? init.host.slice(1, -1) : init.host;
    this.host = host;
    // The parser knows the kind already (it checked the host's grammar); built in code, it is read here.
    this.hostKind = hostKind ?? hostKindOf(host);
    this.port = init.port;
    this.params = init.params instanceof Params ? init.params : new Params(init.params ?? []);
    this.headers = init.headers ?? [];
  }

  /** `host` or `[v6]`, plus `:port` when present: the hostport of §25.1. */
  get hostport(): string {
    const host = this.hostKind === 'ipv6' ? `[${this.host}]` : this.host;
    return this.port === undefined ? host : `${host}:${this.port}`;
  }

  /** The `transport` parameter, lowercased, when present. */
  get transport(): string | undefined {
    const value = this.params.get('transport');
    return typeof value === 'string' ? value.toLowerCase() : undefined;
  }

  /** True when the URI carries `lr` (loose routing, RFC 3261 §16.12 / §19.1.1). */
  get lr(): boolean {
    return this.params.has('lr');
  }

  get maddr(): string | undefined {
    const value = this.params.get('maddr');
    return typeof value === 'string' ? value : undefined;
  }

  clone(): SipUri {
    return new SipUri({
      scheme: this.scheme,
      user: this.user,
      password: this.password,
      host: this.host,
      port: this.port,
      params: this.params.clone(),
      headers: this.headers.map(([n, v]) => [n, v]),
    });
  }

  toString(): string {
    let out = `${this.scheme}:`;
    if (this.user !== undefined) {
      out += this.user;
      if (this.password !== undefined) out += `:${this.password}`;
      out += '@';
    }
    out += this.hostport;
    out += this.params.toString();
    if (this.headers.length > 0) out += `?${this.headers.map(([n, v]) => `${n}=${v}`).join('&')}`;
    return out;
  }
}

/** A URI of any other scheme (absoluteURI, RFC 3261 §25.1 / RFC 2396), passed through as text. */
export class OpaqueUri {
  readonly kind = 'opaque' as const;
  /** Lowercase scheme, e.g. `tel`. */
  readonly scheme: string;
  readonly text: string;

  constructor(text: string) {
    this.text = text;
    this.scheme = text.slice(0, text.indexOf(':')).toLowerCase();
  }

  clone(): OpaqueUri {
    return new OpaqueUri(this.text);
  }

  toString(): string {
    return this.text;
  }
}

export type Uri = SipUri | OpaqueUri;

// unreserved = alphanum / mark; mark = - _ . ! ~ * ' ( )
const UNRESERVED = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.!~*'()";
const USER_CHARS = charSet(`${UNRESERVED}&=+$,;?/`);
const PASSWORD_CHARS = charSet(`${UNRESERVED}&=+$,`);
const PARAM_CHARS = charSet(`${UNRESERVED}[]/:&+$`);
const HEADER_CHARS = charSet(`${UNRESERVED}[]/?:+$`);
const SCHEME = /^[A-Za-z][A-Za-z0-9+.-]*:/;

/**
 * Checks a hostname or IPv4address (§25.1): dot-separated labels of alphanumerics and inner
 * hyphens, an optional final dot. 'numeric' when it is digits and dots only (then it must be a
 * dotted quad). One pass without a pattern: every URI host goes through it.
 */
function hostnameKind(host: string): 'name' | 'numeric' | 'invalid' {
  let numeric = true;
  let labelStart = 0;
  for (let i = 0; i <= host.length; i++) {
    const code = i === host.length ? 0x2e : host.charCodeAt(i);
    if (code === 0x2e) {
      if (i === labelStart) return i === host.length && i > 0 ? (numeric ? 'numeric' : 'name') : 'invalid';
      if (host.charCodeAt(i - 1) === 0x2d) return 'invalid';
      labelStart = i + 1;
    } else if (code >= 0x30 && code <= 0x39) {
      continue;
    } else if ((code >= 0x41 && code <= 0x5a) || (code >= 0x61 && code <= 0x7a)) {
      numeric = false;
    } else if (code === 0x2d && i !== labelStart) {
      numeric = false;
    } else {
      return 'invalid';
    }
  }
  return numeric ? 'numeric' : 'name';
}

function charSet(chars: string): Uint8Array {
  const set = new Uint8Array(128);
  for (const c of chars) set[c.charCodeAt(0)] = 1;
  return set;
}

/** True when every character is in `set` or part of a valid `%HH` escape. */
function validChars(text: string, set: Uint8Array): boolean {
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code === 0x25) {
      if (!isHex(text.charCodeAt(i + 1)) || !isHex(text.charCodeAt(i + 2))) return false;
      i += 2;
    } else if (code >= 128 || set[code] !== 1) {
      return false;
    }
  }
  return true;
}

function isHex(code: number): boolean {
  return (code >= 0x30 && code <= 0x39) || (code >= 0x41 && code <= 0x46) || (code >= 0x61 && code <= 0x66);
}

/**
 * True for a dotted-quad IPv4address (§25.1): four decimal octets 0-255 without leading zeros (as
 * parseIp accepts them). Read in place, without parseIp's allocations: every URI host goes through it.
 */
function isDottedQuad(host: string): boolean {
  let octets = 0;
  let i = 0;
  while (i <= host.length) {
    const start = i;
    let value = 0;
    while (i < host.length) {
      const code = host.charCodeAt(i);
      if (code < 0x30 || code > 0x39) break;
      value = value * 10 + (code - 0x30);
      i++;
    }
    const digits = i - start;
    if (digits === 0 || digits > 3 || value > 255 || (digits > 1 && host.charCodeAt(start) === 0x30)) return false;
    octets++;
    if (i === host.length) return octets === 4;
    if (host.charCodeAt(i) !== 0x2e || octets === 4) return false;
    i++;
  }
  return false;
}

function hostKindOf(host: string): HostKind {
  if (host.includes(':')) return parseIp(host) ? 'ipv6' : 'domain';
  const last = host.charCodeAt(host.length - 1);
  if (!(last >= 0x30 && last <= 0x39)) return 'domain'; // a top label never ends in a digit-only form
  // parseIp for what is not a plain dotted quad: it also trims and reads bracketed forms.
  return isDottedQuad(host) || parseIp(host) ? 'ipv4' : 'domain';
}

/**
 * Parses a URI: sip:/sips: into SipUri, any other valid scheme into OpaqueUri.
 * Throws SipUriError for text that is not a URI at all (e.g. `<sip:...>`, RFC 4475 §3.1.2.7, or
 * whitespace inside, §3.1.2.14 badaspec).
 */
export function parseUri(text: string): Uri {
  // Nearly every URI is `sip:` as written: read without the scheme pattern.
  if (text.startsWith('sip:')) return parseSipUriBody(text, 'sip', 4);
  const scheme = SCHEME.exec(text);
  if (!scheme) throw new SipUriError(text, 'no scheme');
  const name = scheme[0].slice(0, -1).toLowerCase();
  if (name === 'sip' || name === 'sips') return parseSipUriBody(text, name, scheme[0].length);
  if (text.length === scheme[0].length || /[\s<>"]/.test(text)) throw new SipUriError(text, 'not an absoluteURI');
  return new OpaqueUri(text);
}

/** Parses a URI that must be sip: or sips:. */
export function parseSipUri(text: string): SipUri {
  const uri = parseUri(text);
  if (uri.kind !== 'sip') throw new SipUriError(text, 'not a SIP or SIPS URI');
  return uri;
}

function parseSipUriBody(text: string, scheme: 'sip' | 'sips', start: number): SipUri {
  // Read by index over `text` (no intermediate copies of the rest): every URI of every message
  // the proxy validates goes through here.
  const length = text.length;
  let user: string | undefined;
  let password: string | undefined;
  let i = start;
  const at = text.indexOf('@', start);
  if (at !== -1) {
    const colon = text.indexOf(':', start);
    const userEnd = colon !== -1 && colon < at ? colon : at;
    user = text.slice(start, userEnd);
    if (userEnd !== at) password = text.slice(userEnd + 1, at);
    if (user.length === 0 && password === undefined) throw new SipUriError(text, 'empty user part');
    if (!validChars(user, USER_CHARS)) throw new SipUriError(text, 'invalid character in user part');
    if (password !== undefined && !validChars(password, PASSWORD_CHARS)) {
      throw new SipUriError(text, 'invalid character in password');
    }
    i = at + 1;
  }

  let host: string;
  let hostKind: HostKind;
  if (text.charCodeAt(i) === 0x5b) {
    const close = text.indexOf(']', i);
    if (close === -1) throw new SipUriError(text, 'unterminated IPv6 reference');
    host = text.slice(i + 1, close);
    const ip = parseIp(host);
    if (!ip || ip.family !== 6 || ip.zone !== undefined) throw new SipUriError(text, 'invalid IPv6 reference');
    hostKind = 'ipv6';
    i = close + 1;
  } else {
    const hostStart = i;
    while (i < length) {
      const code = text.charCodeAt(i);
      if (code === 0x3a || code === 0x3b || code === 0x3f) break;
      i++;
    }
    host = text.slice(hostStart, i);
    if (host.length === 0) throw new SipUriError(text, 'empty host');
    const kind = hostnameKind(host);
    if (kind === 'invalid') throw new SipUriError(text, 'invalid host');
    if (kind === 'numeric' && !isDottedQuad(host)) throw new SipUriError(text, 'invalid IPv4 address');
    hostKind = kind === 'numeric' ? 'ipv4' : 'domain';
  }

  let port: number | undefined;
  if (text.charCodeAt(i) === 0x3a) {
    const portStart = i + 1;
    i = portStart;
    let value = 0;
    while (i < length && text.charCodeAt(i) >= 0x30 && text.charCodeAt(i) <= 0x39) value = value * 10 + text.charCodeAt(i++) - 0x30;
    const digits = i - portStart;
    if (digits === 0 || digits > 5 || value > 65535) throw new SipUriError(text, 'invalid port');
    port = value;
  }

  const params = new Params();
  while (text.charCodeAt(i) === 0x3b) {
    const nameStart = i + 1;
    let end = nameStart;
    let eq = -1;
    while (end < length) {
      const code = text.charCodeAt(end);
      if (code === 0x3b || code === 0x3f) break;
      if (code === 0x3d && eq === -1) eq = end;
      end++;
    }
    const pname = text.slice(nameStart, eq === -1 ? end : eq);
    const pvalue = eq === -1 ? null : text.slice(eq + 1, end);
    if (pname.length === 0 || !validChars(pname, PARAM_CHARS)) throw new SipUriError(text, 'invalid URI parameter');
    if (pvalue !== null && (pvalue.length === 0 || !validChars(pvalue, PARAM_CHARS))) {
      throw new SipUriError(text, `invalid value of URI parameter ${pname}`);
    }
    params.set(pname, pvalue);
    i = end;
  }

  const headers: Array<[string, string]> = [];
  if (text.charCodeAt(i) === 0x3f) {
    for (const pair of text.slice(i + 1).split('&')) {
      const eq = pair.indexOf('=');
      if (eq <= 0) throw new SipUriError(text, 'invalid URI header');
      const hname = pair.slice(0, eq);
      const hvalue = pair.slice(eq + 1);
      if (!validChars(hname, HEADER_CHARS) || !validChars(hvalue, HEADER_CHARS)) {
        throw new SipUriError(text, 'invalid character in URI header');
      }
      headers.push([hname, hvalue]);
    }
    i = length;
  }
  if (i !== length) throw new SipUriError(text, `unexpected "${text[i]}"`);
  return new SipUri({ scheme, user, password, host, port, params, headers }, hostKind);
}

/** Decodes `%HH` escapes (RFC 3261 §19.1.2); invalid escapes are left as they are. */
export function unescapeUriPart(text: string): string {
  if (!text.includes('%')) return text;
  const bytes: number[] = [];
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code === 0x25 && isHex(text.charCodeAt(i + 1)) && isHex(text.charCodeAt(i + 2))) {
      bytes.push(parseInt(text.slice(i + 1, i + 3), 16));
      i += 2;
    } else {
      bytes.push(...Buffer.from(text[i]!, 'utf8'));
    }
  }
  return Buffer.from(bytes).toString('utf8');
}

const SIGNIFICANT_URI_PARAMS = ['user', 'ttl', 'method', 'maddr', 'transport'];

function sameHost(a: SipUri, b: SipUri): boolean {
  if (a.hostKind !== 'domain' || b.hostKind !== 'domain') {
    return a.hostKind !== 'domain' && b.hostKind !== 'domain' && normalizeIp(a.host) === normalizeIp(b.host);
  }
  return a.host.toLowerCase().replace(/\.$/, '') === b.host.toLowerCase().replace(/\.$/, '');
}

function sameInsensitive(a: string | null | undefined, b: string | null | undefined): boolean {
  if (a === undefined || b === undefined || a === null || b === null) return a === b;
  return unescapeUriPart(a).toLowerCase() === unescapeUriPart(b).toLowerCase();
}

/**
 * URI equivalence of RFC 3261 §19.1.4: same scheme; userinfo equal case-sensitively after
 * unescaping; host and everything else case-insensitive; a component with a default value
 * (port) does not match its absence; user/ttl/method/maddr/transport must match when present in
 * either; other parameters only when present in both; headers must all match.
 * Opaque URIs compare by scheme and exact text.
 */
export function uriEquals(a: Uri, b: Uri): boolean {
  if (a.kind === 'opaque' || b.kind === 'opaque') {
    return a.kind === b.kind && a.scheme === b.scheme && a.toString() === b.toString();
  }
  if (a.scheme !== b.scheme) return false;
  if ((a.user === undefined) !== (b.user === undefined)) return false;
  if (a.user !== undefined && unescapeUriPart(a.user) !== unescapeUriPart(b.user!)) return false;
  if ((a.password ?? null) !== null || (b.password ?? null) !== null) {
    if (a.password === undefined || b.password === undefined) return false;
    if (unescapeUriPart(a.password) !== unescapeUriPart(b.password)) return false;
  }
  if (!sameHost(a, b) || a.port !== b.port) return false;
  for (const name of SIGNIFICANT_URI_PARAMS) {
    if (!sameInsensitive(a.params.get(name), b.params.get(name))) return false;
  }
  for (const [name, value] of a.params) {
    const other = b.params.get(name);
    if (other !== undefined && !sameInsensitive(value, other)) return false;
  }
  if (a.headers.length !== b.headers.length) return false;
  for (const [name, value] of a.headers) {
    const match = b.headers.find(([n]) => n.toLowerCase() === name.toLowerCase());
    if (!match || unescapeUriPart(match[1]) !== unescapeUriPart(value)) return false;
  }
  return true;
}

/**
 * True when the URI's hostport names this address and port: the check a proxy makes to see
 * whether a Route (RFC 3261 §16.4) or Request-URI (§16.12) points at itself. A missing port means
 * 5060 for sip: and 5061 for sips: (§19.1.2); IP literals compare by value (::ffff:a.b.c.d = a.b.c.d),
 * names case-insensitively.
 */
export function uriRefersTo(uri: Uri, host: string, port: number): boolean {
  if (uri.kind !== 'sip') return false;
  const uriPort = uri.port ?? (uri.scheme === 'sips' ? 5061 : 5060);
  if (uriPort !== port) return false;
  const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  const ip = normalizeIp(bare);
  if (ip !== null) return uri.hostKind !== 'domain' && normalizeIp(uri.host) === ip;
  return uri.host.toLowerCase().replace(/\.$/, '') === bare.toLowerCase().replace(/\.$/, '');
}
