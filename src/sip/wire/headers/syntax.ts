/**
 * Lexical pieces of RFC 3261 §25.1 shared by the header parsers: token characters, linear white
 * space, quoted strings with quoted-pair escapes, and comma splitting that respects quotes and
 * angle brackets.
 *
 * Header values reach these functions already unfolded (the parser replaces CRLF + WSP by SP,
 * §7.3.1), so LWS here is just runs of SP / HTAB. The readers take a range of a string, `text[i, end)`:
 * a received value is read in place in the text of its whole message (see HeaderField), so nothing
 * here may look at or past `end`.
 *
 * Beside the text, the readers take its `codes` (see codesOf): they test characters there and cut
 * strings out of the text. For a value read in place the codes are the received datagram itself,
 * whose latin1 decoding the message text is, so the two agree index for index; a load from a
 * Uint8Array costs this V8 about half of a charCodeAt (~0.7 against ~1.6 ns per character in a
 * reader's loop), and every URI, Via and parameter of every message goes through these loops.
 */

/**
 * One byte per character of `text`, for the readers: the character's code, or 0xff for one above
 * U+00FF. Every reader treats all codes from 0x80 up alike (none of them is a delimiter, token or
 * URI character) except the whitespace test of String.prototype.trim, which looks at the text for
 * those (isJsWhitespaceAt).
 */
export function codesOf(text: string): Uint8Array {
  // A Buffer, as a datagram is: the readers' loads then see one kind of array.
  const codes = Buffer.alloc(text.length);
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    codes[i] = code > 0xff ? 0xff : code;
  }
  return codes;
}

// token = 1*(alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" / "`" / "'" / "~")
const TOKEN_CHARS = new Uint8Array(128);
for (const c of 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-.!%*_+`\'~') {
  TOKEN_CHARS[c.charCodeAt(0)] = 1;
}

export function isTokenCode(code: number): boolean {
  return code < 128 && TOKEN_CHARS[code] === 1;
}

export function isToken(text: string): boolean {
  if (text.length === 0) return false;
  for (let i = 0; i < text.length; i++) if (!isTokenCode(text.charCodeAt(i))) return false;
  return true;
}

export function isWsp(code: number): boolean {
  return code === 0x20 || code === 0x09;
}

/**
 * True for the characters String.prototype.trim removes and the pattern class \s matches
 * (ECMAScript WhiteSpace and LineTerminator): list elements are trimmed of these, as before the
 * values were read in place.
 */
export function isJsWhitespace(code: number): boolean {
  if (code <= 0x20) return code === 0x20 || (code >= 0x09 && code <= 0x0d);
  if (code < 0xa0) return false;
  return (
    code === 0xa0 ||
    code === 0x1680 ||
    (code >= 0x2000 && code <= 0x200a) ||
    code === 0x2028 ||
    code === 0x2029 ||
    code === 0x202f ||
    code === 0x205f ||
    code === 0x3000 ||
    code === 0xfeff
  );
}

/** isJsWhitespace of text[i]: its code decides below 0x80, the text itself above (codesOf). */
export function isJsWhitespaceAt(text: string, codes: Uint8Array, i: number): boolean {
  const code = codes[i]!;
  return code < 0x80 ? code === 0x20 || (code >= 0x09 && code <= 0x0d) : isJsWhitespace(text.charCodeAt(i));
}

/** Index of the first non-SP/HTAB character of codes[i, end), or `end`. */
export function skipWsp(codes: Uint8Array, i: number, end: number): number {
  while (i < end && isWsp(codes[i]!)) i++;
  return i;
}

/** End index (exclusive) of the token starting at `i` (== i when there is none), at most `end`. */
export function tokenEnd(codes: Uint8Array, i: number, end: number): number {
  while (i < end && isTokenCode(codes[i]!)) i++;
  return i;
}

/** True when codes[from, to) is a token (non-empty, token characters only). */
export function isTokenAt(codes: Uint8Array, from: number, to: number): boolean {
  if (from >= to) return false;
  for (let i = from; i < to; i++) if (!isTokenCode(codes[i]!)) return false;
  return true;
}

/** Index of the character `code` in codes[from, to), or -1 (indexOf would search past `to`). */
export function indexWithin(codes: Uint8Array, code: number, from: number, to: number): number {
  for (let i = from; i < to; i++) if (codes[i] === code) return i;
  return -1;
}

/**
 * End (the index after the closing quote) of the quoted-string whose opening `"` is at `start`,
 * or -1 when the quote is not closed before `end` (RFC 4475 §3.1.2.6 quotbal).
 * quoted-pair = "\" (%x00-09 / %x0B-0C / %x0E-7F): the octet after a backslash never closes it.
 */
export function quotedStringEnd(codes: Uint8Array, start: number, end: number): number {
  for (let i = start + 1; i < end; i++) {
    const code = codes[i]!;
    if (code === 0x5c) {
      if (i + 1 >= end) return -1;
      const next = codes[i + 1]!;
      if (next === 0x0a || next === 0x0d) return -1;
      i++;
    } else if (code === 0x22) {
      return i + 1;
    }
  }
  return -1;
}

/**
 * Reads a quoted-string whose opening `"` is at `start`. Returns the unescaped content and the
 * index after the closing quote, or null when the quote is not closed (see quotedStringEnd).
 * The escaped octet of a quoted-pair is kept, the backslash dropped.
 */
export function readQuotedString(text: string, codes: Uint8Array, start: number, limit: number): { value: string; end: number } | null {
  const end = quotedStringEnd(codes, start, limit);
  if (end === -1) return null;
  let value = '';
  let runStart = start + 1;
  for (let i = start + 1; i < end - 1; i++) {
    if (codes[i] === 0x5c) {
      value += text.slice(runStart, i);
      runStart = i + 1;
      i++;
    }
  }
  value += text.slice(runStart, end - 1);
  return { value, end };
}

/** Encloses `value` in quotes, escaping `"` and `\` (the inverse of readQuotedString). */
export function quoteString(value: string): string {
  return `"${value.replace(/["\\]/g, '\\$&')}"`;
}

/** Removes the quotes of a quoted-string value; other values are returned unchanged. */
export function unquote(value: string): string {
  if (value.length >= 2 && value.charCodeAt(0) === 0x22) {
    const quoted = readQuotedString(value, codesOf(value), 0, value.length);
    if (quoted && quoted.end === value.length) return quoted.value;
  }
  return value;
}

/**
 * Splits a list header value, text[from, to), on the commas that separate its elements: not those
 * inside a quoted-string or between < and > (a URI may contain commas, RFC 3261 §20.10 / §25.1).
 * Elements are trimmed as String.prototype.trim trims; empty elements are kept so that typed
 * parsers can reject `Via: ...;;,;,,` (RFC 4475 §3.1.2.1 badinv01). An unterminated quote or
 * bracket keeps the rest of the value in the last element, where the typed parser reports it.
 */
export function splitList(text: string, codes: Uint8Array, from: number, to: number): string[] {
  const out: string[] = [];
  for (;;) {
    const comma = listElementEnd(codes, from, to);
    const start = trimStart(text, codes, from, comma);
    out.push(text.slice(start, trimEnd(text, codes, start, comma)));
    if (comma === to) return out;
    from = comma + 1;
  }
}

/**
 * The end of the list element starting at `from` (see splitList): the index of the comma that
 * ends it, or `to`. Each element starts outside quotes and brackets, so the scan of one does not
 * depend on the one before.
 */
export function listElementEnd(codes: Uint8Array, from: number, to: number): number {
  let inQuotes = false;
  let inAngle = false;
  for (let i = from; i < to; i++) {
    const code = codes[i]!;
    if (inQuotes) {
      if (code === 0x5c) i++;
      else if (code === 0x22) inQuotes = false;
    } else if (code === 0x22) {
      inQuotes = true;
    } else if (inAngle) {
      if (code === 0x3e) inAngle = false;
    } else if (code === 0x3c) {
      inAngle = true;
    } else if (code === 0x2c) {
      return i;
    }
  }
  return to;
}

/** The start of text[from, to) trimmed as String.prototype.trim trims (see isJsWhitespace). */
export function trimStart(text: string, codes: Uint8Array, from: number, to: number): number {
  while (from < to && isJsWhitespaceAt(text, codes, from)) from++;
  return from;
}

/** The end of text[from, to) trimmed as String.prototype.trim trims. */
export function trimEnd(text: string, codes: Uint8Array, from: number, to: number): number {
  while (to > from && isJsWhitespaceAt(text, codes, to - 1)) to--;
  return to;
}
