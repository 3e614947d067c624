/**
 * CSeq (RFC 3261 §20.16): `1*DIGIT LWS Method`. The number is a 32-bit unsigned integer (§8.1.1.5);
 * larger values are invalid (RFC 4475 §3.1.2.4 scalar02, §3.1.2.5 scalarlg). Leading zeros are
 * allowed (§3.1.1.1 wsinv: `0009`).
 */
import { SipHeaderError } from '../errors.js';
import { isJsWhitespace, isTokenAt } from './syntax.js';

export interface CSeq {
  seq: number;
  method: string;
}

function isSpOrHtab(code: number): boolean {
  return code === 0x20 || code === 0x09;
}

/** Parses a CSeq value (see readCSeq). */
export function parseCSeq(value: string): CSeq {
  return readCSeq(value, 0, value.length);
}

/**
 * Reads text[from, to) as `[WSP] 1*DIGIT 1*WSP method [WSP]` by index (every message's CSeq goes
 * through it). The method is the run of characters up to one of the pattern class \s (see
 * isJsWhitespace), then only SP / HTAB may follow: a run that is not a token is an "invalid
 * method", anything else after it a malformed CSeq.
 */
export function readCSeq(text: string, from: number, to: number): CSeq {
  let i = from;
  while (i < to && isSpOrHtab(text.charCodeAt(i))) i++;
  const digitsStart = i;
  while (i < to && text.charCodeAt(i) >= 0x30 && text.charCodeAt(i) <= 0x39) i++;
  const digitsEnd = i;
  while (i < to && isSpOrHtab(text.charCodeAt(i))) i++;
  const methodStart = i;
  while (i < to && !isJsWhitespace(text.charCodeAt(i))) i++;
  const methodEnd = i;
  while (i < to && isSpOrHtab(text.charCodeAt(i))) i++;
  if (digitsEnd === digitsStart || methodStart === digitsEnd || methodEnd === methodStart || i !== to) {
    throw new SipHeaderError('CSeq', 'expected "<number> <method>"');
  }
  const seq = readUnsigned(text, digitsStart, digitsEnd, 0xffffffff);
  if (seq === null) throw new SipHeaderError('CSeq', 'sequence number out of range');
  if (!isTokenAt(text, methodStart, methodEnd)) throw new SipHeaderError('CSeq', 'invalid method');
  return { seq, method: text.slice(methodStart, methodEnd) };
}

export function formatCSeq(cseq: CSeq): string {
  return `${cseq.seq} ${cseq.method}`;
}

/** Decimal digits to a number no larger than `max`, or null (never a negative or NaN). */
export function parseUnsigned(digits: string, max: number): number | null {
  return readUnsigned(digits, 0, digits.length, max);
}

/** The decimal digits text[from, to) as a number no larger than `max`, or null. */
export function readUnsigned(text: string, from: number, to: number, max: number): number | null {
  if (from >= to) return null;
  let value = 0;
  for (let i = from; i < to; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x30 || code > 0x39) return null;
    value = value * 10 + (code - 0x30);
    // Past max there is no way back down: stop before the number loses precision.
    if (value > max) return null;
  }
  return value;
}
