/**
 * The answer to a malformed request. The transport only reports parse failures (its 'parseError'
 * event); the proxy decides to answer, and calls this to build the response it sends back to the
 * request's source (RFC 3261 §8.2: 400 for a request it cannot process, with the reason in the
 * Reason-Phrase; §8.2.6 response construction; 505 for an unsupported SIP-Version; 513 for an
 * oversized message).
 *
 * Returns null when there is nobody to answer: the bytes were not a request, its topmost Via could
 * not be read (no route back, §18.2.2), or it was an ACK (never answered, §17.1.1.3).
 */
import type { SipParseError } from './errors.js';
import { createResponse, type SipResponse } from './message.js';

export function responseForParseError(error: SipParseError, options: { toTag?: string } = {}): SipResponse | null {
  if (!error.replyable) return null;
  const request = error.partial;
  if (!request || request.kind !== 'request' || request.method === 'ACK') return null;
  const response = createResponse(request, error.status, { reason: error.reason, toTag: options.toTag });
  // A request with duplicated single-value headers (RFC 4475 §3.3.8 multi01) must not produce a
  // response that repeats them: keep the first of each, as received.
  for (const key of ['from', 'to', 'call-id', 'cseq']) {
    if (response.count(key) > 1) response.set(key, response.get(key)!);
  }
  return response;
}
