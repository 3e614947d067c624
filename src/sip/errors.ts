/**
 * Errors of the SIP message layer, each with a stable string code.
 *
 * SipParseError is the one the proxy acts on: for a malformed request whose headers were readable
 * (see `replyable`), RFC 3261 §8.2 / §16.3 want a 400 (or 505 / 513) answer carrying `reason`;
 * for a malformed response there is nobody to answer (§18.1.2: drop it). `responseForParseError`
 * in parseErrorResponse.ts builds that answer.
 */
import type { SipMessage, SipRequest } from './message.js';

export type SipErrorCode =
  /** A datagram or framed stream message is not valid SIP (RFC 3261 §7, §25). */
  | 'ERR_PINLATCH_SIP_PARSE'
  /** A header value does not match its grammar (read lazily, so reported on access). */
  | 'ERR_PINLATCH_SIP_HEADER'
  /** A URI is not a valid SIP/SIPS URI or absoluteURI (RFC 3261 §19.1, §25.1). */
  | 'ERR_PINLATCH_SIP_URI'
  /** A byte stream cannot be split into SIP messages (RFC 3261 §18.3): the connection must close. */
  | 'ERR_PINLATCH_SIP_FRAMING'
  /** A transport could not bind, connect or send. */
  | 'ERR_PINLATCH_SIP_TRANSPORT';

export class SipError extends Error {
  readonly code: SipErrorCode;

  constructor(code: SipErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'SipError';
    this.code = code;
  }
}

/** A header value that does not parse; `header` is the canonical header name. */
export class SipHeaderError extends SipError {
  readonly header: string;
  /** What is wrong, without the header name. */
  readonly detail: string;

  constructor(header: string, detail: string) {
    super('ERR_PINLATCH_SIP_HEADER', `Invalid ${header} header: ${detail}`);
    this.name = 'SipHeaderError';
    this.header = header;
    this.detail = detail;
  }
}

export class SipUriError extends SipError {
  readonly uri: string;

  constructor(uri: string, detail: string) {
    super('ERR_PINLATCH_SIP_URI', `Invalid URI "${uri.length > 80 ? `${uri.slice(0, 80)}...` : uri}": ${detail}`);
    this.name = 'SipUriError';
    this.uri = uri;
  }
}

export class SipFramingError extends SipError {
  constructor(message: string) {
    super('ERR_PINLATCH_SIP_FRAMING', message);
    this.name = 'SipFramingError';
  }
}

export class SipTransportError extends SipError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_PINLATCH_SIP_TRANSPORT', message, options);
    this.name = 'SipTransportError';
  }
}

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
