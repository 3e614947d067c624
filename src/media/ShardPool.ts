/**
 * N data-plane shards on a piscina pool, each a long-lived task in its own worker thread, with a
 * native control handle per shard (a call's streams are opened, configured and closed through it,
 * synchronously, without waking the shard's JavaScript: shard-protocol.ts), a typed request/reply
 * channel per shard for the rarer operations, and a supervisor per shard.
 *
 * Pool shape (docs: ecosystem.md §1): minThreads = maxThreads = N and concurrentTasksPerWorker 1,
 * so the N never-returning shard tasks land on N distinct workers; idleTimeout Infinity (threads
 * live as long as the relay); atomics 'disabled' (an idle worker parked in Atomics.wait would
 * stall the libuv loop that drives its sockets); recordTiming false (run times of tasks that live
 * for days mean nothing).
 *
 * Supervision: when a shard task ends without being told to (its worker exited, was terminated,
 * threw), every pending request of that shard is rejected, `lost` is emitted (its sockets died
 * with the worker; the owner, MediaRelay, re-creates its streams once the shard is `up` again),
 * and the task is submitted again. Piscina replaces a dead worker only if no replacement ever died during bootstrap
 * (`workerFailsDuringBootstrap`, ecosystem.md §1 item 2); once that happens, a resubmitted task
 * that was queued for the dying replacement waits in the queue forever. So whenever the pool
 * has fewer threads than shards after a worker went away, queued shard tasks are aborted and
 * resubmitted: piscina 5.3's run() spawns a worker when none is free and the pool is below
 * maxThreads. A task not `ready` within `startTimeoutMs` is aborted as well (a hung start).
 */
import { EventEmitter } from 'node:events';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { MessageChannel } from 'node:worker_threads';
import { Piscina } from 'piscina';
import type { Logger } from 'pino';
import { MediaError, type MediaErrorCode } from './errors.js';
import { ShardOutbox } from './ShardOutbox.js';
import type { LatchChange, LegPolicy, LegRefusal, NativeAddon, OpenLegPolicy, RelayControl, SocketBuffers, StreamSpec, ThreadPlacement } from '../native.js';
import {
  serializeError,
  decodeReplies,
  type SerializedError,
  type ShardExit,
  type ShardMessage,
  type ShardOp,
  type ShardOps,
  type ShardOptions,
  type ShardReply,
  type ShardRequest,
  type ShardTask,
} from './shard-protocol.js';

export interface ShardPoolOptions {
  /** Number of shards (worker threads); default os.availableParallelism(). */
  shards?: number;
  /**
   * CPUs to pin the shard threads to: shard i runs on cpus[i mod cpus.length] (one CPU per shard
   * when the list is as long as the shard count). Absent: the kernel schedules them anywhere.
   */
  cpus?: number[];
  shard: ShardOptions;
  /** Deadline of one control request (ms); default 5000. */
  rpcTimeoutMs?: number;
  /** Deadline for a shard task to report ready (ms); default 20000. */
  startTimeoutMs?: number;
  logger?: Logger;
}

export interface ShardPoolEvents {
  /** A shard's relay is running (at start, and again after each restart). */
  up: [shard: number];
  /** Streams of `shard` that became idle / that were idle and saw media again. */
  idle: [shard: number, idle: number[], active: number[]];
  /** Legs of `shard` whose media so far comes only from sources their rule refuses. */
  refused: [shard: number, legs: LegRefusal[]];
  /** A running shard died; its streams are gone. The pool restarts it. */
  lost: [shard: number, reason: string];
  /** Legs of `shard` whose latched peers changed (reported every `latchSyncMs`). */
  latch: [shard: number, changes: LatchChange[]];
}

// Under tsx (tests, `node --import tsx`) this module is .ts and so is the worker; in dist both are .js.
const here = import.meta.url;
const WORKER_FILE = fileURLToPath(new URL(here.endsWith('.ts') ? './shard-worker.ts' : './shard-worker.js', here));

const NATIVE_CODES: ReadonlySet<string> = new Set<MediaErrorCode>([
  'ERR_PINLATCH_BIND',
  'ERR_PINLATCH_SOCKET',
  'ERR_PINLATCH_ARG',
  'ERR_PINLATCH_CLOSED',
  'ERR_PINLATCH_AFFINITY',
  'ERR_PINLATCH_REALTIME',
]);

export function toMediaError(error: SerializedError, index?: number): MediaError {
  const code = (NATIVE_CODES.has(error.code) ? error.code : 'ERR_PINLATCH_NATIVE') as MediaErrorCode;
  return new MediaError(code, error.message, {
    ...(error.syscallCode === undefined ? {} : { syscallCode: error.syscallCode }),
    ...(index === undefined ? {} : { index }),
  });
}

/**
 * Longest a call's open waits in a shard's native queue before the pool wakes the shard's loop
 * for it (ms). A shard busy relaying iterates its loop far more often and applies the queue then,
 * with no wake-up of its own; an idle one is woken once for what a few ms brought, instead of once
 * per command (each wake-up preempts the main thread on one CPU: in a profile at 400 calls/s the
 * wake-ups were still 11 % of the main thread's busy time with a 2 ms deadline for opens and leg
 * policies). The sockets are bound already: media that comes before the open is applied waits in
 * their buffers.
 */
export const WAKE_MAX_MS = 5;
/**
 * The same for leg policies and closes (ms). A packet for an open stream wakes the shard by itself,
 * and its callback applies the queue before reading it, so a pushed policy is in place for the
 * first packet it concerns; the wake only starts the stream's idle clock again (a few ms late) and,
 * for closes, frees the ports (which rest in quarantine anyway, and a pair reused before it is
 * free waits for its close: MediaRelay).
 */
export const LAZY_WAKE_MAX_MS = 20;

interface Pending {
  resolve: (value: unknown) => void;
  reject: (error: Error) => void;
  timer: NodeJS.Timeout;
}

interface ShardSlot {
  index: number;
  up: boolean;
  /** The native control handle of the shard's relay, while it is up. */
  control: RelayControl | null;
  /** The pending wake-up of the shard's loop for pushed commands, and when it fires (performance.now()). */
  loopWake: { timer: NodeJS.Timeout; at: number } | null;
  /** Requests queued for the shard's port, posted as one batch per task. */
  outbox: ShardOutbox | null;
  threadId: number | null;
  /** Where the shard's thread runs, while it is up. */
  placement: ThreadPlacement | null;
  /** Aborts the current task: dequeues it, or terminates its worker if it runs. */
  abort: AbortController | null;
  pending: Map<number, Pending>;
  /** Consecutive task ends without ever becoming ready (drives the restart backoff). */
  failuresBeforeReady: number;
  /** Wakes a supervisor sleeping in its restart backoff. */
  wake: (() => void) | null;
}

const MAX_BACKOFF_MS = 5000;

export class ShardPool extends EventEmitter<ShardPoolEvents> {
  readonly size: number;
  readonly #options: ShardOptions;
  readonly #cpus: readonly number[];
  #socketBuffers: SocketBuffers | null = null;
  readonly #rpcTimeoutMs: number;
  readonly #startTimeoutMs: number;
  readonly #log: Logger | undefined;
  readonly #execArgv: string[] | undefined;
  readonly #addon: NativeAddon;
  readonly #slots: ShardSlot[] = [];
  readonly #piscina: Piscina<ShardTask, ShardExit>;
  readonly #supervisors: Promise<void>[] = [];
  #requestId = 0;
  #closing = false;
  #closed: Promise<void> | null = null;
  #starting = true;
  #startWaiter: { resolve: () => void; reject: (err: Error) => void } | null = null;

  private constructor(options: ShardPoolOptions, addon: NativeAddon) {
    super();
    this.#addon = addon;
    const shards = options.shards ?? availableParallelism();
    if (!Number.isInteger(shards) || shards < 1 || shards > 1024) {
      throw new MediaError('ERR_PINLATCH_CONFIG', `shards must be an integer in 1..1024, got ${shards}`);
    }
    this.size = shards;
    const cpus = options.cpus ?? [];
    for (const cpu of cpus) {
      if (!Number.isInteger(cpu) || cpu < 0 || cpu > 1023) {
        throw new MediaError('ERR_PINLATCH_CONFIG', `cpus entries must be integers in 0..1023, got ${cpu}`);
      }
    }
    this.#cpus = [...cpus];
    this.#options = options.shard;
    this.#rpcTimeoutMs = options.rpcTimeoutMs ?? 5000;
    this.#startTimeoutMs = options.startTimeoutMs ?? 20_000;
    this.#log = options.logger;
    // Workers inherit execArgv; a .ts worker needs the tsx loader even when this process got it
    // another way (e.g. uvu's in-process `-r tsx/cjs`, which is not an execArgv flag).
    this.#execArgv =
      WORKER_FILE.endsWith('.ts') && !process.execArgv.some((arg) => arg.includes('tsx'))
        ? [...process.execArgv, '--import', 'tsx']
        : undefined;
    this.#piscina = this.#createPiscina();
  }

  /** Starts every shard; resolves once all are ready, rejects (and cleans up) if one cannot start. */
  static async start(options: ShardPoolOptions): Promise<ShardPool> {
    // Load the addon here first: a missing or broken build fails with native.ts's own message
    // instead of surfacing as N worker bootstrap failures.
    const { addon } = await import('../native.js');
    const pool = new ShardPool(options, addon);
    pool.#log?.debug({ addon: addon.version, shards: pool.size }, 'starting media shards');
    const started = new Promise<void>((resolve, reject) => {
      pool.#startWaiter = { resolve, reject };
    });
    for (let index = 0; index < pool.size; index++) {
      const slot: ShardSlot = {
        index,
        up: false,
        control: null,
        loopWake: null,
        outbox: null,
        threadId: null,
        placement: null,
        abort: null,
        pending: new Map(),
        failuresBeforeReady: 0,
        wake: null,
      };
      pool.#slots.push(slot);
    }
    for (const slot of pool.#slots) pool.#supervisors.push(pool.#supervise(slot));
    try {
      await started;
    } catch (err) {
      await pool.close();
      throw err;
    }
    return pool;
  }

  isUp(shard: number): boolean {
    return this.#slots[shard]?.up ?? false;
  }

  /** Thread id of the worker running `shard`, or null while it is down. */
  threadIdOf(shard: number): number | null {
    return this.#slots[shard]?.threadId ?? null;
  }

  /** CPUs and scheduling of the thread running `shard` (read back from the kernel), or null while it is down. */
  placementOf(shard: number): ThreadPlacement | null {
    return this.#slots[shard]?.placement ?? null;
  }

  /** Socket buffer sizes the shards' stream sockets ask for and get (null before a shard was up). */
  get socketBuffers(): SocketBuffers | null {
    return this.#socketBuffers;
  }

  /** Sends one control request to a running shard. */
  request<K extends ShardOp>(shard: number, op: K, args: ShardOps[K]['args']): Promise<ShardOps[K]['result']> {
    if (this.#closing) return Promise.reject(new MediaError('ERR_PINLATCH_CLOSED', 'shard pool is closed'));
    const slot = this.#slots[shard];
    if (!slot) return Promise.reject(new MediaError('ERR_PINLATCH_ARG', `no shard ${shard}`));
    return this.#send(slot, op, args, this.#rpcTimeoutMs);
  }

  /**
   * Opens streams on a running shard with their legs' policies, all or nothing, and returns their
   * ids. The sockets are bound here, on the calling thread: a bind error is thrown now, as a
   * MediaError with the errno name and `index`, the spec that failed; nothing waits for the shard.
   */
  openStreams(shard: number, specs: StreamSpec[], legs: OpenLegPolicy[] = []): number[] {
    const control = this.#control(shard);
    let ids: number[];
    try {
      ids = legs.length > 0 ? control.openStreams(specs, legs) : control.openStreams(specs);
    } catch (err) {
      throw this.#controlError(shard, err);
    }
    this.#wakeWithin(this.#slots[shard]!, WAKE_MAX_MS);
    return ids;
  }

  /** Sets leg policies of a running shard's streams (checked here, applied by the shard's loop). */
  setLegs(shard: number, legs: Array<{ id: number; leg: 'a' | 'b'; policy: LegPolicy }>): void {
    const control = this.#control(shard);
    try {
      control.setLegs(legs);
    } catch (err) {
      throw this.#controlError(shard, err);
    }
    this.#wakeWithin(this.#slots[shard]!, LAZY_WAKE_MAX_MS);
  }

  /**
   * Closes streams of a running shard. Its loop closes the sockets within LAZY_WAKE_MAX_MS, and
   * before it handles any later request (a `stats` reply means they are closed).
   */
  closeStreams(shard: number, ids: number[]): void {
    const control = this.#control(shard);
    try {
      control.closeStreams(ids);
    } catch (err) {
      throw this.#controlError(shard, err);
    }
    this.#wakeWithin(this.#slots[shard]!, LAZY_WAKE_MAX_MS);
  }

  /** Has the shard's loop woken within `delayMs` (one timer per shard, the earliest deadline wins). */
  #wakeWithin(slot: ShardSlot, delayMs: number): void {
    const at = performance.now() + delayMs;
    if (slot.loopWake !== null) {
      if (slot.loopWake.at <= at) return;
      clearTimeout(slot.loopWake.timer);
    }
    const timer = setTimeout(() => {
      slot.loopWake = null;
      slot.control?.wake();
    }, delayMs);
    timer.unref();
    slot.loopWake = { timer, at };
  }

  #control(shard: number): RelayControl {
    if (this.#closing) throw new MediaError('ERR_PINLATCH_CLOSED', 'shard pool is closed');
    const slot = this.#slots[shard];
    if (!slot) throw new MediaError('ERR_PINLATCH_ARG', `no shard ${shard}`);
    if (!slot.up || !slot.control) throw new MediaError('ERR_PINLATCH_SHARD_LOST', `shard ${shard} is not running`);
    return slot.control;
  }

  /** A native error of a control call as a MediaError: a closed relay is a shard that is gone. */
  #controlError(shard: number, err: unknown): MediaError {
    const serialized = serializeError(err);
    if (serialized.code === 'ERR_PINLATCH_CLOSED') {
      return new MediaError(this.#closing ? 'ERR_PINLATCH_CLOSED' : 'ERR_PINLATCH_SHARD_LOST', `shard ${shard}: ${serialized.message}`);
    }
    const index = (err as { index?: unknown }).index;
    return toMediaError(serialized, typeof index === 'number' ? index : undefined);
  }

  /**
   * Diagnostic/admin: terminates the worker thread of a running shard, as a crash would. Its
   * sockets are closed by the addon's environment cleanup, `lost` is emitted and the shard is
   * restarted in a new worker.
   */
  async terminateShard(shard: number): Promise<void> {
    const slot = this.#slots[shard];
    if (!slot || !slot.up || slot.threadId === null) {
      throw new MediaError('ERR_PINLATCH_ARG', `shard ${shard} is not running`);
    }
    const worker = this.#piscina.threads.find((w) => w.threadId === slot.threadId);
    if (!worker) throw new MediaError('ERR_PINLATCH_ARG', `worker of shard ${shard} not found`);
    await worker.terminate();
  }

  /**
   * Diagnostic/admin: makes a running shard throw an uncaught error, which ends its worker thread
   * from inside (piscina sees a worker 'error', then its exit) — the other way a shard dies.
   */
  async crashShard(shard: number): Promise<void> {
    try {
      await this.request(shard, 'crash', {});
    } catch (err) {
      // The worker's death may reach this thread before its reply does: that is the crash.
      if ((err as MediaError).code !== 'ERR_PINLATCH_SHARD_LOST') throw err;
    }
  }

  /** Stops every shard (each closes its relay and all its sockets), then the worker threads. */
  close(): Promise<void> {
    this.#closed ??= this.#close();
    return this.#closed;
  }

  async #close(): Promise<void> {
    this.#closing = true;
    if (this.#starting) this.#finishStart(new MediaError('ERR_PINLATCH_CLOSED', 'shard pool closed while starting'));
    await Promise.allSettled(
      this.#slots.filter((slot) => slot.up).map((slot) => this.#send(slot, 'stop', {}, this.#rpcTimeoutMs)),
    );
    // Shards that did not stop (down, starting, or not answering) are aborted: a queued task
    // leaves the queue, a running one has its worker terminated (the addon closes its sockets).
    for (const slot of this.#slots) {
      slot.abort?.abort();
      slot.wake?.();
    }
    await Promise.allSettled(this.#supervisors);
    await this.#piscina.close({ force: true });
  }

  #createPiscina(): Piscina<ShardTask, ShardExit> {
    const piscina = new Piscina<ShardTask, ShardExit>({
      filename: WORKER_FILE,
      minThreads: this.size,
      maxThreads: this.size,
      concurrentTasksPerWorker: 1,
      idleTimeout: Infinity,
      atomics: 'disabled',
      recordTiming: false,
      closeTimeout: this.#rpcTimeoutMs,
      ...(this.#execArgv ? { execArgv: this.#execArgv } : {}),
    });
    // A worker that errors with no task would make piscina emit 'error'; without a listener
    // that event would throw in the main thread.
    piscina.on('error', (err: unknown) => this.#log?.error({ err }, 'media shard pool error'));
    piscina.on('workerDestroy', () => {
      // After piscina decided, in the same tick, whether to replace the worker.
      setImmediate(() => this.#abortStrandedTasks());
    });
    return piscina;
  }

  /** When piscina stopped replacing workers, queued shard tasks would never start. */
  #abortStrandedTasks(): void {
    if (this.#closing || this.#piscina.threads.length >= this.size) return;
    for (const slot of this.#slots) {
      if (!slot.up) slot.abort?.abort(new Error(`shard ${slot.index}: piscina did not replace its worker`));
    }
  }

  async #supervise(slot: ShardSlot): Promise<void> {
    while (!this.#closing) {
      const { port1, port2 } = new MessageChannel();
      const abort = new AbortController();
      slot.abort = abort;
      slot.outbox = new ShardOutbox(port1);
      port1.on('message', (message: ShardMessage) => this.#onMessage(slot, message));
      const readyDeadline = setTimeout(() => {
        if (!slot.up) abort.abort(new Error(`shard ${slot.index} not ready within ${this.#startTimeoutMs} ms`));
      }, this.#startTimeoutMs);

      let reason: string;
      let failure: Error | null = null;
      try {
        const cpu = this.#cpus.length === 0 ? null : this.#cpus[slot.index % this.#cpus.length]!;
        const task: ShardTask = { shard: slot.index, port: port2, options: this.#options, cpu };
        const exit = await this.#piscina.run(task, { transferList: [port2], signal: abort.signal });
        if (exit.error) {
          failure = toMediaError(exit.error);
          reason = exit.error.message;
        } else {
          reason = `shard task ended with ${exit.openStreams} streams open`;
        }
      } catch (err) {
        failure = err instanceof Error ? err : new Error(String(err));
        const abortReason = abort.signal.reason as unknown;
        reason = abort.signal.aborted && abortReason instanceof Error ? abortReason.message : failure.message;
      }
      clearTimeout(readyDeadline);
      slot.outbox.discard();
      slot.outbox = null;
      port1.close();
      const wasUp = slot.up;
      slot.up = false;
      slot.control = null;
      if (slot.loopWake !== null) clearTimeout(slot.loopWake.timer);
      slot.loopWake = null;
      slot.threadId = null;
      slot.placement = null;
      slot.abort = null;
      this.#failPending(slot, this.#closing ? 'ERR_PINLATCH_CLOSED' : 'ERR_PINLATCH_SHARD_LOST', `shard ${slot.index}: ${reason}`);
      if (this.#closing) return;

      if (wasUp) {
        this.#log?.error({ shard: slot.index, reason }, 'media shard lost; restarting it');
        this.emit('lost', slot.index, reason);
      } else {
        slot.failuresBeforeReady++;
        this.#log?.error({ shard: slot.index, reason, attempt: slot.failuresBeforeReady }, 'media shard failed to start');
        if (this.#starting) {
          this.#finishStart(failure ?? new MediaError('ERR_PINLATCH_NATIVE', reason));
          return;
        }
      }
      if (!wasUp) {
        const delay = Math.min(100 * 2 ** (slot.failuresBeforeReady - 1), MAX_BACKOFF_MS);
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, delay);
          slot.wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        slot.wake = null;
      }
    }
  }

  #onMessage(slot: ShardSlot, message: ShardMessage): void {
    if (typeof message === 'string') {
      for (const reply of decodeReplies(message)) this.#settle(slot, reply);
      return;
    }
    switch (message.type) {
      case 'ready':
        try {
          slot.control = this.#addon.connect(message.control);
        } catch (err) {
          // The relay closed before this thread reached it: the task is ending; its restart follows.
          slot.abort?.abort(new Error(`shard ${slot.index}: relay gone before connecting: ${(err as Error).message}`));
          return;
        }
        slot.up = true;
        slot.threadId = message.threadId;
        slot.placement = message.placement;
        slot.failuresBeforeReady = 0;
        this.#log?.debug(
          { shard: slot.index, threadId: message.threadId, addon: message.version, tid: message.placement.tid, cpus: message.placement.cpus, realtimePriority: message.placement.realtimePriority },
          'media shard up',
        );
        this.#noteSocketBuffers(message.socketBuffers);
        this.emit('up', slot.index);
        if (this.#starting && this.#slots.every((s) => s.up)) this.#finishStart(null);
        return;
      case 'idle':
        this.emit('idle', slot.index, message.idle, message.active);
        return;
      case 'latch':
        this.emit('latch', slot.index, message.changes);
        return;
      case 'refused':
        this.emit('refused', slot.index, message.legs);
        return;
      case 'commandErrors':
        this.#log?.error(
          { shard: slot.index, total: message.count, errors: message.errors },
          'media shard could not start streams the main thread opened; their calls have no media',
        );
        return;
    }
  }

  /** Logs, once per pool, that the kernel granted smaller socket buffers than configured. */
  #noteSocketBuffers(buffers: SocketBuffers): void {
    if (this.#socketBuffers !== null) return;
    this.#socketBuffers = buffers;
    const short: string[] = [];
    if (buffers.grantedReceiveBytes < buffers.receiveBytes) {
      short.push(`receive ${buffers.grantedReceiveBytes} of ${buffers.receiveBytes} bytes (raise net.core.rmem_max)`);
    }
    if (buffers.grantedSendBytes < buffers.sendBytes) {
      short.push(`send ${buffers.grantedSendBytes} of ${buffers.sendBytes} bytes (raise net.core.wmem_max)`);
    }
    if (short.length > 0) {
      this.#log?.warn(
        { socketBuffers: buffers },
        `media socket buffers capped by the kernel: ${short.join(', ')}; e.g. sysctl -w net.core.rmem_max=${buffers.receiveBytes} net.core.wmem_max=${buffers.sendBytes}`,
      );
    }
  }

  #settle(slot: ShardSlot, reply: ShardReply): void {
    const pending = slot.pending.get(reply.id);
    if (!pending) return; // timed out earlier
    slot.pending.delete(reply.id);
    clearTimeout(pending.timer);
    if (reply.ok) pending.resolve(reply.result);
    else pending.reject(toMediaError(reply.error));
  }

  #send<K extends ShardOp>(slot: ShardSlot, op: K, args: ShardOps[K]['args'], timeoutMs: number): Promise<ShardOps[K]['result']> {
    const outbox = slot.outbox;
    if (!slot.up || !outbox) {
      return Promise.reject(new MediaError('ERR_PINLATCH_SHARD_LOST', `shard ${slot.index} is not running`));
    }
    const id = ++this.#requestId;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        slot.pending.delete(id);
        reject(new MediaError('ERR_PINLATCH_RPC_TIMEOUT', `shard ${slot.index} did not answer '${op}' within ${timeoutMs} ms`));
      }, timeoutMs);
      slot.pending.set(id, { resolve: resolve as (value: unknown) => void, reject, timer });
      outbox.push({ id, op, args } as ShardRequest);
    });
  }

  #failPending(slot: ShardSlot, code: MediaErrorCode, message: string): void {
    for (const pending of slot.pending.values()) {
      clearTimeout(pending.timer);
      pending.reject(new MediaError(code, message));
    }
    slot.pending.clear();
  }

  #finishStart(error: Error | null): void {
    if (!this.#starting) return;
    this.#starting = false;
    if (error) this.#startWaiter?.reject(error);
    else this.#startWaiter?.resolve();
    this.#startWaiter = null;
  }
}
