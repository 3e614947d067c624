/**
 * Header field names: case-insensitive matching (RFC 3261 §7.3.1), compact forms (§7.3.3 and the
 * extensions that registered one), and which headers are comma-separated lists.
 *
 * A header is identified by its key: the lowercase long name. `v`, `Via` and `VIA` share the key
 * `via`. Unknown headers keep their own lowercase name as key and are never split on commas: their
 * grammar is unknown, and RFC 4475 §3.1.1.1 (`UnknownHeaderWithUnusualValue: ;;,,;;,;`) requires
 * a proxy to pass them through as one opaque value.
 */

/** Compact form -> key. */
const COMPACT_FORMS: Readonly<Record<string, string>> = {
  a: 'accept-contact', // RFC 3841
  b: 'referred-by', // RFC 3892
  c: 'content-type', // RFC 3261 §7.3.3
  d: 'request-disposition', // RFC 3841
  e: 'content-encoding', // RFC 3261
  f: 'from', // RFC 3261
  i: 'call-id', // RFC 3261
  j: 'reject-contact', // RFC 3841
  k: 'supported', // RFC 3261
  l: 'content-length', // RFC 3261
  m: 'contact', // RFC 3261
  n: 'identity-info', // RFC 4474
  o: 'event', // RFC 6665
  r: 'refer-to', // RFC 3515
  s: 'subject', // RFC 3261
  t: 'to', // RFC 3261
  u: 'allow-events', // RFC 6665
  v: 'via', // RFC 3261
  x: 'session-expires', // RFC 4028
  y: 'identity', // RFC 8224
};

/** Key -> the spelling used when pinlatch writes a header it created. */
const CANONICAL_NAMES: Readonly<Record<string, string>> = {
  accept: 'Accept',
  'accept-contact': 'Accept-Contact',
  'accept-encoding': 'Accept-Encoding',
  'accept-language': 'Accept-Language',
  'alert-info': 'Alert-Info',
  allow: 'Allow',
  'allow-events': 'Allow-Events',
  'authentication-info': 'Authentication-Info',
  authorization: 'Authorization',
  'call-id': 'Call-ID',
  'call-info': 'Call-Info',
  contact: 'Contact',
  'content-disposition': 'Content-Disposition',
  'content-encoding': 'Content-Encoding',
  'content-language': 'Content-Language',
  'content-length': 'Content-Length',
  'content-type': 'Content-Type',
  cseq: 'CSeq',
  date: 'Date',
  'error-info': 'Error-Info',
  event: 'Event',
  expires: 'Expires',
  from: 'From',
  identity: 'Identity',
  'identity-info': 'Identity-Info',
  'in-reply-to': 'In-Reply-To',
  'max-forwards': 'Max-Forwards',
  'mime-version': 'MIME-Version',
  'min-expires': 'Min-Expires',
  'min-se': 'Min-SE',
  organization: 'Organization',
  path: 'Path',
  priority: 'Priority',
  'proxy-authenticate': 'Proxy-Authenticate',
  'proxy-authorization': 'Proxy-Authorization',
  'proxy-require': 'Proxy-Require',
  rack: 'RAck',
  reason: 'Reason',
  'record-route': 'Record-Route',
  'refer-to': 'Refer-To',
  'referred-by': 'Referred-By',
  'reject-contact': 'Reject-Contact',
  'reply-to': 'Reply-To',
  'request-disposition': 'Request-Disposition',
  require: 'Require',
  'retry-after': 'Retry-After',
  route: 'Route',
  rseq: 'RSeq',
  server: 'Server',
  'service-route': 'Service-Route',
  'session-expires': 'Session-Expires',
  subject: 'Subject',
  supported: 'Supported',
  timestamp: 'Timestamp',
  to: 'To',
  unsupported: 'Unsupported',
  'user-agent': 'User-Agent',
  via: 'Via',
  warning: 'Warning',
  'www-authenticate': 'WWW-Authenticate',
};

/**
 * Headers whose grammar is `header = name ":" value *("," value)` (RFC 3261 §7.3.1, §25.1), so
 * that several lines are equivalent to one comma-joined line. Authorization, WWW-Authenticate,
 * Proxy-Authenticate/-Authorization (commas separate auth-params, §25.1), Date (a comma after the
 * weekday), Call-ID, CSeq, From, To and every unknown header are NOT lists.
 */
const LIST_HEADERS: ReadonlySet<string> = new Set([
  'accept',
  'accept-contact',
  'accept-encoding',
  'accept-language',
  'alert-info',
  'allow',
  'allow-events',
  'call-info',
  'contact',
  'content-encoding',
  'content-language',
  'error-info',
  'in-reply-to',
  'path',
  'proxy-require',
  'reason',
  'record-route',
  'reject-contact',
  'request-disposition',
  'require',
  'route',
  'service-route',
  'supported',
  'unsupported',
  'via',
  'warning',
]);

/**
 * Headers a request may carry at most once (RFC 3261 §7.3.1 and Table 2); a second one makes the
 * message ambiguous (RFC 4475 §3.3.8 multi01, §3.3.9 mcl01).
 */
export const SINGLE_INSTANCE_HEADERS: readonly string[] = [
  'call-id',
  'cseq',
  'from',
  'to',
  'max-forwards',
  'content-length',
  'content-type',
];

/**
 * The keys of the usual spellings (`Via`, `via`, `v`, `V`, ...), so that headerKey finds the key
 * of a name given in code (`get('Via')`) without lowercasing it; the parser looks names up in
 * place with knownHeaderAt. Filled once here and never from the wire, so it stays this size.
 */
const KNOWN_SPELLINGS: ReadonlyMap<string, string> = new Map([
  ...Object.entries(CANONICAL_NAMES).flatMap(([key, name]) => [[key, key], [name, key]] as Array<[string, string]>),
  ...Object.entries(COMPACT_FORMS).flatMap(([letter, key]) => [[letter, key], [letter.toUpperCase(), key]] as Array<[string, string]>),
]);

/**
 * A small number per known key (its index here), -1 for every other header: what the parser
 * records per field so that validation and the message find a header by an array index instead
 * of comparing or hashing key strings.
 */
const KNOWN_KEYS: readonly string[] = Object.keys(CANONICAL_NAMES);
const KEY_IDS: ReadonlyMap<string, number> = new Map(KNOWN_KEYS.map((key, id) => [key, id]));

/** How many ids headerId hands out (0 to HEADER_IDS - 1). */
export const HEADER_IDS = KNOWN_KEYS.length;

/** The id of a header key (lowercase long name), or -1 when it is not a known header. */
export function headerId(key: string): number {
  return KEY_IDS.get(key) ?? -1;
}

/** A header name with a key of its own: the long names above and the compact forms. */
export interface KnownHeaderName {
  readonly key: string;
  /** headerId(key). */
  readonly id: number;
  /** The name in lowercase (`via`, `v`). */
  readonly lower: string;
}

/**
 * Known names by shape, `length * 128 + lowercase first character` (a few candidates each), in
 * an array indexed by shape: the lookup is one bounds check and one load.
 */
const KNOWN_BY_SHAPE: ReadonlyArray<readonly KnownHeaderName[] | undefined> = (() => {
  const known: KnownHeaderName[] = [
    ...KNOWN_KEYS.map((key) => ({ key, id: headerId(key), lower: key })),
    ...Object.entries(COMPACT_FORMS).map(([letter, key]) => ({ key, id: headerId(key), lower: letter })),
  ];
  const byShape: Array<KnownHeaderName[] | undefined> = new Array(Math.max(...known.map((k) => k.lower.length + 1)) * 128).fill(undefined);
  for (const k of known) (byShape[k.lower.length * 128 + k.lower.charCodeAt(0)] ??= []).push(k);
  return byShape;
})();

/** An ASCII letter's lowercase code; any other code unchanged. */
function lowerCode(code: number): number {
  return code >= 0x41 && code <= 0x5a ? code | 0x20 : code;
}

/**
 * The known header named by codes[from, to) (the received datagram) in any case, or undefined:
 * the parser's lookup for every field, made on the received bytes without cutting the name out
 * or hashing it.
 */
export function knownHeaderAt(codes: Uint8Array, from: number, to: number): KnownHeaderName | undefined {
  const first = lowerCode(codes[from]!);
  const shape = (to - from) * 128 + first;
  // Known names are ASCII: a first character past 127 would land in another length's slots.
  if (first > 127 || shape >= KNOWN_BY_SHAPE.length) return undefined;
  const candidates = KNOWN_BY_SHAPE[shape];
  if (candidates === undefined) return undefined;
  for (let c = 0; c < candidates.length; c++) {
    const lower = candidates[c]!.lower;
    let i = 1;
    while (i < lower.length && lowerCode(codes[from + i]!) === lower.charCodeAt(i)) i++;
    if (i === lower.length) return candidates[c];
  }
  return undefined;
}

/** Key of a header name as written (`v`, `VIA`, ` Via `): compact forms expanded, lowercase. */
export function headerKey(name: string): string {
  const known = KNOWN_SPELLINGS.get(name);
  if (known !== undefined) return known;
  const lower = name.toLowerCase();
  return lower.length === 1 ? (COMPACT_FORMS[lower] ?? lower) : lower;
}

/** The name pinlatch writes for a key (or for any spelling of it); unknown keys are kept as given. */
export function canonicalHeaderName(name: string): string {
  return CANONICAL_NAMES[headerKey(name)] ?? name;
}

/** True when values of this header may be combined with commas (see LIST_HEADERS). */
export function isListHeader(name: string): boolean {
  return LIST_HEADERS.has(headerKey(name));
}
