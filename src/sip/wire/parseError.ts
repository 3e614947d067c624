/**
 * A message that is not valid SIP, and the answer it gets.
 *
 * SipParseError is the one the proxy acts on: for a malformed request whose headers were readable
 * (see `replyable`), RFC 3261 §8.2 / §16.3 want a 400 (or 505 / 513) answer carrying `reason`;
 * for a malformed response there is nobody to answer (§18.1.2: drop it).
 *
 * The transport only reports parse failures (its 'parseError' event); the proxy decides to answer,
 * and responseForParseError builds the response it sends back to the request's source (RFC 3261
 * §8.2: 400 for a request it cannot process, with the reason in the Reason-Phrase; §8.2.6
 * response construction; 505 for an unsupported SIP-Version; 513 for an oversized message).
 *
 * Returns null when there is nobody to answer: the bytes were not a request, its topmost Via could
 * not be read (no route back, §18.2.2), or it was an ACK (never answered, §17.1.1.3).
 */
import { SipError } from './errors.js';
import { createResponse, type SipMessage, type SipRequest, type SipResponse } from './message.js';

/** What kind of start line the bytes had, as far as it could be told. */
export type StartLineKind = 'request' | 'response' | 'none';

export class SipParseError extends SipError {
  /** Short, ASCII, safe to put into a Reason-Phrase (RFC 3261 §21: 400 "Bad Request" + detail). */
  readonly reason: string;
  /** Status code an answer should carry: 400, 505 (bad SIP-Version) or 513 (too large). */
  readonly status: 400 | 505 | 513;
  readonly startLine: StartLineKind;
  /**
   * The message as far as it was parsed (start line and header section), when the error came
   * after the header section was split; its typed accessors may throw for the header at fault.
   */
  readonly partial: SipMessage | undefined;

  constructor(
    reason: string,
    options: { status?: 400 | 505 | 513; startLine?: StartLineKind; partial?: SipMessage; detail?: string; cause?: unknown } = {},
  ) {
    super(
      'ERR_PINLATCH_SIP_PARSE',
      options.detail === undefined ? reason : `${reason}: ${options.detail}`,
      options.cause === undefined ? undefined : { cause: options.cause },
    );
    this.name = 'SipParseError';
    this.reason = reason;
    this.status = options.status ?? 400;
    this.startLine = options.startLine ?? options.partial?.kind ?? 'none';
    this.partial = options.partial;
  }

  /**
   * True when the bytes were a request whose topmost Via could be read, so an error response
   * can be routed back (RFC 3261 §18.2.2). Malformed responses are never replyable.
   */
  get replyable(): boolean {
    const request = this.partial;
    if (!request || request.kind !== 'request') return false;
    try {
      return (request as SipRequest).topVia !== undefined;
    } catch {
      return false;
    }
  }
}

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
