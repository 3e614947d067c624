/**
 * CSeq (RFC 3261 §20.16): `1*DIGIT LWS Method`. The number is a 32-bit unsigned integer (§8.1.1.5);
 * larger values are invalid (RFC 4475 §3.1.2.4 scalar02, §3.1.2.5 scalarlg). Leading zeros are
 * allowed (§3.1.1.1 wsinv: `0009`).
 */
import { SipHeaderError } from '../errors.js';
import { isJsWhitespaceAt, isTokenCode } from './syntax.js';

export interface CSeq {
  seq: number;
  method: string;
}

function isSpOrHtab(code: number): boolean {
  return code === 0x20 || code === 0x09;
}

/**
 * Reads text[from, to) (`codes` as in syntax.ts) as `[WSP] 1*DIGIT 1*WSP method [WSP]` by index
 * (every message's CSeq goes through it). The method is the run of characters up to one of the
 * pattern class \s (see isJsWhitespace), then only SP / HTAB may follow: a run that is not a token
 * is an "invalid method", anything else after it a malformed CSeq.
 */
export function readCSeq(text: string, codes: Uint8Array, from: number, to: number): CSeq {
  let i = from;
  while (i < to && isSpOrHtab(codes[i]!)) i++;
  const digitsStart = i;
  // The number and whether the method is a token are taken in the passes that find their ends.
  let seq = 0;
  for (; i < to; i++) {
    const code = codes[i]!;
    if (code < 0x30 || code > 0x39) break;
    // Past 2^32 - 1 there is no way back down: stop counting before the number loses precision.
    if (seq <= 0xffffffff) seq = seq * 10 + (code - 0x30);
  }
  const digitsEnd = i;
  while (i < to && isSpOrHtab(codes[i]!)) i++;
  const methodStart = i;
  let token = true;
  for (; i < to && !isJsWhitespaceAt(text, codes, i); i++) token &&= isTokenCode(codes[i]!);
  const methodEnd = i;
  while (i < to && isSpOrHtab(codes[i]!)) i++;
  if (digitsEnd === digitsStart || methodStart === digitsEnd || methodEnd === methodStart || i !== to) {
    throw new SipHeaderError('CSeq', 'expected "<number> <method>"');
  }
  if (seq > 0xffffffff) throw new SipHeaderError('CSeq', 'sequence number out of range');
  if (!token) throw new SipHeaderError('CSeq', 'invalid method');
  return { seq, method: text.slice(methodStart, methodEnd) };
}

export function formatCSeq(cseq: CSeq): string {
  return `${cseq.seq} ${cseq.method}`;
}

/** The decimal digits codes[from, to) as a number no larger than `max`, or null. */
export function readUnsigned(codes: Uint8Array, from: number, to: number, max: number): number | null {
  if (from >= to) return null;
  let value = 0;
  for (let i = from; i < to; i++) {
    const code = codes[i]!;
    if (code < 0x30 || code > 0x39) return null;
    value = value * 10 + (code - 0x30);
    // Past max there is no way back down: stop before the number loses precision.
    if (value > max) return null;
  }
  return value;
}
