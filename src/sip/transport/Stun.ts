/**
 * STUN Binding on the SIP UDP port (RFC 5389 §7, as RFC 5626 §4.4.2 uses it for keepalives): a
 * phone behind NAT sends a Binding request now and then to hold its mapping open and to learn its
 * public address. The answer is a Binding success response with XOR-MAPPED-ADDRESS; nothing else
 * of STUN is needed (no authentication, no other methods or attributes).
 *
 * SIP never starts with a byte below 0x20, STUN always with 0x00 or 0x01 (RFC 7983 §7 shows the
 * same demultiplexing for RTP), and a STUN message carries the magic cookie: the two never mix.
 */
import { parseIp } from '../../net/address.js';

const MAGIC_COOKIE = 0x2112a442;
const HEADER_BYTES = 20;
const BINDING_REQUEST = 0x0001;
const BINDING_SUCCESS = 0x0101;
const XOR_MAPPED_ADDRESS = 0x0020;

/** True when `data` is a STUN message (header shape and magic cookie). */
export function isStun(data: Buffer): boolean {
  return data.length >= HEADER_BYTES && (data[0]! & 0xc0) === 0 && data.readUInt32BE(4) === MAGIC_COOKIE && (data.readUInt16BE(2) & 3) === 0;
}

/**
 * The answer to a Binding request from `address`:`port`, or null when `data` is not a
 * well-formed Binding request (other STUN messages are not answered).
 */
export function bindingResponse(data: Buffer, address: string, port: number): Buffer | null {
  if (!isStun(data) || data.readUInt16BE(0) !== BINDING_REQUEST || data.readUInt16BE(2) !== data.length - HEADER_BYTES) return null;
  const ip = parseIp(address);
  if (!ip) return null;
  const transactionId = data.subarray(8, HEADER_BYTES);
  const value = Buffer.alloc(4 + ip.bytes.length);
  value[1] = ip.family === 4 ? 0x01 : 0x02;
  value.writeUInt16BE(port ^ (MAGIC_COOKIE >>> 16), 2);
  // RFC 5389 §15.2: the address XORed with the cookie (IPv4) or the cookie and transaction ID (IPv6).
  const mask = Buffer.concat([Buffer.from([0x21, 0x12, 0xa4, 0x42]), transactionId]);
  for (let i = 0; i < ip.bytes.length; i++) value[4 + i] = ip.bytes[i]! ^ mask[i]!;
  const out = Buffer.alloc(HEADER_BYTES + 4 + value.length);
  out.writeUInt16BE(BINDING_SUCCESS, 0);
  out.writeUInt16BE(4 + value.length, 2);
  out.writeUInt32BE(MAGIC_COOKIE, 4);
  transactionId.copy(out, 8);
  out.writeUInt16BE(XOR_MAPPED_ADDRESS, HEADER_BYTES);
  out.writeUInt16BE(value.length, HEADER_BYTES + 2);
  value.copy(out, HEADER_BYTES + 4);
  return out;
}
