/**
 * Whether a request as received still fits the parser's limits (by default DEFAULT_PARSE_LIMITS:
 * 65535 bytes, about the largest UDP datagram; 16 KiB a field; 256 fields) once pinlatch has
 * added what it adds to a forwarded request: `received`/`rport` on the top Via (RFC 3581 §4), its
 * own Via (RFC 3261 §16.6 step 8), up to two Record-Route entries (§16.6 step 4) and, for a
 * phone's REGISTER, a Path (RFC 3327), and a trunk's host in the Request-URI (§16.5). A request
 * at the limits would otherwise leave at a size the next hop refuses under the same limits
 * (another pinlatch among them), after a transaction and perhaps media were set up for it: the
 * proxy answers it 513 Message Too Large (§21.5.14) instead, its Via left as it came (and its To
 * without a tag when that has no room either), so that the answer parses where the request did.
 * A request that fits also leaves room in To for the tag of any answer of pinlatch's own. Pure:
 * the proxy and the SIP fuzz target ask the same question.
 */
import { DEFAULT_PARSE_LIMITS, type ParseLimits } from '../wire/parser.js';
import type { SipRequest } from '../wire/message.js';

/** Header fields pinlatch may add: a Via, two Record-Routes, a Path. */
export const FORWARD_ROOM_FIELDS = 4;
/**
 * Bytes pinlatch may add in all: a Via (≤ 130 with an IPv6 address), two Record-Routes with the
 * pin, spiral and token parameters (≤ 2 × 250 with a trunk name of 64 characters), a Path with a
 * flow token (≤ 250), and room to spare.
 */
export const FORWARD_ROOM_BYTES = 1024;
/** Bytes the Request-URI may grow when its host becomes a trunk's (a host name is at most 253). */
export const FORWARD_ROOM_START_LINE = 256;
/** Bytes stamping adds to the top Via: `;received=` and an IPv6 address, a value for `;rport`. */
export const FORWARD_ROOM_VIA_STAMP = 64;
/**
 * Bytes a To field may grow in a response of pinlatch's own: `;tag=` and the tag, and the `< >`
 * of the name-addr form it is written in.
 */
export const RESPONSE_ROOM_TO_TAG = 64;

/** Whether the To field leaves room for the tag of a response of pinlatch's own (§8.2.6.2). */
export function toTagFits(request: SipRequest, limits: ParseLimits = DEFAULT_PARSE_LIMITS): boolean {
  const to = request.fields.find((f) => f.key === 'to');
  return to === undefined || to.wireLength + RESPONSE_ROOM_TO_TAG <= limits.maxFieldBytes;
}

export function fitsWhenForwarded(request: SipRequest, receivedBytes: number, limits: ParseLimits = DEFAULT_PARSE_LIMITS): boolean {
  if (receivedBytes + FORWARD_ROOM_BYTES > limits.maxMessageBytes) return false;
  if (request.fields.length + FORWARD_ROOM_FIELDS > limits.maxHeaderCount) return false;
  const startLine = request.method.length + 1 + Buffer.byteLength(request.uriText, 'utf8') + 1 + 'SIP/2.0'.length;
  if (startLine + FORWARD_ROOM_START_LINE > limits.maxFieldBytes) return false;
  // The top Via is the one forwarded field that grows, To the one of pinlatch's own responses;
  // every other field passed the parser as it is.
  const via = request.fields.find((f) => f.key === 'via');
  if (via !== undefined && via.wireLength + FORWARD_ROOM_VIA_STAMP > limits.maxFieldBytes) return false;
  return toTagFits(request, limits);
}
