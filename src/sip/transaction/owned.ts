/**
 * Copies of their own for what outlives the message it was read from: a transaction's bytes for
 * its linger time (Timer D, J, L: 32 s on UDP), a dialog's tags and keys for the call's life.
 *
 * A small Buffer from `Buffer.allocUnsafe` (every serialized SIP message under 4 KiB) is a slice
 * of an 8 KiB pool block shared with the messages built just before and after it, and one slice
 * kept alive keeps the whole block: a 400-byte 200 OK held for Timer J held 8 KiB.
 *
 * A string read from a message (a tag, a Call-ID, a branch) is, in V8, a slice of the whole
 * message's text, and a key built from such slices is a chain of them: kept in a table, it keeps
 * the whole INVITE or BYE alive. Encoding and decoding makes a flat string of just its characters.
 */
export function ownedBytes(data: Buffer): Buffer {
  if (data.byteOffset === 0 && data.buffer.byteLength === data.length) return data;
  const own = Buffer.allocUnsafeSlow(data.length);
  data.copy(own);
  return own;
}

/**
 * Where ownedString copies through: a call makes a couple of dozen such strings, and a Buffer of
 * their own each would be that many more objects for the young generation to sweep.
 */
const scratch = Buffer.allocUnsafeSlow(4096);

export function ownedString(text: string): string {
  // utf8 takes at most three bytes per UTF-16 unit: what fits is copied through the scratch buffer.
  if (text.length * 3 > scratch.length) return Buffer.from(text, 'utf8').toString('utf8');
  return scratch.toString('utf8', 0, scratch.write(text, 0, 'utf8'));
}
