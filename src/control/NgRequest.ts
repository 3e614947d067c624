/**
 * Typed view of one NG request dictionary (rtpengine docs/ng_control_protocol.md).
 *
 * rtpengine is lenient about spelling and pinlatch follows it, because the SIP proxies that talk
 * NG differ: keys and flags may use spaces or hyphens (`received from` / `received-from`,
 * `trust address` / `trust-address`), Kamailio's rtpengine module turns its flag string into
 * `replace-origin`, `rtcp-mux-demux`, `ICE=remove` items, and newer modules send the raw string
 * as `rtpp_flags` for the daemon to parse. All forms end up in the same NgRequest.
 */
import { normalizeIp } from '../net/address.js';
import type { BencodeDict, BencodeValue } from './bencode.js';
import { NgError } from './errors.js';

export type NgCommand = 'ping' | 'offer' | 'answer' | 'delete' | 'query' | 'list' | 'statistics';
const COMMANDS: ReadonlySet<string> = new Set<NgCommand>(['ping', 'offer', 'answer', 'delete', 'query', 'list', 'statistics']);

export type IceMode = 'remove' | 'force' | 'default' | 'optional' | 'force-relay';
const ICE_MODES: ReadonlySet<string> = new Set<IceMode>(['remove', 'force', 'default', 'optional', 'force-relay']);

export type RtcpMuxOption = 'offer' | 'require' | 'demux' | 'accept' | 'reject';
const RTCP_MUX_OPTIONS: ReadonlySet<string> = new Set<RtcpMuxOption>(['offer', 'require', 'demux', 'accept', 'reject']);

/** `replace` items pinlatch acts on (normalised: hyphens, lower case). */
export type ReplaceOption =
  | 'origin'
  | 'origin-full'
  | 'session-name'
  | 'sdp-version'
  | 'username'
  | 'zero-address'
  | 'force-increment-sdp-ver'
  | 'session-connection';
const REPLACE_OPTIONS: ReadonlySet<string> = new Set<ReplaceOption>([
  'origin',
  'origin-full',
  'session-name',
  'sdp-version',
  'username',
  'zero-address',
  'force-increment-sdp-ver',
  'session-connection',
]);

export interface NgRequest {
  command: NgCommand;
  callId: string | undefined;
  fromTag: string | undefined;
  toTag: string | undefined;
  viaBranch: string | undefined;
  sdp: string | undefined;
  /** Normalised flags (hyphens, lower case) that are not replace/rtcp-mux/ICE options. */
  flags: ReadonlySet<string>;
  replace: ReadonlySet<ReplaceOption>;
  rtcpMux: ReadonlySet<RtcpMuxOption>;
  ice: IceMode | undefined;
  /** Address of the SIP message's source (`received from`), canonical text. */
  receivedFrom: string | undefined;
  /** `media address` override, canonical text. */
  mediaAddress: string | undefined;
  transportProtocol: string | undefined;
  direction: readonly [string, string] | undefined;
  /** `delete delay` in seconds. */
  deleteDelay: number | undefined;
  /** `list` limit. */
  limit: number | undefined;
  /** Keys and flags that were understood but that pinlatch ignores (reported as a warning). */
  ignored: string[];
}

/** Hyphenated lower-case form used for every key and flag comparison. */
export function normalizeName(name: string): string {
  return name.trim().toLowerCase().replace(/[ _]+/g, '-');
}

export function bytesToText(value: BencodeValue | undefined, key: string): string | undefined {
  if (value === undefined) return undefined;
  if (Buffer.isBuffer(value)) return value.toString('utf8');
  if (typeof value === 'number') return String(value);
  throw new NgError('ERR_PINLATCH_NG_BAD_VALUE', `"${key}" must be a string`);
}

function textList(value: BencodeValue | undefined, key: string): string[] {
  if (value === undefined) return [];
  if (Buffer.isBuffer(value)) return [value.toString('utf8')];
  if (!Array.isArray(value)) throw new NgError('ERR_PINLATCH_NG_BAD_VALUE', `"${key}" must be a list of strings`);
  return value.map((v) => {
    if (!Buffer.isBuffer(v)) throw new NgError('ERR_PINLATCH_NG_BAD_VALUE', `"${key}" must be a list of strings`);
    return v.toString('utf8');
  });
}

function integer(value: BencodeValue | string | undefined, key: string): number | undefined {
  if (value === undefined) return undefined;
  const digits = typeof value === 'string' ? value : Buffer.isBuffer(value) ? value.toString('latin1') : undefined;
  const n = typeof value === 'number' ? value : digits !== undefined && /^-?\d+$/.test(digits) ? Number(digits) : NaN;
  if (!Number.isSafeInteger(n)) throw new NgError('ERR_PINLATCH_NG_BAD_VALUE', `"${key}" must be an integer`);
  return n;
}

function address(text: string, key: string): string {
  const canonical = normalizeIp(text);
  if (canonical === null) throw new NgError('ERR_PINLATCH_NG_BAD_VALUE', `"${key}" is not an IP address: ${text}`);
  return canonical;
}

/** `received from`: ["IP4", "1.2.3.4"] (rtpengine's form), or a bare address string. */
function receivedFromValue(value: BencodeValue, key: string): string {
  if (Buffer.isBuffer(value)) return address(value.toString('utf8'), key);
  const parts = textList(value, key);
  if (parts.length !== 2) throw new NgError('ERR_PINLATCH_NG_BAD_VALUE', `"${key}" must be [family, address]`);
  const family = parts[0]!.toUpperCase();
  if (family !== 'IP4' && family !== 'IP6') throw new NgError('ERR_PINLATCH_NG_BAD_VALUE', `"${key}" family must be IP4 or IP6`);
  const canonical = address(parts[1]!, key);
  if (canonical.includes(':') !== (family === 'IP6')) {
    throw new NgError('ERR_PINLATCH_NG_BAD_VALUE', `"${key}" address ${canonical} is not ${family}`);
  }
  return canonical;
}

/** Mutable accumulator while the dictionary, the flags list and rtpp_flags are folded in. */
interface Builder {
  flags: Set<string>;
  replace: Set<ReplaceOption>;
  rtcpMux: Set<RtcpMuxOption>;
  ice: IceMode | undefined;
  ignored: string[];
}

function addReplace(b: Builder, item: string, key: string): void {
  const name = normalizeName(item);
  if (!REPLACE_OPTIONS.has(name)) throw new NgError('ERR_PINLATCH_NG_BAD_VALUE', `unknown "${key}" item: ${item}`);
  b.replace.add(name as ReplaceOption);
}

function addRtcpMux(b: Builder, item: string, key: string): void {
  const name = normalizeName(item);
  if (!RTCP_MUX_OPTIONS.has(name)) throw new NgError('ERR_PINLATCH_NG_BAD_VALUE', `unknown "${key}" item: ${item}`);
  b.rtcpMux.add(name as RtcpMuxOption);
}

function setIce(b: Builder, value: string): void {
  const name = normalizeName(value);
  if (!ICE_MODES.has(name)) throw new NgError('ERR_PINLATCH_NG_BAD_VALUE', `unknown ICE mode: ${value}`);
  b.ice = name as IceMode;
}

/**
 * One item of the `flags` list (or one word of `rtpp_flags`). Returns a `key=value` pair for
 * the caller to treat like a dictionary key, or null when the flag was consumed here.
 */
function addFlag(b: Builder, raw: string): [string, string] | null {
  const eq = raw.indexOf('=');
  if (eq > 0) return [normalizeName(raw.slice(0, eq)), raw.slice(eq + 1)];
  const name = normalizeName(raw);
  if (name.length === 0) return null;
  if (name.startsWith('replace-')) addReplace(b, name.slice('replace-'.length), 'replace');
  else if (name.startsWith('rtcp-mux-')) addRtcpMux(b, name.slice('rtcp-mux-'.length), 'rtcp-mux');
  else if (name === 'force-increment-sdp-ver') b.replace.add('force-increment-sdp-ver');
  else if (name === 'reject-ice') b.ice = 'remove';
  else b.flags.add(name);
  return null;
}

/** Parses and validates the request dictionary; throws NgError with an rtpengine-like reason. */
export function parseNgRequest(dict: BencodeDict): NgRequest {
  // Index the keys by their normalised name once; lookups below use those names.
  const keys = new Map<string, [string, BencodeValue]>();
  for (const raw of Object.keys(dict)) keys.set(normalizeName(raw), [raw, dict[raw]!]);
  const get = (name: string): BencodeValue | undefined => keys.get(name)?.[1];

  const commandText = bytesToText(get('command'), 'command');
  if (commandText === undefined) throw new NgError('ERR_PINLATCH_NG_UNKNOWN_COMMAND', 'No command given');
  const command = commandText.toLowerCase();
  if (!COMMANDS.has(command)) throw new NgError('ERR_PINLATCH_NG_UNKNOWN_COMMAND', `Unrecognized command: ${commandText}`);

  const b: Builder = { flags: new Set(), replace: new Set(), rtcpMux: new Set(), ice: undefined, ignored: [] };
  // Key/value pairs coming from `flags` items or rtpp_flags words (`ICE=remove`, `media-address=...`).
  const extra = new Map<string, string>();

  for (const item of textList(get('flags'), 'flags')) {
    const kv = addFlag(b, item);
    if (kv !== null) extra.set(kv[0], kv[1]);
  }
  const rtppFlags = bytesToText(get('rtpp-flags'), 'rtpp_flags');
  if (rtppFlags !== undefined) {
    for (const word of rtppFlags.split(/\s+/)) {
      const kv = addFlag(b, word);
      if (kv !== null) extra.set(kv[0], kv[1]);
    }
  }
  for (const item of textList(get('replace'), 'replace')) addReplace(b, item, 'replace');
  for (const item of textList(get('rtcp-mux'), 'rtcp-mux')) addRtcpMux(b, item, 'rtcp-mux');

  const iceValue = bytesToText(get('ice'), 'ICE') ?? extra.get('ice');
  if (iceValue !== undefined) setIce(b, iceValue);

  let receivedFrom: string | undefined;
  const rf = get('received-from');
  if (rf !== undefined) receivedFrom = receivedFromValue(rf, 'received from');
  else if (extra.has('received-from')) receivedFrom = address(extra.get('received-from')!, 'received from');

  const mediaAddressText = bytesToText(get('media-address'), 'media address') ?? extra.get('media-address');
  const mediaAddress = mediaAddressText === undefined ? undefined : address(mediaAddressText, 'media address');

  const transportProtocol = bytesToText(get('transport-protocol'), 'transport protocol') ?? extra.get('transport-protocol');

  let direction: readonly [string, string] | undefined;
  const dir = get('direction');
  if (dir !== undefined) {
    const parts = textList(dir, 'direction');
    if (parts.length !== 2) throw new NgError('ERR_PINLATCH_NG_BAD_VALUE', '"direction" must list two interfaces');
    direction = [parts[0]!, parts[1]!];
  }

  const deleteDelay = integer(get('delete-delay') ?? extra.get('delete-delay'), 'delete delay');
  if (deleteDelay !== undefined && deleteDelay < 0) throw new NgError('ERR_PINLATCH_NG_BAD_VALUE', '"delete delay" must not be negative');
  const limit = integer(get('limit'), 'limit');
  if (limit !== undefined && limit <= 0) throw new NgError('ERR_PINLATCH_NG_BAD_VALUE', '"limit" must be > 0');

  const text = (name: string, label: string): string | undefined => {
    const v = bytesToText(get(name), label) ?? extra.get(name);
    return v === undefined || v.length === 0 ? undefined : v;
  };

  for (const [name] of extra) {
    if (!['ice', 'received-from', 'media-address', 'transport-protocol', 'delete-delay', 'call-id', 'from-tag', 'to-tag', 'via-branch'].includes(name)) {
      b.ignored.push(name);
    }
  }

  return {
    command: command as NgCommand,
    callId: text('call-id', 'call-id'),
    fromTag: text('from-tag', 'from-tag'),
    toTag: text('to-tag', 'to-tag'),
    viaBranch: text('via-branch', 'via-branch'),
    sdp: bytesToText(get('sdp'), 'sdp'),
    flags: b.flags,
    replace: b.replace,
    rtcpMux: b.rtcpMux,
    ice: b.ice,
    receivedFrom,
    mediaAddress,
    transportProtocol,
    direction,
    deleteDelay,
    limit,
    ignored: b.ignored,
  };
}
