/**
 * Piscina worker entry: one shard of the data plane.
 *
 * A shard is a task that never returns on its own (docs: ecosystem.md §1, "shard = a task that
 * never returns"): it creates this worker's native relay — whose sockets are driven by this
 * thread's own libuv loop, with no JavaScript per packet — and reports its control token, through
 * which the main thread opens, configures and closes streams natively (no JavaScript runs here for
 * a call's offer, answer or end: see shard-protocol.ts). It serves the rarer control requests
 * (stats, totals, restore, stop) over the task's MessagePort, and resolves only when told to stop
 * (or when the main side of the port goes away), closing every socket first.
 *
 * The addon is a static import: under tsx, piscina loads this file through tsx's CommonJS hook
 * (its ESM hooks do not reach worker threads on Node 20), where only static imports resolve
 * `.js` to `.ts`. ShardPool loads the addon on the main thread first, so a missing build is
 * reported there with a clear message instead of as a worker bootstrap failure.
 */
import { threadId } from 'node:worker_threads';
import { addon, type NativeRelay, type RelayOptions, type ThreadPlacement } from '../native.js';
import {
  DEFAULT_LATCH_SYNC_MS,
  serializeError,
  shardThreadName,
  type OpenResult,
  type ShardExit,
  type ShardMessage,
  type ShardOptions,
  decodeRequests,
  encodeReplies,
  type EncodedRequests,
  type ShardReply,
  type ShardRequest,
  type ShardTask,
  type StreamRestore,
} from './shard-protocol.js';

/**
 * Re-creates the streams of a dead shard: same ports, each leg's policy, then its latched peers
 * (after the policy, which would forget them). All or nothing.
 */
function restoreAll(relay: NativeRelay, streams: StreamRestore[]): OpenResult {
  const ids: number[] = [];
  for (let index = 0; index < streams.length; index++) {
    const { spec, a, b } = streams[index]!;
    try {
      const id = relay.openStream(spec);
      ids.push(id);
      for (const [leg, state] of [['a', a], ['b', b]] as const) {
        if (state.policy) relay.setLeg(id, leg, state.policy);
        if (state.rtpPeer !== null || state.rtcpPeer !== null) {
          relay.restoreLatch(id, leg, { rtpPeer: state.rtpPeer, rtcpPeer: state.rtcpPeer });
        }
      }
    } catch (err) {
      for (const id of ids) relay.closeStream(id);
      return { ok: false, index, error: serializeError(err) };
    }
  }
  return { ok: true, ids };
}

function relayOptions(options: ShardOptions): RelayOptions {
  return {
    ...(options.batch === undefined ? {} : { batch: options.batch }),
    ...(options.receiveBufferBytes === undefined ? {} : { receiveBufferBytes: options.receiveBufferBytes }),
    ...(options.sendBufferBytes === undefined ? {} : { sendBufferBytes: options.sendBufferBytes }),
  };
}

/**
 * Names this worker's thread (the one whose libuv loop drives every socket of the shard)
 * `pl-shard-N`, so that `top -H` and `ps -L` tell it from the SIP thread and V8's helpers, pins
 * it to its CPU and raises it to SCHED_FIFO when configured, then creates the relay.
 */
function startRelay(task: ShardTask): { relay: NativeRelay; placement: ThreadPlacement } {
  const { options, cpu, shard } = task;
  const placement = addon.placeThread({
    name: shardThreadName(shard),
    ...(cpu === null ? {} : { cpu }),
    ...(options.realtimePriority === undefined ? {} : { realtimePriority: options.realtimePriority }),
  });
  return { relay: addon.createRelay(relayOptions(options)), placement };
}

export default async function runShard(task: ShardTask): Promise<ShardExit> {
  const { shard, port, options } = task;
  let started: { relay: NativeRelay; placement: ThreadPlacement };
  try {
    started = startRelay(task);
  } catch (err) {
    // Resolved, not thrown: the typed error (ERR_PINLATCH_REALTIME...) reaches the pool intact.
    port.close();
    return { shard, openStreams: 0, error: serializeError(err) };
  }
  const { relay, placement } = started;
  const post = (message: ShardMessage) => port.postMessage(message);

  return await new Promise<ShardExit>((resolve) => {
    /**
     * Streams reported idle and not since seen active. The main thread closes streams natively,
     * unseen here: a closed stream leaves the set at the next check, reported `active` once
     * (the main thread no longer knows its id and ignores it).
     */
    const reportedIdle = new Set<number>();
    let stopped = false;
    let openAtStop = 0;

    const checkIdle = () => {
      const now = new Set(relay.idle(options.idleMs));
      const idle: number[] = [];
      const active: number[] = [];
      for (const id of now) if (!reportedIdle.has(id)) idle.push(id);
      for (const id of reportedIdle) if (!now.has(id)) active.push(id);
      if (idle.length === 0 && active.length === 0) return;
      for (const id of idle) reportedIdle.add(id);
      for (const id of active) reportedIdle.delete(id);
      post({ type: 'idle', idle, active });
    };
    const idleTimer = options.idleMs > 0 ? setInterval(checkIdle, options.idleCheckMs) : undefined;
    const reportLatches = () => {
      const changes = relay.takeLatchChanges();
      if (changes.length > 0) post({ type: 'latch', changes });
      // Native commands that failed here (a socket the poll or the ring refused) have no caller
      // to throw to: the main thread answered the offer already. They are reported with the latches.
      const failed = relay.takeCommandErrors();
      if (failed.errors.length > 0) post({ type: 'commandErrors', count: failed.count, errors: failed.errors });
    };
    const latchTimer = setInterval(reportLatches, options.latchSyncMs ?? DEFAULT_LATCH_SYNC_MS);
    // The relay keeps the per-leg refusal state; this timer only collects it (no JS per packet).
    const checkRefusals = () => {
      const legs = relay.refusals();
      if (legs.length > 0) post({ type: 'refused', legs });
    };
    const refusalCheckMs = options.refusalCheckMs ?? 0;
    const refusalTimer = refusalCheckMs > 0 ? setInterval(checkRefusals, refusalCheckMs) : undefined;

    const stop = (): number => {
      if (!stopped) {
        stopped = true;
        clearInterval(idleTimer);
        clearInterval(latchTimer);
        clearInterval(refusalTimer);
        openAtStop = relay.size;
        relay.close();
      }
      return openAtStop;
    };

    const handle = (request: ShardRequest): unknown => {
      switch (request.op) {
        case 'restore':
          return restoreAll(relay, request.args.streams);
        case 'stats':
          return relay.stats(request.args.ids);
        case 'totals':
          return relay.totals();
        case 'crash':
          setImmediate(() => {
            throw new Error(`shard ${shard}: crash requested (diagnostic)`);
          });
          return null;
        case 'stop':
          return { openStreams: stop() };
      }
    };

    port.on('message', (batch: EncodedRequests) => {
      if (typeof batch !== 'string') return;
      const replies: ShardReply[] = [];
      for (const request of decodeRequests(batch)) {
        try {
          replies.push({ id: request.id, ok: true, result: handle(request) });
        } catch (err) {
          replies.push({ id: request.id, ok: false, error: serializeError(err) });
        }
      }
      // One answer per batch: each post wakes the main thread (see shard-protocol.ts).
      post(encodeReplies(replies));
      if (stopped) {
        port.close();
        resolve({ shard, openStreams: openAtStop });
      }
    });
    // The main side closed its end without a stop (its pool is going away): do not linger.
    port.on('close', () => resolve({ shard, openStreams: stop() }));

    post({ type: 'ready', threadId, version: addon.version, placement, socketBuffers: relay.socketBuffers, control: relay.controlToken });
  });
}
