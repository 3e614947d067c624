/**
 * A configured bound (`limits` in the configuration) stopped an operation. The proxy answers the
 * request it concerned with 503 and Retry-After (RFC 3261 §21.5.4): the refusal is temporary and
 * says nothing about the request itself.
 */
import { SipError } from '../wire/errors.js';

/** Which bound: named like its configuration key under `limits`, and its metric's label. */
export type LimitKind =
  | 'serverTransactions'
  | 'transactionBytes'
  | 'dialogs'
  | 'mediaSessions'
  | 'dnsLookups'
  | 'tcp.connections';

export class LimitError extends SipError {
  constructor(
    readonly kind: LimitKind,
    message: string,
  ) {
    super('ERR_PINLATCH_LIMIT', message);
    this.name = 'LimitError';
  }
}
