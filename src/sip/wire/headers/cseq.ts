/**
 * CSeq (RFC 3261 §20.16): `1*DIGIT LWS Method`. The number is a 32-bit unsigned integer (§8.1.1.5);
 * larger values are invalid (RFC 4475 §3.1.2.4 scalar02, §3.1.2.5 scalarlg). Leading zeros are
 * allowed (§3.1.1.1 wsinv: `0009`).
 */
import { SipHeaderError } from '../errors.js';
import { isToken } from './syntax.js';

export interface CSeq {
  seq: number;
  method: string;
}

/**
 * True for the characters of the pattern class \s (ECMAScript WhiteSpace and LineTerminator). The
 * method is the run of characters up to one of them, then only SP / HTAB may follow: a run that is
 * not a token is an "invalid method", anything else after it a malformed CSeq.
 */
function isPatternSpace(code: number): boolean {
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

function isSpOrHtab(code: number): boolean {
  return code === 0x20 || code === 0x09;
}

/** Reads `[WSP] 1*DIGIT 1*WSP method [WSP]` by index (every message's CSeq goes through it). */
export function parseCSeq(value: string): CSeq {
  const length = value.length;
  let i = 0;
  while (i < length && isSpOrHtab(value.charCodeAt(i))) i++;
  const digitsStart = i;
  while (i < length && value.charCodeAt(i) >= 0x30 && value.charCodeAt(i) <= 0x39) i++;
  const digitsEnd = i;
  while (i < length && isSpOrHtab(value.charCodeAt(i))) i++;
  const methodStart = i;
  while (i < length && !isPatternSpace(value.charCodeAt(i))) i++;
  const methodEnd = i;
  while (i < length && isSpOrHtab(value.charCodeAt(i))) i++;
  if (digitsEnd === digitsStart || methodStart === digitsEnd || methodEnd === methodStart || i !== length) {
    throw new SipHeaderError('CSeq', 'expected "<number> <method>"');
  }
  const seq = parseUnsigned(value.slice(digitsStart, digitsEnd), 0xffffffff);
  if (seq === null) throw new SipHeaderError('CSeq', 'sequence number out of range');
  const method = value.slice(methodStart, methodEnd);
  if (!isToken(method)) throw new SipHeaderError('CSeq', 'invalid method');
  return { seq, method };
}

export function formatCSeq(cseq: CSeq): string {
  return `${cseq.seq} ${cseq.method}`;
}

/** Decimal digits to a number no larger than `max`, or null (never a negative or NaN). */
export function parseUnsigned(digits: string, max: number): number | null {
  if (digits.length === 0) return null;
  let value = 0;
  for (let i = 0; i < digits.length; i++) {
    const code = digits.charCodeAt(i);
    if (code < 0x30 || code > 0x39) return null;
    value = value * 10 + (code - 0x30);
    // Past max there is no way back down: stop before the number loses precision.
    if (value > max) return null;
  }
  return value;
}
