/**
 * CIDR prefixes (RFC 4632 §3.1 for IPv4, RFC 4291 §2.3 for IPv6): parsing, and matching an
 * address against one prefix or against a set of them. Pure, no I/O; allow-lists and address
 * rules everywhere in pinlatch use it.
 *
 * IPv4-mapped IPv6 (RFC 4291 §2.5.5.2) is IPv4: `::ffff:192.0.2.1` as an address is 192.0.2.1 (a
 * dual-stack socket reports IPv4 peers that way), and a prefix written inside `::ffff:0:0/96`
 * (e.g. `::ffff:10.0.0.0/104`) is the IPv4 prefix it covers (10.0.0.0/8). An IPv6 prefix never
 * matches an IPv4 address and an IPv4 prefix never matches an IPv6 one: `::/0` is "every IPv6
 * address", not "every address" (write `0.0.0.0/0` beside it for that).
 */
import { parseIp, type IpAddress, type IpFamily } from './address.js';

export type CidrErrorCode =
  /** Not `address` or `address/length`, or the address part is not an IP literal. */
  | 'ERR_PINLATCH_CIDR_SYNTAX'
  /** The length is not an integer in 0..32 (IPv4) or 0..128 (IPv6). */
  | 'ERR_PINLATCH_CIDR_PREFIX'
  /** Bits beyond the prefix length are set (`10.0.0.1/8`); see `ParseCidrOptions.allowHostBits`. */
  | 'ERR_PINLATCH_CIDR_HOST_BITS';

export class CidrError extends Error {
  readonly code: CidrErrorCode;
  /** The text that failed to parse. */
  readonly input: string;

  constructor(code: CidrErrorCode, input: string, message: string) {
    super(message);
    this.name = 'CidrError';
    this.code = code;
    this.input = input;
  }
}

export interface Cidr {
  family: IpFamily;
  /** Network-order bytes of the network address (host bits zero): 4 for IPv4, 16 for IPv6. */
  bytes: Uint8Array;
  /** Prefix length in bits: 0..32 for IPv4, 0..128 for IPv6. */
  prefix: number;
  /** Canonical text: `network/prefix`, always with the length (`192.0.2.1/32`, `2001:db8::/32`). */
  text: string;
}

export interface ParseCidrOptions {
  /**
   * Accept an address with bits set beyond the prefix (`10.1.2.3/8`) and clear them, instead of
   * refusing it. Off by default: in a hand-written allow-list such an entry is more often a typo
   * (`/8` meant `/32`) than a deliberate network.
   */
  allowHostBits?: boolean;
}

const PREFIX_DIGITS = /^(0|[1-9][0-9]{0,2})$/;

function maskBytes(bytes: Uint8Array, prefix: number): Uint8Array {
  const out = new Uint8Array(bytes.length);
  for (let i = 0, bits = prefix; i < bytes.length && bits > 0; i++, bits -= 8) {
    out[i] = bytes[i]! & (bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff);
  }
  return out;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** True when the 16 bytes are `::ffff:0:0/96` (RFC 4291 §2.5.5.2). */
function isMappedPrefix(bytes: Uint8Array): boolean {
  for (let i = 0; i < 10; i++) if (bytes[i] !== 0) return false;
  return bytes[10] === 0xff && bytes[11] === 0xff;
}

/**
 * Parses `address/length` or a bare address (a single host: /32 for IPv4, /128 for IPv6).
 * IPv6 may be in brackets (`[2001:db8::]/32`); a zone (`%eth0`) is refused, since a prefix is
 * not bound to an interface. Throws CidrError.
 */
export function parseCidr(input: string, options: ParseCidrOptions = {}): Cidr {
  if (typeof input !== 'string') {
    throw new CidrError('ERR_PINLATCH_CIDR_SYNTAX', String(input), `not a CIDR prefix: ${String(input)}`);
  }
  const text = input.trim();
  const slash = text.lastIndexOf('/');
  const addressText = slash === -1 ? text : text.slice(0, slash);
  const prefixText = slash === -1 ? null : text.slice(slash + 1);

  if (addressText.includes('%')) {
    throw new CidrError('ERR_PINLATCH_CIDR_SYNTAX', input, `a CIDR prefix has no zone: "${input}"`);
  }
  // parseIp turns ::ffff:a.b.c.d into IPv4; the written family decides how the length reads.
  const writtenV6 = addressText.includes(':');
  const address = parseIp(addressText);
  if (!address) {
    throw new CidrError(
      'ERR_PINLATCH_CIDR_SYNTAX',
      input,
      `not a CIDR prefix: "${input}" (expected an IPv4/IPv6 address, optionally followed by /length)`,
    );
  }
  const maxPrefix = writtenV6 ? 128 : 32;
  let prefix = maxPrefix;
  if (prefixText !== null) {
    if (!PREFIX_DIGITS.test(prefixText) || Number(prefixText) > maxPrefix) {
      throw new CidrError(
        'ERR_PINLATCH_CIDR_PREFIX',
        input,
        `invalid prefix length in "${input}": must be an integer from 0 to ${maxPrefix}`,
      );
    }
    prefix = Number(prefixText);
  }

  let family: IpFamily = address.family;
  let bytes = address.bytes;
  if (writtenV6 && address.family === 4) {
    // Written as ::ffff:a.b.c.d: an IPv4 prefix when its length stays within the mapped /96,
    // otherwise an IPv6 prefix wider than the mapped range, which has host bits set (the ffff
    // group) and, with allowHostBits, becomes a network outside it (matches IPv6 only).
    if (prefix >= 96) {
      prefix -= 96;
    } else {
      family = 6;
      bytes = new Uint8Array(16);
      bytes[10] = 0xff;
      bytes[11] = 0xff;
      bytes.set(address.bytes, 12);
    }
  }

  const network = maskBytes(bytes, prefix);
  if (!options.allowHostBits && !sameBytes(network, bytes)) {
    const suggestion = formatCidr(family, network, prefix);
    throw new CidrError(
      'ERR_PINLATCH_CIDR_HOST_BITS',
      input,
      `"${input}" has bits set beyond its /${prefix} prefix; write the network (${suggestion}) or the host (/${family === 4 ? 32 : 128})`,
    );
  }
  return { family, bytes: network, prefix, text: formatCidr(family, network, prefix) };
}

/** parseCidr that returns null instead of throwing. */
export function tryParseCidr(input: string, options: ParseCidrOptions = {}): Cidr | null {
  try {
    return parseCidr(input, options);
  } catch (err) {
    if (err instanceof CidrError) return null;
    throw err;
  }
}

function formatCidr(family: IpFamily, bytes: Uint8Array, prefix: number): string {
  if (family === 4) return `${bytes[0]}.${bytes[1]}.${bytes[2]}.${bytes[3]}/${prefix}`;
  const groups: string[] = [];
  for (let i = 0; i < 8; i++) groups.push(((bytes[i * 2]! << 8) | bytes[i * 2 + 1]!).toString(16));
  // A family-6 network is never inside ::ffff:0:0/96 (parseCidr turns those into IPv4), so
  // parseIp reads the groups back as IPv6 and gives their RFC 5952 text.
  const text = parseIp(groups.join(':'))!.text;
  return `${text}/${prefix}`;
}

function toAddress(address: string | IpAddress): IpAddress | null {
  return typeof address === 'string' ? parseIp(address) : address;
}

/** The IPv4-mapped IPv6 view of an address object that still carries 16 mapped bytes. */
function normalizeFamily(address: IpAddress): { family: IpFamily; bytes: Uint8Array } {
  if (address.family === 6 && isMappedPrefix(address.bytes)) {
    return { family: 4, bytes: address.bytes.subarray(12) };
  }
  return address;
}

/** True when `address` lies within `cidr`. A string that is not an IP literal is never inside. */
export function cidrContains(cidr: Cidr, address: string | IpAddress): boolean {
  const parsed = toAddress(address);
  if (!parsed) return false;
  const { family, bytes } = normalizeFamily(parsed);
  if (family !== cidr.family) return false;
  let bits = cidr.prefix;
  for (let i = 0; bits > 0; i++, bits -= 8) {
    const mask = bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff;
    if ((bytes[i]! & mask) !== cidr.bytes[i]) return false;
  }
  return true;
}

function ipv4Word(bytes: Uint8Array): number {
  return ((bytes[0]! << 24) | (bytes[1]! << 16) | (bytes[2]! << 8) | bytes[3]!) >>> 0;
}

function ipv4Mask(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

/**
 * An immutable set of CIDR prefixes, asked one question: is this address in any of them?
 * IPv4 entries are kept as (network, mask) 32-bit words so a lookup is a few integer operations
 * per entry; sets in configuration are short (a handful of networks), so a linear scan beats a
 * trie here.
 */
export class CidrSet {
  readonly entries: readonly Cidr[];
  private readonly v4: Uint32Array;
  private readonly v6: readonly Cidr[];

  constructor(entries: Iterable<Cidr>) {
    const list = [...entries];
    this.entries = Object.freeze(list);
    const v4 = list.filter((c) => c.family === 4);
    this.v4 = new Uint32Array(v4.length * 2);
    v4.forEach((c, i) => {
      this.v4[i * 2] = ipv4Word(c.bytes);
      this.v4[i * 2 + 1] = ipv4Mask(c.prefix);
    });
    this.v6 = list.filter((c) => c.family === 6);
  }

  /**
   * Parses every entry (see parseCidr). Throws CidrError naming the first bad entry; the caller
   * adds where the list came from (a config key, a command argument).
   */
  static parse(inputs: Iterable<string>, options: ParseCidrOptions = {}): CidrSet {
    return new CidrSet([...inputs].map((input) => parseCidr(input, options)));
  }

  /** Loopback only: 127.0.0.0/8 and ::1/128. */
  static loopback(): CidrSet {
    return CidrSet.parse(['127.0.0.0/8', '::1/128']);
  }

  get size(): number {
    return this.entries.length;
  }

  /** True when `address` (an IP literal or a parsed address) lies in at least one entry. */
  has(address: string | IpAddress): boolean {
    const parsed = toAddress(address);
    if (!parsed) return false;
    const { family, bytes } = normalizeFamily(parsed);
    if (family === 4) {
      const word = ipv4Word(bytes);
      for (let i = 0; i < this.v4.length; i += 2) {
        if (((word & this.v4[i + 1]!) >>> 0) === this.v4[i]) return true;
      }
      return false;
    }
    for (const cidr of this.v6) if (cidrContains(cidr, parsed)) return true;
    return false;
  }

  /** The canonical text of every entry, in the order given. */
  toJSON(): string[] {
    return this.entries.map((c) => c.text);
  }

  toString(): string {
    return this.entries.map((c) => c.text).join(', ');
  }
}
