/**
 * The control protocol between the main thread (ShardPool) and one shard worker, carried over the
 * MessagePort handed to the shard task. Control only: packets never cross it.
 *
 * What a call needs — opening its streams on the offer, setting its legs' policies, closing them
 * at the end — does not cross the port either: the main thread connects to the shard's relay
 * (addon.connect with the token of the `ready` message) and drives it through a RelayControl,
 * which binds the sockets on the main thread and queues native commands that the shard's libuv
 * loop applies in C++ (native/include/control_channel.h). Waking the shard's JavaScript for each
 * offer and answer was the largest cost left in a call (issue 12): with the process confined to
 * one CPU the woken shard preempted the main thread. The shard drains those commands before each
 * batch of port requests, so a request (stats right after an open) sees every stream pushed
 * before it.
 *
 * main -> shard, the rare operations: a batch of requests with ids (every request made in one
 * task, see ShardOutbox); the shard handles them in order and answers the batch with one batch of
 * replies, a reply per request with the same id, in order. A batch crosses as JSON text (a string
 * message): structured cloning of the nested request objects costs about twice a JSON.stringify
 * plus JSON.parse of them, and a string is copied as one block. Requests and replies hold only
 * JSON values (strings, numbers, booleans, null, arrays, plain objects; an optional field is
 * absent, never undefined).
 * shard -> main, unsolicited (structured-cloned objects, a few a second): `ready` once the relay exists,
 * `idle` whenever the set of inactive streams changes, `latch` with the legs whose latched peers
 * changed (so that the main thread can re-create them if the shard dies), `refused` for legs
 * whose media so far comes only from sources their latching rule refuses (each leg once per
 * policy), and `commandErrors` when native commands failed on the shard's thread.
 */
import type { MessagePort } from 'node:worker_threads';
import type { LatchChange, LegPolicy, LegRefusal, RelayTotals, SocketBuffers, StreamCounters, StreamSpec, ThreadPlacement } from '../native.js';

export interface ShardOptions {
  /** Inactivity threshold for the idle check (ms); 0 disables the check. */
  idleMs: number;
  /** How often the shard runs the idle check (ms). */
  idleCheckMs: number;
  /** How often the shard reports latch changes to the main thread (ms); default DEFAULT_LATCH_SYNC_MS. */
  latchSyncMs?: number;
  /** How often the shard asks its relay for legs whose media is refused (ms); absent or 0: never. */
  refusalCheckMs?: number;
  /** recvmmsg/sendmmsg batch size passed to the addon (addon default when omitted). */
  batch?: number;
  /** SCHED_FIFO priority (1..99) of every shard thread; absent: normal scheduling. */
  realtimePriority?: number;
  /** SO_RCVBUF / SO_SNDBUF of every stream socket (addon default, 256 KiB, when omitted). */
  receiveBufferBytes?: number;
  sendBufferBytes?: number;
}

export const DEFAULT_LATCH_SYNC_MS = 250;

/**
 * The name a shard's thread gives itself, this prefix and its number (at most 15 characters, the
 * kernel's limit): what `top -H -p PID` and `ps -L` show beside the SIP thread (the process's
 * name) and V8's helpers.
 */
export const SHARD_THREAD_PREFIX = 'pl-shard-';
export const shardThreadName = (shard: number): string => `${SHARD_THREAD_PREFIX}${shard}`;

/** The payload of the long-lived piscina task that is one shard. */
export interface ShardTask {
  shard: number;
  port: MessagePort;
  options: ShardOptions;
  /** The CPU this shard's thread is pinned to, or null to leave it where the kernel puts it. */
  cpu: number | null;
}

/** What the shard task resolves with once it was told to stop. */
export interface ShardExit {
  shard: number;
  /** Streams still open when the relay was closed. */
  openStreams: number;
  /** Why the shard could not start (its thread placement or its relay failed), if it did not. */
  error?: SerializedError;
}

/** An error as it crosses the port: the native code and errno name survive structured cloning. */
export interface SerializedError {
  code: string;
  message: string;
  /** errno name (EADDRINUSE, EMFILE...) when a system call failed. */
  syscallCode?: string;
}

/** Result of re-opening a batch of streams: all or nothing. */
export type OpenResult =
  | { ok: true; ids: number[] }
  /** Spec `index` failed; the streams opened before it in this batch were closed again. */
  | { ok: false; index: number; error: SerializedError };

/** One leg of a stream being re-created on a new shard: its policy and its last known latches. */
export interface LegRestore {
  policy: LegPolicy | null;
  rtpPeer: string | null;
  rtcpPeer: string | null;
}

/** A stream of a dead shard, to be re-created on its replacement with the same ports. */
export interface StreamRestore {
  spec: StreamSpec;
  a: LegRestore;
  b: LegRestore;
}

export interface ShardOps {
  /** Re-opens streams of a dead shard (same ports) with their leg policies and latches, all or nothing. */
  restore: { args: { streams: StreamRestore[] }; result: OpenResult };
  stats: { args: { ids?: number[] }; result: StreamCounters[] };
  /** The shard's counters summed over every stream it has had (read by the metrics endpoint). */
  totals: { args: Record<string, never>; result: RelayTotals };
  /**
   * Diagnostic: after replying, the shard throws an uncaught error, which ends its worker thread
   * the way any uncaught error in a shard (a native error escaping a timer callback) would.
   */
  crash: { args: Record<string, never>; result: null };
  /** Closes the relay (every socket) and ends the shard task. */
  stop: { args: Record<string, never>; result: { openStreams: number } };
}

export type ShardOp = keyof ShardOps;

export type ShardRequest = {
  [K in ShardOp]: { id: number; op: K; args: ShardOps[K]['args'] };
}[ShardOp];

export type ShardReply = { id: number; ok: true; result: unknown } | { id: number; ok: false; error: SerializedError };

/** A batch of requests as the main thread posts it to a shard: JSON text of ShardRequest[]. */
export type EncodedRequests = string & { readonly __batch: 'requests' };

/** A batch of replies as a shard posts it to the main thread: JSON text of ShardReply[]. */
export type EncodedReplies = string & { readonly __batch: 'replies' };

export const encodeRequests = (requests: ShardRequest[]): EncodedRequests => JSON.stringify(requests) as EncodedRequests;
export const decodeRequests = (batch: EncodedRequests): ShardRequest[] => JSON.parse(batch) as ShardRequest[];
export const encodeReplies = (replies: ShardReply[]): EncodedReplies => JSON.stringify(replies) as EncodedReplies;
export const decodeReplies = (batch: EncodedReplies): ShardReply[] => JSON.parse(batch) as ShardReply[];

export type ShardMessage =
  | EncodedReplies
  /** `control`: the relay's controlToken, for addon.connect on the main thread. */
  | { type: 'ready'; threadId: number; version: string; placement: ThreadPlacement; socketBuffers: SocketBuffers; control: number }
  /** Streams that became idle, and streams that were idle and saw media again. */
  | { type: 'idle'; idle: number[]; active: number[] }
  /** Legs whose latched peers changed since the last report (polled every latchSyncMs). */
  | { type: 'latch'; changes: LatchChange[] }
  /** Legs whose media so far comes only from sources their latching rule refuses. */
  | { type: 'refused'; legs: LegRefusal[] }
  /** Native commands that failed on the shard's thread since the last report (NativeRelay.takeCommandErrors). */
  | { type: 'commandErrors'; count: number; errors: string[] };

export function serializeError(err: unknown): SerializedError {
  const e = err as { code?: unknown; message?: unknown; syscallCode?: unknown };
  const out: SerializedError = {
    code: typeof e?.code === 'string' ? e.code : 'ERR_PINLATCH_NATIVE',
    message: typeof e?.message === 'string' ? e.message : String(err),
  };
  if (typeof e?.syscallCode === 'string') out.syscallCode = e.syscallCode;
  return out;
}
