/**
 * The address form shared by From, To, Contact, Route, Record-Route, Reply-To, Refer-To, ...
 * (RFC 3261 §20.10, §25.1):
 *
 *   ( name-addr / addr-spec ) *( SEMI param )
 *   name-addr    = [ display-name ] LAQUOT addr-spec RAQUOT
 *   display-name = *(token LWS) / quoted-string
 *
 * In addr-spec form (no angle brackets) every `;param` belongs to the header, not to the URI
 * (RFC 4475 §3.3.12 cparam01 vs §3.3.13 cparam02), and a URI with `?headers` is not allowed
 * (§3.1.2.13 regbadct). Spaces inside `< >` are rejected (§3.1.2.14 badaspec); a display name of
 * tokens may touch `<` (§3.1.1.6 lwsdisp), but may not contain non-token characters unquoted
 * (§3.1.2.15 baddn).
 */
import { SipHeaderError, SipUriError } from '../errors.js';
import { readUri, type Uri } from '../uri.js';
import { Params, readParams, type ParamValue } from './params.js';
import {
  codesOf,
  indexWithin,
  isTokenCode,
  isWsp,
  listElementEnd,
  quotedStringEnd,
  quoteString,
  readQuotedString,
  skipWsp,
  trimEnd,
  trimStart,
} from './syntax.js';

export class NameAddr {
  /** Display name, unquoted and unescaped; undefined when absent. */
  displayName: string | undefined;
  uri: Uri;
  params: Params;

  constructor(init: { uri: Uri; displayName?: string | undefined; params?: Params | Iterable<[string, string | null]> }) {
    this.uri = init.uri;
    this.displayName = init.displayName;
    this.params = init.params instanceof Params ? init.params : new Params(init.params ?? []);
  }

  /** The `tag` parameter (From/To, RFC 3261 §19.3). */
  get tag(): string | undefined {
    const value = this.params.get('tag');
    return typeof value === 'string' ? value : undefined;
  }

  set tag(value: string | undefined) {
    if (value === undefined) this.params.delete('tag');
    else this.params.set('tag', value);
  }

  clone(): NameAddr {
    return new NameAddr({ uri: this.uri.clone(), displayName: this.displayName, params: this.params.clone() });
  }

  /** Always the name-addr form, so that URI parameters never turn into header parameters. */
  toString(): string {
    const name = this.displayName === undefined ? '' : `${formatDisplayName(this.displayName)} `;
    return `${name}<${this.uri.toString()}>${this.params.toString()}`;
  }
}

function formatDisplayName(name: string): string {
  return /^[A-Za-z0-9\-.!%*_+`'~]+( [A-Za-z0-9\-.!%*_+`'~]+)*$/.test(name) ? name : quoteString(name);
}

/** Parses one element: name-addr or addr-spec with header parameters. */
export function parseNameAddr(text: string, header: string): NameAddr {
  return readNameAddr(text, codesOf(text), 0, text.length, header, true)!;
}

/** True when every character of codes[from, to) is a token character or SP / HTAB. */
function tokensAndWsp(codes: Uint8Array, from: number, to: number): boolean {
  for (let k = from; k < to; k++) {
    const code = codes[k]!;
    if (!isTokenCode(code) && !isWsp(code)) return false;
  }
  return true;
}

/**
 * Reads one element, text[from, to) (`codes` as in syntax.ts), by the grammar of parseNameAddr,
 * throwing the same SipHeaderError. With `build` it returns the NameAddr; without, it only checks
 * and returns null, allocating nothing for the common forms (validation of From, To, Contact,
 * Route and Record-Route).
 */
export function readNameAddr(text: string, codes: Uint8Array, from: number, to: number, header: string, build: boolean): NameAddr | null {
  let i = skipWsp(codes, from, to);
  let displayName: string | undefined;
  let uriStart: number;
  let uriEnd: number;
  let end: number;
  if (i < to && codes[i] === 0x22) {
    const quoteEnd = quotedStringEnd(codes, i, to);
    if (quoteEnd === -1) throw new SipHeaderError(header, 'unterminated quoted display name');
    if (build) displayName = readQuotedString(text, codes, i, to)!.value;
    i = skipWsp(codes, quoteEnd, to);
    if (i >= to || codes[i] !== 0x3c) throw new SipHeaderError(header, 'display name not followed by <addr-spec>');
  } else {
    const open = indexWithin(codes, 0x3c, i, to);
    // A display name is the text before "<" trimmed (String.prototype.trim: any whitespace); it
    // is cut out only when building or when it holds more than token characters and SP / HTAB.
    if (open !== -1) {
      if (build || !tokensAndWsp(codes, i, open)) {
        const name = text.slice(i, open).trim();
        for (let k = 0; k < name.length; k++) {
          const code = name.charCodeAt(k);
          if (!isTokenCode(code) && !isWsp(code)) throw new SipHeaderError(header, `invalid character "${name[k]}" in unquoted display name`);
        }
        if (name.length > 0) displayName = name.replace(/[ \t]+/g, ' ');
      }
      i = open;
    }
  }
  if (i < to && codes[i] === 0x3c) {
    const close = indexWithin(codes, 0x3e, i, to);
    if (close === -1) throw new SipHeaderError(header, 'missing ">"');
    uriStart = i + 1;
    uriEnd = close;
    end = close + 1;
  } else {
    end = i;
    while (end < to && codes[end] !== 0x3b && !isWsp(codes[end]!)) end++;
    uriStart = i;
    uriEnd = end;
    if (indexWithin(codes, 0x3f, i, end) !== -1) throw new SipHeaderError(header, 'a URI with headers must be enclosed in <>');
  }
  let uri: Uri | null;
  try {
    uri = readUri(text, codes, uriStart, uriEnd, build);
  } catch (error) {
    if (error instanceof SipUriError) throw new SipHeaderError(header, error.message.replace(/^Invalid URI /, 'URI '));
    throw error;
  }
  const entries: Array<string | null> | null = build ? [] : null;
  const paramsEnd = readParams(text, codes, end, to, entries);
  if (typeof paramsEnd === 'string') throw new SipHeaderError(header, paramsEnd);
  if (paramsEnd !== to) throw new SipHeaderError(header, `unexpected "${text[paramsEnd]}"`);
  return uri && entries ? new NameAddr({ uri, displayName, params: Params.adopt(entries) }) : null;
}

/**
 * Reads a list header value (Contact, Route, Record-Route, ...), text[from, to), element by
 * element (each trimmed as splitList trims it), adding each to `out` when given (null: only check).
 * Without a comma in the range (`hasComma` false) the value is one element and is not scanned for one.
 */
export function readNameAddrList(
  text: string,
  codes: Uint8Array,
  from: number,
  to: number,
  hasComma: boolean,
  header: string,
  out: NameAddr[] | null,
): void {
  for (;;) {
    const comma = hasComma ? listElementEnd(codes, from, to) : to;
    const start = trimStart(text, codes, from, comma);
    const end = trimEnd(text, codes, start, comma);
    if (start === end) throw new SipHeaderError(header, 'empty element');
    const nameAddr = readNameAddr(text, codes, start, end, header, out !== null);
    if (out && nameAddr) out.push(nameAddr);
    if (comma === to) return;
    from = comma + 1;
  }
}

/** Parses a list header (Contact, Route, Record-Route, ...) into its elements. */
export function parseNameAddrList(value: string, header: string): NameAddr[] {
  const out: NameAddr[] = [];
  readNameAddrList(value, codesOf(value), 0, value.length, value.includes(','), header, out);
  return out;
}

/** A Contact value: either `*` (REGISTER removal of all bindings, RFC 3261 §10.2.2) or addresses. */
export type ContactValue = { star: true } | { star: false; contacts: NameAddr[] };

/** True when text[from, to), trimmed as String.prototype.trim trims, is `*` (Contact: *). */
export function isStarAt(text: string, codes: Uint8Array, from: number, to: number): boolean {
  const start = trimStart(text, codes, from, to);
  return trimEnd(text, codes, start, to) === start + 1 && codes[start] === 0x2a;
}

/** Reads a Contact value, text[from, to) (`hasComma` as for readNameAddrList). */
export function readContactList(text: string, codes: Uint8Array, from: number, to: number, hasComma: boolean): ContactValue {
  if (isStarAt(text, codes, from, to)) return { star: true };
  const contacts: NameAddr[] = [];
  readNameAddrList(text, codes, from, to, hasComma, 'Contact', contacts);
  return { star: false, contacts };
}
