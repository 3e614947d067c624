/**
 * The requests on their way to one shard, posted as one message (a batch) per task.
 *
 * Every postMessage wakes the shard's thread. With the whole process confined to one CPU (how an
 * operator sizes a relay, how bench/cps.ts runs it) the woken shard preempts the main thread, and
 * the wake, the context switches and the dispatch of each message on both threads cost more than
 * the shard's own work (perf of the shard thread before batching: about half its CPU receiving,
 * decoding and answering messages, a third opening and closing sockets). So a request does not post
 * itself: it is queued, and the queue is posted from a microtask, once the task that made it (and
 * the promise continuations it started) has run: the legs of all m-lines of an NG offer, set with
 * one Promise.all, go together. Not later than that: posting at the end of the event-loop turn
 * (setImmediate) makes an offer wait for every other datagram read in the turn: in bench/cps.ts at
 * 400 calls/s confined to one CPU, the load shedder then refused more calls than without batching
 * in each of four warm steps measured side by side (67-1981 vs 0-497 of 4000). A call's own
 * operations (open, leg policies, close) no longer come here at all: they are native commands
 * (shard-protocol.ts); what is left is rare (stats, totals, restore, stop).
 */
import type { MessagePort } from 'node:worker_threads';
import { encodeRequests, type ShardRequest } from './shard-protocol.js';

export class ShardOutbox {
  readonly #port: MessagePort;
  #queued: ShardRequest[] = [];
  #postQueued = false;

  constructor(port: MessagePort) {
    this.#port = port;
  }

  /** Queues a request; it is posted once the current task is done. */
  push(request: ShardRequest): void {
    this.#queued.push(request);
    if (this.#postQueued) return;
    this.#postQueued = true;
    queueMicrotask(() => {
      if (this.#postQueued) this.post();
    });
  }

  /** Posts every queued request now, in the order they were pushed. */
  post(): void {
    this.#postQueued = false;
    if (this.#queued.length === 0) return;
    const batch = encodeRequests(this.#queued);
    this.#queued = [];
    this.#port.postMessage(batch);
  }

  /** Drops the queue without posting it (the shard is gone; its pending requests were rejected). */
  discard(): void {
    this.#postQueued = false;
    this.#queued = [];
  }
}
