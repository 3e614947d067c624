/** Errors of the media plane's main-thread side, each with a stable string code. */

export type MediaErrorCode =
  /** Every port pair of the configured range is in use or quarantined. */
  | 'ERR_PINLATCH_PORTS_EXHAUSTED'
  /** A stream's sockets could not be bound (address not local, or every retry found ports taken). */
  | 'ERR_PINLATCH_BIND'
  /** socket()/setsockopt() failed in the native relay (e.g. EMFILE: out of descriptors). */
  | 'ERR_PINLATCH_SOCKET'
  /** A shard thread could not be pinned to its CPU (media.cpus names an absent or forbidden CPU). */
  | 'ERR_PINLATCH_AFFINITY'
  /** A shard thread could not get its SCHED_FIFO priority (media.realtime without CAP_SYS_NICE). */
  | 'ERR_PINLATCH_REALTIME'
  /** Invalid options passed to the relay or the port pool. */
  | 'ERR_PINLATCH_CONFIG'
  /** Invalid argument to an API call (stream index, leg, hint, stream count). */
  | 'ERR_PINLATCH_ARG'
  /** The session key is not known (never created, released, or lost). */
  | 'ERR_PINLATCH_UNKNOWN_SESSION'
  /** The shard that owns the session died before answering. */
  | 'ERR_PINLATCH_SHARD_LOST'
  /** No shard is running (all are down and being restarted). */
  | 'ERR_PINLATCH_NO_SHARD'
  /** A shard did not answer a control request in time. */
  | 'ERR_PINLATCH_RPC_TIMEOUT'
  /** The relay (or pool) has been closed. */
  | 'ERR_PINLATCH_CLOSED'
  /** The native addon reported an error this layer has no better code for. */
  | 'ERR_PINLATCH_NATIVE';

export class MediaError extends Error {
  readonly code: MediaErrorCode;
  /** errno name from the native layer (e.g. EADDRINUSE), when the cause was a system call. */
  readonly syscallCode: string | undefined;
  /** Which stream of a batch failed (ShardPool.openStreams), when the error is about one. */
  readonly index: number | undefined;

  constructor(code: MediaErrorCode, message: string, options?: { cause?: unknown; syscallCode?: string; index?: number }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'MediaError';
    this.code = code;
    this.syscallCode = options?.syscallCode;
    this.index = options?.index;
  }
}
