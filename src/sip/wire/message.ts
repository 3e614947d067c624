/**
 * The SIP message model, built for a proxy: it keeps every header field as it arrived (name as
 * written, unfolded value and the original bytes, all ranges of the received message until read),
 * parses the headers a proxy reasons about only when asked (and caches the result), and
 * serializes untouched fields byte for byte, so that a forwarded message differs from the
 * received one only where pinlatch changed it (RFC 3261 §16.6: a proxy must not reorder or
 * reformat what it does not own; header signatures such as RFC 8224 Identity depend on it).
 *
 * Reading: `get`/`getAll`/`has` give strings; the typed getters (`vias`, `topVia`, `from`, `to`,
 * `callId`, `cseq`, `maxForwards`, `routes`, `recordRoutes`, `contact`, `contentLength`) parse on
 * first use and throw SipHeaderError when the header is malformed. The typed values they return
 * are shared with the cache: treat them as read-only, and to change one, `clone()` it, modify the
 * clone and write it back with a setter (`setTopVia`, `setTo`, ...).
 *
 * Writing: `set`, `append`, `prepend`, `remove`, `shiftValue` (pop the first element of a list
 * header, e.g. the top Route), plus proxy helpers (`pushVia`, `popVia`, `decrementMaxForwards`,
 * `setBody` which fixes Content-Length). `serialize()` returns the wire bytes.
 */
import { SipHeaderError } from './errors.js';
import { readCSeq, readUnsigned, type CSeq } from './headers/cseq.js';
import { isStarAt, readContactList, readNameAddr, readNameAddrList, type ContactValue, type NameAddr } from './headers/nameAddr.js';
import { canonicalHeaderName, headerId, headerKey, isListHeader } from './headers/names.js';
import { codesOf, splitList, trimEnd, trimStart } from './headers/syntax.js';
import { readFirstVia, readViaList, type Via } from './headers/via.js';
import { reasonPhrase } from './statusCodes.js';
import { readUri, type Uri } from './uri.js';

export const SIP_VERSION = 'SIP/2.0';

/**
 * One header field line (with its folded continuation lines).
 *
 * A received field is a range of its message: the parser finds its key and where its name and
 * value lie, and cuts nothing out. The typed readers and validation read the value in place
 * (`valueText` from `valueStart` to `valueEnd`); `name` and `value` are cut out of the message text
 * on first read, so a header the proxy never reads costs no string of its own and is copied to the
 * output as its received bytes. A field created here holds its name and value as strings.
 */
export class HeaderField {
  /** Lowercase long name, compact form expanded: `via`. */
  readonly key: string;
  /** headerId(key): a small number for the known headers, -1 for the others. */
  readonly id: number;
  /**
   * The received message the field was read from, or null once created or changed here. With
   * `start`/`end` it names the field's bytes (name through the last continuation line, no CRLF),
   * which serialize() splices into the output instead of re-formatting the field.
   */
  readonly source: Buffer | null;
  readonly start: number;
  readonly end: number;
  /**
   * The text holding the value at [valueStart, valueEnd): the received datagram as latin1 text
   * when the value is one line of ASCII, else the value itself (unfolded, decoded, or created here).
   */
  readonly valueText: string;
  readonly valueStart: number;
  readonly valueEnd: number;
  /**
   * False when the value holds no comma, so that a list header's value is one element: the
   * parser knows it from one scan of the message, the readers then skip splitting.
   */
  readonly hasComma: boolean;
  #name: string | undefined;
  /** Where the name lies in valueText while #name is not cut out yet. */
  #nameStart: number;
  #nameEnd: number;
  #value: string | undefined;
  /** See `codes`: the datagram for a value read in place, else made on first read. */
  #codes: Uint8Array | null;

  private constructor(
    key: string,
    id: number,
    name: string | undefined,
    nameStart: number,
    nameEnd: number,
    value: string | undefined,
    valueText: string,
    valueStart: number,
    valueEnd: number,
    hasComma: boolean,
    source: Buffer | null,
    start: number,
    end: number,
    codes: Uint8Array | null,
  ) {
    this.key = key;
    this.id = id;
    this.hasComma = hasComma;
    this.source = source;
    this.start = start;
    this.end = end;
    this.valueText = valueText;
    this.valueStart = valueStart;
    this.valueEnd = valueEnd;
    this.#name = name;
    this.#nameStart = nameStart;
    this.#nameEnd = nameEnd;
    this.#value = value;
    this.#codes = codes;
  }

  /** A field written by pinlatch (no received bytes). */
  static created(name: string, key: string, value: string): HeaderField {
    return new HeaderField(key, headerId(key), name, 0, 0, value, value, 0, value.length, value.includes(','), null, 0, 0, null);
  }

  /**
   * A received field read in place: name text[nameStart, nameEnd), value text[valueStart,
   * valueEnd) (already trimmed of SP / HTAB), bytes source[start, end); `text` is the whole of
   * `source` decoded as latin1, so that an index into one is the same index into the other.
   */
  static received(
    key: string,
    id: number,
    text: string,
    nameStart: number,
    nameEnd: number,
    valueStart: number,
    valueEnd: number,
    hasComma: boolean,
    source: Buffer,
    start: number,
    end: number,
  ): HeaderField {
    return new HeaderField(key, id, undefined, nameStart, nameEnd, undefined, text, valueStart, valueEnd, hasComma, source, start, end, source);
  }

  /** A received field whose value had to be unfolded or decoded from UTF-8 (RFC 3261 §7.3.1). */
  static decoded(key: string, name: string, value: string, source: Buffer, start: number, end: number): HeaderField {
    return new HeaderField(key, headerId(key), name, 0, 0, value, value, 0, value.length, value.includes(','), source, start, end, null);
  }

  /** Name as written: `v`, `Via`, `VIA`. */
  get name(): string {
    return (this.#name ??= this.valueText.slice(this.#nameStart, this.#nameEnd));
  }

  /** Value with folding replaced by SP and surrounding LWS removed (RFC 3261 §7.3.1). */
  get value(): string {
    return (this.#value ??= this.valueText.slice(this.valueStart, this.valueEnd));
  }

  /** Bytes the field takes on the wire, name through value as serialize() writes it, without CRLF. */
  get wireLength(): number {
    return this.source !== null ? this.end - this.start : Buffer.byteLength(`${this.name}: ${this.value}`, 'utf8');
  }

  /**
   * The codes of valueText the typed readers test (headers/syntax.ts): the received datagram
   * itself for a value read in place, else codesOf(valueText), made on first read.
   */
  get codes(): Uint8Array {
    return (this.#codes ??= codesOf(this.valueText));
  }
}

/** The body of a message without one (never written to: a Buffer of length 0 has no bytes). */
const EMPTY_BODY = Buffer.alloc(0);

/** CR LF as one big-endian 16-bit word, written with writeUInt16BE. */
const CRLF_WORD = 0x0d0a;

function isCrlfAt(bytes: Buffer, at: number): boolean {
  return bytes[at] === 0x0d && bytes[at + 1] === 0x0a;
}

/** The elements of a list header's field (splitList), read in place; one when it holds no comma. */
function listElements(f: HeaderField): string[] {
  const text = f.valueText;
  const codes = f.codes;
  if (f.hasComma) return splitList(text, codes, f.valueStart, f.valueEnd);
  const start = trimStart(text, codes, f.valueStart, f.valueEnd);
  return [text.slice(start, trimEnd(text, codes, start, f.valueEnd))];
}

function field(name: string, value: string): HeaderField {
  return HeaderField.created(canonicalHeaderName(name), headerKey(name), value);
}

function toBuffer(body: Buffer | Uint8Array | string): Buffer {
  if (typeof body === 'string') return Buffer.from(body, 'utf8');
  return Buffer.isBuffer(body) ? body : Buffer.from(body.buffer, body.byteOffset, body.byteLength);
}

/**
 * One bit per typed header, set once its value is read and cached in the message (a bitmask and
 * one field per header instead of a Map: every message has the same shape and reads allocate nothing).
 */
const VIAS = 1 << 0;
const FROM = 1 << 1;
const TO = 1 << 2;
const CALL_ID = 1 << 3;
const CSEQ = 1 << 4;
const MAX_FORWARDS = 1 << 5;
const ROUTES = 1 << 6;
const RECORD_ROUTES = 1 << 7;
const CONTACT = 1 << 8;
const CONTENT_LENGTH = 1 << 9;
/** The topmost Via alone (`topVia` before `vias`): cleared with VIAS. */
const TOP_VIA = 1 << 10;

/** What a list-valued cache field holds before its bit is set (shared: never returned). */
const NOT_READ: readonly never[] = Object.freeze([]);

/** The cache bit of a header key, or 0 for headers without a typed value. */
function typedBit(key: string): number {
  switch (key) {
    case 'via':
      return VIAS | TOP_VIA;
    case 'from':
      return FROM;
    case 'to':
      return TO;
    case 'call-id':
      return CALL_ID;
    case 'cseq':
      return CSEQ;
    case 'max-forwards':
      return MAX_FORWARDS;
    case 'route':
      return ROUTES;
    case 'record-route':
      return RECORD_ROUTES;
    case 'contact':
      return CONTACT;
    case 'content-length':
      return CONTENT_LENGTH;
    default:
      return 0;
  }
}

export interface MessageInit {
  /** Fields taken over as they are (their raw bytes are kept): used to copy fields between messages. */
  fields?: Iterable<HeaderField>;
  /** Header fields to create, after `fields`. */
  headers?: Iterable<readonly [string, string]>;
  body?: Buffer | Uint8Array | string;
}

abstract class SipMessageBase {
  abstract readonly kind: 'request' | 'response';
  #version: string;
  #fields: HeaderField[];
  /** The body; null while it is still source[#bodyFrom, #bodyTo) and was not asked for. */
  #body: Buffer | null;
  /** The received message (for a parsed one), from which the body and start line are read lazily. */
  #source: Buffer | null = null;
  #bodyFrom = 0;
  #bodyTo = 0;
  /** Exact wire bytes while nothing was changed since parsing (serialize fast path). */
  #wire: Buffer | null = null;
  /** The start line as received, source[#startFrom, #startTo), while it was not changed (else #startTo is -1). */
  #startFrom = 0;
  #startTo = -1;
  /** Which typed values below are cached (bits above); a value whose bit is clear is not read yet. */
  #read = 0;
  #vias: readonly Via[] = NOT_READ;
  #topVia: Via | undefined = undefined;
  #from: NameAddr | undefined = undefined;
  #to: NameAddr | undefined = undefined;
  #callId: string | undefined = undefined;
  #cseq: CSeq | undefined = undefined;
  #maxForwards: number | undefined = undefined;
  #routes: readonly NameAddr[] = NOT_READ;
  #recordRoutes: readonly NameAddr[] = NOT_READ;
  #contact: ContactValue | undefined = undefined;
  #contentLength: number | undefined = undefined;

  protected constructor(version: string, init: MessageInit) {
    this.#version = version;
    this.#fields = init.fields ? [...init.fields] : [];
    if (init.headers) for (const [name, value] of init.headers) this.#fields.push(field(name, value));
    this.#body = init.body === undefined ? EMPTY_BODY : toBuffer(init.body);
  }

  /**
   * Called by the parser: take over its field list (not copied: the parser made it for this
   * message) and the received bytes: the body is source[bodyFrom, bodyTo) and the start line
   * source[startFrom, startTo) (startTo -1 when it must be formatted), both cut out only when used.
   */
  protected adoptParsed(
    fields: HeaderField[],
    source: Buffer,
    bodyFrom: number,
    bodyTo: number,
    wire: Buffer | null,
    startFrom: number,
    startTo: number,
  ): void {
    this.#fields = fields;
    this.#source = source;
    this.#body = null;
    this.#bodyFrom = bodyFrom;
    this.#bodyTo = bodyTo;
    this.#wire = wire;
    this.#startFrom = startFrom;
    this.#startTo = startTo;
  }

  protected startLineChanged(): void {
    this.#wire = null;
    this.#startTo = -1;
  }

  #changed(key: string): void {
    this.#wire = null;
    this.#read &= ~typedBit(key);
  }

  get version(): string {
    return this.#version;
  }

  set version(value: string) {
    this.#version = value;
    this.startLineChanged();
  }

  /** Every header field in message order (read-only view). */
  get fields(): readonly HeaderField[] {
    return this.#fields;
  }

  has(name: string): boolean {
    const key = headerKey(name);
    return this.#fields.some((f) => f.key === key);
  }

  /** Value of the first field with that name (the whole field, not split on commas). */
  get(name: string): string | undefined {
    const key = headerKey(name);
    return this.#fields.find((f) => f.key === key)?.value;
  }

  /**
   * Every value of that header in order: for list headers (Via, Route, Contact, Supported, ...)
   * each comma-separated element of every field, empty elements dropped; for other headers each
   * field's value.
   */
  getAll(name: string): string[] {
    const key = headerKey(name);
    const list = isListHeader(key);
    const out: string[] = [];
    for (const f of this.#fields) {
      if (f.key !== key) continue;
      if (!list) {
        out.push(f.value);
        continue;
      }
      for (const element of listElements(f)) if (element.length > 0) out.push(element);
    }
    return out;
  }

  /** Number of fields (lines) with that name. */
  count(name: string): number {
    const key = headerKey(name);
    let n = 0;
    for (const f of this.#fields) if (f.key === key) n++;
    return n;
  }

  /** Replaces every field of that name by one field (at the first one's position, else at the end). */
  set(name: string, value: string): this {
    const key = headerKey(name);
    const first = this.#fields.findIndex((f) => f.key === key);
    const replacement = field(name, value);
    if (first === -1) {
      this.#fields.push(replacement);
    } else {
      this.#fields = this.#fields.filter((f, i) => i === first || f.key !== key);
      this.#fields[first] = replacement;
    }
    this.#changed(key);
    return this;
  }

  /** Adds a field after the last field of that name, or at the end. */
  append(name: string, value: string): this {
    const key = headerKey(name);
    let last = -1;
    for (let i = 0; i < this.#fields.length; i++) if (this.#fields[i]!.key === key) last = i;
    if (last === -1) this.#fields.push(field(name, value));
    else this.#fields.splice(last + 1, 0, field(name, value));
    this.#changed(key);
    return this;
  }

  /**
   * Adds a field before the first field of that name, or as the first header: the position of a
   * proxy's Via (§16.6 step 8) and Record-Route (§16.6 step 4).
   */
  prepend(name: string, value: string): this {
    const key = headerKey(name);
    const first = this.#fields.findIndex((f) => f.key === key);
    this.#fields.splice(first === -1 ? 0 : first, 0, field(name, value));
    this.#changed(key);
    return this;
  }

  /** Removes every field of that name; returns how many were removed. */
  remove(name: string): number {
    const key = headerKey(name);
    const before = this.#fields.length;
    this.#fields = this.#fields.filter((f) => f.key !== key);
    const removed = before - this.#fields.length;
    if (removed > 0) this.#changed(key);
    return removed;
  }

  /**
   * Removes and returns the first element of a list header (the top Via, the top Route,
   * §16.4 / §16.12). When the first field holds several comma-separated elements only that field
   * is rewritten, with the remaining elements as written.
   */
  shiftValue(name: string): string | undefined {
    const key = headerKey(name);
    const index = this.#fields.findIndex((f) => f.key === key);
    if (index === -1) return undefined;
    const f = this.#fields[index]!;
    const elements = isListHeader(key) ? listElements(f) : [f.value];
    const first = elements.shift();
    if (elements.length === 0) this.#fields.splice(index, 1);
    else this.#fields[index] = HeaderField.created(f.name, key, elements.join(', '));
    this.#changed(key);
    return first;
  }

  /** Replaces the first element of a list header, keeping the other elements and fields as they are. */
  replaceFirstValue(name: string, value: string): this {
    const key = headerKey(name);
    const index = this.#fields.findIndex((f) => f.key === key);
    if (index === -1) return this.prepend(name, value);
    const f = this.#fields[index]!;
    const elements = isListHeader(key) ? listElements(f) : [f.value];
    elements[0] = value;
    this.#fields[index] = HeaderField.created(f.name, key, elements.join(', '));
    this.#changed(key);
    return this;
  }

  // ---- typed, lazily parsed headers --------------------------------------------------------

  /** All Via values, topmost first (§20.42). Empty when there is none. */
  get vias(): readonly Via[] {
    if (!(this.#read & VIAS)) {
      const vias = readVias(this.#fields);
      // The topmost one read before stays the one handed out (it may have been changed since).
      if (this.#read & TOP_VIA && vias.length > 0) vias[0] = this.#topVia!;
      this.#vias = vias;
      this.#read |= VIAS;
    }
    return this.#vias;
  }

  /** The topmost Via value; only it is read while `vias` is not asked for. */
  get topVia(): Via | undefined {
    if (this.#read & VIAS) return this.#vias[0];
    if (!(this.#read & TOP_VIA)) {
      this.#topVia = readTopVia(this.#fields);
      this.#read |= TOP_VIA;
    }
    return this.#topVia;
  }

  /** Adds a Via on top (a proxy forwarding a request, RFC 3261 §16.6 step 8). */
  pushVia(via: Via | string): this {
    return this.prepend('Via', via.toString());
  }

  /** Removes the topmost Via value (a proxy forwarding a response, §16.7 step 3). */
  popVia(): Via | undefined {
    const top = this.topVia;
    this.shiftValue('via');
    return top;
  }

  /** Writes a modified topmost Via back (e.g. after `stampReceived`), keeping the other Vias as written. */
  setTopVia(via: Via): this {
    this.replaceFirstValue('Via', via.toString());
    // What was written is `via`: the next topVia need not read it back.
    this.#topVia = via;
    this.#read |= TOP_VIA;
    return this;
  }

  get from(): NameAddr | undefined {
    if (!(this.#read & FROM)) {
      this.#from = readFrom(this.#fields);
      this.#read |= FROM;
    }
    return this.#from;
  }

  setFrom(value: NameAddr): this {
    return this.set('From', value.toString());
  }

  get to(): NameAddr | undefined {
    if (!(this.#read & TO)) {
      this.#to = readTo(this.#fields);
      this.#read |= TO;
    }
    return this.#to;
  }

  setTo(value: NameAddr): this {
    return this.set('To', value.toString());
  }

  get callId(): string | undefined {
    if (!(this.#read & CALL_ID)) {
      this.#callId = readCallId(this.#fields);
      this.#read |= CALL_ID;
    }
    return this.#callId;
  }

  get cseq(): CSeq | undefined {
    if (!(this.#read & CSEQ)) {
      this.#cseq = readCSeqField(this.#fields);
      this.#read |= CSEQ;
    }
    return this.#cseq;
  }

  /** Max-Forwards (0-255, §20.22), or undefined when absent. */
  get maxForwards(): number | undefined {
    if (!(this.#read & MAX_FORWARDS)) {
      this.#maxForwards = readMaxForwards(this.#fields);
      this.#read |= MAX_FORWARDS;
    }
    return this.#maxForwards;
  }

  /**
   * RFC 3261 §16.6 step 3: decrement Max-Forwards, or add it with 70 when absent.
   * Returns the new value. The caller checks for 0 first (483 Too Many Hops, §16.3 step 2).
   */
  decrementMaxForwards(): number {
    const current = this.maxForwards;
    const next = current === undefined ? 70 : Math.max(0, current - 1);
    this.set('Max-Forwards', String(next));
    return next;
  }

  /** Route values in order (§20.34); empty when there is none. */
  get routes(): readonly NameAddr[] {
    if (!(this.#read & ROUTES)) {
      this.#routes = readNameAddrs(this.#fields, ROUTE_ID, 'Route');
      this.#read |= ROUTES;
    }
    return this.#routes;
  }

  /** Removes and returns the top Route (loose routing, §16.4). */
  popRoute(): NameAddr | undefined {
    const top = this.routes[0];
    this.shiftValue('route');
    return top;
  }

  get recordRoutes(): readonly NameAddr[] {
    if (!(this.#read & RECORD_ROUTES)) {
      this.#recordRoutes = readNameAddrs(this.#fields, RECORD_ROUTE_ID, 'Record-Route');
      this.#read |= RECORD_ROUTES;
    }
    return this.#recordRoutes;
  }

  /** Contact (§20.10): undefined when absent, `{ star: true }` for `*`, else the addresses in order. */
  get contact(): ContactValue | undefined {
    if (!(this.#read & CONTACT)) {
      this.#contact = readContact(this.#fields);
      this.#read |= CONTACT;
    }
    return this.#contact;
  }

  /** The Contact addresses (empty when absent or `*`). */
  get contacts(): readonly NameAddr[] {
    const contact = this.contact;
    return contact && !contact.star ? contact.contacts : [];
  }

  /** Content-Length as declared, or undefined when absent. */
  get contentLength(): number | undefined {
    if (!(this.#read & CONTENT_LENGTH)) {
      this.#contentLength = contentLengthOf(this.#fields);
      this.#read |= CONTENT_LENGTH;
    }
    return this.#contentLength;
  }

  /** Content-Type media type, lowercased, without parameters (`application/sdp`). */
  get contentType(): string | undefined {
    const value = this.get('content-type');
    if (value === undefined) return undefined;
    return value.split(';')[0]!.trim().toLowerCase();
  }

  // ---- body --------------------------------------------------------------------------------

  get body(): Buffer {
    return (this.#body ??= this.#source!.subarray(this.#bodyFrom, this.#bodyTo));
  }

  /**
   * Replaces the body and sets Content-Length to its size (and Content-Type when given; an
   * empty body removes Content-Type). Used after SDP rewriting.
   */
  setBody(body: Buffer | Uint8Array | string, contentType?: string): this {
    this.#body = toBuffer(body);
    this.#wire = null;
    if (contentType !== undefined) this.set('Content-Type', contentType);
    else if (this.#body.length === 0) this.remove('content-type');
    this.set('Content-Length', String(this.#body.length));
    return this;
  }

  /** Adds Content-Length when it is absent (mandatory on stream transports, §18.3 / §20.14). */
  ensureContentLength(): this {
    if (!this.has('content-length')) this.append('Content-Length', String(this.body.length));
    return this;
  }

  // ---- output ------------------------------------------------------------------------------

  protected abstract formatStartLine(): string;

  /**
   * The wire form. Fields not changed since parsing are copied byte for byte: the output is one
   * buffer into which the received byte ranges are spliced, only changed fields are formatted.
   * Received parts that lie one after another in the datagram with CRLF between them (start line,
   * fields, the empty line and the body not asked for) go in as one range: each copy out of a
   * range of a Buffer makes a typed array over it, and most of a relayed message is untouched.
   */
  serialize(): Buffer {
    if (this.#wire) return this.#wire;
    const source = this.#source;
    const raw = this.#startTo !== -1;
    const startLine = raw ? null : Buffer.from(this.formatStartLine(), 'utf8');
    // The body as its received range while it was not asked for: it can then join a run.
    const bodyInSource = this.#body === null;
    const body = bodyInSource ? EMPTY_BODY : this.#body!;
    const bodyLength = bodyInSource ? this.#bodyTo - this.#bodyFrom : body.length;
    const fields = this.#fields;
    const formatted: Array<string | undefined> = new Array(fields.length);
    let size = (raw ? this.#startTo - this.#startFrom : startLine!.length) + 4 + bodyLength;
    for (let i = 0; i < fields.length; i++) {
      const f = fields[i]!;
      if (f.source) {
        size += f.end - f.start + 2;
      } else {
        const text = `${f.name}: ${f.value}`;
        formatted[i] = text;
        size += Buffer.byteLength(text, 'utf8') + 2;
      }
    }
    const out = Buffer.allocUnsafe(size);
    // The pending run: runSource[runFrom, runTo), not yet copied.
    let runSource: Buffer | null = raw ? source : null;
    let runFrom = this.#startFrom;
    let runTo = this.#startTo;
    let at = raw ? 0 : startLine!.copy(out, 0);
    if (!raw) at = out.writeUInt16BE(CRLF_WORD, at);
    for (let i = 0; i < fields.length; i++) {
      const f = fields[i]!;
      const fieldSource = f.source;
      if (fieldSource !== null && fieldSource === runSource && f.start === runTo + 2 && isCrlfAt(fieldSource, runTo)) {
        runTo = f.end;
        continue;
      }
      if (runSource !== null) {
        at += runSource.copy(out, at, runFrom, runTo);
        at = out.writeUInt16BE(CRLF_WORD, at);
      }
      if (fieldSource !== null) {
        runSource = fieldSource;
        runFrom = f.start;
        runTo = f.end;
      } else {
        runSource = null;
        at += out.write(formatted[i]!, at, 'utf8');
        at = out.writeUInt16BE(CRLF_WORD, at);
      }
    }
    if (runSource !== null) {
      if (bodyInSource && runSource === source && this.#bodyFrom === runTo + 4 && isCrlfAt(source, runTo) && isCrlfAt(source, runTo + 2)) {
        runSource.copy(out, at, runFrom, this.#bodyTo);
        return out;
      }
      at += runSource.copy(out, at, runFrom, runTo);
      at = out.writeUInt16BE(CRLF_WORD, at);
    }
    at = out.writeUInt16BE(CRLF_WORD, at);
    if (bodyInSource) source!.copy(out, at, this.#bodyFrom, this.#bodyTo);
    else body.copy(out, at);
    return out;
  }

  toString(): string {
    return this.serialize().toString('utf8');
  }

  /**
   * What a clone takes over besides fields and body: the wire bytes and the typed headers already
   * parsed (shared, as the typed values are read-only; a change to the clone drops its own entry).
   */
  protected copyWireTo<T extends SipMessageBase>(target: T): T {
    target.#wire = this.#wire;
    target.#source = this.#source;
    target.#startFrom = this.#startFrom;
    target.#startTo = this.#startTo;
    target.#read = this.#read;
    target.#vias = this.#vias;
    target.#topVia = this.#topVia;
    target.#from = this.#from;
    target.#to = this.#to;
    target.#callId = this.#callId;
    target.#cseq = this.#cseq;
    target.#maxForwards = this.#maxForwards;
    target.#routes = this.#routes;
    target.#recordRoutes = this.#recordRoutes;
    target.#contact = this.#contact;
    target.#contentLength = this.#contentLength;
    return target;
  }
}

export class SipRequest extends SipMessageBase {
  readonly kind = 'request' as const;
  #method: string;
  #uriText: string;
  #uri: Uri | undefined;
  /**
   * Where the readers find the Request-URI: #uriIn[#uriFrom, #uriFrom + #uriText.length), with
   * its codes (headers/syntax.ts). For a received request, the datagram's latin1 text and the
   * datagram itself, as for its header fields; else #uriText, its codes made on first read.
   */
  #uriIn: string;
  #uriFrom = 0;
  #uriCodes: Uint8Array | null = null;

  constructor(init: { method: string; uri: Uri | string; version?: string } & MessageInit) {
    super(init.version ?? SIP_VERSION, init);
    this.#method = init.method;
    this.#uriText = init.uri.toString();
    this.#uri = typeof init.uri === 'string' ? undefined : init.uri;
    this.#uriIn = this.#uriText;
  }

  /**
   * Used by the parser to build a request from received fields without re-validating them. The
   * Request-URI `uriText` is also source[uriFrom, ...), `text` being source as latin1, unless
   * uriFrom is -1.
   */
  static fromParsed(
    method: string,
    uriText: string,
    text: string | null,
    uriFrom: number,
    version: string,
    fields: HeaderField[],
    source: Buffer,
    bodyFrom: number,
    bodyTo: number,
    wire: Buffer | null,
    startFrom: number,
    startTo: number,
  ): SipRequest {
    const request = new SipRequest({ method, uri: uriText, version });
    request.adoptParsed(fields, source, bodyFrom, bodyTo, wire, startFrom, startTo);
    if (text !== null && uriFrom !== -1) {
      request.#uriIn = text;
      request.#uriFrom = uriFrom;
      request.#uriCodes = source;
    }
    return request;
  }

  get method(): string {
    return this.#method;
  }

  set method(value: string) {
    this.#method = value;
    this.startLineChanged();
  }

  /** Request-URI text as received (or as last set). */
  get uriText(): string {
    return this.#uriText;
  }

  /** Parsed Request-URI; throws SipUriError when the received one is not a URI. */
  get uri(): Uri {
    this.#uri ??= this.#readUri(true)!;
    return this.#uri;
  }

  set uri(value: Uri | string) {
    this.#uriText = value.toString();
    this.#uri = typeof value === 'string' ? undefined : value;
    this.#uriIn = this.#uriText;
    this.#uriFrom = 0;
    this.#uriCodes = null;
    this.startLineChanged();
  }

  /** Checks the Request-URI by the grammar of parseUri without building it; throws SipUriError. */
  checkUri(): void {
    this.#readUri(false);
  }

  #readUri(build: boolean): Uri | null {
    const from = this.#uriFrom;
    return readUri(this.#uriIn, (this.#uriCodes ??= codesOf(this.#uriIn)), from, from + this.#uriText.length, build);
  }

  protected formatStartLine(): string {
    return `${this.#method} ${this.#uriText} ${this.version}`;
  }

  /** A copy whose header list and body can be changed independently (one per fork target, §16.6 step 1). */
  clone(): SipRequest {
    const copy = new SipRequest({
      method: this.#method,
      uri: this.#uri?.clone() ?? this.#uriText,
      version: this.version,
      fields: this.fields,
      body: this.body,
    });
    return this.copyWireTo(copy);
  }
}

export class SipResponse extends SipMessageBase {
  readonly kind = 'response' as const;
  #status: number;
  #reason: string;

  constructor(init: { status: number; reason?: string; version?: string } & MessageInit) {
    super(init.version ?? SIP_VERSION, init);
    this.#status = init.status;
    this.#reason = init.reason ?? reasonPhrase(init.status);
  }

  static fromParsed(
    status: number,
    reason: string,
    version: string,
    fields: HeaderField[],
    source: Buffer,
    bodyFrom: number,
    bodyTo: number,
    wire: Buffer | null,
    startFrom: number,
    startTo: number,
  ): SipResponse {
    const response = new SipResponse({ status, reason, version });
    response.adoptParsed(fields, source, bodyFrom, bodyTo, wire, startFrom, startTo);
    return response;
  }

  get status(): number {
    return this.#status;
  }

  set status(value: number) {
    this.#status = value;
    this.startLineChanged();
  }

  get reason(): string {
    return this.#reason;
  }

  set reason(value: string) {
    this.#reason = value;
    this.startLineChanged();
  }

  protected formatStartLine(): string {
    return `${this.version} ${this.#status} ${this.#reason}`;
  }

  clone(): SipResponse {
    const copy = new SipResponse({
      status: this.#status,
      reason: this.#reason,
      version: this.version,
      fields: this.fields,
      body: this.body,
    });
    return this.copyWireTo(copy);
  }
}

export type SipMessage = SipRequest | SipResponse;

// ---- readers of the typed headers (pure functions of the field list, cached by the message) ----

// Fields are matched by id (HeaderField.id), a number compare instead of a string compare per field.
const VIA_ID = headerId('via');
const FROM_ID = headerId('from');
const TO_ID = headerId('to');
const CALL_ID_ID = headerId('call-id');
const CSEQ_ID = headerId('cseq');
const MAX_FORWARDS_ID = headerId('max-forwards');
const CONTACT_ID = headerId('contact');
const CONTENT_LENGTH_ID = headerId('content-length');
const ROUTE_ID = headerId('route');
const RECORD_ROUTE_ID = headerId('record-route');

/** The field of a header that may appear once, or undefined; a second field is an error (§7.3.1). */
function singleField(fields: readonly HeaderField[], id: number, header: string): HeaderField | undefined {
  let found: HeaderField | undefined;
  for (let i = 0; i < fields.length; i++) {
    const f = fields[i]!;
    if (f.id !== id) continue;
    if (found !== undefined) throw new SipHeaderError(header, 'appears more than once');
    found = f;
  }
  return found;
}

function readVias(fields: readonly HeaderField[]): Via[] {
  const out: Via[] = [];
  for (const f of fields) if (f.id === VIA_ID) readViaList(f.valueText, f.codes, f.valueStart, f.valueEnd, f.hasComma, out);
  return out;
}

function readTopVia(fields: readonly HeaderField[]): Via | undefined {
  for (const f of fields) if (f.id === VIA_ID) return readFirstVia(f.valueText, f.codes, f.valueStart, f.valueEnd, f.hasComma);
  return undefined;
}

function readNameAddrs(fields: readonly HeaderField[], id: number, header: string): NameAddr[] {
  const out: NameAddr[] = [];
  for (const f of fields) if (f.id === id) readNameAddrList(f.valueText, f.codes, f.valueStart, f.valueEnd, f.hasComma, header, out);
  return out;
}

function readFrom(fields: readonly HeaderField[]): NameAddr | undefined {
  const f = singleField(fields, FROM_ID, 'From');
  return f === undefined ? undefined : readNameAddr(f.valueText, f.codes, f.valueStart, f.valueEnd, 'From', true)!;
}

function readTo(fields: readonly HeaderField[]): NameAddr | undefined {
  const f = singleField(fields, TO_ID, 'To');
  return f === undefined ? undefined : readNameAddr(f.valueText, f.codes, f.valueStart, f.valueEnd, 'To', true)!;
}

/**
 * Call-ID = word [ "@" word ] (§25.1): not empty, no whitespace. The value is cut out anyway (it
 * is what this returns), and the pattern scans it faster than a loop of charCodeAt.
 */
function readCallId(fields: readonly HeaderField[]): string | undefined {
  const f = singleField(fields, CALL_ID_ID, 'Call-ID');
  if (f === undefined) return undefined;
  const value = f.value;
  if (value.length === 0 || /\s/.test(value)) throw new SipHeaderError('Call-ID', 'expected word ["@" word]');
  return value;
}

function readCSeqField(fields: readonly HeaderField[]): CSeq | undefined {
  const f = singleField(fields, CSEQ_ID, 'CSeq');
  return f === undefined ? undefined : readCSeq(f.valueText, f.codes, f.valueStart, f.valueEnd);
}

function readMaxForwards(fields: readonly HeaderField[]): number | undefined {
  const f = singleField(fields, MAX_FORWARDS_ID, 'Max-Forwards');
  if (f === undefined) return undefined;
  const n = readUnsigned(f.codes, f.valueStart, f.valueEnd, 255);
  if (n === null) throw new SipHeaderError('Max-Forwards', 'expected an integer from 0 to 255');
  return n;
}

/**
 * Checks of the typed headers that build nothing: each throws the SipHeaderError its getter would
 * throw (same reader, with `build` false or no output list), so that validation of a received
 * message does not allocate the values the proxy may never read; the getters build them on first use.
 */
export function checkVias(fields: readonly HeaderField[]): void {
  for (const f of fields) if (f.id === VIA_ID) readViaList(f.valueText, f.codes, f.valueStart, f.valueEnd, f.hasComma, null);
}

/** Checks From or To (`key`), a header that appears at most once. */
export function checkNameAddrField(fields: readonly HeaderField[], key: 'from' | 'to', header: string): void {
  const f = singleField(fields, key === 'from' ? FROM_ID : TO_ID, header);
  if (f !== undefined) readNameAddr(f.valueText, f.codes, f.valueStart, f.valueEnd, header, false);
}

/** Checks every field of a name-addr list header (Route, Record-Route). */
export function checkNameAddrFields(fields: readonly HeaderField[], key: string, header: string): void {
  const id = headerId(key);
  for (const f of fields) if (id === -1 ? f.key === key : f.id === id) readNameAddrList(f.valueText, f.codes, f.valueStart, f.valueEnd, f.hasComma, header, null);
}

/** Checks Contact as readContact reads it. */
export function checkContact(fields: readonly HeaderField[]): void {
  let seen = false;
  let starSeen = false;
  for (const f of fields) {
    if (f.id !== CONTACT_ID) continue;
    const star = isStarAt(f.valueText, f.codes, f.valueStart, f.valueEnd);
    if (!star) readNameAddrList(f.valueText, f.codes, f.valueStart, f.valueEnd, f.hasComma, 'Contact', null);
    if (seen && (starSeen || star)) throw new SipHeaderError('Contact', '"*" mixed with other contacts');
    seen = true;
    starSeen ||= star;
  }
}

function readContact(fields: readonly HeaderField[]): ContactValue | undefined {
  let first: ContactValue | undefined;
  let contacts: NameAddr[] | undefined;
  for (const f of fields) {
    if (f.id !== CONTACT_ID) continue;
    const parsed = readContactList(f.valueText, f.codes, f.valueStart, f.valueEnd, f.hasComma);
    if (first === undefined) {
      first = parsed;
      continue;
    }
    if (first.star || parsed.star) throw new SipHeaderError('Contact', '"*" mixed with other contacts');
    contacts ??= [...first.contacts];
    for (const c of parsed.contacts) contacts.push(c);
  }
  return contacts ? { star: false, contacts } : first;
}

/**
 * The Content-Length declared by these fields, or undefined when there is none. Repeated fields
 * must agree (RFC 4475 §3.3.9 mcl01); a value that is not a non-negative integer is an error
 * (§3.1.2.3 ncl: `-999`).
 */
export function contentLengthOf(fields: readonly HeaderField[]): number | undefined {
  let length: number | undefined;
  for (const f of fields) {
    if (f.id !== CONTENT_LENGTH_ID) continue;
    const n = readUnsigned(f.codes, f.valueStart, f.valueEnd, 0x7fffffff);
    if (n === null) throw new SipHeaderError('Content-Length', 'expected a non-negative integer');
    if (length !== undefined && n !== length) throw new SipHeaderError('Content-Length', 'conflicting values');
    length = n;
  }
  return length;
}

/** Headers copied from a request into every response to it (RFC 3261 §8.2.6.2). */
const RESPONSE_COPIED = ['via', 'from', 'to', 'call-id', 'cseq'];

/**
 * Builds a response to `request` as RFC 3261 §8.2.6 says: Via (all values, same order), From,
 * Call-ID, CSeq and To copied as received; a To tag added when the request had none and the status
 * is above 100 (`toTag`); Timestamp copied into a 100 (§8.2.6.1); an empty body with
 * Content-Length: 0. Copied fields keep their received bytes.
 */
export function createResponse(
  request: SipRequest,
  status: number,
  options: { reason?: string; toTag?: string; headers?: Iterable<readonly [string, string]> } = {},
): SipResponse {
  const copied = request.fields.filter((f) => RESPONSE_COPIED.includes(f.key) || (status === 100 && f.key === 'timestamp'));
  const response = new SipResponse({ status, reason: options.reason ?? reasonPhrase(status), fields: copied });
  if (options.toTag !== undefined && status > 100) {
    const to = tryTyped(() => request.to);
    if (to && to.tag === undefined) {
      const tagged = to.clone();
      tagged.tag = options.toTag;
      response.setTo(tagged);
    }
  }
  for (const [name, value] of options.headers ?? []) response.append(name, value);
  response.setBody(Buffer.alloc(0));
  return response;
}

function tryTyped<T>(read: () => T): T | undefined {
  try {
    return read();
  } catch (error) {
    if (error instanceof SipHeaderError) return undefined;
    throw error;
  }
}
