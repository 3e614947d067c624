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

const CSEQ = /^[ \t]*([0-9]+)[ \t]+(\S+)[ \t]*$/;

export function parseCSeq(value: string): CSeq {
  const match = CSEQ.exec(value);
  if (!match) throw new SipHeaderError('CSeq', 'expected "<number> <method>"');
  const seq = parseUnsigned(match[1]!, 0xffffffff);
  if (seq === null) throw new SipHeaderError('CSeq', 'sequence number out of range');
  if (!isToken(match[2]!)) throw new SipHeaderError('CSeq', 'invalid method');
  return { seq, method: match[2]! };
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
