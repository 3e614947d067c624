/** A STUN Binding request (RFC 5389 §6): the 20-byte header with the magic cookie and a random transaction ID. */
import { randomBytes } from 'node:crypto';

export function bindingRequest(): Buffer {
  const request = Buffer.alloc(20);
  request.writeUInt16BE(0x0001, 0);
  request.writeUInt32BE(0x2112a442, 4);
  randomBytes(12).copy(request, 8);
  return request;
}
