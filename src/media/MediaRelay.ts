/**
 * The media plane as its clients (the SIP proxy, the NG control server) see it: a table of media
 * sessions, each pinned to one shard (worker thread) that owns its sockets.
 *
 * - A session holds one relay stream per SDP m-line; each stream has two legs (A faces the
 *   offerer, B the answerer), each leg an even RTP port and RTCP on the next port.
 * - New sessions go to the least loaded running shard (by open streams, counting allocations in
 *   flight); later streams of a session join its shard.
 * - A leg's latch policy is derived from signalling's hint by LatchPolicyRule.
 * - Operations on one session key run one at a time, in call order (a retransmitted offer and a
 *   BYE cannot interleave); different keys run concurrently.
 * - A session times out when every one of its streams has seen no valid media for `timeoutMs`,
 *   counted from its last offer/answer at the latest (like rtpengine's last signalling)
 *   (the shards check; this emits 'timeout' once per idle period).
 * - A shard whose worker dies takes its sockets with it, but not its sessions: the main thread
 *   keeps every stream's ports, each leg's policy and its latched peers (the shards report latch
 *   changes every `latchSyncMs`), and re-creates the streams on the restarted shard with the same
 *   ports, so peers keep sending where they did and media flows again without signalling. A
 *   session that cannot be restored within `restoreTimeoutMs` (0: none is) is dropped and
 *   reported through 'lost'.
 * - A leg whose media so far comes only from sources its latching rule refuses (a NAT sending
 *   from another address, a multi-homed phone) is logged once per policy, with the source and the
 *   rule, and counted (`refusedLegs`); the shards report it, nothing runs per packet.
 */
import { EventEmitter } from 'node:events';
import { pino, type Logger } from 'pino';
import type { LegName, LegHint, LegUpdate, MediaEvents, MediaRelayApi, MediaSession, RelayStream, StreamStats } from './api.js';
import { MediaError } from './errors.js';
import { LatchPolicyRule, DEFAULT_LATCH_KNOBS } from './LatchPolicyRule.js';
import { PortPool, type PortRange } from './PortPool.js';
import { ShardPool } from './ShardPool.js';
import type { LatchChange, LatchedPeers, LegPolicy, LegRefusal, OpenLegPolicy, RelayTotals, SocketBuffers, StreamSpec, ThreadPlacement } from '../native.js';
import type { LegRestore, OpenResult, StreamRestore } from './shard-protocol.js';
import { parseIp } from '../net/address.js';

export interface MediaRelayOptions {
  /** Local IP literal the media sockets bind to. */
  address: string;
  /** Address written into SDP c= lines; default `address` (required when `address` is 0.0.0.0/::). */
  advertise?: string;
  /** UDP port range of the relay (RTP even, RTCP + 1). */
  ports: PortRange;
  /** Number of shards (worker threads); default os.availableParallelism(). */
  shards?: number;
  /** CPUs to pin the shard threads to, shard i on cpus[i mod length] (ShardPoolOptions.cpus). */
  cpus?: number[];
  /** SCHED_FIFO priority (1..99) of the shard threads; needs CAP_SYS_NICE. Absent: normal scheduling. */
  realtimePriority?: number;
  /** SO_RCVBUF / SO_SNDBUF of every media socket (bytes, 4096..268435456); default 262144 each. */
  receiveBufferBytes?: number;
  sendBufferBytes?: number;
  /** Media inactivity timeout per session (ms); 0 disables it. Default 60 000 (rtpengine's --timeout). */
  timeoutMs?: number;
  /** How long released ports rest before reuse (ms). Default 5000. */
  quarantineMs?: number;
  /** Latch handover: silence of the latched source before a newcomer may take over (ms). Default 1000. */
  handoverSilenceMs?: number;
  /** Latch handover: largest sequence gap a newcomer may show. Default 100. */
  handoverMaxSeqGap?: number;
  /** Deadline of one request to a shard (ms). Default 5000. */
  rpcTimeoutMs?: number;
  /** How often the shards look for legs whose media is refused (ms); 0 disables it. Default 1000. */
  refusalCheckMs?: number;
  /** recvmmsg/sendmmsg batch size of the native relay (addon default when omitted). */
  batch?: number;
  /** How often each shard reports latch changes to the main thread (ms). Default 250. */
  latchSyncMs?: number;
  /**
   * How long the sessions of a dead shard may take to be restored on its replacement (ms) before
   * they are dropped as lost; 0 drops them at once. Default 10 000.
   */
  restoreTimeoutMs?: number;
  logger?: Logger;
}

/** Shard faults since start (exposed as metrics). */
export interface FaultCounters {
  /** Shards whose worker died while running (each is restarted). */
  shardRestarts: number;
  /** Sessions re-created on a restarted shard with their ports, policies and latches. */
  sessionsRestored: number;
  /** Sessions of a dead shard that could not be restored (reported through 'lost'). */
  sessionsLost: number;
}

/** Largest number of m-lines a session may ask for (a sane SDP has a handful). */
export const MAX_STREAMS_PER_SESSION = 64;
/** Port pairs tried, per call, after binds fail with EADDRINUSE (ports held by another process). */
const MAX_BIND_ATTEMPTS = 8;

interface StreamEntry {
  index: number;
  /** Native stream id inside the session's shard; 0 while its shard is lost and it awaits restore. */
  id: number;
  aPort: number;
  bPort: number;
  idle: boolean;
  /** What the shard knows of each leg, kept here to re-create the stream if the shard dies. */
  legs: Record<LegName, LegRestore>;
  /** Each leg's latching rule in words (LatchDecision.rule), for the refusal warning. */
  rules: Record<LegName, string | null>;
}

function legMemory(policy: LegPolicy | null = null): LegRestore {
  return { policy, rtpPeer: null, rtcpPeer: null };
}

interface SessionEntry {
  key: string;
  shard: number;
  streams: StreamEntry[];
  idleStreams: number;
  /** 'timeout' was emitted for the current idle period. */
  timeoutReported: boolean;
  view: MediaSession;
}

interface ShardState {
  /** Streams open or being opened on the shard. */
  load: number;
  /** Bumped each time the shard is lost: work begun under an older generation is void. */
  generation: number;
  streams: Map<number, { session: SessionEntry; stream: StreamEntry }>;
}

type RestoreOutcome = 'restored' | 'lost' | 'skipped';

function viewOf(key: string, streams: StreamEntry[]): MediaSession {
  const relayStreams: RelayStream[] = streams.map((s) =>
    Object.freeze({
      index: s.index,
      a: Object.freeze({ rtp: s.aPort, rtcp: s.aPort + 1 }),
      b: Object.freeze({ rtp: s.bPort, rtcp: s.bPort + 1 }),
    }),
  );
  return Object.freeze({ key, streams: Object.freeze(relayStreams) });
}

export class MediaRelay extends EventEmitter implements MediaRelayApi {
  readonly advertise: string;
  /** Local address the media sockets are bound to. */
  readonly address: string;
  readonly timeoutMs: number;
  readonly #ports: PortPool;
  readonly #rule: LatchPolicyRule;
  readonly #shardPool: ShardPool;
  readonly #log: Logger;
  readonly #sessions = new Map<string, SessionEntry>();
  readonly #shards: ShardState[];
  readonly #queues = new Map<string, Promise<void>>();
  readonly #restoreTimeoutMs: number;
  readonly #faults: FaultCounters = { shardRestarts: 0, sessionsRestored: 0, sessionsLost: 0 };
  /** Restores waiting for their shard to come back, by shard; 'up' or close() ends the wait. */
  readonly #upWaiters = new Map<number, Set<(up: boolean) => void>>();
  #closed: Promise<void> | null = null;
  #refusedLegs = 0;
  /**
   * Released ports whose close was pushed to their shard, by port, with that shard: the shard's
   * loop closes them moments later, so a port handed out again at once (quarantineMs 0, the
   * warm-up's endQuarantine) may still be bound. Bounded by the port range; an entry goes when its
   * port binds again.
   */
  readonly #closing = new Map<number, number>();

  private constructor(
    options: { address: string; advertise: string; timeoutMs: number; restoreTimeoutMs: number; log: Logger },
    ports: PortPool,
    rule: LatchPolicyRule,
    shardPool: ShardPool,
  ) {
    super();
    this.address = options.address;
    this.advertise = options.advertise;
    this.timeoutMs = options.timeoutMs;
    this.#restoreTimeoutMs = options.restoreTimeoutMs;
    this.#log = options.log;
    this.#ports = ports;
    this.#rule = rule;
    this.#shardPool = shardPool;
    this.#shards = Array.from({ length: shardPool.size }, () => ({ load: 0, generation: 0, streams: new Map() }));
    shardPool.on('idle', (shard, idle, active) => this.#onIdle(shard, idle, active));
    shardPool.on('lost', (shard, reason) => this.#onShardLost(shard, reason));
    shardPool.on('latch', (shard, changes) => this.#onLatch(shard, changes));
    shardPool.on('refused', (shard, legs) => this.#onRefused(shard, legs));
    shardPool.on('up', (shard) => {
      for (const wake of [...(this.#upWaiters.get(shard) ?? [])]) wake(true);
    });
  }

  /** Validates the options, starts the shards, and resolves once every shard is running. */
  static async start(options: MediaRelayOptions): Promise<MediaRelay> {
    if (options === null || typeof options !== 'object') {
      throw new MediaError('ERR_PINLATCH_CONFIG', 'media relay options must be an object');
    }
    const bind = parseIp(options.address);
    if (!bind) throw new MediaError('ERR_PINLATCH_CONFIG', `media address ${JSON.stringify(options.address)} is not an IP literal`);
    const unspecified = bind.text === '0.0.0.0' || bind.text === '::';
    const advertiseText = options.advertise ?? (unspecified ? undefined : bind.text);
    const advertise = advertiseText === undefined ? null : parseIp(advertiseText);
    if (!advertise || advertise.text === '0.0.0.0' || advertise.text === '::') {
      throw new MediaError('ERR_PINLATCH_CONFIG', 'media advertise address must be a specific IP literal (required when binding 0.0.0.0 or ::)');
    }
    if (advertise.family !== bind.family) {
      // Every stream binds media.address, IPv6 sockets without IPv4-mapped peers: one family only.
      throw new MediaError(
        'ERR_PINLATCH_CONFIG',
        `media advertise address ${advertise.text} is IPv${advertise.family}, the bind address ${bind.text} IPv${bind.family}: both must be of one family`,
      );
    }
    const timeoutMs = options.timeoutMs ?? 60_000;
    if (!Number.isFinite(timeoutMs) || timeoutMs < 0) {
      throw new MediaError('ERR_PINLATCH_CONFIG', `timeoutMs must be a finite number >= 0, got ${timeoutMs}`);
    }
    const restoreTimeoutMs = options.restoreTimeoutMs ?? 10_000;
    if (!Number.isFinite(restoreTimeoutMs) || restoreTimeoutMs < 0) {
      throw new MediaError('ERR_PINLATCH_CONFIG', `restoreTimeoutMs must be a finite number >= 0, got ${restoreTimeoutMs}`);
    }
    const refusalCheckMs = options.refusalCheckMs ?? 1000;
    if (!Number.isFinite(refusalCheckMs) || refusalCheckMs < 0) {
      throw new MediaError('ERR_PINLATCH_CONFIG', `refusalCheckMs must be a finite number >= 0, got ${refusalCheckMs}`);
    }
    const ports = new PortPool({ range: options.ports, quarantineMs: options.quarantineMs ?? 5000 });
    const rule = new LatchPolicyRule({
      advertise: advertise.text,
      handoverSilenceMs: options.handoverSilenceMs ?? DEFAULT_LATCH_KNOBS.handoverSilenceMs,
      handoverMaxSeqGap: options.handoverMaxSeqGap ?? DEFAULT_LATCH_KNOBS.handoverMaxSeqGap,
    });
    const log = options.logger ?? pino({ level: 'silent' });
    const shardPool = await ShardPool.start({
      ...(options.shards === undefined ? {} : { shards: options.shards }),
      ...(options.rpcTimeoutMs === undefined ? {} : { rpcTimeoutMs: options.rpcTimeoutMs }),
      ...(options.cpus === undefined ? {} : { cpus: options.cpus }),
      shard: {
        idleMs: timeoutMs,
        // Check a few times per timeout so the event is late by at most a quarter of it.
        idleCheckMs: Math.max(10, Math.min(1000, Math.floor(timeoutMs / 4))),
        refusalCheckMs,
        ...(options.batch === undefined ? {} : { batch: options.batch }),
        ...(options.realtimePriority === undefined ? {} : { realtimePriority: options.realtimePriority }),
        ...(options.receiveBufferBytes === undefined ? {} : { receiveBufferBytes: options.receiveBufferBytes }),
        ...(options.sendBufferBytes === undefined ? {} : { sendBufferBytes: options.sendBufferBytes }),
        ...(options.latchSyncMs === undefined ? {} : { latchSyncMs: options.latchSyncMs }),
      },
      logger: log,
    });
    log.info(
      {
        address: bind.text,
        advertise: advertise.text,
        ports: options.ports,
        shards: shardPool.size,
        cpus: Array.from({ length: shardPool.size }, (_, shard) => shardPool.placementOf(shard)?.cpus ?? null),
        realtimePriority: options.realtimePriority ?? 0,
        socketBuffers: shardPool.socketBuffers,
      },
      'media relay started',
    );
    return new MediaRelay({ address: bind.text, advertise: advertise.text, timeoutMs, restoreTimeoutMs, log }, ports, rule, shardPool);
  }

  /** Shard faults since start. */
  faultCounters(): FaultCounters {
    return { ...this.#faults };
  }

  /** Number of shards. */
  get shards(): number {
    return this.#shardPool.size;
  }

  /** CPUs and scheduling of a shard's thread, read back from the kernel; null while it is down. */
  shardPlacement(shard: number): ThreadPlacement | null {
    return this.#shardPool.placementOf(shard);
  }

  /** Socket buffer sizes requested and granted by the kernel (null until a shard was up). */
  socketBuffers(): SocketBuffers | null {
    return this.#shardPool.socketBuffers;
  }

  /** Number of sessions. */
  get size(): number {
    return this.#sessions.size;
  }

  /** Legs reported (and logged) because their media came only from sources their rule refuses. */
  get refusedLegs(): number {
    return this.#refusedLegs;
  }

  /** Frees the quarantined port pairs at once (PortPool.endQuarantine: the start-up warm-up's only). */
  endQuarantine(): number {
    return this.#ports.endQuarantine();
  }

  /** Port pool occupancy (pairs). */
  portUsage(): { size: number; inUse: number; available: number; quarantined: number; setAside: number } {
    const p = this.#ports;
    return { size: p.size, inUse: p.inUse, available: p.available, quarantined: p.quarantined, setAside: p.setAside };
  }

  /**
   * Each shard's counters summed over every stream it has had (NativeRelay.totals), read with one
   * request per shard; null for a shard that is down or does not answer. A restarted shard starts
   * from zero: its counters reset, as a Prometheus counter of a restarted process does.
   */
  shardTotals(): Promise<Array<RelayTotals | null>> {
    const pool = this.#shardPool;
    return Promise.all(
      Array.from({ length: pool.size }, (_, shard) => (pool.isUp(shard) ? pool.request(shard, 'totals', {}).catch(() => null) : Promise.resolve(null))),
    );
  }

  /** Open (or opening) streams per shard. */
  shardLoads(): number[] {
    return this.#shards.map((s) => s.load);
  }

  /** True while the shard's worker is running (false between its loss and its restart). */
  isShardUp(shard: number): boolean {
    return this.#shardPool.isUp(shard);
  }

  /**
   * The latched peers of a session's legs as the main thread knows them (reported by the shards
   * every `latchSyncMs`): what a restore after a shard fault would re-create. Undefined when unknown.
   */
  latchedPeers(key: string): Array<{ index: number; a: LatchedPeers; b: LatchedPeers }> | undefined {
    const session = this.#sessions.get(key);
    if (!session) return undefined;
    const peers = (leg: LegRestore): LatchedPeers => ({ rtpPeer: leg.rtpPeer, rtcpPeer: leg.rtcpPeer });
    return session.streams.map((s) => ({ index: s.index, a: peers(s.legs.a), b: peers(s.legs.b) }));
  }

  /** The shard that owns a session, or undefined. */
  shardOf(key: string): number | undefined {
    return this.#sessions.get(key)?.shard;
  }

  /** Diagnostic/admin: kills one shard's worker as a crash would (see ShardPool.terminateShard). */
  terminateShard(shard: number): Promise<void> {
    return this.#shardPool.terminateShard(shard);
  }

  /** Diagnostic/admin: one shard's worker ends with an uncaught error (see ShardPool.crashShard). */
  crashShard(shard: number): Promise<void> {
    return this.#shardPool.crashShard(shard);
  }

  get(key: string): MediaSession | undefined {
    return this.#sessions.get(key)?.view;
  }

  keys(): string[] {
    return [...this.#sessions.keys()];
  }

  async ensureSession(key: string, streamCount: number, legs: readonly LegUpdate[] = []): Promise<MediaSession> {
    if (typeof key !== 'string' || key.length === 0) throw new MediaError('ERR_PINLATCH_ARG', 'session key must be a non-empty string');
    if (!Number.isInteger(streamCount) || streamCount < 1 || streamCount > MAX_STREAMS_PER_SESSION) {
      throw new MediaError('ERR_PINLATCH_ARG', `streamCount must be an integer in 1..${MAX_STREAMS_PER_SESSION}, got ${streamCount}`);
    }
    const decided = legs.map(({ index, leg, hint }) => {
      if (!Number.isInteger(index) || index < 0 || index >= streamCount) {
        throw new MediaError('ERR_PINLATCH_ARG', `leg update for stream ${index} outside 0..${streamCount - 1}`);
      }
      if (leg !== 'a' && leg !== 'b') throw new MediaError('ERR_PINLATCH_ARG', `leg must be 'a' or 'b', got ${JSON.stringify(leg)}`);
      return { index, leg, ...this.#decide(key, index, leg, hint) };
    });
    const remember = (streams: StreamEntry[]) => {
      for (const d of decided) {
        const stream = streams[d.index];
        if (stream) stream.rules[d.leg] = d.rule;
      }
    };
    return this.#serialize(key, async () => {
      this.#assertOpen();
      const existing = this.#sessions.get(key);
      const have = existing?.streams.length ?? 0;
      if (existing && have >= streamCount) {
        if (decided.length > 0) {
          this.#sendLegs(existing, decided);
          remember(existing.streams);
        }
        return existing.view;
      }
      const shard = existing?.shard ?? this.#pickShard();
      // Legs of the new streams ride along with their opening; those of existing streams follow.
      const onNew: OpenLegPolicy[] = decided.filter((d) => d.index >= have).map((d) => ({ spec: d.index - have, leg: d.leg, policy: d.policy }));
      const added = await this.#openStreams(shard, have, streamCount - have, onNew);
      for (const d of decided) if (d.index >= have) added[d.index - have]!.legs[d.leg].policy = d.policy;
      const onOld = decided.filter((d) => d.index < have);
      const session: SessionEntry = existing ?? {
        key,
        shard,
        streams: [],
        idleStreams: 0,
        timeoutReported: false,
        view: viewOf(key, []),
      };
      const state = this.#shards[shard]!;
      for (const stream of added) {
        session.streams.push(stream);
        state.streams.set(stream.id, { session, stream });
      }
      session.timeoutReported = false;
      session.view = viewOf(key, session.streams);
      this.#sessions.set(key, session);
      if (onOld.length > 0) this.#sendLegs(session, onOld);
      remember(session.streams);
      return session.view;
    });
  }

  /**
   * Records leg policies on the session's streams and hands them to its shard (native commands:
   * nothing to wait for). A shard lost meanwhile gets them with the session's restore, which is
   * queued behind this operation.
   */
  #sendLegs(session: SessionEntry, decided: ReadonlyArray<{ index: number; leg: LegName; policy: LegPolicy }>): void {
    const before = decided.map(({ index, leg }) => session.streams[index]!.legs[leg].policy);
    const legs = decided.map(({ index, leg, policy }) => {
      const stream = session.streams[index]!;
      stream.legs[leg].policy = policy;
      return { id: stream.id, leg, policy };
    });
    try {
      this.#shardPool.setLegs(session.shard, legs);
    } catch (err) {
      if ((err as MediaError).code === 'ERR_PINLATCH_SHARD_LOST' && this.#sessions.get(session.key) === session) return;
      // Refused by the shard: a restore must not replay what never applied.
      decided.forEach(({ index, leg }, i) => (session.streams[index]!.legs[leg].policy = before[i]!));
      throw err;
    }
  }

  /** The latch policy of one leg from its hint (LatchPolicyRule), logged. */
  #decide(key: string, index: number, leg: LegName, hint: LegHint): { policy: LegPolicy; rule: string } {
    const decision = this.#rule.derive(hint);
    if (decision.weak) {
      this.#log.warn({ key, index, leg, reason: decision.reason }, 'weak latching: the first valid RTP/RTCP source from anywhere latches this leg');
    } else if (this.#log.isLevelEnabled('debug')) {
      this.#log.debug({ key, index, leg, policy: decision.policy, reason: decision.reason }, 'leg policy');
    }
    return { policy: decision.policy, rule: decision.rule };
  }

  async setLeg(key: string, index: number, leg: LegName, hint: LegHint): Promise<void> {
    if (leg !== 'a' && leg !== 'b') throw new MediaError('ERR_PINLATCH_ARG', `leg must be 'a' or 'b', got ${JSON.stringify(leg)}`);
    const decision = this.#rule.derive(hint);
    return this.#serialize(key, async () => {
      this.#assertOpen();
      const session = this.#sessionOrThrow(key);
      const stream = session.streams[index];
      if (!stream) throw new MediaError('ERR_PINLATCH_ARG', `session ${key} has no stream ${index}`);
      if (decision.weak) {
        this.#log.warn({ key, index, leg, reason: decision.reason }, 'weak latching: the first valid RTP/RTCP source from anywhere latches this leg');
      } else if (this.#log.isLevelEnabled('debug')) {
        this.#log.debug({ key, index, leg, policy: decision.policy, reason: decision.reason }, 'leg policy');
      }
      this.#sendLegs(session, [{ index, leg, policy: decision.policy }]);
      stream.rules[leg] = decision.rule;
    });
  }

  stats(key: string): Promise<StreamStats[] | undefined> {
    // Queued like the other operations on the key, so it never asks for streams a concurrent
    // release has just closed.
    return this.#serialize(key, async () => {
      this.#assertOpen();
      const session = this.#sessions.get(key);
      if (!session) return undefined;
      const counters = await this.#shardPool.request(session.shard, 'stats', { ids: session.streams.map((s) => s.id) });
      const byId = new Map(counters.map((c) => [c.id, c]));
      const out: StreamStats[] = [];
      for (const stream of session.streams) {
        const c = byId.get(stream.id);
        if (c) out.push({ index: stream.index, a: c.a, b: c.b });
      }
      return out;
    });
  }

  release(key: string): Promise<void> {
    return this.#serialize(key, async () => {
      const session = this.#sessions.get(key);
      if (!session) return;
      this.#forget(session);
      // Streams awaiting their restore (id 0) have no sockets anywhere.
      const ids = session.streams.map((s) => s.id).filter((id) => id !== 0);
      try {
        if (ids.length > 0) this.#shardPool.closeStreams(session.shard, ids);
      } catch (err) {
        // SHARD_LOST / CLOSED: the sockets died with the worker.
        this.#log.warn({ key, err }, 'closing media session streams failed');
      }
      // The shard's loop closes the sockets moments from now; the ports rest in quarantine first.
      for (const stream of session.streams) {
        for (const port of [stream.aPort, stream.bPort]) {
          if (stream.id !== 0) this.#closing.set(port, session.shard);
          this.#ports.release(port);
        }
      }
    });
  }

  close(): Promise<void> {
    this.#closed ??= (async () => {
      for (const waiters of this.#upWaiters.values()) for (const wake of [...waiters]) wake(false);
      await this.#shardPool.close();
      this.#sessions.clear();
      for (const state of this.#shards) {
        state.streams.clear();
        state.load = 0;
      }
      this.#log.info('media relay closed');
    })();
    return this.#closed;
  }

  #assertOpen(): void {
    if (this.#closed) throw new MediaError('ERR_PINLATCH_CLOSED', 'media relay is closed');
  }

  #sessionOrThrow(key: string): SessionEntry {
    const session = this.#sessions.get(key);
    if (!session) throw new MediaError('ERR_PINLATCH_UNKNOWN_SESSION', `no media session ${JSON.stringify(key)}`);
    return session;
  }

  /** Runs `task` after every earlier task of the same key has settled. */
  #serialize<T>(key: string, task: () => Promise<T>): Promise<T> {
    const previous = this.#queues.get(key) ?? Promise.resolve();
    const result = previous.then(task);
    const tail = result.then(
      () => undefined,
      () => undefined,
    );
    this.#queues.set(key, tail);
    void tail.then(() => {
      if (this.#queues.get(key) === tail) this.#queues.delete(key);
    });
    return result;
  }

  #pickShard(): number {
    let best = -1;
    for (let i = 0; i < this.#shards.length; i++) {
      if (!this.#shardPool.isUp(i)) continue;
      if (best === -1 || this.#shards[i]!.load < this.#shards[best]!.load) best = i;
    }
    if (best === -1) throw new MediaError('ERR_PINLATCH_NO_SHARD', 'no media shard is running');
    return best;
  }

  /**
   * Allocates port pairs for `count` streams and opens them on `shard`, all or nothing. The
   * sockets are bound on this thread (ShardPool.openStreams), so this needs no round trip. A bind
   * that fails with EADDRINUSE on a pair whose close is still on its way to a shard waits for that
   * shard to apply it (one request: the shard applies queued commands first) and tries the pair
   * again. Other EADDRINUSE failures (another process holds a port) set both pairs of that stream
   * aside (the error does not say which of the two is taken) and retry with fresh pairs, up to
   * MAX_BIND_ATTEMPTS times.
   */
  async #openStreams(shard: number, firstIndex: number, count: number, legs: OpenLegPolicy[]): Promise<StreamEntry[]> {
    const state = this.#shards[shard]!;
    const pairs: Array<{ aPort: number; bPort: number }> = [];
    const allocatePair = () => {
      const aPort = this.#ports.allocate();
      try {
        return { aPort, bPort: this.#ports.allocate() };
      } catch (err) {
        this.#ports.returnUnused(aPort);
        throw err;
      }
    };

    try {
      for (let i = 0; i < count; i++) pairs.push(allocatePair());
      for (let attempt = 1; ; attempt++) {
        const specs: StreamSpec[] = pairs.map((p) => ({ address: this.address, aPort: p.aPort, bPort: p.bPort }));
        let ids: number[];
        try {
          ids = this.#shardPool.openStreams(shard, specs, legs);
        } catch (err) {
          const error = err as MediaError;
          if (error.code === 'ERR_PINLATCH_BIND' && error.syscallCode === 'EADDRINUSE' && error.index !== undefined && attempt < MAX_BIND_ATTEMPTS) {
            const pair = pairs[error.index]!;
            const closer = this.#closing.get(pair.aPort) ?? this.#closing.get(pair.bPort);
            if (closer !== undefined) {
              this.#closing.delete(pair.aPort);
              this.#closing.delete(pair.bPort);
              // A shard that is down took its sockets with it: nothing to wait for.
              await this.#shardPool.request(closer, 'stats', { ids: [] }).catch(() => undefined);
              continue;
            }
            const [busy] = pairs.splice(error.index, 1);
            this.#log.warn({ aPort: busy!.aPort, bPort: busy!.bPort, attempt }, 'media ports held by another process; trying other ports');
            this.#ports.setAsideFailed(busy!.aPort);
            this.#ports.setAsideFailed(busy!.bPort);
            pairs.splice(error.index, 0, allocatePair());
            continue;
          }
          if (error.syscallCode === 'EADDRINUSE') {
            throw new MediaError('ERR_PINLATCH_BIND', `no bindable RTP port pairs after ${attempt} attempts: ${error.message}`, { syscallCode: 'EADDRINUSE' });
          }
          throw err;
        }
        state.load += count;
        for (const { aPort, bPort } of pairs) {
          this.#closing.delete(aPort);
          this.#closing.delete(bPort);
        }
        return pairs.splice(0).map((p, i) => ({
          index: firstIndex + i,
          id: ids[i]!,
          aPort: p.aPort,
          bPort: p.bPort,
          idle: false,
          legs: { a: legMemory(), b: legMemory() },
          rules: { a: null, b: null },
        }));
      }
    } catch (err) {
      for (const { aPort, bPort } of pairs) {
        this.#ports.returnUnused(aPort);
        this.#ports.returnUnused(bPort);
      }
      throw err;
    }
  }

  /** Drops a session from the tables (its ports are returned by the caller). */
  #forget(session: SessionEntry): void {
    this.#sessions.delete(session.key);
    const state = this.#shards[session.shard]!;
    for (const stream of session.streams) state.streams.delete(stream.id);
    state.load -= session.streams.length;
  }

  #onIdle(shard: number, idle: number[], active: number[]): void {
    const state = this.#shards[shard]!;
    for (const id of active) {
      const entry = state.streams.get(id);
      if (!entry || !entry.stream.idle) continue;
      entry.stream.idle = false;
      entry.session.idleStreams--;
      entry.session.timeoutReported = false;
    }
    const candidates = new Set<SessionEntry>();
    for (const id of idle) {
      const entry = state.streams.get(id);
      if (!entry || entry.stream.idle) continue;
      entry.stream.idle = true;
      entry.session.idleStreams++;
      candidates.add(entry.session);
    }
    for (const session of candidates) {
      if (session.idleStreams === session.streams.length && !session.timeoutReported) {
        session.timeoutReported = true;
        this.#log.info({ key: session.key, timeoutMs: this.timeoutMs }, 'media session timed out');
        this.emit('timeout', session.key);
      }
    }
  }

  #onLatch(shard: number, changes: LatchChange[]): void {
    const state = this.#shards[shard]!;
    for (const { id, leg, rtpPeer, rtcpPeer } of changes) {
      const entry = state.streams.get(id);
      if (!entry) continue;
      const memory = entry.stream.legs[leg];
      memory.rtpPeer = rtpPeer;
      memory.rtcpPeer = rtcpPeer;
    }
  }

  /**
   * The worker of `shard` died and took its sockets (the addon's environment cleanup closes
   * them). Every session it held is restored on the restarted worker, each in its key's queue:
   * operations already running finish first (their requests fail with SHARD_LOST), later ones
   * wait for the restore.
   */
  #onRefused(shard: number, legs: LegRefusal[]): void {
    const state = this.#shards[shard]!;
    for (const { id, leg, source, refused } of legs) {
      const entry = state.streams.get(id);
      if (!entry) continue; // released meanwhile
      this.#refusedLegs++;
      this.#log.warn(
        { key: entry.session.key, index: entry.stream.index, leg, source, refused, rule: entry.stream.rules[leg] },
        'media refused: every packet on this leg came from a source its latching rule does not allow, so none is relayed',
      );
    }
  }

  #onShardLost(shard: number, reason: string): void {
    const state = this.#shards[shard]!;
    state.generation++;
    // Stream ids belong to the dead worker; the restored streams get new ones.
    state.streams.clear();
    this.#faults.shardRestarts++;
    const generation = state.generation;
    const sessions = [...this.#sessions.values()].filter((s) => s.shard === shard);
    for (const session of sessions) {
      for (const stream of session.streams) {
        stream.id = 0;
        stream.idle = false;
      }
      session.idleStreams = 0;
      session.timeoutReported = false;
    }
    this.#log.error({ shard, reason, sessions: sessions.length }, 'media shard lost; restoring its sessions on its replacement');
    const back = this.#restoreTimeoutMs === 0 ? Promise.resolve(false) : this.#whenUp(shard, this.#restoreTimeoutMs);
    const outcomes = sessions.map((session) =>
      this.#serialize(session.key, () => this.#restore(session, generation, back, reason)).catch((err: unknown) => {
        this.#log.error({ err, key: session.key }, 'media session restore failed');
        return 'skipped' as const;
      }),
    );
    void Promise.all(outcomes).then((done) => {
      const restored = done.filter((o) => o === 'restored').length;
      const lost = done.filter((o) => o === 'lost').length;
      this.#log[lost > 0 ? 'error' : 'info']({ shard, restored, lost }, 'media shard sessions restored');
    });
  }

  /** Resolves true once `shard` runs again, false after `timeoutMs` or when the relay closes. */
  #whenUp(shard: number, timeoutMs: number): Promise<boolean> {
    return new Promise((resolve) => {
      let waiters = this.#upWaiters.get(shard);
      if (!waiters) this.#upWaiters.set(shard, (waiters = new Set()));
      const finish = (up: boolean) => {
        clearTimeout(timer);
        waiters.delete(finish);
        resolve(up);
      };
      const timer = setTimeout(() => finish(false), timeoutMs);
      waiters.add(finish);
    });
  }

  /**
   * Re-creates one session of a lost shard on its replacement: same ports, leg policies, latched
   * peers. Binds that fail with EADDRINUSE are retried until the deadline: the dead worker's
   * sockets close in its environment's teardown, which may still be running.
   */
  async #restore(session: SessionEntry, generation: number, back: Promise<boolean>, reason: string): Promise<RestoreOutcome> {
    const state = this.#shards[session.shard]!;
    // Released meanwhile, or lost again (the later loss queued its own restore).
    const current = () => this.#sessions.get(session.key) === session && state.generation === generation && !this.#closed;
    if (!current()) return 'skipped';
    const deadline = Date.now() + this.#restoreTimeoutMs;
    const up = await back;
    if (!current()) return 'skipped';
    if (!up) {
      return this.#drop(session, `${reason}; shard ${session.shard} not back within ${this.#restoreTimeoutMs} ms`, 'release');
    }
    const streams: StreamRestore[] = session.streams.map((s) => ({
      spec: { address: this.address, aPort: s.aPort, bPort: s.bPort },
      a: { ...s.legs.a },
      b: { ...s.legs.b },
    }));
    for (;;) {
      let result: OpenResult;
      try {
        result = await this.#shardPool.request(session.shard, 'restore', { streams });
      } catch (err) {
        if (!current()) return 'skipped';
        const timedOut = (err as MediaError).code === 'ERR_PINLATCH_RPC_TIMEOUT';
        return this.#drop(session, `restore failed: ${(err as Error).message}`, timedOut ? 'setAside' : 'release');
      }
      if (!current()) return 'skipped';
      if (result.ok) {
        session.streams.forEach((stream, i) => {
          stream.id = result.ids[i]!;
          state.streams.set(stream.id, { session, stream });
        });
        this.#faults.sessionsRestored++;
        this.#log.debug({ key: session.key, shard: session.shard }, 'media session restored');
        return 'restored';
      }
      if (result.error.syscallCode === 'EADDRINUSE' && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 50));
        if (!current()) return 'skipped';
        continue;
      }
      return this.#drop(session, `restore failed: ${result.error.message}`, 'release');
    }
  }

  /** A session of a dead shard that could not be restored: forgotten, its ports returned, reported. */
  #drop(session: SessionEntry, reason: string, ports: 'release' | 'setAside'): RestoreOutcome {
    this.#forget(session);
    for (const stream of session.streams) {
      for (const port of [stream.aPort, stream.bPort]) {
        if (ports === 'release') this.#ports.release(port);
        else this.#ports.setAsideFailed(port);
      }
    }
    this.#faults.sessionsLost++;
    this.#log.warn({ key: session.key, reason }, 'media session lost');
    this.emit('lost', session.key, reason);
    return 'lost';
  }

  override on<E extends keyof MediaEvents>(event: E, listener: MediaEvents[E]): this {
    return super.on(event, listener);
  }
}
