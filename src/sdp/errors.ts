/** SDP that cannot be understood or anchored: always this error, never a crash. */

export class SdpError extends Error {
  readonly code = 'ERR_PINLATCH_SDP' as const;
  /** Why the SDP was refused, without the "invalid SDP" prefix (fit for a 488 reason or NG error-reason). */
  readonly reason: string;

  constructor(reason: string, options?: { cause?: unknown }) {
    super(`invalid SDP: ${reason}`, options);
    this.name = 'SdpError';
    this.reason = reason;
  }
}
