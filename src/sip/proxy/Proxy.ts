/**
 * SipProxy: the stateful, record-routing proxy core (RFC 3261 §16) over SipTransport (UDP and TCP,
 * IPv4 and IPv6, every configured listen point), with per-trunk route pinning, NAT handling
 * (RFC 3581 and source trust for non-trunk peers) and media anchoring.
 *
 * One request's walk: parse → RFC 3581 received/rport stamp → server transaction (100 Trying for
 * INVITE) → Max-Forwards (483) and loop (482) checks → pop our own Route (loose routing, §16.4)
 * → target: in-dialog (dialog table, RoutePin) or initial (trunk by source → upstream, else the
 * RouteTable → trunk, nothing → 404) → SDP anchored through the MediaRelay → Via with a z9hG4bK
 * branch, Record-Route with `lr` (and `pin=<trunk>` for a pinned dialog) → client transaction.
 * Responses come back through the client transaction, are anchored and forwarded through the
 * server transaction to where the request came from: the same connection for TCP, the source
 * address and port from the listen point it arrived on for UDP (§18.2.2, RFC 3581).
 * When a request leaves on another listen point than it came in on (UDP↔TCP, IPv4↔IPv6), the
 * proxy record-routes twice, once per interface (RFC 5658 §4), so each side reaches it its own way.
 * Malformed requests get responseForParseError's 400 (to the source); malformed responses are
 * dropped and logged.
 *
 * Edge limits (`limits` in the configuration) are checked before a new request gets a
 * transaction (`checkLimits`): a source over its request rate is answered 503 once and then ignored for
 * its ban; while the SIP socket's queue or the event loop is behind, new requests get 503 with
 * Retry-After at once instead of a late answer; a full table (transactions, their bytes, dialogs,
 * media sessions) answers 503 as well. Retransmissions, ACK/CANCEL of known transactions and
 * requests inside known dialogs always pass, so a call that was accepted is never refused later.
 */
import { hash, randomBytes } from 'node:crypto';
import { isIPv6 } from 'node:net';
import { lookup } from 'node:dns/promises';
import type { Logger } from 'pino';
import type { PinlatchConfig, TrunkConfig } from '../../config/types.js';
import type { LegName, LegUpdate, MediaRelayApi } from '../../media/api.js';
import { LatchRestrictions } from './LatchRestrictions.js';
import { MediaError } from '../../media/errors.js';
import { isIp, normalizeIp } from '../../net/address.js';
import { anchorParsed, checkMediaFamily, describeParsed, MediaFamilyError, parseSdp, relayFamilyOf, type SdpInfo } from '../../sdp/index.js';
import { Dialog, type DialogPeer, type DialogSide } from './Dialog.js';
import { DialogTable } from './DialogTable.js';
import { Drain } from './Drain.js';
import { Via, stampReceived } from '../wire/headers/via.js';
import { createResponse, SipRequest, SipResponse, type SipMessage } from '../wire/message.js';
import { isTrustworthyAddress, natReason } from './NatDetector.js';
import { ackOf2xx, byeOf, cancelOf, hopByHopAck, keepaliveOptions, routeSetTowardCallee } from './OwnRequests.js';
import { responseForParseError } from '../wire/parseError.js';
import { normalizedIp } from '../wire/normalizedIp.js';
import { RoutePin, nextHop, type HopTarget, type UriHop } from './RoutePin.js';
import { betterOutcome, failsOver, upstreamStatus, type BranchOutcome } from './ResponseContext.js';
import { RouteTable, type RouteChoice } from './RouteTable.js';
import { pinOf, routeToStrictRouter, undoStrictRouting } from './StrictRoute.js';
import { IoTimer } from '../transaction/IoTimer.js';
import { ClientTransaction, type ClientTransactionHandlers } from '../transaction/ClientTransaction.js';
import { ServerTransaction, type ServerTransactionHandlers } from '../transaction/ServerTransaction.js';
import { transactionTimers, type TransactionTimers } from '../transaction/timers.js';
import { ownedString } from '../transaction/owned.js';
import { LimitError, type LimitKind } from '../edge/LimitError.js';
import { LoadShedder } from '../edge/LoadShedder.js';
import { startJitWarmUp } from '../warmup/JitWarmUp.js';
import { SourceRateLimiter, type SourceRateStats } from '../edge/SourceRateLimiter.js';
import { SipTransport, type Endpoint, type InboundParseError, type ListenPoint } from '../transport/SipTransport.js';
import { systemLookup, TrunkResolver, type LookupFunction } from './TrunkResolver.js';
import { parseUri, SipUri, type Uri } from '../wire/uri.js';
import { Gatekeeper } from '../edge/Gatekeeper.js';
import { LogBudget } from '../edge/LogBudget.js';
import { aliasContact, FLOW_PARAM, unalias } from '../registrar/ContactAlias.js';
import { rewriteContacts } from '../registrar/contacts.js';
import type { Flow } from '../registrar/Flow.js';
import { FlowTokens } from '../registrar/FlowToken.js';
import { Phones } from '../registrar/Phones.js';
import type { RegisterAction, RegistrarCounters } from '../registrar/Registrar.js';
import type { InitialDecision } from '../edge/Admission.js';
import type { SourceClass } from '../edge/SourceClassifier.js';
import { callViews, type SipCallView } from './CallView.js';
import { callFailureOf, SipCounters } from './SipCounters.js';

export interface SipProxyOptions {
  config: PinlatchConfig;
  media: MediaRelayApi;
  logger?: Logger;
  /** Host-name resolution of trunks (default: the system resolver). */
  lookup?: LookupFunction;
}

/**
 * §16.7's response context: one server transaction and the branches its request was forwarded
 * on (one for in-dialog and non-forked requests; one per trunk of a forking route).
 */
interface ResponseContext {
  server: ServerTransaction;
  /** The request as received (own Route entries removed). */
  request: SipRequest;
  /** Loop-detection part of every branch's Via branch (§16.6 step 8). */
  loop: string;
  /** The pass of a spiral the request is on (Dialog.spiral): 0 the first time through. */
  spiral: number;
  /** Listen point the request came in on (responses leave from it). */
  local: ListenPoint;
  /** Side that sent the request ('caller' for an initial request). */
  from: DialogSide;
  /** Initial INVITE: each branch gets an early dialog; the first 2xx picks the call's one. */
  initial: boolean;
  /** The caller's side of the call, shared by every branch's early dialog (initial INVITE). */
  caller: DialogPeer | null;
  /** The request carried an SDP offer (else a response's SDP is a late offer). */
  offered: boolean;
  branches: Branch[];
  /** Targets of a serial fork not tried yet. */
  untried: BranchTarget[];
  failoverAfterMs: number | null;
  /** Best final non-2xx so far (§16.7 step 6). */
  best: BranchOutcome<SipResponse> | null;
  /** The branch whose 2xx was forwarded (initial INVITE). */
  winner: Branch | null;
  /** A 2xx went upstream: later provisional responses are not forwarded. */
  answered: boolean;
  /** The caller cancelled, or a 6xx came: no new branches. */
  stopped: boolean;
  /** Branches being prepared (resolving, anchoring): the context is not settled meanwhile. */
  starting: number;
  /** A phone's REGISTER on its way to the registrar (its Path and what the answer updates). */
  register: ForwardedRegister | null;
}

/** Where one branch of an initial request goes. */
interface BranchTarget {
  hop: HopTarget;
  /** The trunk it goes to (null: the upstream). */
  trunk: TrunkConfig | null;
  /** Request-URI host and port toward it (the user part is kept); null keeps the Request-URI. */
  uriHost: string | null;
  uriPort: number | undefined;
}

/** One forwarded copy of a request and its client transaction. */
interface Branch {
  ctx: ResponseContext;
  key: string;
  client: ClientTransaction<SipResponse> | null;
  forwarded: SipRequest;
  destination: Endpoint;
  branch: string;
  /** The dialog the request belongs to; for an initial INVITE this branch's early dialog. */
  dialog: Dialog | null;
  timerC?: NodeJS.Timeout;
  failoverTimer?: IoTimer;
  /** CANCEL of this branch: wanted waits for a provisional response (§9.1), then it is sent. */
  cancel: 'none' | 'wanted' | 'sent';
  /** Has its final response (or timed out, or could not be sent). */
  done: boolean;
  /** The ACK sent for a 2xx the proxy did not pass on (resent on its retransmissions). */
  lateAck?: Buffer;
}

/** An initial request's admission and, for one that is routed, the rule it takes. */
interface Admitted {
  decision: InitialDecision;
  choice: RouteChoice | null;
}

/** What pinlatch's own Route entries in a request said (popOwnRoutes). */
interface OwnRoute {
  pin: string | null;
  token: 'valid' | 'invalid' | 'none';
  /** The user part of a Path URI of ours: a phone's flow token. */
  flow: string | null;
  /** The spiral pass our Record-Route entry named (`sp`), 0 without one. */
  spiral: number;
}

/** The Record-Route parameter naming the spiral pass of a dialog (Dialog.spiral) after the first. */
const SPIRAL_PARAM = 'sp';

function spiralOf(uri: Uri | undefined): number {
  const value = uri?.kind === 'sip' ? uri.params.get(SPIRAL_PARAM) : undefined;
  const n = typeof value === 'string' ? Number(value) : 0;
  return Number.isInteger(n) && n > 0 && n < 70 ? n : 0;
}

type ForwardedRegister = Extract<RegisterAction, { kind: 'forward' }>;

/** What the proxy's edge limits have done and hold now, read by the metrics endpoint at scrape time. */
export interface ProxyStats {
  /** Per-source rate limiting (pike-like). */
  sourceRate: SourceRateStats;
  /** New requests refused with 503 because the SIP thread was behind. */
  shed: number;
  /** True while new requests are being shed. */
  shedding: boolean;
  /** Share of the new requests admitted now (1: none shed). */
  admittedShare: number;
  /** The SIP UDP sockets' queueing time and the event-loop lag as last measured (ms). */
  queueDelayMs: number;
  loopLagMs: number;
  /** Requests refused (503) because a bound was reached, by bound. */
  limitReached: Record<LimitKind, number>;
  serverTransactions: number;
  transactionBytes: number;
  clientTransactions: number;
  dialogs: number;
  dnsLookups: number;
  tcp: { connections: number; refusedTotal: number; refusedPerSource: number; bufferOverflows: number; messageTimeouts: number; idleTimeouts: number };
  /** Phone registrations (`phones`), null when phones are not configured. */
  phones: PhoneStats | null;
}

export interface PhoneStats extends RegistrarCounters {
  /** Bindings held (bound: phones.maxBindings) and the flows they are on. */
  bindings: number;
  flows: number;
  keepalivesSent: number;
  keepalivesMissed: number;
}

/** Why `checkLimits` turned a new request away: answered 503 (with Retry-After), or dropped unanswered. */
type Refusal = { kind: 'drop' } | { kind: 'refuse'; reason: string; retryAfterSec: number };

const BRANCH_PREFIX = 'z9hG4bKpl';
/** Requests that may change their sender's remote target (§12.2: re-INVITE; RFC 3311 UPDATE). */
const TARGET_REFRESH = new Set(['INVITE', 'UPDATE']);
const DIALOG_CREATING = new Set(['INVITE', 'SUBSCRIBE', 'REFER', 'NOTIFY']);
/** What the proxy carries end to end, for the Allow of its own answer to OPTIONS (§11.2). */
const PROXIED_METHODS = 'INVITE, ACK, CANCEL, BYE, OPTIONS, UPDATE, INFO, PRACK, REFER, NOTIFY, SUBSCRIBE, MESSAGE';

export class SipProxy {
  private config: PinlatchConfig;
  private readonly media: MediaRelayApi;
  private readonly log: Logger | undefined;
  private readonly timers: TransactionTimers;
  private routes: RouteTable;
  resolver: TrunkResolver;
  private latchRestrictions: LatchRestrictions;
  private transport: SipTransport | null = null;
  private points: ListenPoint[] = [];
  /** Addresses and ports that name this proxy in Via, Route and Request-URI. */
  private readonly ownHosts = new Set<string>();
  private readonly ownPorts = new Set<number>();
  private readonly serverTx = new Map<string, ServerTransaction>();
  private readonly forwards = new Map<string, Branch>();
  /** Response contexts by the key of their server transaction (CANCEL finds its INVITE's here). */
  private readonly contexts = new Map<string, ResponseContext>();
  private readonly clientTx = new Map<string, ClientTransaction<SipResponse>>();
  private readonly dialogs = new DialogTable();
  readonly gate: Gatekeeper;
  /** Refused and dropped requests are logged once a second at most (the counters have them all). */
  private readonly refusalLog = new LogBudget();
  /** Shedding's start and end lines. */
  private readonly overloadLog = new LogBudget();
  /** Phones registering through the proxy, or null when `phones` is not configured. */
  readonly phones: Phones | null;
  private readonly v6ByAddress = new Map<string, boolean>();
  /** IP family of the media relay's advertised address: every anchored SDP must match it. */
  private readonly mediaFamily: 4 | 6;
  private readonly rateLimiter: SourceRateLimiter;
  private readonly shedder: LoadShedder;
  private overloadTimer: NodeJS.Timeout | undefined;
  private warmUp: { stop(): void } | null = null;
  /** Bytes of the requests the open server transactions hold (as received). */
  private transactionBytes = 0;
  private dnsLookups = 0;
  private shed = 0;
  private readonly limitReached: Record<LimitKind, number> = {
    serverTransactions: 0, transactionBytes: 0, dialogs: 0, mediaSessions: 0, dnsLookups: 0, 'tcp.connections': 0,
  };
  /** When each bound was last logged (ms), so a full table logs once a second at most. */
  private readonly limitLogged = new Map<LimitKind, number>();
  private drainer: Drain | null = null;
  /** Messages, calls and pinned requests, counted where they happen (read by the metrics endpoint). */
  readonly counters = new SipCounters();
  private readonly lookup: LookupFunction | undefined;

  constructor(options: SipProxyOptions) {
    if (!options.config.sip) throw new RangeError('SipProxy needs a `sip` section in the configuration');
    this.config = options.config;
    this.media = options.media;
    this.mediaFamily = relayFamilyOf(options.media.advertise);
    this.log = options.logger;
    const { maxQueueMs } = options.config.limits.overload;
    this.timers = {
      ...transactionTimers(options.config.sip.timers),
      inboundBacklogMs: () => {
        const backlog = this.transport?.queueDelayMs() ?? 0;
        return backlog > maxQueueMs / 2 ? backlog : 0;
      },
    };
    this.routes = new RouteTable(options.config.routes, options.config.trunks);
    this.latchRestrictions = new LatchRestrictions(options.config);
    this.lookup = options.lookup;
    this.resolver = this.trunkResolver(options.config.trunks);
    // One key signs route tokens and flow tokens: set admission.routeSecret and both survive a restart.
    const key = options.config.admission.routeSecret === null ? randomBytes(32) : Buffer.from(options.config.admission.routeSecret);
    this.gate = new Gatekeeper(options.config, key, (address) => this.resolver.fromSource(address) ?? undefined, options.lookup ?? systemLookup, (err) =>
      this.log?.warn({ err }, 'upstream host did not resolve'),
    );
    const phones = options.config.phones;
    this.phones = phones
      ? new Phones(phones, new FlowTokens(key), {
          ping: (flow, contact) => this.ping(flow, contact),
          now: () => performance.now(),
          onDead: (flow) => this.log?.info({ flow }, 'phone flow dead: keepalives unanswered'),
        })
      : null;
    this.media.on('timeout', (mediaKey) =>
      this.onMediaTimeout(mediaKey).catch((err: unknown) => this.log?.warn({ err, key: mediaKey }, 'media timeout not handled')),
    );
    // A session its shard's restart could not bring back: the answered call has no media left.
    this.media.on('lost', (key) =>
      this.endCallOfMedia(key, 'SIP;cause=503;text="media lost"').catch((err: unknown) => this.log?.warn({ err, key }, 'media loss not handled')),
    );
    const limits = options.config.limits;
    this.rateLimiter = new SourceRateLimiter(limits.sourceRate);
    this.shedder = new LoadShedder(limits.overload);
  }

  /** Counters and current levels of the edge limits (metrics). */
  stats(): ProxyStats {
    const now = performance.now();
    const tcp = this.transport?.stats;
    return {
      sourceRate: this.rateLimiter.snapshot(now),
      shed: this.shed,
      shedding: this.shedder.shedding,
      admittedShare: this.shedder.share,
      queueDelayMs: this.transport?.queueDelayMs(now) ?? 0,
      loopLagMs: this.shedder.lag(now),
      limitReached: { ...this.limitReached },
      serverTransactions: this.serverTx.size,
      transactionBytes: this.transactionBytes,
      clientTransactions: this.clientTx.size,
      dialogs: this.dialogs.size,
      dnsLookups: this.dnsLookups,
      tcp: {
        connections: tcp?.tcpConnectionsOpen ?? 0,
        refusedTotal: tcp?.tcpRefusedTotal ?? 0,
        refusedPerSource: tcp?.tcpRefusedPerSource ?? 0,
        bufferOverflows: tcp?.tcpBufferOverflows ?? 0,
        messageTimeouts: tcp?.tcpMessageTimeouts ?? 0,
        idleTimeouts: tcp?.tcpIdleTimeouts ?? 0,
      },
      phones: this.phones && {
        ...this.phones.registrar.counters,
        bindings: this.phones.registrar.bindings.size,
        flows: this.phones.registrar.flows.size,
        keepalivesSent: this.phones.keepalives.sent,
        keepalivesMissed: this.phones.keepalives.missed,
      },
    };
  }

  /** The calls held now, one entry per call (metrics, NG `list` and `query`). */
  calls(): SipCallView[] {
    return callViews(this.dialogs.live());
  }

  /** The bound listen points, with actual ports (a configured port 0 picks a free one). */
  get listenPoints(): ListenPoint[] {
    return [...this.points];
  }

  async start(): Promise<void> {
    const sip = this.config.sip!;
    if (sip.listen.length === 0) throw new RangeError('SipProxy: no SIP listen point configured');
    await Promise.all([this.resolver.start(), this.gate.start()]);
    const { tcp, overload } = this.config.limits;
    const transport = new SipTransport({
      listen: sip.listen,
      parseLimits: { maxMessageBytes: sip.maxMessageBytes },
      ...(this.phones === null ? {} : { answerStun: (address: string) => this.admitKeepalive(address) }),
      udpReceiveBufferBytes: sip.udpReceiveBufferBytes,
      maxTcpConnections: tcp.connections,
      maxTcpConnectionsPerSource: tcp.connectionsPerSource,
      tcpBufferBytes: tcp.bufferBytes,
      tcpIdleTimeoutMs: tcp.idleSec * 1000,
      tcpMessageTimeoutMs: tcp.messageTimeoutSec * 1000,
    });
    transport.on('message', ({ message, source, local, size }) => this.receive(message, source, local, size));
    transport.on('parseError', (event) => this.onParseError(event));
    transport.on('error', (err) => this.log?.error({ err }, 'SIP socket error'));
    try {
      await transport.start();
    } catch (err) {
      this.resolver.stop();
      this.gate.stop();
      throw err;
    }
    this.transport = transport;
    transport.on('connectionClosed', (remote) => this.phones?.connectionClosed(remote));
    this.phones?.start();
    this.points = transport.listenPoints;
    // A probe (and a lag sample) several times per threshold, so shedding starts in time; a probe
    // not back after many thresholds was dropped by a full socket buffer.
    const probeMs = Math.max(5, Math.floor(Math.min(overload.maxQueueMs, overload.maxLagMs) / 4));
    const probeLostMs = Math.max(1000, 8 * overload.maxQueueMs);
    this.shedder.tick(performance.now(), probeMs);
    this.overloadTimer = setInterval(() => {
      const now = performance.now();
      this.shedder.tick(now, probeMs);
      this.shedder.adjust(transport.queueDelayMs(now), now);
      transport.probeQueues(probeLostMs);
    }, probeMs).unref();
    this.warmUp = sip.warmUpRounds > 0 ? startJitWarmUp(sip.warmUpRounds) : null;
    this.ownHosts.add(normalizeIp(sip.advertise) ?? sip.advertise.toLowerCase());
    for (const point of this.points) {
      this.ownHosts.add(normalizeIp(point.address) ?? point.address);
      this.ownPorts.add(point.port);
    }
  }

  async stop(): Promise<void> {
    this.resolver.stop();
    this.gate.stop();
    this.phones?.stop();
    clearInterval(this.overloadTimer);
    this.warmUp?.stop();
    for (const tx of this.serverTx.values()) tx.terminate();
    for (const tx of this.clientTx.values()) tx.terminate();
    for (const branch of this.forwards.values()) {
      clearTimeout(branch.timerC);
      branch.failoverTimer?.stop();
    }
    this.drainer?.shorten(0);
    const transport = this.transport;
    this.transport = null;
    await transport?.close();
  }

  private trunkResolver(trunks: PinlatchConfig['trunks']): TrunkResolver {
    const resolver = new TrunkResolver(trunks, {
      lookup: this.lookup,
      onError: (trunk, err) => this.log?.warn({ trunk: trunk.name, err }, 'trunk host did not resolve'),
    });
    resolver.on('change', (trunk, addresses) => this.log?.info({ trunk, addresses }, 'trunk address'));
    return resolver;
  }

  /**
   * A reloaded configuration (Pinlatch.reload let only the keys through that may change at run
   * time): trunks, routes, upstream, admission and limits apply from the next new request on.
   * The new trunks' host names are resolved first, then every object is replaced at once. A call
   * in progress is not affected: its dialog holds its own trunk name and RoutePin, and in-dialog
   * requests never consult the route table.
   */
  async reconfigure(config: PinlatchConfig): Promise<void> {
    const resolver = this.trunkResolver(config.trunks);
    const running = this.transport !== null;
    const [admission] = await Promise.all([this.gate.prepare(config), running ? resolver.start() : undefined]);
    if (running && this.transport === null) {
      // Stopped meanwhile: nothing new may keep resolving.
      resolver.stop();
      this.gate.discard(admission);
      return;
    }
    const old = this.resolver;
    this.config = config;
    this.routes = new RouteTable(config.routes, config.trunks);
    this.latchRestrictions = new LatchRestrictions(config);
    this.resolver = resolver;
    this.gate.apply(admission);
    this.rateLimiter.reconfigure(config.limits.sourceRate, performance.now());
    old.stop();
  }

  /** True once drain() was called: new calls are refused. */
  get draining(): boolean {
    return this.drainer !== null;
  }

  /**
   * Stops taking new calls: every new out-of-dialog request is answered 503 with Retry-After
   * (RFC 3261 §21.5.4), while requests inside running calls pass. Resolves when every call has
   * ended by itself or, at `deadlineMs` from now, once the calls still up have been ended: BYE
   * toward both sides of each answered call, CANCEL of each call still ringing, and their answers
   * awaited for T4 at most. Calling it again during the drain brings the deadline forward.
   */
  drain(deadlineMs: number): Promise<void> {
    if (this.drainer) {
      this.drainer.shorten(deadlineMs);
      return this.drainer.done.then(() => undefined);
    }
    const drainer = new Drain(
      {
        count: () => this.answeredCalls().length + this.ringingCalls().length,
        endAll: async () => {
          const answered = this.answeredCalls();
          const ringing = this.ringingCalls();
          if (answered.length + ringing.length > 0) {
            this.log?.info({ answered: answered.length, ringing: ringing.length }, 'drain deadline: ending the calls still up');
          }
          for (const ctx of ringing) this.cancelPending(ctx);
          await Promise.all(answered.map((dialog) => this.endCall(dialog, 'SIP;cause=503;text="shutting down"')));
          return answered.length + ringing.length;
        },
        settling: () => this.ringingCalls().length > 0 || this.byesOrCancelsUnanswered(),
      },
      deadlineMs,
      { settleMs: this.timers.t4 },
    );
    this.drainer = drainer;
    this.log?.info({ calls: drainer.atStart, deadlineMs }, 'draining: new calls refused');
    return drainer.done.then(({ drained, ended }) => this.log?.info({ drained, ended }, 'drain finished'));
  }

  /** A BYE or CANCEL still waiting for its final response. */
  private byesOrCancelsUnanswered(): boolean {
    for (const [key, tx] of this.clientTx) {
      if ((key.endsWith('|BYE') || key.endsWith('|CANCEL')) && (tx.state === 'trying' || tx.state === 'proceeding')) return true;
    }
    return false;
  }

  private answeredCalls(): Dialog[] {
    return this.dialogs.live().filter((d) => d.state === 'confirmed');
  }

  /** Initial INVITEs without a final answer yet. */
  private ringingCalls(): ResponseContext[] {
    return [...this.contexts.values()].filter((ctx) => ctx.initial && !ctx.answered);
  }

  // ── transport ────────────────────────────────────────────────────────────

  /** Sends toward `to`; `local` (the listen point a request came in on) for responses. */
  private send(data: Buffer, to: Endpoint, local?: ListenPoint): Promise<void> {
    const transport = this.transport;
    if (!transport) return Promise.reject(new Error('proxy stopped'));
    this.counters.sent(data);
    return transport.send(to, data, local ? { local } : {});
  }

  /** net.isIPv6 (a regular expression) remembered per address: a proxy talks to few peers, on every send. */
  private isV6(address: string): boolean {
    let v6 = this.v6ByAddress.get(address);
    if (v6 === undefined) {
      v6 = isIPv6(address);
      if (this.v6ByAddress.size >= 4096) this.v6ByAddress.clear();
      this.v6ByAddress.set(address, v6);
    }
    return v6;
  }

  /** The listen point a request toward `to` leaves from: same transport, same address family. */
  private localFor(to: Endpoint): ListenPoint {
    const v6 = this.isV6(to.address);
    const point =
      this.points.find((p) => p.transport === to.transport && this.isV6(p.address) === v6) ??
      this.points.find((p) => p.transport === to.transport);
    if (!point) throw new RangeError(`no ${to.transport.toUpperCase()} listen point toward ${to.address}`);
    return point;
  }

  /** The host written into Via and Record-Route for a listen point: `advertise`, unless of another IP family. */
  private advertisedHost(point: ListenPoint): string {
    const advertise = this.config.sip!.advertise;
    if (normalizedIp(advertise) === null || this.isV6(advertise) === this.isV6(point.address)) return advertise;
    return point.address;
  }

  private viaFor(to: Endpoint, branch: string): Via {
    const point = this.localFor(to);
    return new Via({
      transport: to.transport.toUpperCase(),
      host: this.advertisedHost(point),
      port: point.port,
      params: [['branch', branch], ['rport', null]],
    });
  }

  /** A Record-Route entry for one interface; `transport=tcp` when it is TCP (§19.1.1). */
  private recordRoute(point: ListenPoint, params: Array<[string, string | null]>): string {
    const all = point.transport === 'tcp' ? [...params, ['transport', 'tcp'] as [string, string]] : params;
    return `<${new SipUri({ host: this.advertisedHost(point), port: point.port, params: all }).toString()}>`;
  }

  /**
   * The Path entry of a phone's REGISTER (RFC 3327 §4): pinlatch's address facing the registrar,
   * the flow token as user part (RFC 5626 §5.2), `ob` (§5.1: this hop keeps the flow).
   */
  private pathFor(token: string, point: ListenPoint): string {
    const params: Array<[string, string | null]> = [['lr', null], ['ob', null]];
    if (point.transport === 'tcp') params.push(['transport', 'tcp']);
    return `<${new SipUri({ user: token, host: this.advertisedHost(point), port: point.port, params }).toString()}>`;
  }

  /** Puts a phone's flow token where the registrar keeps it: a Path entry, or each Contact. */
  private carryFlow(register: SipRequest, token: string, point: ListenPoint): void {
    if (this.config.phones!.flowIn === 'path') {
      register.prepend('Path', this.pathFor(token, point));
      return;
    }
    const at = { host: this.advertisedHost(point), port: point.port, transport: point.transport };
    rewriteContacts(register, (c) => {
      c.uri = aliasContact(c.uri, token, at);
      return true;
    });
  }

  /** A keepalive OPTIONS to a phone over its flow (Phones.ts): true when anything answered. */
  private ping(flow: Flow, contact: string): Promise<boolean> {
    const destination: Endpoint = { transport: flow.transport, address: flow.address, port: flow.port };
    const branch = `${BRANCH_PREFIX}ka.${randomBytes(8).toString('hex')}`;
    const options = keepaliveOptions(contact, this.viaFor(destination, branch), this.advertisedHost(this.localFor(destination)));
    return new Promise((resolve) => this.sendOwnRequest(`${branch}|OPTIONS`, 'OPTIONS', options, destination, resolve));
  }

  private async resolveHop(hop: HopTarget): Promise<Endpoint> {
    const ip = normalizedIp(hop.host);
    if (ip !== null) return { transport: hop.transport, address: ip, port: hop.port };
    // Host names come from requests (Route, Request-URI, maddr): lookups run on libuv's small
    // thread pool and a slow resolver queues them, so only so many may be waiting at once.
    if (this.dnsLookups >= this.config.limits.dnsLookups) {
      throw new LimitError('dnsLookups', `${this.dnsLookups} DNS lookups pending; ${hop.host} not looked up`);
    }
    this.dnsLookups += 1;
    try {
      const { address } = await lookup(hop.host);
      return { transport: hop.transport, address, port: hop.port };
    } finally {
      this.dnsLookups -= 1;
    }
  }

  /**
   * A phone's STUN keepalive counts toward its source's rate like a request: a spoofed flood of
   * Binding requests starts the source's ban and is dropped instead of reflected.
   */
  private admitKeepalive(address: string): boolean {
    if (this.rateExempt(this.gate.classify(address))) return true;
    const verdict = this.rateLimiter.take(address, performance.now());
    if (verdict === 'refuse') this.logBan(address, 'a STUN keepalive over it dropped');
    return verdict === 'pass';
  }

  /** A malformed request gets its 400 (or 505/513) back at the source; anything else is dropped. */
  private onParseError({ error, source, local }: InboundParseError): void {
    // Malformed requests count toward their source's rate like any other; over it, no answer.
    const verdict = this.rateExempt(this.gate.classify(source.address)) ? 'pass' : this.rateLimiter.take(source.address, performance.now());
    if (verdict !== 'pass') {
      if (verdict === 'refuse') this.logBan(source.address);
      return;
    }
    const response = responseForParseError(error, { toTag: randomBytes(6).toString('hex') });
    if (!response) {
      this.log?.info({ source, reason: error.reason, code: error.code }, 'malformed SIP message dropped');
      return;
    }
    this.log?.info({ source, reason: error.reason, status: response.status }, 'malformed SIP request answered');
    void this.send(response.serialize(), source, local).catch((err: unknown) =>
      this.log?.debug({ err, source }, 'answer to a malformed request not sent'),
    );
  }

  private receive(message: SipRequest | SipResponse, source: Endpoint, local: ListenPoint, size: number): void {
    this.counters.received(message);
    try {
      if (message.kind === 'request') this.onRequest(message, source, local, size);
      else this.onResponse(message);
    } catch (err) {
      this.log?.warn({ err, callId: safe(() => message.callId) }, 'SIP message not processed');
      if (message.kind === 'request' && message.method !== 'ACK') {
        void this.send(createResponse(message, 400, { reason: 'Bad Request' }).serialize(), source, local).catch(() => undefined);
      }
    }
  }

  // ── requests ─────────────────────────────────────────────────────────────

  private serverKey(request: SipRequest, method = request.method): string {
    const via = request.topVia!;
    // Its own string: the key lives as long as the transaction (Timer J, 32 s), not the request's text.
    return ownedString(`${via.branch}|${via.sentBy}|${method === 'ACK' ? 'INVITE' : method}`);
  }

  private onRequest(request: SipRequest, source: Endpoint, local: ListenPoint, size: number): void {
    const via = request.topVia;
    if (!via) throw new RangeError('request without Via');
    if (stampReceived(via, source)) request.setTopVia(via);
    const key = this.serverKey(request);

    if (request.method === 'ACK') {
      const tx = this.serverTx.get(key);
      // An ACK matching a server INVITE transaction acknowledges our non-2xx (§17.2.1): absorbed.
      if (tx && tx.lastStatus >= 300) {
        tx.receiveAck();
        return;
      }
      // The ACK of a non-2xx the proxy sent without a transaction (a refusal by `checkLimits`): it
      // carries the To tag the proxy chose (§17.1.1.3), and it ends here.
      if (!tx && request.to?.tag !== undefined && request.to.tag === this.toTag(request)) return;
      // An ACK outside any known dialog is forwarded along its Route: a stranger's count toward its rate.
      if (!this.dialogs.find(request, this.spiralOfTopRoute(request)) && !this.rateExempt(this.gate.classify(source.address)) && this.rateLimiter.take(source.address, performance.now()) !== 'pass') return;
      this.forwardAck(request, source).catch((err: unknown) =>
        this.log?.warn({ err, callId: request.callId }, 'ACK not forwarded'),
      );
      return;
    }

    const existing = this.serverTx.get(key);
    if (existing) {
      existing.receiveRetransmission();
      return;
    }
    const sourceClass = this.gate.classify(source.address);
    const refusal = this.checkLimits(request, source, size, sourceClass);
    if (refusal) {
      if (refusal.kind === 'refuse') {
        const response = createResponse(request, 503, {
          reason: refusal.reason,
          toTag: this.toTag(request),
          headers: [['Retry-After', String(refusal.retryAfterSec)]],
        });
        void this.send(response.serialize(), source, local).catch(() => undefined);
      }
      return;
    }
    let admitted: Admitted | null = null;
    if (request.to?.tag === undefined && request.method !== 'CANCEL') {
      admitted = this.admit(request, source, sourceClass);
      if (admitted.decision.kind === 'drop' || admitted.decision.kind === 'refuse') {
        this.refuseInitial(request, source, local, admitted.decision);
        return;
      }
    }
    this.transactionBytes += size;
    const server = new ServerTransaction(key, request.method, source.transport === 'tcp', this.timers, this.serverLink(key, source, local, size));
    this.serverTx.set(key, server);
    // §8.2.6.2: the 100 Trying needs no To tag (and is sent for every INVITE: no hash for it).
    const reply = (status: number, reason?: string, headers?: Array<[string, string]>) =>
      server.respond(status, createResponse(request, status, { reason, toTag: status === 100 ? undefined : this.toTag(request), headers }).serialize());

    if (request.method === 'CANCEL') {
      this.onCancel(request, reply);
      return;
    }
    if (request.method === 'INVITE') reply(100);
    void this.forwardRequest(request, source, local, server, reply, sourceClass, admitted).catch((err: unknown) => {
      const outcome = this.failureOutcome(err, local);
      this.log?.[outcome.status === 500 ? 'warn' : 'info']({ err, callId: request.callId, status: outcome.status }, 'request not forwarded');
      reply(outcome.status, outcome.reason, outcome.headers);
    });
  }

  /** Admission of an initial request (src/sip/edge/Admission.ts), with the route it may take. */
  private admit(request: SipRequest, source: Endpoint, sourceClass: SourceClass): Admitted {
    const optionsToUs = request.method === 'OPTIONS' && this.addressesUs(request.uri);
    let choice: RouteChoice | null = null;
    if (!optionsToUs && sourceClass.kind !== 'trunk') {
      const uri = request.uri;
      choice = uri.kind === 'sip' ? this.routes.select({ user: uri.user ?? null, host: uri.host }, sourceClass.kind === 'stranger' ? source.address : undefined) : null;
    }
    const top = request.routes[0]?.uri;
    const decision = this.gate.admit({
      source: sourceClass,
      method: request.method,
      flowRoute:
        this.phones !== null &&
        ((top?.kind === 'sip' && top.user !== undefined && this.refersToUs(top)) ||
          (request.uri.kind === 'sip' && request.uri.params.has(FLOW_PARAM) && this.refersToUs(request.uri))),
      optionsToUs,
      userAgent: request.get('user-agent'),
      strangerRoute: sourceClass.kind === 'stranger' && choice !== null,
    });
    return { decision, choice };
  }

  /**
   * A refused initial request gets its 403 statelessly (§16.3 allows a proxy to answer without a
   * transaction): a flood of them costs no state; a dropped one gets nothing.
   */
  private refuseInitial(request: SipRequest, source: Endpoint, local: ListenPoint, decision: InitialDecision): void {
    const skipped = this.refusalLog.take(performance.now());
    const who = () => ({ source: `${source.address}:${source.port}`, method: request.method, ruri: request.uriText, userAgent: request.get('user-agent'), skipped });
    if (decision.kind === 'drop') {
      if (skipped !== null) this.log?.info({ ...who(), reason: decision.reason }, 'request dropped');
      return;
    }
    if (decision.kind !== 'refuse') return;
    if (skipped !== null) this.log?.info({ ...who(), status: decision.status }, 'request refused: source may not use this route');
    if (request.method === 'ACK') return;
    const response = createResponse(request, decision.status, { reason: decision.reason, toTag: this.toTag(request) });
    void this.send(response.serialize(), source, local).catch(() => undefined);
  }

  /**
   * The edge limits for a request that would open a new server transaction: null to go on, else
   * how it is turned away (the order matters: a banned source costs nothing more, a shed request
   * does not count toward the rate, the tables come last).
   */
  private checkLimits(request: SipRequest, source: Endpoint, size: number, sourceClass: SourceClass): Refusal | null {
    // A request inside a known dialog (BYE, re-INVITE, ...) or the CANCEL of a known INVITE
    // belongs to a call already accepted: it always passes.
    if (request.to?.tag !== undefined && this.dialogs.find(request, this.spiralOfTopRoute(request))) return null;
    if (request.method === 'CANCEL' && this.serverTx.has(this.serverKey(request, 'INVITE'))) return null;
    const limits = this.config.limits;
    const now = performance.now();
    if (!this.rateExempt(sourceClass)) {
      const verdict = this.rateLimiter.take(source.address, now);
      if (verdict === 'drop') return { kind: 'drop' };
      if (verdict === 'refuse') {
        this.logBan(source.address);
        return { kind: 'refuse', reason: 'Rate Limited', retryAfterSec: Math.max(1, limits.sourceRate.banSec) };
      }
    }
    const retryAfterSec = limits.overload.retryAfterSec;
    const wasShedding = this.shedder.shedding;
    const queueMs = this.transport?.queueDelayMs(now) ?? 0;
    const admitted = this.shedder.admit(queueMs, now);
    const shedding = this.shedder.shedding;
    // Shedding can start and stop many times a second at the edge of capacity: at most one line
    // a second, counting the transitions left out, so that logging does not add to the overload.
    const transitionsLeftOut = shedding !== wasShedding ? this.overloadLog.take(now) : null;
    if (transitionsLeftOut !== null) {
      const lagMs = this.shedder.lag(now);
      const share = this.shedder.share;
      if (shedding) this.log?.warn({ queueMs, lagMs, share, maxQueueMs: limits.overload.maxQueueMs, maxLagMs: limits.overload.maxLagMs, transitionsLeftOut }, 'overloaded: a share of the new requests refused with 503');
      else this.log?.info({ queueMs, lagMs, shed: this.shed, transitionsLeftOut }, 'overload over: new requests accepted again');
    }
    if (!admitted) {
      this.shed += 1;
      return { kind: 'refuse', reason: 'Overloaded', retryAfterSec };
    }
    const full = (kind: LimitKind, detail: Record<string, number>): Refusal => {
      // One log line per bound and second at most: a full table under a flood must not flood the log.
      if (this.limitReached[kind]++ === 0 || now - (this.limitLogged.get(kind) ?? 0) >= 1000) {
        this.limitLogged.set(kind, now);
        this.log?.warn({ limit: kind, source: source.address, method: request.method, ...detail, refused: this.limitReached[kind] }, 'limit reached: request refused with 503');
      }
      return { kind: 'refuse', reason: 'Limit Reached', retryAfterSec };
    };
    if (this.serverTx.size >= limits.serverTransactions) return full('serverTransactions', { open: this.serverTx.size, max: limits.serverTransactions });
    if (this.transactionBytes + size > limits.transactionBytes) return full('transactionBytes', { held: this.transactionBytes, max: limits.transactionBytes });
    if (request.method === 'INVITE' && request.to?.tag === undefined) {
      if (this.dialogs.size >= limits.dialogs) return full('dialogs', { open: this.dialogs.size, max: limits.dialogs });
      if (request.body.length > 0 && this.media.size >= limits.mediaSessions) {
        return full('mediaSessions', { open: this.media.size, max: limits.mediaSessions });
      }
    }
    return null;
  }

  /** The upstream and the trunks are not rate limited per source: all their calls come from one address. */
  private rateExempt(sourceClass: SourceClass): boolean {
    return sourceClass.kind === 'upstream' || sourceClass.kind === 'trunk';
  }

  /** One line per ban: who, and why. */
  private logBan(address: string, first = 'answered 503'): void {
    const { requestsPerSec, burst, banSec } = this.config.limits.sourceRate;
    this.log?.warn({ source: address, requestsPerSec, burst, banSec }, `source over its request rate: ${first}, then ignored for the ban`);
  }

  /** A stable To tag for the responses the proxy itself generates (§8.2.6.2). */
  private toTag(request: SipRequest): string {
    return hash('sha1', `${request.callId}|${request.from?.tag}|${request.topVia?.branch}`, 'hex').slice(0, 12);
  }

  /**
   * The loop-detection part of the branch: fields that change in a spiral but not in a loop
   * (§16.6 step 8), the Route set as received among them (§16.3 step 4: a spiral is a request
   * routed anew) — an in-dialog request spiralling back through the PBX keeps its Request-URI,
   * only the Route entries it has used up tell the passes apart.
   */
  private loopHash(request: SipRequest): string {
    const routes = request.getAll('route').join(',');
    return hash('sha1', `${request.uriText}|${request.callId}|${request.from?.tag}|${request.to?.tag}|${request.cseq?.seq}|${routes}`, 'hex').slice(0, 10);
  }

  /** The spiral pass named by the topmost Route when it is ours (before popOwnRoutes). */
  private spiralOfTopRoute(request: SipRequest): number {
    const top = request.routes[0]?.uri;
    return top && this.refersToUs(top) ? spiralOf(top) : 0;
  }

  private branchFor(request: SipRequest, loop = this.loopHash(request)): string {
    const tx = hash('sha1', `${request.topVia!.branch}|${request.topVia!.sentBy}`, 'hex').slice(0, 12);
    return `${BRANCH_PREFIX}${loop}.${tx}`;
  }

  private isOwn(host: string, port: number | undefined): boolean {
    return this.ownPorts.has(port ?? 5060) && this.ownHosts.has(normalizedIp(host) ?? host.toLowerCase());
  }

  private isOwnVia(via: Via): boolean {
    return this.isOwn(via.host, via.port);
  }

  /** A Request-URI for the proxy itself: one of its addresses and ports, without a user part. */
  private addressesUs(uri: Uri): boolean {
    return uri.kind === 'sip' && !uri.user && this.isOwn(uri.host, uri.port);
  }

  private refersToUs(uri: Uri): boolean {
    return uri.kind === 'sip' && this.isOwn(uri.host, uri.port);
  }

  private async forwardRequest(
    request: SipRequest,
    source: Endpoint,
    local: ListenPoint,
    server: ServerTransaction,
    reply: (status: number, reason?: string, headers?: Array<[string, string]>) => void,
    sourceClass: SourceClass,
    admitted: Admitted | null,
  ): Promise<void> {
    // Draining: nothing new starts; requests inside running calls pass (§21.5.4: 503 + Retry-After).
    if (this.drainer !== null && request.to?.tag === undefined) {
      const retryAfter = Math.max(1, Math.ceil((this.drainer.deadline - Date.now()) / 1000));
      return reply(503, 'Service Unavailable', [['Retry-After', String(retryAfter)]]);
    }
    // §11, §16.3 step 3: an OPTIONS addressed to the proxy itself (no user part: a PBX or a
    // gateway checking that its SBC is up) is answered here, Max-Forwards 0 or not.
    if (admitted?.decision.kind === 'answer-options') {
      return reply(200, undefined, [['Allow', PROXIED_METHODS], ['Accept', 'application/sdp']]);
    }
    // §16.3 step 3/4: Max-Forwards and loops.
    if (request.maxForwards === 0) return reply(483);
    const loop = this.loopHash(request);
    if (request.vias.some((v) => this.isOwnVia(v) && v.branch?.startsWith(`${BRANCH_PREFIX}${loop}.`))) {
      return reply(482);
    }
    // §16.4: a strict router upstream put our Record-Route URI into the Request-URI.
    const strict = undoStrictRouting(request, (uri) => this.refersToUs(uri));
    if (strict.kind === 'missing-route') return reply(400, 'No Route To Restore The Request-URI From');
    const own = this.popOwnRoutes(request, strict.kind === 'restored' ? strict.ours : null);

    const inDialog = request.to?.tag !== undefined;
    const ctx: ResponseContext = {
      server, request, loop, local, from: 'caller', initial: false, caller: null, offered: false, branches: [],
      spiral: inDialog ? own.spiral : request.vias.filter((v) => this.isOwnVia(v)).length,
      untried: [], failoverAfterMs: null, best: null, winner: null, answered: false, stopped: false, starting: 0, register: null,
    };

    if (inDialog) {
      this.contexts.set(server.key, ctx);
      try {
        await this.forwardInDialog(ctx, source, sourceClass, own);
      } catch (err) {
        this.contexts.delete(server.key);
        throw err;
      }
      return;
    }

    const fromTrunk = sourceClass.trunk;
    let targets: BranchTarget[];
    let fork: 'serial' | 'parallel' = 'serial';
    const decided = admitted?.decision.kind;
    if (decided === 'register') {
      const flow = flowOf(source, local);
      const action = this.phones!.registrar.onRegister(request, flow, performance.now());
      if (action.kind === 'answer') return void server.respond(200, action.response.serialize());
      if (action.kind === 'refuse') return reply(action.status, action.reason);
      ctx.register = action;
      const registrar = this.config.phones!.registrar;
      const hop = { host: registrar.host, port: registrar.port ?? 5060, transport: registrar.transport ?? 'udp' } as const;
      // A phone that registers with pinlatch's address is registering with the registrar behind it.
      const uriHost = this.refersToUs(request.uri) ? registrar.host : null;
      targets = [{ hop, trunk: null, uriHost, uriPort: registrar.port ?? undefined }];
    } else if (decided === 'to-flow') {
      // The token is in our Path entry (Route), or in the Request-URI when the Contact carried it.
      const aliased = unalias(request.uri);
      if (aliased) request.uri = aliased.original;
      const token = own.flow ?? aliased?.token ?? null;
      const registrar = this.phones!.registrar;
      const found = token === null ? registrar.forged() : registrar.lookup(token);
      if (found.kind === 'forged') return reply(403, 'Invalid Flow Token');
      if (found.kind === 'flow' && found.flow.transport === 'tcp' && !this.transport?.hasConnection(found.flow)) {
        // RFC 5923: pinlatch never opens a connection to a phone; a closed one is a dead flow.
        registrar.connectionGone(found.flow);
        return reply(430, 'Flow Failed');
      }
      if (found.kind === 'dead') return reply(430, 'Flow Failed');
      const { flow } = found;
      targets = [{ hop: { host: flow.address, port: flow.port, transport: flow.transport }, trunk: null, uriHost: null, uriPort: undefined }];
    } else if (decided === 'to-upstream') {
      const upstream = this.config.upstream;
      if (!upstream) return reply(404, 'No Upstream');
      const hop = { host: upstream.host, port: upstream.port ?? 5060, transport: upstream.transport ?? 'udp' } as const;
      targets = [{ hop, trunk: null, uriHost: upstream.host, uriPort: upstream.port ?? undefined }];
    } else {
      const choice = admitted?.choice;
      if (!choice) return reply(404);
      targets = [];
      for (const trunk of choice.trunks) {
        const hop = this.resolver.target(trunk.name);
        if (hop) targets.push({ hop, trunk, uriHost: trunk.host, uriPort: trunk.port });
      }
      if (targets.length === 0) return reply(503, 'Trunk Unresolved');
      fork = choice.fork;
      ctx.failoverAfterMs = choice.failoverAfterMs;
    }
    ctx.initial = request.method === 'INVITE';
    if (ctx.initial) {
      const contact = firstContact(request);
      ctx.caller = {
        tag: request.from?.tag,
        nameAddr: request.get('from') ?? '',
        target: contact?.toString(),
        // Upstream proxies' Record-Route entries, as received: nearest first (§16.6 step 4 order).
        routeSet: request.recordRoutes.map((r) => r.toString()),
        cseq: request.cseq?.seq ?? 1,
        source,
        // A request from a pinned trunk: requests back toward it keep its address.
        pin: fromTrunk?.pinRoute ? new RoutePin(fromTrunk.name, { host: source.address, port: source.port, transport: source.transport }) : null,
        trunk: fromTrunk?.name ?? null,
        natted: !fromTrunk && contact ? natReason(hostOf(contact), source) !== null : false,
      };
      this.counters.callStarted(fromTrunk?.name ?? targets[0]?.trunk?.name ?? null);
    }
    this.contexts.set(server.key, ctx);
    const first = fork === 'parallel' ? targets : targets.slice(0, 1);
    ctx.untried = fork === 'parallel' ? [] : targets.slice(1);
    ctx.starting = first.length;
    for (const target of first) await this.startTarget(ctx, target);
  }

  /** An in-dialog request: one branch, toward the other side of its dialog (or along its Route). */
  private async forwardInDialog(ctx: ResponseContext, source: Endpoint, sourceClass: SourceClass, own: OwnRoute): Promise<void> {
    const { request } = ctx;
    const forwarded = request.clone();
    const dialog = this.dialogs.find(request, own.spiral) ?? null;
    const from = dialog?.sideOfFromTag(request.from?.tag) ?? 'caller';
    const verdict = this.gate.inDialog({
      token: own.token,
      dialogKnown: dialog !== null,
      nextHopInDialog: dialog !== null && this.hopInDialog(dialog.peer(Dialog.other(from)), forwarded),
      sourceTrusted: routesTrusted(sourceClass),
    });
    if (verdict.kind === 'refuse') {
      const skipped = this.refusalLog.take(performance.now());
      if (skipped !== null) {
        this.log?.info({ source: `${source.address}:${source.port}`, method: request.method, callId: request.callId, status: verdict.status, reason: verdict.reason, skipped }, 'in-dialog request refused');
      }
      this.contexts.delete(ctx.server.key);
      ctx.server.respond(verdict.status, createResponse(request, verdict.status, { reason: verdict.reason, toTag: request.to?.tag }).serialize());
      return;
    }
    let destination: Endpoint;
    if (dialog) {
      ctx.from = from;
      const sender = dialog.peer(ctx.from);
      sender.source = source;
      sender.cseq = Math.max(sender.cseq, request.cseq?.seq ?? 0);
      // §12.2.2: a re-INVITE or UPDATE may change its sender's remote target.
      const contact = TARGET_REFRESH.has(request.method) ? firstContact(request) : undefined;
      if (contact) sender.target = contact.toString();
      destination = await this.destinationToward(dialog.peer(Dialog.other(ctx.from)), forwarded);
    } else {
      const pinParam = own.pin;
      const trunk = pinParam ? this.routes.trunk(pinParam) : undefined;
      const target = trunk && this.resolver.fromSource(source.address)?.name !== trunk.name ? this.resolver.target(trunk.name) : null;
      if (target) this.counters.pinnedRequests += 1;
      destination = target
        ? await this.resolveHop(target)
        : await this.resolveHop(nextHop(uriHop(forwarded.uri), forwarded.routes.map((r) => uriHop(r.uri))));
    }
    // §16.6 step 6: toward a strict router (the route set decided the destination, or pin/NAT did).
    routeToStrictRouter(forwarded);
    await this.launchBranch(ctx, forwarded, destination, dialog, null);
  }

  /** Starts one branch of an initial (out-of-dialog) request toward one target (counted in ctx.starting). */
  private async startTarget(ctx: ResponseContext, target: BranchTarget): Promise<void> {
    try {
      await this.launchTarget(ctx, target);
    } finally {
      ctx.starting -= 1;
    }
    this.settle(ctx);
  }

  private async launchTarget(ctx: ResponseContext, target: BranchTarget): Promise<void> {
    const { request } = ctx;
    const forwarded = request.clone();
    if (target.uriHost !== null) rewriteRequestUri(forwarded, target.uriHost, target.uriPort);
    let dialog: Dialog | null = null;
    let pin: RoutePin | null = null;
    try {
      const destination = await this.resolveHop(target.hop);
      if (ctx.caller) {
        pin = target.trunk?.pinRoute ? new RoutePin(target.trunk.name, target.hop) : null;
        dialog = new Dialog(request.callId!, ctx.caller, {
          tag: undefined,
          nameAddr: forwarded.get('to') ?? '',
          target: undefined,
          routeSet: [],
          cseq: 0,
          source: destination,
          pin,
          trunk: target.trunk?.name ?? null,
          natted: false,
        }, ctx.spiral);
        if (ctx.branches.length === 0) this.dialogs.add(dialog, ctx.caller.tag);
      }
      await this.launchBranch(ctx, forwarded, destination, dialog, pin ?? ctx.caller?.pin ?? null);
    } catch (err) {
      // One target that cannot be reached or anchored fails its branch, not the whole fork.
      this.log?.warn({ err, callId: request.callId, trunk: target.trunk?.name }, 'branch not started');
      if (dialog) this.dropUnlaunched(ctx, dialog);
      this.branchFailed(ctx, null, this.failureOutcome(err, ctx.local));
    }
  }

  /**
   * The early dialog of a branch that never started (its SDP could not be anchored, its next hop
   * not resolved): it has no Branch, so settle() will not end it — it leaves the dialog table here,
   * and the media session it may have opened goes too unless another branch uses or is opening it.
   */
  private dropUnlaunched(ctx: ResponseContext, dialog: Dialog): void {
    this.retire(dialog);
    this.dialogs.remove(dialog, ctx.caller?.tag);
    const key = dialog.mediaKey;
    if (!key || this.dialogs.ownerOf(key) !== dialog || ctx.starting > 1 || ctx.branches.some((b) => b.dialog?.mediaKey === key)) return;
    this.dialogs.disown(key);
    void this.media.release(key).catch((err: unknown) => this.log?.warn({ err, key }, 'media release failed'));
  }

  /** Via, Record-Route, SDP anchoring and the client transaction of one branch. */
  private async launchBranch(
    ctx: ResponseContext,
    forwarded: SipRequest,
    destination: Endpoint,
    dialog: Dialog | null,
    pin: RoutePin | null,
  ): Promise<void> {
    const { request } = ctx;
    forwarded.decrementMaxForwards();
    const index = ctx.branches.length;
    // Branch 0 keeps the form derived from the incoming branch alone (§16.6 step 8, §16.10).
    const branch = `${this.branchFor(request, ctx.loop)}${index === 0 ? '' : `.${index}`}`;
    forwarded.pushVia(this.viaFor(destination, branch));
    if (request.to?.tag === undefined && DIALOG_CREATING.has(request.method)) {
      const params: Array<[string, string | null]> = [['lr', null]];
      if (pin) params.push(['pin', pin.trunk]);
      if (ctx.spiral > 0) params.push([SPIRAL_PARAM, String(ctx.spiral)]);
      params.push(this.gate.routeToken(request.callId!, pin?.trunk ?? null));
      // §16.6 step 4; the caller-facing entry first, so the one facing the callee ends on top.
      const outbound = this.localFor(destination);
      if (outbound !== ctx.local) forwarded.prepend('Record-Route', this.recordRoute(ctx.local, params));
      forwarded.prepend('Record-Route', this.recordRoute(outbound, params));
    }
    if (ctx.register) this.carryFlow(forwarded, ctx.register.token, this.localFor(destination));
    const offered = await this.anchorBody(request, forwarded, dialog, ctx.from, 'offer');
    if (index === 0) ctx.offered = offered;
    const b: Branch = {
      ctx, key: `${branch}|${forwarded.method}`, client: null, forwarded, destination, branch, dialog,
      cancel: 'none', done: false,
    };
    ctx.branches.push(b);
    if (ctx.stopped || ctx.answered) {
      // The caller cancelled (or another branch answered) while this one was being prepared.
      b.done = true;
      if (dialog && ctx.initial) this.retire(dialog);
      this.settle(ctx);
      return;
    }
    this.startClient(b);
  }

  /**
   * Removes the Route entries naming this proxy (§16.4; two when record-routed twice) and reads
   * what pinlatch wrote into them: the pinned trunk and the route token. `restored`: our URI a
   * strict router had put into the Request-URI.
   */
  private popOwnRoutes(request: SipRequest, restored: SipUri | null): OwnRoute {
    const ours: SipUri[] = restored ? [restored] : [];
    for (let first = request.routes[0]; first && this.refersToUs(first.uri); first = request.routes[0]) {
      ours.push(first.uri as SipUri);
      request.popRoute();
    }
    let pin: string | null = null;
    let token: OwnRoute['token'] = 'none';
    let flow: string | null = null;
    const spiral = ours.reduce((n, uri) => Math.max(n, spiralOf(uri)), 0);
    for (const uri of ours) {
      if (uri.user !== undefined) flow ??= uri.user;
      const p = pinOf(uri);
      const t = this.gate.tokenOf(uri, request.callId, p);
      if (t === 'none') continue;
      if (t === 'invalid') return { pin: null, token: 'invalid', flow, spiral };
      token = 'valid';
      pin = p;
    }
    return { pin, token, flow, spiral };
  }

  /**
   * Whether the next hop of a request toward `peer` is one its dialog knows (InDialogGuard.ts):
   * decided by the dialog (pin, NAT source), or the peer's source, remote target or first route.
   */
  private hopInDialog(peer: DialogPeer, forwarded: SipRequest): boolean {
    if (peer.pin || (peer.natted && !peer.trunk && peer.routeSet.length === 0)) return true;
    const hop = nextHop(uriHop(forwarded.uri), forwarded.routes.map((r) => uriHop(r.uri)));
    const host = normalizedIp(hop.host) ?? hop.host.toLowerCase();
    if (host === peer.source.address && hop.port === peer.source.port) return true;
    const known = [peer.target, peer.routeSet[0]];
    return known.some((text) => {
      if (text === undefined) return false;
      const uri = safe(() => parseUri(text.startsWith('<') ? text.slice(1, text.indexOf('>')) : text));
      if (!uri || uri.kind !== 'sip') return false;
      const target = nextHop(uriHop(uri), []);
      return (normalizedIp(target.host) ?? target.host.toLowerCase()) === host && target.port === hop.port;
    });
  }

  /** Where a request toward `peer` goes: its pin, else its source when behind NAT, else RFC 3261. */
  private async destinationToward(peer: DialogPeer, forwarded: SipRequest): Promise<Endpoint> {
    if (peer.pin) {
      this.counters.pinnedRequests += 1;
      return this.resolveHop(nextHop(uriHop(forwarded.uri), [], peer.pin));
    }
    // Behind NAT and reached directly (no proxy record-routed in between): its packet source.
    if (peer.natted && !peer.trunk && peer.routeSet.length === 0) return peer.source;
    return this.resolveHop(nextHop(uriHop(forwarded.uri), forwarded.routes.map((r) => uriHop(r.uri))));
  }

  /**
   * The handlers a transaction keeps for its whole life, Timer J/K/L/M included (32 s): made here
   * and not beside the others, because closures made in one function share its variables and
   * these would keep the parsed request (and a branch its whole response context) alive.
   */
  private serverLink(key: string, source: Endpoint, local: ListenPoint, size: number): ServerTransactionHandlers {
    return {
      send: (d) => this.send(d, source, local),
      onTerminated: () => {
        this.serverTx.delete(key);
        this.transactionBytes -= size;
      },
    };
  }

  private clientLink(key: string, destination: Endpoint): Pick<ClientTransactionHandlers<SipResponse>, 'send' | 'onTerminated'> {
    return { send: (d) => this.send(d, destination), onTerminated: () => this.clientTx.delete(key) };
  }

  private startClient(b: Branch): void {
    const method = b.forwarded.method;
    const { ctx, key } = b;
    const client = new ClientTransaction<SipResponse>(key, method, b.forwarded.serialize(), b.destination.transport === 'tcp', this.timers, {
      ...this.clientLink(key, b.destination),
      onResponse: (response, status) =>
        this.relayResponse(b, response, status).catch((err: unknown) => {
          // A response that cannot be anchored (e.g. relay ports exhausted) must not take the
          // process down: the branch fails with a response of the proxy's own (§16.7 lets it
          // answer), and a 2xx it cannot carry is ACKed and ended so that the callee is not left up.
          this.log?.warn({ err, callId: ctx.request.callId, status }, 'response not relayed');
          if (status < 200) return;
          if (status < 300 && ctx.initial && ctx.winner !== b && !b.lateAck) {
            void this.refuseAnswer(b, response, 'SIP;cause=503;text="media unavailable"');
          }
          this.branchFailed(ctx, b, this.failureOutcome(err, ctx.local));
        }),
      onTimeout: () => this.branchFailed(ctx, b, { status: 408, response: null }),
      onTransportError: (err) => {
        this.log?.info({ err, callId: ctx.request.callId, to: b.destination }, 'next hop unreachable');
        this.branchFailed(ctx, b, { status: 503, response: null });
      },
      buildAck: (response) => hopByHopAck(b.forwarded, response).serialize(),
    });
    b.client = client;
    this.clientTx.set(key, client);
    this.forwards.set(key, b);
    if (method === 'INVITE') {
      // Timer C (§16.6 step 11): no final response for this long → CANCEL the branch.
      b.timerC = setTimeout(() => this.cancelBranch(b), this.timers.timerC);
    }
    if (ctx.untried.length > 0 && ctx.failoverAfterMs !== null) {
      // A trunk that does not even send 100 Trying is given up early so that the next one can
      // take the call before the caller hangs up (Timer B would take 64 x T1).
      b.failoverTimer = new IoTimer();
      b.failoverTimer.start(ctx.failoverAfterMs, () => {
        // Any response (even 100) moved the transaction on from Calling/Trying: the hop is alive.
        if (b.done || (client.state !== 'calling' && client.state !== 'trying')) return;
        this.log?.info({ callId: ctx.request.callId, to: b.destination }, 'no response: next trunk');
        client.terminate();
        this.branchFailed(ctx, b, { status: 408, response: null });
      });
    }
    client.start();
  }

  /**
   * CANCELs a pending INVITE branch (§9.1, §16.10). Before any provisional response the CANCEL
   * must not be sent — the next hop may not have the INVITE yet: it goes out with the first one.
   * Non-INVITE branches are not cancelled (§9.1: they end quickly on their own).
   */
  private cancelBranch(b: Branch): void {
    if (b.done || b.cancel !== 'none' || !b.client || b.forwarded.method !== 'INVITE') return;
    b.cancel = 'wanted';
    if (b.client.state !== 'calling') this.sendCancel(b);
  }

  private sendCancel(b: Branch): void {
    b.cancel = 'sent';
    this.sendOwnRequest(`${b.branch}|CANCEL`, 'CANCEL', cancelOf(b.forwarded), b.destination);
    // §16.10 / §9.1: a branch that has no final response 64 × T1 after its CANCEL is given up
    // (408): a callee that rings forever and ignores CANCEL must not hold the call's dialog,
    // media session and transactions for ever.
    clearTimeout(b.timerC);
    b.timerC = setTimeout(() => {
      if (b.done) return;
      b.client?.terminate();
      this.branchFailed(b.ctx, b, { status: 408, response: null });
    }, this.timers.timeout);
  }

  /** Every pending branch of the context (except `keep`) is cancelled; no new one starts. */
  private cancelPending(ctx: ResponseContext, keep?: Branch): void {
    ctx.stopped = true;
    for (const b of ctx.branches) if (b !== keep) this.cancelBranch(b);
  }

  private onCancel(request: SipRequest, reply: (status: number, reason?: string) => void): void {
    const inviteKey = this.serverKey(request, 'INVITE');
    if (!this.serverTx.has(inviteKey)) return reply(481);
    reply(200);
    const ctx = this.contexts.get(inviteKey);
    if (ctx) this.cancelPending(ctx);
  }

  /** Forwards an ACK for a 2xx end to end (it has its own branch, no transaction, §16.6/§17.1.1.3). */
  private async forwardAck(request: SipRequest, source: Endpoint): Promise<void> {
    const strict = undoStrictRouting(request, (uri) => this.refersToUs(uri));
    if (strict.kind === 'missing-route') {
      this.log?.info({ callId: request.callId }, 'ACK with our Record-Route in the Request-URI and no Route dropped');
      return;
    }
    const own = this.popOwnRoutes(request, strict.kind === 'restored' ? strict.ours : null);
    const dialog = this.dialogs.find(request, own.spiral);
    const forwarded = request.clone();
    const from = dialog?.sideOfFromTag(request.from?.tag) ?? 'caller';
    const verdict = this.gate.inDialog({
      token: own.token,
      dialogKnown: dialog !== undefined,
      nextHopInDialog: dialog !== undefined && this.hopInDialog(dialog.peer(Dialog.other(from)), forwarded),
      sourceTrusted: routesTrusted(this.gate.classify(source.address)),
    });
    if (verdict.kind === 'refuse') {
      const skipped = this.refusalLog.take(performance.now());
      if (skipped !== null) this.log?.info({ source: `${source.address}:${source.port}`, callId: request.callId, reason: verdict.reason, skipped }, 'ACK dropped');
      return;
    }
    if (request.maxForwards === 0) return;
    forwarded.decrementMaxForwards();
    let destination: Endpoint;
    if (dialog) {
      dialog.peer(from).source = source;
      await this.anchorBody(request, forwarded, dialog, from, 'answer');
      destination = await this.destinationToward(dialog.peer(Dialog.other(from)), forwarded);
    } else {
      destination = await this.resolveHop(nextHop(uriHop(forwarded.uri), forwarded.routes.map((r) => uriHop(r.uri))));
    }
    routeToStrictRouter(forwarded);
    try {
      forwarded.pushVia(this.viaFor(destination, this.branchFor(request)));
    } catch (err) {
      this.log?.info({ err, callId: request.callId, to: destination }, 'ACK not delivered');
      return;
    }
    await this.send(forwarded.serialize(), destination).catch((err: unknown) =>
      this.log?.info({ err, callId: request.callId, to: destination }, 'ACK not delivered'),
    );
  }

  // ── responses ────────────────────────────────────────────────────────────

  private onResponse(response: SipResponse): void {
    const via = response.topVia;
    const method = response.cseq?.method;
    if (!via || !method || !this.isOwnVia(via)) {
      this.log?.debug({ callId: response.callId }, 'response not for us dropped');
      return;
    }
    const tx = this.clientTx.get(`${via.branch}|${method}`);
    if (!tx) {
      this.log?.debug({ callId: response.callId, status: response.status }, 'stray response dropped');
      return;
    }
    tx.receiveResponse(response, response.status);
  }

  private async relayResponse(b: Branch, response: SipResponse, status: number): Promise<void> {
    if (status < 200 && b.cancel === 'wanted') this.sendCancel(b);
    if (status === 100) return; // §16.7 step 5: 100 Trying is hop-by-hop.
    if (b.lateAck) {
      // A retransmission of a 2xx the proxy refused: the same ACK again (§13.2.2.4), nothing else.
      if (status >= 200 && status < 300) await this.send(b.lateAck, b.destination).catch(() => undefined);
      return;
    }
    const { ctx } = b;
    if (status >= 300) {
      this.branchFailed(ctx, b, { status, response });
      return;
    }
    if (status >= 200 && ctx.initial && ctx.winner && ctx.winner !== b) {
      // A second 2xx (the CANCEL crossed it). One call has one media session, anchored for the
      // first answer, so pinlatch does not pass a second dialog to the caller: it ends this one.
      this.closeBranch(b);
      this.settle(ctx);
      await this.refuseAnswer(b, response, 'SIP;cause=200;text="Call completed elsewhere"');
      return;
    }
    if (status < 200 && ctx.answered) return;
    const out = response.clone();
    out.popVia();
    const dialog = b.dialog;
    const fromSide = Dialog.other(ctx.from);
    if (dialog) {
      const peer = dialog.peer(fromSide);
      if (ctx.initial) {
        const tag = response.to?.tag;
        if (tag && !peer.tag) {
          peer.tag = tag;
          peer.nameAddr = response.get('to') ?? peer.nameAddr;
          this.dialogs.add(dialog, tag);
        }
        peer.routeSet = routeSetTowardCallee(response, (r) => this.refersToUs(r.uri));
      }
      const contact = firstContact(response);
      if (contact) {
        peer.target = contact.toString();
        // The trunk side's NAT is pinRoute's business (RFC 3261 behaviour without it).
        if (!peer.trunk) peer.natted = natReason(hostOf(contact), peer.source) !== null;
      }
      if (ctx.initial && status >= 200) dialog.state = 'confirmed';
      await this.anchorBody(response, out, dialog, fromSide, ctx.offered ? 'answer' : 'offer');
    }
    if (ctx.register && status >= 200) {
      restoreContacts(out);
      this.phones!.registrar.onRegistered(ctx.register, out, performance.now());
    }
    if (status >= 200) {
      const first = !b.done;
      this.closeBranch(b);
      ctx.answered = true;
      if (first && ctx.initial && dialog) {
        ctx.winner = b;
        this.counters.callAnswered(dialog.callee.trunk ?? dialog.caller.trunk);
        this.adoptDialog(ctx, dialog);
        // §16.7 step 10: a 2xx ends the fork; the other branches are cancelled.
        this.cancelPending(ctx, b);
      }
      this.settle(ctx);
    }
    ctx.server.respond(status, out.serialize());
    if (status >= 200 && status < 300 && b.client?.state === 'accepted') b.client.lingerWith(this.relayAgain2xx(ctx.server, response.to?.tag));
  }

  /**
   * What a branch's client transaction keeps for Timer M (32 s) once its 2xx went upstream: the
   * server transaction, which sends the same 2xx again for each retransmission (same content), not
   * the branch and its response context with their parsed requests. A 2xx with another To tag
   * would be a second dialog from a forking proxy downstream: one call has one media session, so
   * it is not passed on.
   */
  private relayAgain2xx(server: ServerTransaction, tag: string | undefined): (response: SipResponse) => void {
    const own = tag === undefined ? undefined : ownedString(tag);
    return (response) => {
      if (response.to?.tag === own) server.resendAccepted();
    };
  }

  /** The branch has its final response: timers stop and the transaction is no longer a forward. */
  private closeBranch(b: Branch): void {
    b.done = true;
    clearTimeout(b.timerC);
    b.failoverTimer?.stop();
    this.forwards.delete(b.key);
  }

  /**
   * A branch ended without a 2xx (`b` null: a branch that could not even start). The outcome is
   * kept if it is the best so far; a serial fork tries its next target; once every branch is
   * done, the best outcome goes upstream.
   */
  private branchFailed(ctx: ResponseContext, b: Branch | null, outcome: BranchOutcome<SipResponse>): void {
    if (b) {
      if (b.done) return;
      this.closeBranch(b);
      if (b.dialog && ctx.initial && b.dialog !== ctx.winner?.dialog) this.retire(b.dialog);
    }
    if (betterOutcome(ctx.best, outcome)) ctx.best = outcome;
    // §16.7 step 5 (6xx): the other branches are cancelled and no new ones started.
    if (outcome.status >= 600) this.cancelPending(ctx);
    const next = !ctx.stopped && !ctx.answered && failsOver(outcome.status) ? ctx.untried.shift() : undefined;
    if (next) {
      this.log?.info({ callId: ctx.request.callId, status: outcome.status, trunk: next.trunk?.name }, 'failover to the next trunk');
      ctx.starting += 1;
      void this.startTarget(ctx, next);
      return;
    }
    // Not a failure to fail over on (or nothing left): the fork ends here.
    ctx.untried = [];
    this.settle(ctx);
  }

  /**
   * What the caller hears when the proxy itself cannot carry a request or branch: 488 with a
   * Warning 301 (§20.43) for media of the other IP family than the relay's, 503 when the media
   * ports are used up, else 500.
   */
  private failureOutcome(err: unknown, local: ListenPoint): BranchOutcome<SipResponse> {
    if (err instanceof MediaFamilyError) {
      const agent = new SipUri({ host: this.advertisedHost(local), port: local.port }).hostport;
      return { status: 488, response: null, headers: [['Warning', err.warning(agent)]] };
    }
    if (err instanceof MediaError && err.code === 'ERR_PINLATCH_PORTS_EXHAUSTED') return { status: 503, response: null, reason: 'Media Ports Exhausted' };
    if (err instanceof LimitError) {
      this.limitReached[err.kind] += 1;
      return { status: 503, response: null, reason: 'Limit Reached', headers: [['Retry-After', String(this.config.limits.overload.retryAfterSec)]] };
    }
    return { status: 500, response: null, reason: 'Server Internal Error' };
  }

  /** When every branch is done: the best final response upstream, unless a 2xx already went. */
  private settle(ctx: ResponseContext): void {
    if (ctx.starting > 0 || ctx.branches.some((b) => !b.done) || this.contexts.get(ctx.server.key) !== ctx) return;
    this.contexts.delete(ctx.server.key);
    // A BYE's final response, whatever it is, ends its dialog (§15.1.2).
    const byeDialog = ctx.request.method === 'BYE' ? ctx.branches[0]?.dialog : null;
    if (byeDialog) void this.endDialog(byeDialog);
    if (ctx.answered) return;
    const best = ctx.best ?? { status: 487, response: null };
    const status = upstreamStatus(best);
    let out: SipResponse;
    if (best.response) {
      out = best.response.clone();
      out.popVia();
      if (status !== best.status) {
        out.status = status;
        out.reason = 'Server Internal Error';
      }
    } else {
      out = createResponse(ctx.request, status, { reason: best.reason, toTag: this.toTag(ctx.request), headers: best.headers });
    }
    if (ctx.initial) {
      this.counters.callFailed(callFailureOf(status));
      this.endFailedCall(ctx.branches.map((b) => b.dialog).filter((d): d is Dialog => d !== null));
    }
    ctx.server.respond(status, out.serialize());
  }

  /** The winning branch's dialog becomes the call's: found by the caller's tag, owner of the media. */
  private adoptDialog(ctx: ResponseContext, dialog: Dialog): void {
    this.dialogs.add(dialog, dialog.caller.tag);
    if (dialog.mediaKey) this.dialogs.own(dialog.mediaKey, dialog);
    for (const b of ctx.branches) if (b.dialog && b.dialog !== dialog) this.retire(b.dialog);
  }

  /** An early dialog of a branch that lost: gone from the table; the call's media is not its to release. */
  private retire(dialog: Dialog): void {
    dialog.state = 'terminated';
    this.dialogs.remove(dialog, dialog.callee.tag);
  }

  /**
   * A 2xx that will not reach the caller (another branch won, or its SDP could not be anchored):
   * pinlatch ACKs that dialog and ends it with a BYE of its own, with `reason` (RFC 3326).
   */
  private async refuseAnswer(b: Branch, response: SipResponse, reason: string): Promise<void> {
    const { ctx } = b;
    const dialog = b.dialog;
    const contact = firstContact(response);
    const tag = response.to?.tag;
    if (!dialog || !contact || !tag) return;
    dialog.callee.tag = tag;
    dialog.callee.nameAddr = response.get('to') ?? dialog.callee.nameAddr;
    dialog.callee.target = contact.toString();
    dialog.callee.routeSet = routeSetTowardCallee(response, (r) => this.refersToUs(r.uri));
    this.log?.info({ callId: ctx.request.callId, to: b.destination, reason }, '2xx not passed on: ACK and BYE');
    const ack = ackOf2xx(ctx.request, response, contact.toString(), dialog.callee.routeSet);
    ack.prepend('Via', this.viaFor(b.destination, `${BRANCH_PREFIX}${randomBytes(8).toString('hex')}`).toString());
    b.lateAck = ack.serialize();
    await this.send(b.lateAck, b.destination).catch((err: unknown) =>
      this.log?.info({ err, callId: dialog.callId }, 'ACK of a second 2xx not delivered'),
    );
    await this.sendBye(dialog, 'callee', reason, b.destination);
  }

  /** A failed initial INVITE: every branch's early dialog goes, and the call's media session once. */
  private endFailedCall(dialogs: readonly Dialog[]): void {
    const keys = new Set<string>();
    for (const dialog of dialogs) {
      this.retire(dialog);
      this.dialogs.remove(dialog, dialog.caller.tag);
      if (dialog.mediaKey) keys.add(dialog.mediaKey);
    }
    for (const key of keys) {
      this.dialogs.disown(key);
      void this.media.release(key).catch((err: unknown) => this.log?.warn({ err, key }, 'media release failed'));
    }
  }

  private async endDialog(dialog: Dialog): Promise<void> {
    if (dialog.state === 'terminated') return;
    dialog.state = 'terminated';
    this.log?.debug({ callId: dialog.callId}, 'dialog ended');
    // Keep the entries a little so that retransmitted BYE/ACK still find their way (Timer J).
    setTimeout(() => this.dialogs.removeAll(dialog), this.timers.timeout).unref();
    if (dialog.mediaKey) {
      this.dialogs.disown(dialog.mediaKey);
      await this.media.release(dialog.mediaKey).catch((err: unknown) => this.log?.warn({ err, callId: dialog.callId }, 'media release failed'));
    }
  }

  // ── media ────────────────────────────────────────────────────────────────

  /**
   * Anchors the SDP of `message` (sent by side `from` of the dialog) into `out`: the media session
   * is created on the first SDP, the sender's leg gets its hint (SDP address, packet source), and
   * the copy toward the other side carries the relay address and the other leg's ports.
   * Returns true when there was an SDP.
   */
  private async anchorBody(
    message: SipMessage,
    out: SipMessage,
    dialog: Dialog | null,
    from: DialogSide,
    role: 'offer' | 'answer',
  ): Promise<boolean> {
    if (!dialog || message.body.length === 0 || !/application\/sdp/i.test(message.contentType ?? '')) return false;
    // Parsed once: described now, rewritten in place by anchorParsed below.
    const sdp = parseSdp(message.body.toString('latin1'));
    const info: SdpInfo = describeParsed(sdp);
    checkMediaFamily(info, this.mediaFamily);
    const key = dialog.mediaKey ?? dialog.defaultMediaKey;
    const senderLeg: LegName = from === 'caller' ? 'a' : 'b';
    const peer = dialog.peer(from);
    const legs: LegUpdate[] = [];
    for (const m of info.media) {
      if (m.rejected) continue;
      const hint = {
        sdpAddress: m.peerAddress,
        sdpPort: m.port,
        sdpRtcpPort: m.rtcpPort ?? undefined,
        rtcpMux: m.rtcpMux,
        // A non-routable SDP address: only media from the signalling source may latch.
        signalSource: isTrustworthyAddress(m.peerAddress) ? m.peerAddress : peer.source.address,
        restriction: this.latchRestrictions.of(peer.trunk),
      };
      legs.push({ index: m.index, leg: senderLeg, hint });
      if (this.log?.isLevelEnabled('debug')) this.log.debug({ callId: dialog.callId, leg: senderLeg, index: m.index, hint }, 'media leg');
    }
    // One shard round trip: the session's streams (on the offer) and the sender's legs together.
    const session = await this.media.ensureSession(key, info.media.length, legs);
    if (!dialog.mediaKey) {
      dialog.mediaKey = key;
      // The early dialogs of a forked INVITE share the call's session; the first live one holds it.
      this.dialogs.own(key, dialog, true);
    }
    const towardLeg: LegName = senderLeg === 'a' ? 'b' : 'a';
    const anchored = anchorParsed(sdp, {
      address: this.media.advertise,
      role,
      version: dialog.sdpVersionToward[Dialog.other(from)],
      streams: info.media.map((m) => {
        const stream = session.streams.find((s) => s.index === m.index);
        if (m.rejected || !stream) return 'rejected' as const;
        const ports = stream[towardLeg];
        return { rtpPort: ports.rtp, rtcpPort: ports.rtcp };
      }),
    });
    out.setBody(Buffer.from(anchored, 'latin1'), 'application/sdp');
    return true;
  }

  /**
   * A session without media for the configured time: BYE toward both sides, then release. A call
   * still ringing keeps its session: many calls have no early media, the answer's SDP starts the
   * media clock again (MediaRelay counts from the last offer/answer), and Timer C bounds the ringing.
   */
  private async onMediaTimeout(key: string): Promise<void> {
    const dialog = this.dialogs.ownerOf(key);
    this.log?.debug({ key, state: dialog?.state }, 'media timeout event');
    if (dialog?.state === 'early') return;
    if (!dialog || dialog.state !== 'confirmed') {
      await this.media.release(key).catch(() => undefined);
      return;
    }
    this.log?.info({ callId: dialog.callId }, 'media timeout: ending the call');
    this.counters.callFailed('media_timeout');
    await this.endCall(dialog, 'SIP;cause=408;text="media timeout"');
  }

  /** The answered call that owns media session `key`, if any, is ended (endCall). */
  private async endCallOfMedia(key: string, reason: string): Promise<void> {
    const dialog = this.dialogs.ownerOf(key);
    if (dialog?.state !== 'confirmed') return;
    this.log?.info({ callId: dialog.callId, reason }, 'media gone: ending the call');
    this.counters.callFailed('media_lost');
    await this.endCall(dialog, reason);
  }

  /** BYE toward both sides with `reason` (RFC 3326), then the dialog and its media end. */
  private async endCall(dialog: Dialog, reason: string): Promise<void> {
    await Promise.all((['caller', 'callee'] as const).map((side) => this.sendBye(dialog, side, reason)));
    await this.endDialog(dialog);
  }

  /**
   * A BYE of the proxy's own toward one side, as if the other side had sent it (§15.1.1), with a
   * Reason (RFC 3326) saying why; `to` overrides the destination the dialog gives.
   */
  private async sendBye(dialog: Dialog, toward: DialogSide, reason: string, to?: Endpoint): Promise<void> {
    const target = dialog.peer(toward);
    const sender = dialog.peer(Dialog.other(toward));
    if (!target.target) return;
    sender.cseq += 1;
    const bye = byeOf({ callId: dialog.callId, target: target.target, from: sender.nameAddr, to: target.nameAddr, cseq: sender.cseq, reason });
    for (const route of target.routeSet) bye.append('Route', route);
    const branch = `${BRANCH_PREFIX}${randomBytes(8).toString('hex')}`;
    let destination: Endpoint;
    try {
      destination = to ?? (await this.destinationToward(target, bye));
      // §16.6 step 6 / §12.2.1.1: a strict router first in the route set gets the Request-URI form it needs.
      routeToStrictRouter(bye);
      bye.prepend('Via', this.viaFor(destination, branch).toString());
    } catch (err) {
      this.log?.info({ err, callId: dialog.callId, toward, reason }, 'BYE not sent');
      return;
    }
    this.sendOwnRequest(`${branch}|BYE`, 'BYE', bye, destination);
  }

  /**
   * A request the proxy originates itself (CANCEL §9.1, BYE on media timeout): a client
   * transaction gives it UDP retransmissions and absorbs the response; nothing waits for the outcome.
   */
  /** Sends a request of the proxy's own; `answered` learns whether any final response came. */
  private sendOwnRequest(key: string, method: string, request: SipRequest, destination: Endpoint, answered?: (yes: boolean) => void): void {
    const tx = new ClientTransaction<SipResponse>(key, method, request.serialize(), destination.transport === 'tcp', this.timers, {
      send: (d) => this.send(d, destination),
      onResponse: (_response, status) => {
        if (status >= 200) answered?.(true);
      },
      onTimeout: () => answered?.(false),
      onTransportError: () => answered?.(false),
      onTerminated: () => this.clientTx.delete(key),
    });
    this.clientTx.set(key, tx);
    tx.start();
  }
}

function safe<T>(read: () => T): T | undefined {
  try {
    return read();
  } catch {
    return undefined;
  }
}

/** The registrar's answer lists the aliased Contacts: the phone gets its own back. */
function restoreContacts(response: SipResponse): void {
  rewriteContacts(response, (c) => {
    const original = unalias(c.uri)?.original;
    if (original) c.uri = original;
    return original !== undefined;
  });
}

/**
 * The upstream PBX and the trunks may send a request of a dialog pinlatch no longer knows (a BYE
 * after a restart); a phone may not: its own Call-ID's token would let it name any next hop.
 */
function routesTrusted(source: SourceClass): boolean {
  return source.kind === 'upstream' || source.kind === 'trunk';
}

/** The flow a request came over: its source and the listen point it reached. */
function flowOf(source: Endpoint, local: ListenPoint): Flow {
  return { transport: source.transport, address: source.address, port: source.port, localAddress: local.address, localPort: local.port };
}

function uriHop(uri: Uri): UriHop {
  if (uri.kind !== 'sip') throw new RangeError(`cannot route to a ${uri.toString().split(':')[0]} URI`);
  return { host: uri.maddr ?? uri.host, port: uri.port ?? null, transport: uri.transport ?? null };
}

function firstContact(message: SipMessage): SipUri | undefined {
  const contact = safe(() => message.contact);
  if (!contact || contact.star) return undefined;
  const uri = contact.contacts[0]?.uri;
  return uri?.kind === 'sip' ? uri : undefined;
}

function hostOf(uri: SipUri): { host: string; port: number | null } {
  return { host: uri.host, port: uri.port ?? null };
}

/** The Request-URI of a request to a trunk or the upstream names that host (user part kept). */
function rewriteRequestUri(request: SipRequest, host: string, port: number | undefined): void {
  const uri = request.uri;
  if (uri.kind !== 'sip') return;
  const next = uri.clone();
  next.host = host;
  next.hostKind = isIp(host) ? (host.includes(':') ? 'ipv6' : 'ipv4') : 'domain';
  next.port = port;
  request.uri = next;
}
