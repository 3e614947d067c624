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
import { parseUri, type Uri } from '../uri.js';
import { Params, readParams } from './params.js';
import { isTokenCode, isWsp, quoteString, readQuotedString, skipWsp, splitList } from './syntax.js';

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
  const fail = (detail: string): never => {
    throw new SipHeaderError(header, detail);
  };
  let i = skipWsp(text, 0);
  let displayName: string | undefined;
  let uriText: string;
  if (text.charCodeAt(i) === 0x22) {
    const quoted = readQuotedString(text, i);
    if (!quoted) return fail('unterminated quoted display name');
    displayName = quoted.value;
    i = skipWsp(text, quoted.end);
    if (text.charCodeAt(i) !== 0x3c) fail('display name not followed by <addr-spec>');
  } else {
    const open = text.indexOf('<', i);
    if (open !== -1) {
      const name = text.slice(i, open).trim();
      for (let k = 0; k < name.length; k++) {
        const code = name.charCodeAt(k);
        if (!isTokenCode(code) && !isWsp(code)) fail(`invalid character "${name[k]}" in unquoted display name`);
      }
      if (name.length > 0) displayName = name.replace(/[ \t]+/g, ' ');
      i = open;
    }
  }
  let end: number;
  if (text.charCodeAt(i) === 0x3c) {
    const close = text.indexOf('>', i);
    if (close === -1) fail('missing ">"');
    uriText = text.slice(i + 1, close);
    end = close + 1;
  } else {
    end = i;
    while (end < text.length && text.charCodeAt(end) !== 0x3b && !isWsp(text.charCodeAt(end))) end++;
    uriText = text.slice(i, end);
    if (uriText.includes('?')) fail('a URI with headers must be enclosed in <>');
  }
  let uri: Uri;
  try {
    uri = parseUri(uriText);
  } catch (error) {
    if (error instanceof SipUriError) return fail(error.message.replace(/^Invalid URI /, 'URI '));
    throw error;
  }
  const params = readParams(text, end);
  if ('error' in params) return fail(params.error);
  if (params.end !== text.length) fail(`unexpected "${text[params.end]}"`);
  return new NameAddr({ uri, displayName, params: params.params });
}

/** Parses a list header (Contact, Route, Record-Route, ...) into its elements. */
export function parseNameAddrList(value: string, header: string): NameAddr[] {
  return splitList(value).map((element) => {
    if (element.length === 0) throw new SipHeaderError(header, 'empty element');
    return parseNameAddr(element, header);
  });
}

/** A Contact value: either `*` (REGISTER removal of all bindings, RFC 3261 §10.2.2) or addresses. */
export type ContactValue = { star: true } | { star: false; contacts: NameAddr[] };

export function parseContactList(value: string): ContactValue {
  if (value.trim() === '*') return { star: true };
  return { star: false, contacts: parseNameAddrList(value, 'Contact') };
}
