/**
 * SIP message parser over Buffers (RFC 3261 §7, §18.3, grammar §25).
 *
 * One pass over the message, decoded once as latin1 text, splits the start line and header
 * fields and frames the body by Content-Length. A field is recorded as ranges of that text (name,
 * value trimmed of SP / HTAB) and of the datagram (its bytes, for byte-exact output), with the id
 * of its name (looked up in place, any case, compact forms included) and whether its value holds
 * a comma; no name or value string is cut out (see HeaderField). Only a folded or non-ASCII value
 * is unfolded or decoded from UTF-8 up front. Then, unless told not to, it validates what a proxy
 * must be able to rely on: one of each of Call-ID, CSeq, From, To, Max-Forwards, Content-Length
 * and Content-Type at most; Via, From, To, Call-ID and CSeq present and well formed; Contact,
 * Route and Record-Route well formed; for requests a valid Request-URI and a CSeq method equal
 * to the request method. Validation runs the readers of the typed values in place on those
 * ranges without building them (no URI or parameter objects), so a message costs only what the
 * proxy reads of it; the getters build a value on first access. Other headers are only split,
 * never interpreted (RFC 4475 §3.1.2.12 baddate: a non-GMT Date does not make a request invalid
 * for a proxy), and are written out as their received bytes.
 *
 * Every failure is a SipParseError: `reason` fits a 400 Reason-Phrase, `status` is 400/505/513,
 * and `partial` carries the message as far as it was read, so the caller can answer a malformed
 * request (see parseError.ts) and drop a malformed response (§18.1.2).
 *
 * Liberal where RFC 4475 allows it without ambiguity: extra SP between and after the parts of a
 * start line (§3.1.2.9 lwsstart, §3.1.2.10 trws; the start line is then rewritten in canonical
 * form on output, as §3.1.2.9 requires of a proxy), bare LF line ends, a missing SP after a
 * status code. Strict where it is not: LWS inside the Request-URI (§3.1.2.8), `<>` around it
 * (§3.1.2.7), escaped headers in it (§3.1.2.11).
 */
import { isAscii } from 'node:buffer';
import { SipHeaderError, SipUriError } from './errors.js';
import { SipParseError } from './parseError.js';
import { HEADER_IDS, SINGLE_INSTANCE_HEADERS, canonicalHeaderName, headerId, headerKey, knownHeaderAt } from './headers/names.js';
import { isToken, isTokenAt } from './headers/syntax.js';
import {
  checkContact,
  checkNameAddrField,
  checkNameAddrFields,
  checkVias,
  contentLengthOf,
  HeaderField,
  SIP_VERSION,
  SipRequest,
  SipResponse,
  type SipMessage,
} from './message.js';
import { sipUriHasHeaders } from './uri.js';

export interface ParseLimits {
  /** Largest message accepted, start line to end of body (default 65535, a UDP datagram's limit). */
  maxMessageBytes: number;
  /** Most header fields (lines, continuation lines not counted) in one message (default 256). */
  maxHeaderCount: number;
  /** Longest header field including its continuation lines, and longest start line (default 16384). */
  maxFieldBytes: number;
}

export const DEFAULT_PARSE_LIMITS: Readonly<ParseLimits> = Object.freeze({
  maxMessageBytes: 65535,
  maxHeaderCount: 256,
  maxFieldBytes: 16384,
});

export interface ParseOptions {
  /**
   * 'datagram' (UDP, the default): the body is the rest of the datagram; Content-Length, when
   * present, must not exceed it and octets after it are ignored (§18.3, RFC 4475 §3.1.1.8 dblreq).
   * 'stream' (a message cut out by StreamFramer): Content-Length is mandatory and exact.
   */
  framing?: 'datagram' | 'stream';
  limits?: Partial<ParseLimits>;
  /** Validate the headers a proxy relies on (see the module comment). Default true. */
  validate?: boolean;
}

/** A failure found before the message object exists; turned into a SipParseError carrying it. */
interface Failure {
  reason: string;
  status?: 400 | 505;
  detail?: string;
}

const SIP_VERSION_PATTERN = /^SIP\/[0-9]+\.[0-9]+$/i;
const SIP_SCHEME = /^sips?:/i;
const HIGH_BYTES = /[\x80-\xff]/;
const FOLD = /\r?\n[ \t]+/g;

/** Parses one message; throws SipParseError. */
export function parseMessage(data: Buffer, options: ParseOptions = {}): SipMessage {
  const limits = options.limits ? { ...DEFAULT_PARSE_LIMITS, ...options.limits } : DEFAULT_PARSE_LIMITS;
  if (data.length > limits.maxMessageBytes) {
    throw new SipParseError('Message Too Large', { status: 513, detail: `${data.length} bytes` });
  }

  // RFC 3261 §7.5: CRLFs before the start line are ignored.
  let start = 0;
  while (start < data.length && (data[start] === 0x0d || data[start] === 0x0a)) start++;
  if (start === data.length) throw new SipParseError('Empty message');

  // The datagram as latin1 text: one string, so that the searches for line ends and colons run
  // inside V8 (a Buffer search by string crosses into C++ and costs more than it saves), and
  // character for character the datagram's bytes, so that the typed readers test the bytes
  // (HeaderField.codes) and cut strings out of the text at the same indices.
  const text = data.toString('latin1');
  // Values are UTF-8 when the header section has a byte above 0x7f. isAscii looks at the whole
  // datagram with SIMD; only when that fails is the header section's end looked for up front.
  const utf8 = !isAscii(data) && HIGH_BYTES.test(headerSection(text, start));

  // Start line.
  let lineEnd = text.indexOf('\n', start);
  if (lineEnd === -1) lineEnd = text.length;
  const startLineEnd = lineEnd > start && text.charCodeAt(lineEnd - 1) === 0x0d ? lineEnd - 1 : lineEnd;
  if (startLineEnd - start > limits.maxFieldBytes) throw new SipParseError('Start line too long');
  const startLine = utf8 ? data.toString('utf8', start, startLineEnd) : text.slice(start, startLineEnd);
  const parsedStart = parseStartLine(startLine);
  // The start line's characters are the datagram's at the same indices unless it was decoded as UTF-8.
  const lineText = utf8 ? null : text;

  // Header fields: one iteration per field, its continuation lines (§7.3.1 folding) included,
  // up to the empty line that ends the header section (`blank`: the LF before it).
  const fields: HeaderField[] = [];
  let pendingError: Failure | undefined;
  let blank = -1;
  let pos = lineEnd + 1;
  let comma = 0;
  while (pos < text.length) {
    if (isEmptyLineAt(text, pos)) {
      blank = pos - 1;
      break;
    }
    let next = text.indexOf('\n', pos);
    if (next === -1) next = text.length;
    const firstEnd = next > pos && text.charCodeAt(next - 1) === 0x0d ? next - 1 : next;
    if (isWspCode(text.charCodeAt(pos))) {
      // Continuation lines of a field are consumed with it: this one follows no header.
      pendingError ??= { reason: 'Malformed header line', detail: 'continuation line without a header' };
      pos = next + 1;
      continue;
    }
    let end = firstEnd;
    let folded = false;
    while (next + 1 < text.length && isWspCode(text.charCodeAt(next + 1))) {
      let after = text.indexOf('\n', next + 1);
      if (after === -1) after = text.length;
      end = after > next + 1 && text.charCodeAt(after - 1) === 0x0d ? after - 1 : after;
      next = after;
      folded = true;
    }
    const fieldStart = pos;
    pos = next + 1;
    const colon = text.indexOf(':', fieldStart);
    // The name is what precedes ":" less trailing SP / HTAB (the line does not start with one).
    let nameEnd = colon === -1 || colon > firstEnd ? fieldStart : colon;
    while (nameEnd > fieldStart && isWspCode(text.charCodeAt(nameEnd - 1))) nameEnd--;
    const known = nameEnd === fieldStart ? undefined : knownHeaderAt(data, fieldStart, nameEnd);
    if (!known && !isTokenAt(data, fieldStart, nameEnd)) {
      pendingError ??= { reason: 'Malformed header line', detail: text.slice(fieldStart, Math.min(firstEnd, fieldStart + 40)) };
      continue;
    }
    if (fields.length >= limits.maxHeaderCount) {
      pendingError ??= { reason: 'Too many header fields' };
      break;
    }
    if (end - fieldStart > limits.maxFieldBytes) {
      pendingError ??= { reason: 'Header field too long' };
      continue;
    }
    const key = known ? known.key : headerKey(text.slice(fieldStart, nameEnd));
    if (utf8 || folded) {
      const name = text.slice(fieldStart, nameEnd);
      fields.push(HeaderField.decoded(key, name, fieldValue(data, text, colon + 1, end, utf8, folded), data, fieldStart, end));
    } else {
      // The common case: one line of ASCII, trimmed and kept in place (nothing cut out).
      let from = colon + 1;
      let to = end;
      while (from < to && isWspCode(text.charCodeAt(from))) from++;
      while (to > from && isWspCode(text.charCodeAt(to - 1))) to--;
      // The first comma at or after the value, searched again only once the fields pass it: one
      // scan of the message in all, however many fields.
      if (comma !== -1 && comma < from) comma = text.indexOf(',', from);
      const id = known ? known.id : headerId(key);
      fields.push(HeaderField.received(key, id, text, fieldStart, nameEnd, from, to, comma !== -1 && comma < to, data, fieldStart, end));
    }
  }

  const startTo = parsedStart.canonical ? startLineEnd : -1;
  const failure = parsedStart.error ?? pendingError;
  if (failure) {
    throw new SipParseError(failure.reason, { status: failure.status, detail: failure.detail, partial: buildMessage(parsedStart, fields, data, lineText, 0, 0, null, start, startTo) });
  }
  if (blank === -1) {
    throw new SipParseError('Incomplete header section', { partial: buildMessage(parsedStart, fields, data, lineText, 0, 0, null, start, startTo), detail: 'no empty line' });
  }

  // Body framing (RFC 3261 §18.3).
  const bodyStart = blank + (text.charCodeAt(blank + 1) === 0x0a ? 2 : 3);
  let declared: number | undefined;
  try {
    declared = contentLengthOf(fields);
  } catch (error) {
    if (!(error instanceof SipHeaderError)) throw error;
    throw new SipParseError('Invalid Content-Length', { partial: buildMessage(parsedStart, fields, data, lineText, 0, 0, null, start, startTo), detail: error.detail });
  }
  const available = data.length - bodyStart;
  let bodyEnd: number;
  if (declared === undefined) {
    if (options.framing === 'stream') {
      throw new SipParseError('Missing Content-Length', { partial: buildMessage(parsedStart, fields, data, lineText, 0, 0, null, start, startTo) });
    }
    bodyEnd = data.length;
  } else if (declared > available) {
    throw new SipParseError('Content-Length exceeds message size', {
      partial: buildMessage(parsedStart, fields, data, lineText, 0, 0, null, start, startTo),
      detail: `declared ${declared}, ${available} available`,
    });
  } else {
    bodyEnd = bodyStart + declared;
  }
  // A start line normalized from liberal input must be rewritten on output, so no byte-exact fast path.
  // The wire bytes are the datagram itself when nothing precedes or follows the message (no copy of the view).
  const wire = startTo === -1 ? null : start === 0 && bodyEnd === data.length ? data : data.subarray(start, bodyEnd);
  const message = buildMessage(parsedStart, fields, data, lineText, bodyStart, bodyEnd, wire, start, startTo);
  if (options.validate !== false) validateMessage(message);
  return message;
}

/**
 * The message over `data`: body data[bodyFrom, bodyTo) (empty for the partial message of a
 * failed parse), start line data[startFrom, startTo) as received when it is canonical. `text` is
 * `data` as latin1 when the start line is read from it, so that a request reads its Request-URI
 * in place; null when the start line was decoded as UTF-8.
 */
function buildMessage(
  parsedStart: ParsedStartLine,
  fields: HeaderField[],
  data: Buffer,
  text: string | null,
  bodyFrom: number,
  bodyTo: number,
  wire: Buffer | null,
  startFrom: number,
  startTo: number,
): SipMessage {
  if (parsedStart.kind === 'request') {
    // The Request-URI's place in the datagram, or -1 when the request must read its own copy.
    const uriFrom = text !== null && parsedStart.uriAt !== -1 ? startFrom + parsedStart.uriAt : -1;
    return SipRequest.fromParsed(parsedStart.method, parsedStart.uriText, text, uriFrom, parsedStart.version, fields, data, bodyFrom, bodyTo, wire, startFrom, startTo);
  }
  return SipResponse.fromParsed(parsedStart.status, parsedStart.reason, parsedStart.version, fields, data, bodyFrom, bodyTo, wire, startFrom, startTo);
}

/**
 * A folded or non-ASCII field's value: text[from, to) (`text` is `data` as latin1) with folding
 * replaced by SP and surrounding SP / HTAB removed (§7.3.1). Non-ASCII values are decoded from
 * the bytes as UTF-8.
 */
function fieldValue(data: Buffer, text: string, from: number, to: number, utf8: boolean, folded: boolean): string {
  let value = utf8 ? data.toString('utf8', from, to) : text.slice(from, to);
  if (folded) value = value.replace(FOLD, ' ');
  return trimWsp(value);
}

/** True when the line starting at `pos` is empty (CRLF or a bare LF): it ends the header section (RFC 3261 §7.5). */
function isEmptyLineAt(text: string, pos: number): boolean {
  const code = text.charCodeAt(pos);
  return code === 0x0a || (code === 0x0d && text.charCodeAt(pos + 1) === 0x0a);
}

/** The start line and header fields of the message at text[start]: up to the empty line, or all of the text when there is none. */
function headerSection(text: string, start: number): string {
  for (let lf = text.indexOf('\n', start); lf !== -1; lf = text.indexOf('\n', lf + 1)) {
    if (isEmptyLineAt(text, lf + 1)) return text.slice(start, lf);
  }
  return text.slice(start);
}

function isWspCode(code: number): boolean {
  return code === 0x20 || code === 0x09;
}

/** Removes leading and trailing SP / HTAB (not other whitespace: a value may end in e.g. NBSP). */
function trimWsp(text: string): string {
  let start = 0;
  let end = text.length;
  while (start < end && isWspCode(text.charCodeAt(start))) start++;
  while (end > start && isWspCode(text.charCodeAt(end - 1))) end--;
  return start === 0 && end === text.length ? text : text.slice(start, end);
}

type ParsedStartLine = (
  | { kind: 'request'; method: string; uriText: string; uriAt: number; version: string }
  | { kind: 'response'; status: number; reason: string; version: string }
) & { canonical: boolean; error?: Failure };

/** True when `line[at..at+2]` are three digits, the first 1-6 (a Status-Code, §7.2). */
function isStatusCodeAt(line: string, at: number): boolean {
  const a = line.charCodeAt(at);
  const b = line.charCodeAt(at + 1);
  const c = line.charCodeAt(at + 2);
  return a >= 0x31 && a <= 0x36 && b >= 0x30 && b <= 0x39 && c >= 0x30 && c <= 0x39;
}

/**
 * The start line every conforming element writes (`SIP/2.0 200 OK`, `INVITE sip:... SIP/2.0`:
 * single SP, no HTAB), read with a few index lookups; anything else (or anything invalid) goes
 * to the general reader, which also produces the errors.
 */
function parseCanonicalStartLine(line: string): ParsedStartLine | null {
  if (line.startsWith('SIP/2.0 ')) {
    if (!isStatusCodeAt(line, 8) || line.charCodeAt(11) !== 0x20) return null;
    const status = (line.charCodeAt(8) - 0x30) * 100 + (line.charCodeAt(9) - 0x30) * 10 + (line.charCodeAt(10) - 0x30);
    return { kind: 'response', status, reason: line.slice(12), version: SIP_VERSION, canonical: true };
  }
  if (!line.endsWith(' SIP/2.0') || line.includes('\t')) return null;
  const sp1 = line.indexOf(' ');
  const sp2 = line.length - 8;
  if (sp1 <= 0 || sp1 + 1 >= sp2 || line.indexOf(' ', sp1 + 1) !== sp2) return null;
  const method = line.slice(0, sp1);
  if (!isToken(method)) return null;
  return { kind: 'request', method, uriText: line.slice(sp1 + 1, sp2), uriAt: sp1 + 1, version: SIP_VERSION, canonical: true };
}

function parseStartLine(line: string): ParsedStartLine {
  const common = parseCanonicalStartLine(line);
  if (common) return common;
  if (/^SIP\//i.test(line)) {
    const sp1 = line.indexOf(' ');
    const version = sp1 === -1 ? line : line.slice(0, sp1);
    let rest = sp1 === -1 ? '' : line.slice(sp1).replace(/^ +/, '');
    const sp2 = rest.indexOf(' ');
    const code = sp2 === -1 ? rest : rest.slice(0, sp2);
    rest = sp2 === -1 ? '' : rest.slice(sp2 + 1);
    const canonical = sp2 !== -1 && line === `${version} ${code} ${rest}`;
    if (!SIP_VERSION_PATTERN.test(version)) {
      throw new SipParseError('Malformed Status-Line', { startLine: 'response', detail: 'bad SIP-Version' });
    }
    // Status-Code is exactly three digits, 100-699 (§7.2, RFC 4475 §3.1.2.19 bigcode).
    if (!/^[1-6][0-9]{2}$/.test(code)) {
      throw new SipParseError('Invalid status code', { startLine: 'response', detail: code.slice(0, 20) });
    }
    if (version.toUpperCase() !== 'SIP/2.0') {
      throw new SipParseError('Version Not Supported', { status: 505, startLine: 'response', detail: version });
    }
    return { kind: 'response', status: Number(code), reason: rest, version, canonical };
  }

  const parts = line.split(/[ \t]+/).filter((p) => p.length > 0);
  const version = parts[parts.length - 1] ?? '';
  if (parts.length < 3 || !SIP_VERSION_PATTERN.test(version)) {
    throw new SipParseError('Not a SIP message', { detail: line.slice(0, 40) });
  }
  const method = parts[0]!;
  const uriText = parts.slice(1, -1).join(' ');
  const canonical = line === `${method} ${uriText} ${version}`;
  let error: Failure | undefined;
  if (!isToken(method)) error = { reason: 'Invalid method', detail: method.slice(0, 40) };
  else if (parts.length !== 3) error = { reason: 'Malformed Request-Line', detail: 'whitespace in Request-URI' };
  else if (version.toUpperCase() !== 'SIP/2.0') error = { reason: 'Version Not Supported', status: 505, detail: version };
  // One literal, not a spread of the request plus `error`: in optimised code that made a new
  // hidden class per malformed request line.
  return { kind: 'request', method, uriText, uriAt: -1, version, canonical, error };
}

/** Headers every request and response must carry (RFC 3261 §8.1.1, §20). */
const REQUIRED_HEADERS = ['via', 'from', 'to', 'call-id', 'cseq'] as const;

/** One bit per header validation counts: the single-instance headers, then the required ones. */
const COUNTED_KEYS: readonly string[] = [...new Set([...SINGLE_INSTANCE_HEADERS, ...REQUIRED_HEADERS])];
const COUNTED_BIT = new Map(COUNTED_KEYS.map((key, i) => [key, 1 << i]));
/** The bit of each header id (HeaderField.id), 0 for headers not counted. */
const COUNTED_BIT_BY_ID = (() => {
  const bits = new Int32Array(HEADER_IDS);
  for (const [key, bit] of COUNTED_BIT) bits[headerId(key)] = bit;
  return bits;
})();
const SINGLE_INSTANCE_MASK = SINGLE_INSTANCE_HEADERS.reduce((mask, key) => mask | COUNTED_BIT.get(key)!, 0);
const REQUIRED_MASK = REQUIRED_HEADERS.reduce((mask, key) => mask | COUNTED_BIT.get(key)!, 0);

/** Turns a typed header's SipHeaderError into a SipParseError naming the header. */
function invalidHeader(message: SipMessage, header: string, error: unknown): never {
  if (error instanceof SipHeaderError) {
    throw new SipParseError(`Invalid ${header} header`, { partial: message, detail: error.detail });
  }
  throw error;
}

/**
 * The validation `parseMessage` runs by default (exported for messages built or changed in code).
 * Throws SipParseError carrying the message as `partial`.
 */
export function validateMessage(message: SipMessage): void {
  // One pass over the fields (keys are already normalized): which counted headers are present,
  // which more than once. No allocation: a bit per header.
  let present = 0;
  let repeated = 0;
  const fields = message.fields;
  for (let i = 0; i < fields.length; i++) {
    const id = fields[i]!.id;
    if (id === -1) continue;
    const bit = COUNTED_BIT_BY_ID[id]!;
    if (present & bit) repeated |= bit;
    present |= bit;
  }
  if ((repeated & SINGLE_INSTANCE_MASK) !== 0) {
    for (const key of SINGLE_INSTANCE_HEADERS) {
      if (repeated & COUNTED_BIT.get(key)!) {
        throw new SipParseError(`Multiple ${canonicalHeaderName(key)} headers`, { partial: message });
      }
    }
  }
  try {
    checkVias(fields);
  } catch (error) {
    invalidHeader(message, 'Via', error);
  }
  if ((present & REQUIRED_MASK) !== REQUIRED_MASK) {
    for (const key of REQUIRED_HEADERS) {
      if (!(present & COUNTED_BIT.get(key)!)) throw new SipParseError(`Missing ${canonicalHeaderName(key)} header`, { partial: message });
    }
  }
  // Read in this order: the first malformed one names the error. The values a check reads cost
  // nothing more to keep (Call-ID, CSeq, Max-Forwards) are cached; the others are only checked.
  let header = 'From';
  try {
    checkNameAddrField(fields, 'from', 'From');
    header = 'To';
    checkNameAddrField(fields, 'to', 'To');
    header = 'Call-ID';
    void message.callId;
    header = 'CSeq';
    void message.cseq;
    header = 'Max-Forwards';
    void message.maxForwards;
    header = 'Contact';
    checkContact(fields);
    header = 'Route';
    checkNameAddrFields(fields, 'route', 'Route');
    header = 'Record-Route';
    checkNameAddrFields(fields, 'record-route', 'Record-Route');
  } catch (error) {
    invalidHeader(message, header, error);
  }
  if (message.kind === 'request') {
    const uriText = message.uriText;
    try {
      message.checkUri();
    } catch (error) {
      if (!(error instanceof SipUriError)) throw error;
      throw new SipParseError('Invalid Request-URI', { partial: message, detail: error.message });
    }
    // RFC 3261 §19.1.1 table: headers are not allowed in a Request-URI (RFC 4475 §3.1.2.11 escruri).
    if (uriText.includes('?') && SIP_SCHEME.test(uriText) && sipUriHasHeaders(uriText)) {
      throw new SipParseError('Request-URI must not contain headers', { partial: message });
    }
    if (message.cseq!.method !== message.method) {
      throw new SipParseError('CSeq method does not match the request method', { partial: message });
    }
  }
}
