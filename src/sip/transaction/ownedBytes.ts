/**
 * Bytes a transaction keeps for its linger time (Timer D, J: 32 s on UDP), in a memory block of
 * their own. A small Buffer from `Buffer.allocUnsafe` (every serialized SIP message under 4 KiB)
 * is a slice of an 8 KiB pool block shared with the messages built just before and after it, and
 * one slice kept alive keeps the whole block: a 400-byte 200 OK held for Timer J held 8 KiB.
 */
export function ownedBytes(data: Buffer): Buffer {
  if (data.byteOffset === 0 && data.buffer.byteLength === data.length) return data;
  const own = Buffer.allocUnsafeSlow(data.length);
  data.copy(own);
  return own;
}
