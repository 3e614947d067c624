/**
 * Errors of the NG control protocol. Each one becomes a `result: error` reply whose
 * `error-reason` is the message; the code is for logs, tests and counters.
 */
export type NgErrorCode =
  /** The datagram is not `<cookie> <dictionary>` (no cookie, empty body). */
  | 'ERR_PINLATCH_NG_FRAMING'
  /** The dictionary could not be decoded (bencode or JSON), or is not a dictionary. */
  | 'ERR_PINLATCH_NG_DECODE'
  /** `command` is missing or names a command pinlatch does not implement. */
  | 'ERR_PINLATCH_NG_UNKNOWN_COMMAND'
  /** A key the command needs is missing (call-id, from-tag, to-tag, sdp). */
  | 'ERR_PINLATCH_NG_MISSING_KEY'
  /** A key has the wrong type or an invalid value (e.g. `received from` not [family, address]). */
  | 'ERR_PINLATCH_NG_BAD_VALUE'
  /** The SDP body could not be parsed or has nothing to anchor. */
  | 'ERR_PINLATCH_NG_SDP'
  /** The call-id (or tag) is not known. */
  | 'ERR_PINLATCH_NG_UNKNOWN_CALL'
  /** A requested feature pinlatch does not provide (SRTP transport, ...). */
  | 'ERR_PINLATCH_NG_UNSUPPORTED'
  /** The media plane refused (ports exhausted, shard lost...). */
  | 'ERR_PINLATCH_NG_MEDIA';

export class NgError extends Error {
  readonly code: NgErrorCode;

  constructor(code: NgErrorCode, reason: string, options?: { cause?: unknown }) {
    super(reason, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'NgError';
    this.code = code;
  }
}
