/**
 * Via (RFC 3261 §20.42, §25.1), with the parameters proxies work with: branch (§8.1.1.7, the
 * z9hG4bK magic cookie), received (§18.2.1), rport (RFC 3581), maddr and ttl.
 *
 *   via-parm = sent-protocol LWS sent-by *( SEMI via-params )
 *   sent-protocol = protocol-name SLASH protocol-version SLASH transport   (SLASH = SWS "/" SWS)
 */
import { parseIp } from '../../../net/address.js';
import { normalizedIp } from '../normalizedIp.js';
import { SipHeaderError } from '../errors.js';
import { Params, readParams, type ParamValue } from './params.js';
import { codesOf, indexWithin, listElementEnd, skipWsp, tokenEnd, trimEnd, trimStart } from './syntax.js';

/** The RFC 3261 branch prefix (§8.1.1.7). */
export const BRANCH_MAGIC_COOKIE = 'z9hG4bK';

export class Via {
  protocolName: string;
  protocolVersion: string;
  /** Transport token, uppercase (UDP, TCP, TLS, SCTP, WS, or an extension, RFC 4475 §3.1.1.10). */
  transport: string;
  /** sent-by host without brackets. */
  host: string;
  port: number | undefined;
  params: Params;

  constructor(init: {
    transport: string;
    host: string;
    port?: number | undefined;
    params?: Params | Iterable<[string, string | null]>;
    protocolName?: string;
    protocolVersion?: string;
  }) {
    this.protocolName = init.protocolName ?? 'SIP';
    this.protocolVersion = init.protocolVersion ?? '2.0';
    this.transport = init.transport.toUpperCase();
    this.host = init.host.startsWith('[') && init.host.endsWith(']') ? init.host.slice(1, -1) : init.host;
    this.port = init.port;
    this.params = init.params instanceof Params ? init.params : new Params(init.params ?? []);
  }

  get branch(): string | undefined {
    const value = this.params.get('branch');
    return typeof value === 'string' ? value : undefined;
  }

  set branch(value: string | undefined) {
    if (value === undefined) this.params.delete('branch');
    else this.params.set('branch', value);
  }

  get received(): string | undefined {
    const value = this.params.get('received');
    return typeof value === 'string' ? value : undefined;
  }

  /**
   * RFC 3581 rport: undefined when absent, null when present without a value (the client asks
   * for it to be filled in), the port number once filled in.
   */
  get rport(): number | null | undefined {
    const value = this.params.get('rport');
    if (value === undefined || value === null) return value;
    const port = Number(value);
    return Number.isInteger(port) && port > 0 && port <= 65535 ? port : undefined;
  }

  get maddr(): string | undefined {
    const value = this.params.get('maddr');
    return typeof value === 'string' ? value : undefined;
  }

  /** sent-by as written: `host[:port]`, IPv6 in brackets. */
  get sentBy(): string {
    const host = this.host.includes(':') ? `[${this.host}]` : this.host;
    return this.port === undefined ? host : `${host}:${this.port}`;
  }

  /** True when the branch has the RFC 3261 cookie AND something after it (RFC 4475 §3.2.1 badbranch). */
  get hasRfc3261Branch(): boolean {
    const branch = this.branch;
    return branch !== undefined && branch.length > BRANCH_MAGIC_COOKIE.length && branch.startsWith(BRANCH_MAGIC_COOKIE);
  }

  /** True for transports with their own reliability (RFC 3261 §17.1.1.2, §18: no retransmissions). */
  get reliable(): boolean {
    return this.transport !== 'UDP';
  }

  clone(): Via {
    return new Via({
      protocolName: this.protocolName,
      protocolVersion: this.protocolVersion,
      transport: this.transport,
      host: this.host,
      port: this.port,
      params: this.params.clone(),
    });
  }

  toString(): string {
    return `${this.protocolName}/${this.protocolVersion}/${this.transport} ${this.sentBy}${this.params.toString()}`;
  }
}

function isHostCode(code: number): boolean {
  return (code >= 0x30 && code <= 0x39) || (code >= 0x41 && code <= 0x5a) || (code >= 0x61 && code <= 0x7a) || code === 0x2e || code === 0x2d;
}

/** Parses one via-parm (one comma-separated element of a Via header value). */
export function parseVia(text: string): Via {
  return readVia(text, codesOf(text), 0, text.length, true)!;
}

/**
 * Reads one via-parm, text[from, to) (`codes` as in syntax.ts), by the grammar of parseVia,
 * throwing the same SipHeaderError. With `build` it returns the Via; without, it only checks and
 * returns null, allocating nothing for an IPv4 or host name sent-by (the validation of every
 * received message).
 */
function readVia(text: string, codes: Uint8Array, from: number, to: number, build: boolean): Via | null {
  let i = skipWsp(codes, from, to);
  const protocol: string[] | null = build ? [] : null;
  for (let n = 0; n < 3; n++) {
    const end = tokenEnd(codes, i, to);
    if (end === i) throw new SipHeaderError('Via', 'malformed sent-protocol');
    protocol?.push(text.slice(i, end));
    i = skipWsp(codes, end, to);
    if (n < 2) {
      if (i >= to || codes[i] !== 0x2f) throw new SipHeaderError('Via', 'malformed sent-protocol');
      i = skipWsp(codes, i + 1, to);
    } else if (i === end) {
      throw new SipHeaderError('Via', 'missing LWS between sent-protocol and sent-by');
    }
  }
  let host = '';
  if (i < to && codes[i] === 0x5b) {
    const close = indexWithin(codes, 0x5d, i, to);
    if (close === -1) throw new SipHeaderError('Via', 'unterminated IPv6 reference');
    host = text.slice(i + 1, close);
    const ip = parseIp(host);
    if (!ip || ip.family !== 6) throw new SipHeaderError('Via', 'invalid IPv6 reference in sent-by');
    i = close + 1;
  } else {
    let end = i;
    while (end < to && isHostCode(codes[end]!)) end++;
    if (end === i) throw new SipHeaderError('Via', 'missing sent-by host');
    if (build) host = text.slice(i, end);
    i = end;
  }
  let port: number | undefined;
  const colon = skipWsp(codes, i, to);
  if (colon < to && codes[colon] === 0x3a) {
    const start = skipWsp(codes, colon + 1, to);
    let end = start;
    let value = 0;
    for (; end < to; end++) {
      const code = codes[end]!;
      if (code < 0x30 || code > 0x39) break;
      value = value * 10 + code - 0x30;
    }
    if (end === start || end - start > 5 || value > 65535) throw new SipHeaderError('Via', 'invalid sent-by port');
    port = value;
    i = end;
  }
  const entries: Array<string | null> | null = build ? [] : null;
  const paramsEnd = readParams(text, codes, i, to, entries);
  if (typeof paramsEnd === 'string') throw new SipHeaderError('Via', paramsEnd);
  if (paramsEnd !== to) throw new SipHeaderError('Via', `unexpected "${text[paramsEnd]}"`);
  if (!entries || !protocol) return null;
  const [protocolName, protocolVersion, transport] = protocol as [string, string, string];
  return new Via({ protocolName, protocolVersion, transport, host, port, params: Params.adopt(entries) });
}

/**
 * Reads a whole Via header value, text[from, to) (one or more comma-separated via-parms, each
 * trimmed as splitList trims it), adding each to `out` when given. Without a comma in the range
 * (`hasComma` false) the value is one element and is not scanned for one.
 */
export function readViaList(text: string, codes: Uint8Array, from: number, to: number, hasComma: boolean, out: Via[] | null): void {
  for (;;) {
    const comma = hasComma ? listElementEnd(codes, from, to) : to;
    const start = trimStart(text, codes, from, comma);
    const end = trimEnd(text, codes, start, comma);
    if (start === end) throw new SipHeaderError('Via', 'empty element');
    const via = readVia(text, codes, start, end, out !== null);
    if (out && via) out.push(via);
    if (comma === to) return;
    from = comma + 1;
  }
}

/**
 * Reads the first via-parm of a Via header value, text[from, to), as readViaList reads it, and
 * not the others: a response's topmost Via is all a proxy reads of it (§16.7 step 3), and a relayed
 * response carries at least two.
 */
export function readFirstVia(text: string, codes: Uint8Array, from: number, to: number, hasComma: boolean): Via {
  const comma = hasComma ? listElementEnd(codes, from, to) : to;
  const start = trimStart(text, codes, from, comma);
  const end = trimEnd(text, codes, start, comma);
  if (start === end) throw new SipHeaderError('Via', 'empty element');
  return readVia(text, codes, start, end, true)!;
}

/** Parses a whole Via header value (one or more comma-separated via-parms). */
export function parseViaList(value: string): Via[] {
  const out: Via[] = [];
  readViaList(value, codesOf(value), 0, value.length, value.includes(','), out);
  return out;
}

/** Source of a received request, as the transport reports it. */
export interface PacketSource {
  address: string;
  port: number;
}

/**
 * The server side of RFC 3261 §18.2.1 and RFC 3581 §4, applied to the topmost Via of a received
 * request: add `received` when the sent-by host differs from the packet's source address (always
 * when rport was requested), and fill an empty `rport` with the source port. Returns true when the
 * Via changed (the caller then writes it back into the message).
 */
export function stampReceived(via: Via, source: PacketSource): boolean {
  const rportRequested = via.params.get('rport') === null;
  const sourceIp = normalizedIp(source.address) ?? source.address;
  const sentByIp = normalizedIp(via.host);
  let changed = false;
  if (rportRequested || sentByIp !== sourceIp) {
    if (via.received !== sourceIp) {
      via.params.set('received', sourceIp);
      changed = true;
    }
  }
  if (rportRequested) {
    via.params.set('rport', String(source.port));
    changed = true;
  }
  return changed;
}

/**
 * Where a response to the request carrying this (topmost) Via goes over an unreliable transport
 * (RFC 3261 §18.2.2, RFC 3581 §4): maddr if present; otherwise the `received` address (or the
 * sent-by host) and the `rport` value (or the sent-by port, or 5060). Over a reliable transport
 * the response goes back on the request's connection first; this is the fallback.
 */
export function responseDestination(via: Via): { host: string; port: number } {
  const maddr = via.maddr;
  if (maddr !== undefined) return { host: maddr, port: via.port ?? 5060 };
  const rport = via.rport;
  return {
    host: via.received ?? via.host,
    port: typeof rport === 'number' ? rport : via.port ?? (via.transport === 'TLS' ? 5061 : 5060),
  };
}
