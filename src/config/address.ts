/** Address checks shared by the schema: IP literals (node:net isIP) and DNS host names. */
import { isIP } from 'node:net';

/** True for 0.0.0.0 and :: — valid to bind, never valid to advertise or to send to. */
export function isUnspecifiedAddress(address: string): boolean {
  return address === '0.0.0.0' || (isIP(address) === 6 && /^[0:]+$/.test(address));
}

/**
 * A DNS host name as RFC 1123 §2.1 allows it: dot-separated labels of letters, digits and
 * hyphens, 1..63 characters each, 253 in all. A name made only of digits and dots is refused,
 * because it is a mistyped IPv4 literal far more often than a real name.
 */
export function isHostName(value: string): boolean {
  const name = value.endsWith('.') ? value.slice(0, -1) : value;
  if (name.length === 0 || name.length > 253) return false;
  if (/^[\d.]+$/.test(name)) return false;
  return name
    .split('.')
    .every((label) => /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/i.test(label));
}
