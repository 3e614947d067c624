/**
 * Bencode codec for the NG control protocol (rtpengine's docs/ng_control_protocol.md; format as in
 * BEP 3: integers `i42e`, byte strings `4:spam`, lists `l...e`, dictionaries `d...e`).
 *
 * The decoder reads untrusted datagrams, so it is built for safety first:
 * - no recursion: containers live on an explicit stack capped at `maxDepth`;
 * - every length is checked against the bytes left before anything is allocated;
 * - caps on message size, string length and total number of values;
 * - strict integers (no leading zeros, no `-0`, no empty digits, safe-integer range);
 * - trailing bytes after the top-level value are an error;
 * - dictionary keys are NOT required to be sorted (rtpengine does not sort them either), but a
 *   duplicate key is an error (two values for `call-id` would make the request ambiguous).
 *
 * Byte strings decode to Buffers that share memory with the input (no copy); the NG layer turns
 * the ones it needs into text. Dictionaries are null-prototype objects, so keys like `__proto__`
 * are plain data. JSON dictionaries (rtpengine accepts them too) go through `decodeJson`, which
 * applies the same limits and types.
 */

export type BencodeErrorCode =
  | 'ERR_PINLATCH_BENCODE_TRUNCATED'
  | 'ERR_PINLATCH_BENCODE_SYNTAX'
  | 'ERR_PINLATCH_BENCODE_INTEGER'
  | 'ERR_PINLATCH_BENCODE_TRAILING'
  | 'ERR_PINLATCH_BENCODE_TOO_LARGE'
  | 'ERR_PINLATCH_BENCODE_STRING_TOO_LONG'
  | 'ERR_PINLATCH_BENCODE_TOO_MANY_ITEMS'
  | 'ERR_PINLATCH_BENCODE_TOO_DEEP'
  | 'ERR_PINLATCH_BENCODE_DUPLICATE_KEY'
  | 'ERR_PINLATCH_BENCODE_TYPE'
  | 'ERR_PINLATCH_BENCODE_JSON';

export class BencodeError extends Error {
  readonly code: BencodeErrorCode;
  /** Byte offset in the input where the problem was found (-1 when not applicable). */
  readonly offset: number;

  constructor(code: BencodeErrorCode, message: string, offset = -1) {
    super(offset >= 0 ? `${message} (at byte ${offset})` : message);
    this.name = 'BencodeError';
    this.code = code;
    this.offset = offset;
  }
}

export type BencodeValue = number | Buffer | BencodeValue[] | BencodeDict;
export interface BencodeDict {
  [key: string]: BencodeValue;
}

/** What the encoder accepts: decoded values plus JS strings (written as UTF-8). */
export type BencodeInput = number | string | Buffer | readonly BencodeInput[] | { readonly [key: string]: BencodeInput | undefined };

export interface BencodeLimits {
  /** Largest input accepted, in bytes. */
  maxBytes: number;
  /** Largest single byte string, in bytes. */
  maxStringBytes: number;
  /** Largest number of values (integers, strings, lists, dicts; keys not counted) in one message. */
  maxItems: number;
  /** Deepest nesting of lists/dictionaries (the top-level dictionary is depth 1). */
  maxDepth: number;
}

/**
 * A UDP datagram cannot exceed 65507 bytes of IPv4 payload; an SDP body with a few dozen m-lines
 * stays far below. 16 levels cover every rtpengine request shape (its deepest is `sdp-attr`, 3).
 */
export const DEFAULT_BENCODE_LIMITS: Readonly<BencodeLimits> = Object.freeze({
  maxBytes: 65_535,
  maxStringBytes: 65_535,
  maxItems: 4_096,
  maxDepth: 16,
});

const CH_D = 0x64; // 'd'
const CH_L = 0x6c; // 'l'
const CH_I = 0x69; // 'i'
const CH_E = 0x65; // 'e'
const CH_COLON = 0x3a;
const CH_MINUS = 0x2d;
const CH_0 = 0x30;
const CH_9 = 0x39;

interface ListFrame {
  kind: 0;
  value: BencodeValue[];
}
interface DictFrame {
  kind: 1;
  value: BencodeDict;
  /** Key waiting for its value, or null when the next item must be a key. */
  key: string | null;
}
type Frame = ListFrame | DictFrame;

export interface DecodePrefixResult {
  value: BencodeValue;
  /** Offset just past the value. */
  end: number;
}

/**
 * Decodes exactly one value that fills `input` from `start` to the end.
 * Throws BencodeError on any malformed, oversized or trailing input.
 */
export function decode(input: Buffer, limits: BencodeLimits = DEFAULT_BENCODE_LIMITS, start = 0): BencodeValue {
  if (input.length - start > limits.maxBytes) {
    throw new BencodeError('ERR_PINLATCH_BENCODE_TOO_LARGE', `message of ${input.length - start} bytes exceeds ${limits.maxBytes}`);
  }
  const { value, end } = decodePrefix(input, limits, start);
  if (end !== input.length) {
    throw new BencodeError('ERR_PINLATCH_BENCODE_TRAILING', `${input.length - end} bytes after the value`, end);
  }
  return value;
}

/**
 * Decodes one value starting at `start` and says where it ends; bytes after it are left alone
 * (TCP NG streams put messages back to back). An incomplete value throws
 * ERR_PINLATCH_BENCODE_TRUNCATED, which a stream reader treats as "wait for more bytes".
 */
export function decodePrefix(
  input: Buffer,
  limits: BencodeLimits = DEFAULT_BENCODE_LIMITS,
  start = 0,
): DecodePrefixResult {
  // Only the first maxBytes after `start` are looked at; a value that does not end inside that
  // window is too large, whatever follows.
  const window = input.length - start > limits.maxBytes ? input.subarray(0, start + limits.maxBytes) : input;
  try {
    return decodeWindow(window, limits, start);
  } catch (err) {
    if (window !== input && err instanceof BencodeError && err.code === 'ERR_PINLATCH_BENCODE_TRUNCATED') {
      throw new BencodeError('ERR_PINLATCH_BENCODE_TOO_LARGE', `value longer than ${limits.maxBytes} bytes`, start);
    }
    throw err;
  }
}

function decodeWindow(input: Buffer, limits: BencodeLimits, start: number): DecodePrefixResult {
  const len = input.length;
  const stack: Frame[] = [];
  let pos = start;
  let items = 0;

  for (;;) {
    if (pos >= len) throw new BencodeError('ERR_PINLATCH_BENCODE_TRUNCATED', 'input ends inside a value', pos);
    const top = stack.length > 0 ? stack[stack.length - 1]! : undefined;
    const c = input[pos]!;

    if (c === CH_E) {
      if (top === undefined) throw new BencodeError('ERR_PINLATCH_BENCODE_SYNTAX', "unexpected 'e'", pos);
      if (top.kind === 1 && top.key !== null) {
        throw new BencodeError('ERR_PINLATCH_BENCODE_SYNTAX', `dictionary key "${top.key}" has no value`, pos);
      }
      pos += 1;
      stack.pop();
      const done = top.value;
      if (stack.length === 0) return { value: done, end: pos };
      continue;
    }

    // Inside a dictionary waiting for a key: only a byte string is allowed.
    if (top !== undefined && top.kind === 1 && top.key === null) {
      if (c < CH_0 || c > CH_9) throw new BencodeError('ERR_PINLATCH_BENCODE_SYNTAX', 'dictionary key must be a byte string', pos);
      const [s, next] = readString(input, pos, limits);
      const key = s.toString('utf8');
      if (Object.prototype.hasOwnProperty.call(top.value, key)) {
        throw new BencodeError('ERR_PINLATCH_BENCODE_DUPLICATE_KEY', `duplicate dictionary key "${key}"`, pos);
      }
      top.key = key;
      pos = next;
      continue;
    }

    let value: BencodeValue;
    let container: Frame | undefined;
    if (c === CH_D || c === CH_L) {
      if (stack.length >= limits.maxDepth) {
        throw new BencodeError('ERR_PINLATCH_BENCODE_TOO_DEEP', `nesting deeper than ${limits.maxDepth}`, pos);
      }
      if (c === CH_D) {
        const dict = Object.create(null) as BencodeDict;
        container = { kind: 1, value: dict, key: null };
        value = dict;
      } else {
        const list: BencodeValue[] = [];
        container = { kind: 0, value: list };
        value = list;
      }
      pos += 1;
    } else if (c === CH_I) {
      const [n, next] = readInteger(input, pos + 1);
      value = n;
      pos = next;
    } else if (c >= CH_0 && c <= CH_9) {
      const [s, next] = readString(input, pos, limits);
      value = s;
      pos = next;
    } else {
      throw new BencodeError('ERR_PINLATCH_BENCODE_SYNTAX', `unexpected byte 0x${c.toString(16).padStart(2, '0')}`, pos);
    }

    items += 1;
    if (items > limits.maxItems) {
      throw new BencodeError('ERR_PINLATCH_BENCODE_TOO_MANY_ITEMS', `more than ${limits.maxItems} values`, pos);
    }

    if (top === undefined) {
      if (container === undefined) return { value, end: pos };
    } else if (top.kind === 0) {
      top.value.push(value);
    } else {
      top.value[top.key!] = value;
      top.key = null;
    }
    if (container !== undefined) stack.push(container);
  }
}

/** Reads `<digits>:<bytes>` at `pos`; returns the bytes (a view, not a copy) and the next offset. */
function readString(input: Buffer, pos: number, limits: BencodeLimits): [Buffer, number] {
  const len = input.length;
  let n = 0;
  let p = pos;
  const first = input[p]!;
  // "0:" is the empty string; "01:" is a leading zero and not canonical.
  if (first === CH_0 && p + 1 < len && input[p + 1] !== CH_COLON) {
    throw new BencodeError('ERR_PINLATCH_BENCODE_SYNTAX', 'string length with a leading zero', pos);
  }
  while (p < len) {
    const d = input[p]!;
    if (d === CH_COLON) break;
    if (d < CH_0 || d > CH_9) throw new BencodeError('ERR_PINLATCH_BENCODE_SYNTAX', 'bad string length', p);
    n = n * 10 + (d - CH_0);
    if (n > limits.maxStringBytes) {
      throw new BencodeError('ERR_PINLATCH_BENCODE_STRING_TOO_LONG', `string longer than ${limits.maxStringBytes} bytes`, pos);
    }
    p += 1;
  }
  if (p >= len) throw new BencodeError('ERR_PINLATCH_BENCODE_TRUNCATED', 'input ends inside a string length', pos);
  const startOfBytes = p + 1;
  const end = startOfBytes + n;
  if (end > len) throw new BencodeError('ERR_PINLATCH_BENCODE_TRUNCATED', `string of ${n} bytes runs past the input`, pos);
  return [input.subarray(startOfBytes, end), end];
}

/** Reads the digits of `i...e` starting just after the `i`. */
function readInteger(input: Buffer, pos: number): [number, number] {
  const len = input.length;
  let p = pos;
  let negative = false;
  if (p < len && input[p] === CH_MINUS) {
    negative = true;
    p += 1;
  }
  const digitsStart = p;
  let n = 0;
  while (p < len) {
    const d = input[p]!;
    if (d === CH_E) break;
    if (d < CH_0 || d > CH_9) throw new BencodeError('ERR_PINLATCH_BENCODE_INTEGER', 'bad integer digit', p);
    n = n * 10 + (d - CH_0);
    if (n > Number.MAX_SAFE_INTEGER) throw new BencodeError('ERR_PINLATCH_BENCODE_INTEGER', 'integer out of range', pos);
    p += 1;
  }
  if (p >= len) throw new BencodeError('ERR_PINLATCH_BENCODE_TRUNCATED', 'input ends inside an integer', pos);
  const digits = p - digitsStart;
  if (digits === 0) throw new BencodeError('ERR_PINLATCH_BENCODE_INTEGER', 'integer without digits', pos);
  if (digits > 1 && input[digitsStart] === CH_0) throw new BencodeError('ERR_PINLATCH_BENCODE_INTEGER', 'integer with a leading zero', pos);
  if (negative && n === 0) throw new BencodeError('ERR_PINLATCH_BENCODE_INTEGER', 'negative zero', pos);
  return [negative ? -n : n, p + 1];
}

/**
 * Parses a JSON object the way rtpengine accepts JSON NG requests, into the same value model as
 * `decode` (strings become UTF-8 Buffers). V8's JSON.parse is iterative, so depth is checked on
 * the parsed tree, also without recursion. Only strings, integers, arrays and objects are allowed:
 * bencode has nothing else.
 */
export function decodeJson(input: Buffer, limits: BencodeLimits = DEFAULT_BENCODE_LIMITS, start = 0): BencodeDict {
  if (input.length - start > limits.maxBytes) {
    throw new BencodeError('ERR_PINLATCH_BENCODE_TOO_LARGE', `message of ${input.length - start} bytes exceeds ${limits.maxBytes}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(input.toString('utf8', start));
  } catch (err) {
    throw new BencodeError('ERR_PINLATCH_BENCODE_JSON', `invalid JSON: ${(err as Error).message}`);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new BencodeError('ERR_PINLATCH_BENCODE_TYPE', 'JSON message must be an object');
  }
  const root = Object.create(null) as BencodeDict;
  // Work list of (source, target, depth); converting parent before children keeps it flat.
  const work: Array<[unknown, BencodeDict | BencodeValue[], number]> = [[parsed, root, 1]];
  let items = 1;
  while (work.length > 0) {
    const [source, target, depth] = work.pop()!;
    const entries: Array<[string | number, unknown]> = Array.isArray(source)
      ? source.map((v, i) => [i, v])
      : Object.entries(source as Record<string, unknown>);
    for (const [k, v] of entries) {
      items += 1;
      if (items > limits.maxItems) throw new BencodeError('ERR_PINLATCH_BENCODE_TOO_MANY_ITEMS', `more than ${limits.maxItems} values`);
      let out: BencodeValue;
      if (typeof v === 'string') {
        out = Buffer.from(v, 'utf8');
        if (out.length > limits.maxStringBytes) {
          throw new BencodeError('ERR_PINLATCH_BENCODE_STRING_TOO_LONG', `string longer than ${limits.maxStringBytes} bytes`);
        }
      } else if (typeof v === 'number') {
        if (!Number.isSafeInteger(v)) throw new BencodeError('ERR_PINLATCH_BENCODE_INTEGER', `not an integer: ${v}`);
        out = v;
      } else if (v !== null && typeof v === 'object') {
        if (depth + 1 > limits.maxDepth) throw new BencodeError('ERR_PINLATCH_BENCODE_TOO_DEEP', `nesting deeper than ${limits.maxDepth}`);
        out = Array.isArray(v) ? [] : (Object.create(null) as BencodeDict);
        work.push([v, out, depth + 1]);
      } else {
        throw new BencodeError('ERR_PINLATCH_BENCODE_TYPE', `unsupported JSON value for "${k}": ${v === null ? 'null' : typeof v}`);
      }
      if (Array.isArray(target)) target.push(out);
      else target[k as string] = out;
    }
  }
  return root;
}

/**
 * Encodes a value. Dictionary keys are written in insertion order (not sorted), like rtpengine's
 * replies; `undefined` dictionary values are skipped so replies can be built with optional fields.
 * Our own replies are shallow; the depth cap only guards against a caller handing in a cycle.
 */
export function encode(value: BencodeInput, maxDepth = DEFAULT_BENCODE_LIMITS.maxDepth): Buffer {
  const parts: Buffer[] = [];
  let total = 0;
  // Consecutive text is joined in one string and converted once: fewer, larger writes.
  let text = '';
  const flush = (): void => {
    if (text.length > 0) {
      const b = Buffer.from(text, 'utf8');
      parts.push(b);
      total += b.length;
      text = '';
    }
  };
  const walk = (v: BencodeInput, depth: number): void => {
    if (typeof v === 'string') {
      text += `${Buffer.byteLength(v, 'utf8')}:${v}`;
    } else if (typeof v === 'number') {
      if (!Number.isSafeInteger(v)) throw new BencodeError('ERR_PINLATCH_BENCODE_INTEGER', `cannot encode ${v}`);
      text += `i${v}e`;
    } else if (Buffer.isBuffer(v)) {
      text += `${v.length}:`;
      flush();
      parts.push(v);
      total += v.length;
    } else {
      if (depth >= maxDepth) throw new BencodeError('ERR_PINLATCH_BENCODE_TOO_DEEP', `nesting deeper than ${maxDepth}`);
      if (Array.isArray(v)) {
        text += 'l';
        for (const item of v as readonly BencodeInput[]) walk(item, depth + 1);
        text += 'e';
      } else if (v !== null && typeof v === 'object') {
        text += 'd';
        for (const key of Object.keys(v)) {
          const item = (v as { readonly [key: string]: BencodeInput | undefined })[key];
          if (item === undefined) continue;
          text += `${Buffer.byteLength(key, 'utf8')}:${key}`;
          walk(item, depth + 1);
        }
        text += 'e';
      } else {
        throw new BencodeError('ERR_PINLATCH_BENCODE_TYPE', `cannot encode ${v === null ? 'null' : typeof v}`);
      }
    }
  };
  walk(value, 0);
  flush();
  return parts.length === 1 ? parts[0]! : Buffer.concat(parts, total);
}

/** JSON form of a value for JSON NG replies: Buffers become UTF-8 strings. */
export function toJsonValue(value: BencodeInput): unknown {
  if (Buffer.isBuffer(value)) return value.toString('utf8');
  if (Array.isArray(value)) return (value as readonly BencodeInput[]).map(toJsonValue);
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) if (v !== undefined) out[k] = toJsonValue(v as BencodeInput);
    return out;
  }
  return value;
}
