/**
 * IP address literals: parsing, canonical text, and the routable / non-routable classification
 * that NAT detection and latching rely on.
 *
 * An address is "non-routable" when a packet carrying it as a destination cannot be delivered
 * across the public Internet: the peer that put it into SDP or a Contact is behind NAT (or is
 * local), so the relay must not trust it and learns the real address from packet sources instead.
 *
 * Deliberately ROUTABLE: the documentation ranges 192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24
 * (RFC 5737) and 2001:db8::/32 (RFC 3849). They never appear on the Internet, but pinlatch's own
 * tests (network namespaces) and examples use them as stand-ins for public addresses, and treating
 * them as private would make every such test exercise the NAT path instead of the public one.
 */

export type IpFamily = 4 | 6;

/** Why an address is (not) routable; everything but 'public' is non-routable. */
export type AddressClass =
  | 'public'
  /** RFC 1918: 10/8, 172.16/12, 192.168/16. */
  | 'private'
  /** RFC 6598: 100.64/10, carrier-grade NAT shared space. */
  | 'shared'
  /** 127/8, ::1. */
  | 'loopback'
  /** 169.254/16 (RFC 3927), fe80::/10 (RFC 4291 §2.5.6). */
  | 'link-local'
  /** fec0::/10, deprecated by RFC 3879 but still non-routable. */
  | 'site-local'
  /** 192.0.0.0/24 (RFC 6890 IETF protocol assignments; RFC 7335 DS-Lite B4 addresses). */
  | 'ietf-protocol'
  /** fc00::/7 (RFC 4193). */
  | 'unique-local'
  /** 0/8 "this network" (RFC 1122 §3.2.1.3), ::/128. */
  | 'unspecified'
  /** 224/4 (RFC 5771), ff00::/8 (RFC 4291 §2.7). */
  | 'multicast'
  /** 240/4 (RFC 1112 §4), except the broadcast address. */
  | 'reserved'
  /** 255.255.255.255 limited broadcast (RFC 919). */
  | 'broadcast';

export interface IpAddress {
  family: IpFamily;
  /** Network-order bytes: 4 for IPv4, 16 for IPv6. IPv4-mapped IPv6 is returned as IPv4. */
  bytes: Uint8Array;
  /** Canonical text: dotted quad, or RFC 5952 IPv6 (lowercase, longest zero run as `::`). */
  text: string;
  /** IPv6 zone (scope) id after `%`, when present; not part of `bytes` or `text`. */
  zone?: string;
}

const HEX_GROUP = /^[0-9a-fA-F]{1,4}$/;

const DOT = 0x2e;
const ZERO = 0x30;
const NINE = 0x39;

/**
 * A dotted quad's bytes, read character by character: this runs for several addresses of every
 * SIP message and every media leg, where a split and a regular expression per octet showed in
 * the main thread's profile (1-2 %).
 */
function parseIpv4Bytes(text: string): Uint8Array | null {
  const bytes = new Uint8Array(4);
  let index = 0;
  let octet = 0;
  let digits = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === DOT) {
      if (digits === 0 || index === 3) return null;
      bytes[index++] = octet;
      octet = 0;
      digits = 0;
    } else if (c >= ZERO && c <= NINE) {
      // Leading zeros are rejected: inet_aton reads "010" as octal 8, so such a literal is ambiguous.
      if (digits === 1 && octet === 0) return null;
      octet = octet * 10 + (c - ZERO);
      digits += 1;
      if (octet > 255) return null;
    } else {
      return null;
    }
  }
  if (digits === 0 || index !== 3) return null;
  bytes[3] = octet;
  return bytes;
}

function parseIpv6Bytes(text: string): Uint8Array | null {
  if (text.length === 0 || text.length > 45) return null;
  const doubleColon = text.indexOf('::');
  if (doubleColon !== -1 && text.indexOf('::', doubleColon + 1) !== -1) return null;
  const [headText, tailText] =
    doubleColon === -1 ? [text, null] : [text.slice(0, doubleColon), text.slice(doubleColon + 2)];

  const toGroups = (part: string, allowIpv4Tail: boolean): number[] | null => {
    if (part === '') return [];
    const fields = part.split(':');
    const groups: number[] = [];
    for (let i = 0; i < fields.length; i++) {
      const field = fields[i]!;
      if (allowIpv4Tail && i === fields.length - 1 && field.includes('.')) {
        const v4 = parseIpv4Bytes(field);
        if (!v4) return null;
        groups.push((v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!);
      } else {
        if (!HEX_GROUP.test(field)) return null;
        groups.push(parseInt(field, 16));
      }
    }
    return groups;
  };

  let groups: number[];
  if (tailText === null) {
    const all = toGroups(headText, true);
    if (!all || all.length !== 8) return null;
    groups = all;
  } else {
    const head = toGroups(headText, false);
    const tail = toGroups(tailText, true);
    // `::` stands for at least one zero group (RFC 4291 §2.2; RFC 5952 §4.2.2 forbids it for one
    // group when printing, but parsers accept it).
    if (!head || !tail || head.length + tail.length > 7) return null;
    groups = [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail];
  }
  const bytes = new Uint8Array(16);
  groups.forEach((g, i) => {
    bytes[i * 2] = g >> 8;
    bytes[i * 2 + 1] = g & 0xff;
  });
  return bytes;
}

function isIpv4Mapped(bytes: Uint8Array): boolean {
  for (let i = 0; i < 10; i++) if (bytes[i] !== 0) return false;
  return bytes[10] === 0xff && bytes[11] === 0xff;
}

function formatIpv4(bytes: Uint8Array): string {
  return `${bytes[0]}.${bytes[1]}.${bytes[2]}.${bytes[3]}`;
}

/** RFC 5952 §4: lowercase hex, no leading zeros, the longest run (>= 2) of zero groups as `::`. */
function formatIpv6(bytes: Uint8Array): string {
  const groups: number[] = [];
  for (let i = 0; i < 8; i++) groups.push((bytes[i * 2]! << 8) | bytes[i * 2 + 1]!);
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  const hex = (from: number, to: number) =>
    groups
      .slice(from, to)
      .map((g) => g.toString(16))
      .join(':');
  if (bestStart === -1) return hex(0, 8);
  return `${hex(0, bestStart)}::${hex(bestStart + bestLength, 8)}`;
}

/**
 * Parses an IPv4 or IPv6 literal (IPv6 optionally in brackets, optionally with a `%zone`).
 * IPv4-mapped IPv6 (`::ffff:a.b.c.d`, RFC 4291 §2.5.5.2) is returned as the IPv4 address it
 * carries, so a dual-stack socket's view of an IPv4 peer compares equal to the peer's SDP address.
 * Returns null for anything that is not an address literal (host names included).
 */
export function parseIp(input: string): IpAddress | null {
  if (typeof input !== 'string') return null;
  let text = input.trim();
  if (text.startsWith('[') && text.endsWith(']')) text = text.slice(1, -1);
  if (!text.includes(':')) {
    const bytes = parseIpv4Bytes(text);
    // A dotted quad without leading zeros is its own canonical text.
    return bytes ? { family: 4, bytes, text } : null;
  }
  let zone: string | undefined;
  const percent = text.indexOf('%');
  if (percent !== -1) {
    zone = text.slice(percent + 1);
    text = text.slice(0, percent);
    if (!/^[A-Za-z0-9_.-]{1,64}$/.test(zone)) return null;
  }
  const bytes = parseIpv6Bytes(text);
  if (!bytes) return null;
  if (isIpv4Mapped(bytes)) {
    const v4 = bytes.slice(12);
    return { family: 4, bytes: v4, text: formatIpv4(v4) };
  }
  const address: IpAddress = { family: 6, bytes, text: formatIpv6(bytes) };
  if (zone !== undefined) address.zone = zone;
  return address;
}

/** Canonical text of an address literal, or null when `input` is not one. */
export function normalizeIp(input: string): string | null {
  return parseIp(input)?.text ?? null;
}

/** True when `input` is an IPv4 or IPv6 literal. */
export function isIp(input: string): boolean {
  return parseIp(input) !== null;
}

/** True when both literals denote the same address (IPv4-mapped IPv6 equals its IPv4). */
export function sameAddress(a: string, b: string): boolean {
  const pa = parseIp(a);
  const pb = parseIp(b);
  return pa !== null && pb !== null && pa.text === pb.text;
}

/** True when the first `bits` bits of `bytes` equal those of `prefix`. */
function inPrefix(bytes: Uint8Array, prefix: readonly number[], bits: number): boolean {
  for (let i = 0; bits > 0; i++, bits -= 8) {
    const mask = bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff;
    if ((bytes[i]! & mask) !== ((prefix[i] ?? 0) & mask)) return false;
  }
  return true;
}

type Rule = readonly [prefix: readonly number[], bits: number, cls: AddressClass];

// Order matters only where prefixes nest (255.255.255.255 inside 240/4).
const IPV4_RULES: readonly Rule[] = [
  [[0], 8, 'unspecified'],
  [[10], 8, 'private'],
  [[100, 64], 10, 'shared'],
  [[127], 8, 'loopback'],
  [[169, 254], 16, 'link-local'],
  [[172, 16], 12, 'private'],
  [[192, 0, 0], 24, 'ietf-protocol'],
  [[192, 168], 16, 'private'],
  [[224], 4, 'multicast'],
  [[255, 255, 255, 255], 32, 'broadcast'],
  [[240], 4, 'reserved'],
];

const IPV6_RULES: readonly Rule[] = [
  [[], 128, 'unspecified'],
  [[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1], 128, 'loopback'],
  [[0xfe, 0x80], 10, 'link-local'],
  [[0xfe, 0xc0], 10, 'site-local'],
  [[0xfc], 7, 'unique-local'],
  [[0xff], 8, 'multicast'],
];

/** Classifies an address; null when `input` is not an address literal. */
export function classifyAddress(input: string | IpAddress): AddressClass | null {
  const address = typeof input === 'string' ? parseIp(input) : input;
  if (!address) return null;
  const rules = address.family === 4 ? IPV4_RULES : IPV6_RULES;
  for (const [prefix, bits, cls] of rules) {
    if (inPrefix(address.bytes, prefix, bits)) return cls;
  }
  return 'public';
}

/**
 * True when the address can be reached across the public Internet (see the module comment for
 * the documentation ranges). Anything that is not an address literal is not routable.
 */
export function isRoutable(input: string | IpAddress): boolean {
  return classifyAddress(input) === 'public';
}

/** Address classes of networks that one site may share with the relay (never 'public'). */
const SITE_SCOPED: ReadonlySet<AddressClass> = new Set<AddressClass>(['private', 'shared', 'loopback', 'unique-local', 'site-local']);

/**
 * True when a non-routable peer address is in the same kind of network as the relay's own
 * advertised address (both loopback, both RFC 1918, ...): the peer is then plausibly on the
 * relay's own site rather than behind a NAT. A relay advertising a public address treats every
 * non-routable peer address as behind NAT (RFC 7362 §3).
 */
export function sharesSiteWith(peer: string | IpAddress, advertise: string | IpAddress): boolean {
  const peerClass = classifyAddress(peer);
  return peerClass !== null && SITE_SCOPED.has(peerClass) && peerClass === classifyAddress(advertise);
}
