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
import { codesOf, indexWithin } from './headers/syntax.js';

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

function charSet(chars: string): Uint8Array {
  const set = new Uint8Array(128);
  for (const c of chars) set[c.charCodeAt(0)] = 1;
  return set;
}

/** True when every character of codes[from, to) is in `set` or part of a valid `%HH` escape. */
function validChars(codes: Uint8Array, from: number, to: number, set: Uint8Array): boolean {
  for (let i = from; i < to; i++) {
    const code = codes[i]!;
    if (code === 0x25) {
      if (i + 2 >= to || !isHex(codes[i + 1]!) || !isHex(codes[i + 2]!)) return false;
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
 * True for a dotted-quad IPv4address (§25.1) in text[from, to): four decimal octets 0-255 without
 * leading zeros (as parseIp accepts them). Read in place, without parseIp's allocations: the host
 * of every URI built in code goes through it.
 */
function isDottedQuad(text: string, from: number, to: number): boolean {
  let octets = 0;
  let i = from;
  while (i <= to) {
    const start = i;
    let value = 0;
    while (i < to) {
      const code = text.charCodeAt(i);
      if (code < 0x30 || code > 0x39) break;
      value = value * 10 + (code - 0x30);
      i++;
    }
    if (!isOctet(i - start, text.charCodeAt(start), value)) return false;
    octets++;
    if (i === to) return octets === 4;
    if (text.charCodeAt(i) !== 0x2e || octets === 4) return false;
    i++;
  }
  return false;
}

/** True when `digits` digits, the first `first`, whose value is `value`, are an IPv4 octet (no leading zero). */
function isOctet(digits: number, first: number, value: number): boolean {
  return digits >= 1 && digits <= 3 && value <= 255 && (digits === 1 || first !== 0x30);
}

function hostKindOf(host: string): HostKind {
  if (host.includes(':')) return parseIp(host) ? 'ipv6' : 'domain';
  const last = host.charCodeAt(host.length - 1);
  if (!(last >= 0x30 && last <= 0x39)) return 'domain'; // a top label never ends in a digit-only form
  // parseIp for what is not a plain dotted quad: it also trims and reads bracketed forms.
  return isDottedQuad(host, 0, host.length) || parseIp(host) ? 'ipv4' : 'domain';
}

/**
 * Parses a URI: sip:/sips: into SipUri, any other valid scheme into OpaqueUri.
 * Throws SipUriError for text that is not a URI at all (e.g. `<sip:...>`, RFC 4475 §3.1.2.7, or
 * whitespace inside, §3.1.2.14 badaspec).
 */
export function parseUri(text: string): Uri {
  return readUri(text, codesOf(text), 0, text.length, true)!;
}

/** Parses a URI that must be sip: or sips:. */
export function parseSipUri(text: string): SipUri {
  const uri = parseUri(text);
  if (uri.kind !== 'sip') throw new SipUriError(text, 'not a SIP or SIPS URI');
  return uri;
}

/**
 * Reads the URI text[start, end) (`codes` as in headers/syntax.ts) by the grammar of parseUri,
 * throwing the same SipUriError. With `build` it returns the Uri; without, it only checks and
 * returns null, allocating nothing for a valid sip: URI (the validation of every received message
 * reads five or six URIs; the proxy needs only some of them built).
 */
export function readUri(text: string, codes: Uint8Array, start: number, end: number, build: boolean): Uri | null {
  // Nearly every URI is `sip:` as written: read in place, without the scheme pattern.
  if (end - start >= 4 && codes[start] === 0x73 && codes[start + 1] === 0x69 && codes[start + 2] === 0x70 && codes[start + 3] === 0x3a) {
    return readSipUri(text, codes, start, start + 4, end, 'sip', build);
  }
  const uriText = start === 0 && end === text.length ? text : text.slice(start, end);
  const scheme = SCHEME.exec(uriText);
  if (!scheme) throw new SipUriError(uriText, 'no scheme');
  const name = scheme[0].slice(0, -1).toLowerCase();
  if (name === 'sip' || name === 'sips') return readSipUri(text, codes, start, start + scheme[0].length, end, name, build);
  if (uriText.length === scheme[0].length || /[\s<>"]/.test(uriText)) throw new SipUriError(uriText, 'not an absoluteURI');
  return build ? new OpaqueUri(uriText) : null;
}

/** A SipUriError naming the URI text[start, end). */
function uriError(text: string, start: number, end: number, detail: string): SipUriError {
  return new SipUriError(text.slice(start, end), detail);
}

/**
 * Reads the SIP URI text[start, end) whose part after the scheme begins at `body`, by index over
 * `codes` (no intermediate copies; strings are cut out of `text` only when building).
 */
function readSipUri(text: string, codes: Uint8Array, start: number, body: number, end: number, scheme: 'sip' | 'sips', build: boolean): SipUri | null {
  let user: string | undefined;
  let password: string | undefined;
  let i = body;
  // The first "@" ends the userinfo (user and password may not contain one, §25.1), the first ":"
  // before it the user. The search for "@" checks the characters it passes on the way (as
  // validChars would, each segment with its own set), so a userinfo is read once; what it found
  // counts only when there is an "@". An escape's two hex digits are never ":" or "@": one that
  // would run past a segment's end is invalid there too.
  let at = -1;
  let colon = -1;
  let userValid = true;
  let passwordValid = true;
  for (let k = body; k < end; k++) {
    const code = codes[k]!;
    if (code === 0x40) {
      at = k;
      break;
    }
    if (code === 0x3a && colon === -1) {
      colon = k;
      continue;
    }
    let valid: boolean;
    if (code === 0x25) {
      valid = k + 2 < end && isHex(codes[k + 1]!) && isHex(codes[k + 2]!);
      if (valid) k += 2;
    } else {
      valid = code < 128 && (colon === -1 ? USER_CHARS : PASSWORD_CHARS)[code] === 1;
    }
    if (!valid) {
      if (colon === -1) userValid = false;
      else passwordValid = false;
    }
  }
  if (at !== -1) {
    const userEnd = colon === -1 ? at : colon;
    if (userEnd === body && colon === -1) throw uriError(text, start, end, 'empty user part');
    if (!userValid) throw uriError(text, start, end, 'invalid character in user part');
    if (colon !== -1 && !passwordValid) throw uriError(text, start, end, 'invalid character in password');
    if (build) {
      user = text.slice(body, userEnd);
      if (colon !== -1) password = text.slice(colon + 1, at);
    }
    i = at + 1;
  }

  let host = '';
  let hostKind: HostKind;
  if (i < end && codes[i] === 0x5b) {
    const close = indexWithin(codes, 0x5d, i, end);
    if (close === -1) throw uriError(text, start, end, 'unterminated IPv6 reference');
    host = text.slice(i + 1, close);
    const ip = parseIp(host);
    if (!ip || ip.family !== 6 || ip.zone !== undefined) throw uriError(text, start, end, 'invalid IPv6 reference');
    hostKind = 'ipv6';
    i = close + 1;
  } else {
    // hostname / IPv4address (§25.1) up to ":", ";", "?" or the end, checked in the one pass that
    // finds its end: dot-separated labels of alphanumerics and inner hyphens, an optional final
    // dot; digits and dots only must be a dotted quad.
    // While the host is digits and dots, the same pass checks it as isDottedQuad does: labels
    // of 1-3 digits, 0-255, no leading zero, exactly four.
    const hostStart = i;
    let labelStart = i;
    let numeric = true;
    let quad = true;
    let octets = 0;
    let octet = 0;
    for (; i < end; i++) {
      const code = codes[i]!;
      if (code >= 0x30 && code <= 0x39) {
        octet = octet * 10 + (code - 0x30);
        continue;
      }
      if (code === 0x3a || code === 0x3b || code === 0x3f) break;
      if (code === 0x2e) {
        if (i === labelStart || codes[i - 1] === 0x2d) throw uriError(text, start, end, 'invalid host');
        quad &&= isOctet(i - labelStart, codes[labelStart]!, octet) && ++octets < 4;
        octet = 0;
        labelStart = i + 1;
      } else if ((code >= 0x41 && code <= 0x5a) || (code >= 0x61 && code <= 0x7a) || (code === 0x2d && i !== labelStart)) {
        numeric = false;
      } else {
        throw uriError(text, start, end, 'invalid host');
      }
    }
    if (i === hostStart) throw uriError(text, start, end, 'empty host');
    if (i !== labelStart && codes[i - 1] === 0x2d) throw uriError(text, start, end, 'invalid host');
    if (numeric && !(quad && octets === 3 && isOctet(i - labelStart, codes[labelStart]!, octet))) throw uriError(text, start, end, 'invalid IPv4 address');
    hostKind = numeric ? 'ipv4' : 'domain';
    if (build) host = text.slice(hostStart, i);
  }

  let port: number | undefined;
  if (i < end && codes[i] === 0x3a) {
    const portStart = i + 1;
    let value = 0;
    for (i = portStart; i < end; i++) {
      const code = codes[i]!;
      if (code < 0x30 || code > 0x39) break;
      value = value * 10 + code - 0x30;
    }
    const digits = i - portStart;
    if (digits === 0 || digits > 5 || value > 65535) throw uriError(text, start, end, 'invalid port');
    port = value;
  }

  const params = build ? new Params() : null;
  while (i < end && codes[i] === 0x3b) {
    const nameStart = i + 1;
    let paramEnd = nameStart;
    let eq = -1;
    while (paramEnd < end) {
      const code = codes[paramEnd]!;
      if (code === 0x3b || code === 0x3f) break;
      if (code === 0x3d && eq === -1) eq = paramEnd;
      paramEnd++;
    }
    const nameEnd = eq === -1 ? paramEnd : eq;
    if (nameEnd === nameStart || !validChars(codes, nameStart, nameEnd, PARAM_CHARS)) {
      throw uriError(text, start, end, 'invalid URI parameter');
    }
    if (eq !== -1 && (paramEnd === eq + 1 || !validChars(codes, eq + 1, paramEnd, PARAM_CHARS))) {
      throw uriError(text, start, end, `invalid value of URI parameter ${text.slice(nameStart, nameEnd)}`);
    }
    params?.set(text.slice(nameStart, nameEnd), eq === -1 ? null : text.slice(eq + 1, paramEnd));
    i = paramEnd;
  }

  const headers: Array<[string, string]> = [];
  if (i < end && codes[i] === 0x3f) {
    let pair = i + 1;
    for (;;) {
      const amp = indexWithin(codes, 0x26, pair, end);
      const pairEnd = amp === -1 ? end : amp;
      const eq = indexWithin(codes, 0x3d, pair, pairEnd);
      if (eq <= pair) throw uriError(text, start, end, 'invalid URI header');
      if (!validChars(codes, pair, eq, HEADER_CHARS) || !validChars(codes, eq + 1, pairEnd, HEADER_CHARS)) {
        throw uriError(text, start, end, 'invalid character in URI header');
      }
      if (build) headers.push([text.slice(pair, eq), text.slice(eq + 1, pairEnd)]);
      if (amp === -1) break;
      pair = amp + 1;
    }
    i = end;
  }
  if (i !== end) throw uriError(text, start, end, `unexpected "${text[i]}"`);
  return params ? new SipUri({ scheme, user, password, host, port, params, headers }, hostKind) : null;
}

/**
 * True when the SIP URI `text`, already read without error, has `?headers`: a "?" after the
 * userinfo (user may contain "?", but host, port and parameters may not, §25.1).
 */
export function sipUriHasHeaders(text: string): boolean {
  return text.indexOf('?', text.indexOf('@') + 1) !== -1;
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
