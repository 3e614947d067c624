/**
 * The requests on their way to one shard, posted as one message (a batch) per event-loop turn.
 *
 * Every postMessage wakes the shard's thread. With the whole process confined to one CPU (how an
 * operator sizes a relay, how bench/cps.ts runs it) the woken shard preempts the main thread, and
 * the wake, the context switches and the dispatch of each message on both threads cost more than
 * the shard's own work (perf of the shard thread: ~60 % receiving, decoding and answering
 * messages, ~35 % opening and closing sockets). So a request does not post itself: it is queued,
 * and the queue is posted from a setImmediate callback, which runs after the poll phase has
 * handled every datagram read in this turn of the loop (all the offers, answers and BYEs that
 * arrived together).
 * Deferrable requests (DEFERRABLE_OPS) do not schedule a post at all: they ride with the next
 * one, or go after DEFER_MAX_MS when no other request comes.
 */
import type { MessagePort } from 'node:worker_threads';
import { DEFER_MAX_MS, DEFERRABLE_OPS, encodeRequests, type ShardRequest } from './shard-protocol.js';

export class ShardOutbox {
  readonly #port: MessagePort;
  #queued: ShardRequest[] = [];
  #turnPost: NodeJS.Immediate | null = null;
  #deferredPost: NodeJS.Timeout | null = null;

  constructor(port: MessagePort) {
    this.#port = port;
  }

  /** Queues a request; it is posted at the end of this event-loop turn (or later, if deferrable). */
  push(request: ShardRequest): void {
    this.#queued.push(request);
    if (this.#turnPost !== null) return;
    if (DEFERRABLE_OPS.has(request.op)) {
      this.#deferredPost ??= setTimeout(() => this.post(), DEFER_MAX_MS);
    } else {
      this.#turnPost = setImmediate(() => this.post());
    }
  }

  /** Posts every queued request now, in the order they were pushed. */
  post(): void {
    this.#cancelPosts();
    if (this.#queued.length === 0) return;
    const batch = encodeRequests(this.#queued);
    this.#queued = [];
    this.#port.postMessage(batch);
  }

  /** Drops the queue without posting it (the shard is gone; its pending requests were rejected). */
  discard(): void {
    this.#cancelPosts();
    this.#queued = [];
  }

  #cancelPosts(): void {
    if (this.#turnPost !== null) clearImmediate(this.#turnPost);
    if (this.#deferredPost !== null) clearTimeout(this.#deferredPost);
    this.#turnPost = null;
    this.#deferredPost = null;
  }
}
