/**
 * Errors of the SIP message layer, each with a stable string code.
 *
 * The parse error, which carries the message as far as it was read, lives in parseError.ts with
 * the answer it gets, so that this file depends on nothing and message.ts can import it.
 */
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
  | 'ERR_PINLATCH_SIP_TRANSPORT'
  /** A configured bound (`limits`) was reached (src/sip/edge/LimitError.ts). */
  | 'ERR_PINLATCH_LIMIT';

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
