/**
 * The flow token in the Path URI pinlatch adds to a phone's REGISTER (RFC 3327; RFC 5626 §5.2:
 * "the flow token MUST be ... unforgeable").
 *
 * The registrar hands the Path back as the Route of every request for the phone, so the token is
 * all pinlatch needs to find the phone again — even after a restart. It carries the flow itself
 * (transport, the phone's public address and port, pinlatch's socket) and an HMAC over it, so a
 * forged or altered token is recognised and refused (430 Flow Failed / 403), never followed:
 * otherwise anyone who can reach the registrar's side could make pinlatch send to any address.
 *
 * Layout: version (1), transport (1: 0 UDP, 1 TCP), address lengths (1: high nibble remote, low
 * nibble local, 4 or 16 bytes each as 1 or 4), remote address, remote port (2), local address,
 * local port (2), HMAC-SHA256 truncated to 12 bytes. Written as lowercase hex (the Contact alias
 * puts it in a URI parameter, whose value compares case-insensitively, RFC 3261 §19.1.4; a
 * mixed-case alphabet could also spell "CSeq", which sipp looks for anywhere in a message), read
 * in either case; the base64url form of earlier versions is told apart by its length (36, 52 or
 * 68 characters against 54, 78 or 102) and still read.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { parseIp } from '../../net/address.js';
import type { Flow } from './Flow.js';

const VERSION = 1;
const MAC_BYTES = 12;
/** Bytes of a token: two IPv4 addresses, one of each family, two IPv6 addresses. */
const TOKEN_BYTES: readonly number[] = [15, 27, 39].map((body) => body + MAC_BYTES);
const HEX = /^[0-9A-Fa-f]+$/;
const BASE64URL = /^[A-Za-z0-9_-]+$/;

/** The token's bytes, from hex or (as earlier versions wrote it) base64url; null for anything else. */
function tokenBytes(token: string): Buffer | null {
  if (token.length % 2 === 0 && TOKEN_BYTES.includes(token.length / 2) && HEX.test(token)) return Buffer.from(token, 'hex');
  if (TOKEN_BYTES.some((n) => token.length === Math.ceil((n * 4) / 3)) && BASE64URL.test(token)) return Buffer.from(token, 'base64url');
  return null;
}

function addressBytes(address: string): Uint8Array | null {
  return parseIp(address)?.bytes ?? null;
}

function addressText(bytes: Uint8Array): string | null {
  if (bytes.length === 4) return `${bytes[0]}.${bytes[1]}.${bytes[2]}.${bytes[3]}`;
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((bytes[i]! << 8) | bytes[i + 1]!).toString(16));
  return parseIp(groups.join(':'))?.text ?? null;
}

export class FlowTokens {
  constructor(private readonly key: Buffer) {}

  private mac(body: Buffer): Buffer {
    return createHmac('sha256', this.key).update(body).digest().subarray(0, MAC_BYTES);
  }

  /** The token for `flow`; throws RangeError for an address that is not an IP literal. */
  encode(flow: Flow): string {
    const remote = addressBytes(flow.address);
    const local = addressBytes(flow.localAddress);
    if (!remote || !local) throw new RangeError(`flow addresses must be IP literals: ${flow.address}, ${flow.localAddress}`);
    const body = Buffer.alloc(3 + remote.length + 2 + local.length + 2);
    body[0] = VERSION;
    body[1] = flow.transport === 'tcp' ? 1 : 0;
    body[2] = ((remote.length / 4) << 4) | (local.length / 4);
    body.set(remote, 3);
    let at = body.writeUInt16BE(flow.port, 3 + remote.length);
    body.set(local, at);
    body.writeUInt16BE(flow.localPort, at + local.length);
    return Buffer.concat([body, this.mac(body)]).toString('hex');
  }

  /** The flow a token names, or null when it is not one of ours (forged, altered, garbage). */
  decode(token: string): Flow | null {
    const raw = tokenBytes(token);
    if (raw === null) return null;
    const remoteLength = (raw[2]! >> 4) * 4;
    const localLength = (raw[2]! & 0x0f) * 4;
    const bodyLength = 3 + remoteLength + 2 + localLength + 2;
    if (raw.length !== bodyLength + MAC_BYTES || raw[0] !== VERSION || raw[1]! > 1) return null;
    if ((remoteLength !== 4 && remoteLength !== 16) || (localLength !== 4 && localLength !== 16)) return null;
    const body = raw.subarray(0, bodyLength);
    if (!timingSafeEqual(raw.subarray(bodyLength), this.mac(body))) return null;
    const address = addressText(body.subarray(3, 3 + remoteLength));
    const port = body.readUInt16BE(3 + remoteLength);
    const localAt = 5 + remoteLength;
    const localAddress = addressText(body.subarray(localAt, localAt + localLength));
    const localPort = body.readUInt16BE(localAt + localLength);
    if (address === null || localAddress === null) return null;
    return { transport: body[1] === 1 ? 'tcp' : 'udp', address, port, localAddress, localPort };
  }
}
