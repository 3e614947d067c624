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
 * Edge limits (`limits` in the configuration, src/sip/edge/EdgeLimits.ts) are checked before a new
 * request gets a transaction: a source over its request rate is answered 503 once and then ignored
 * for its ban; while the SIP socket's queue or the event loop is behind, new requests get 503 with
 * Retry-After at once instead of a late answer; a full table (transactions, their bytes, dialogs,
 * media sessions) answers 503 as well. Retransmissions, ACK/CANCEL of known transactions and
 * requests inside known dialogs always pass, so a call that was accepted is never refused later.
 *
 * This file wires the layers together and delegates: the edge (edge/EdgeLimits.ts,
 * edge/InitialAdmission.ts), forwarding on branches and relaying responses (Forwarder.ts),
 * in-dialog routing (InDialogRouter.ts), SDP anchoring (MediaAnchor.ts), ending calls
 * (CallEnder.ts, OwnRequestSender.ts), phones' flows (registrar/PhoneFlows.ts), and the
 * addresses naming the proxy in Via and Record-Route (OwnAddresses.ts).
 */
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { PinlatchConfig } from '../../config/types.js';
import type { MediaRelayApi } from '../../media/api.js';
import { MediaAnchor } from './MediaAnchor.js';
import { Forwarder, type BranchTarget, type ResponseContext } from './Forwarder.js';
import { InDialogRouter } from './InDialogRouter.js';
import { CallEnder } from './CallEnder.js';
import { OwnRequestSender } from './OwnRequestSender.js';
import { HopResolver } from './HopResolver.js';
import { flowOf, PhoneFlows } from '../registrar/PhoneFlows.js';
import { DialogTable } from './DialogTable.js';
import { Drain } from './Drain.js';
import { SipDrainCalls } from './SipDrainCalls.js';
import { stampReceived } from '../wire/headers/via.js';
import { createResponse, SipRequest, SipResponse } from '../wire/message.js';
import { natReason } from './NatDetector.js';
import { responseForParseError } from '../wire/parseError.js';
import { RoutePin } from './RoutePin.js';
import { RouteTable } from './RouteTable.js';
import { undoStrictRouting } from './StrictRoute.js';
import { ClientTransaction } from '../transaction/ClientTransaction.js';
import type { ServerTransaction } from '../transaction/ServerTransaction.js';
import { transactionTimers, type TransactionTimers } from '../transaction/timers.js';
import { ownedString } from '../transaction/owned.js';
import { EdgeLimits } from '../edge/EdgeLimits.js';
import { fitsWhenForwarded, toTagFits } from '../edge/ForwardRoom.js';
import { InitialAdmission, type Admitted } from '../edge/InitialAdmission.js';
import { SipTransport, type Endpoint, type InboundParseError, type ListenPoint } from '../transport/SipTransport.js';
import { systemLookup, TrunkResolver, type LookupFunction } from './TrunkResolver.js';
import { OwnAddresses } from './OwnAddresses.js';
import { Gatekeeper } from '../edge/Gatekeeper.js';
import { safe, firstContact, hostOf } from './contactOf.js';
import { BRANCH_PREFIX, loopHash, toTag } from './identifiers.js';
import { popOwnRoutes, spiralOf } from './OwnRoute.js';
import { LogBudget } from '../edge/LogBudget.js';
import { unalias } from '../registrar/ContactAlias.js';
import { FlowTokens } from '../registrar/FlowToken.js';
import { KeepalivePings } from '../registrar/KeepalivePing.js';
import { Phones } from '../registrar/Phones.js';
import type { SourceClass } from '../edge/SourceClassifier.js';
import { callViews, type SipCallView } from './CallView.js';
import { SipCounters } from './SipCounters.js';
import { ServerTransactions } from './ServerTransactions.js';
import type { ProxyStats } from './ProxyStats.js';

export interface SipProxyOptions {
  config: PinlatchConfig;
  media: MediaRelayApi;
  logger?: Logger;
  /** Host-name resolution of trunks (default: the system resolver). */
  lookup?: LookupFunction;
}

/** What the proxy carries end to end, for the Allow of its own answer to OPTIONS (§11.2). */
const PROXIED_METHODS = 'INVITE, ACK, CANCEL, BYE, OPTIONS, UPDATE, INFO, PRACK, REFER, NOTIFY, SUBSCRIBE, MESSAGE';

export class SipProxy {
  private config: PinlatchConfig;
  private readonly media: MediaRelayApi;
  private readonly log: Logger | undefined;
  private readonly timers: TransactionTimers;
  private routes: RouteTable;
  resolver: TrunkResolver;
  private transport: SipTransport | null = null;
  private readonly own: OwnAddresses;
  /** Server transactions, with the counts limits.serverTransactions and limits.transactionBytes bound. */
  private readonly serverTx = new ServerTransactions((data, to, local) => this.send(data, to, local));
  private readonly forwarder: Forwarder;
  private readonly inDialog: InDialogRouter;
  private readonly ownRequests: OwnRequestSender;
  private readonly ender: CallEnder;
  private readonly phoneFlows: PhoneFlows;
  private readonly admission: InitialAdmission;
  private readonly hops: HopResolver;
  private readonly clientTx = new Map<string, ClientTransaction<SipResponse>>();
  private readonly dialogs = new DialogTable();
  readonly gate: Gatekeeper;
  /** Refused and dropped requests are logged once a second at most (the counters have them all). */
  private readonly refusalLog = new LogBudget();
  /** Phones registering through the proxy, or null when `phones` is not configured. */
  readonly phones: Phones | null;
  private readonly anchor: MediaAnchor;
  private readonly limits: EdgeLimits;
  private overloadTimer: NodeJS.Timeout | undefined;
  private drainer: Drain | null = null;
  /** Messages, calls and pinned requests, counted where they happen (read by the metrics endpoint). */
  readonly counters = new SipCounters();
  private readonly lookup: LookupFunction | undefined;

  constructor(options: SipProxyOptions) {
    if (!options.config.sip) throw new RangeError('SipProxy needs a `sip` section in the configuration');
    this.config = options.config;
    this.media = options.media;
    this.log = options.logger;
    this.own = new OwnAddresses(options.config.sip.advertise);
    const { maxQueueMs } = options.config.limits.overload;
    this.timers = {
      ...transactionTimers(options.config.sip.timers),
      inboundBacklogMs: () => {
        const backlog = this.transport?.queueDelayMs() ?? 0;
        return backlog > maxQueueMs / 2 ? backlog : 0;
      },
    };
    this.routes = new RouteTable(options.config.routes, options.config.trunks);
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
          ping: (flow, ping) => this.phoneFlows.ping(flow, ping),
          origin: (flow) => this.phoneFlows.pingOrigin(flow),
          now: () => performance.now(),
          onDead: (flow) => this.log?.info({ flow }, 'phone flow dead: keepalives unanswered'),
        }, new KeepalivePings(BRANCH_PREFIX))
      : null;
    this.hops = new HopResolver(() => this.config.limits.dnsLookups);
    this.ownRequests = new OwnRequestSender({ timers: this.timers, clientTx: this.clientTx, send: (data, to, local) => this.send(data, to, local) });
    this.phoneFlows = new PhoneFlows({ flowIn: () => this.config.phones!.flowIn, own: this.own, ownRequests: this.ownRequests });
    this.anchor = new MediaAnchor(
      { media: this.media, dialogs: this.dialogs, counters: this.counters, log: this.log, endCall: (dialog, reason) => this.ender.endCall(dialog, reason) },
      options.config,
    );
    this.media.on('timeout', (mediaKey) =>
      this.anchor.onMediaTimeout(mediaKey).catch((err: unknown) => this.log?.warn({ err, key: mediaKey }, 'media timeout not handled')),
    );
    // A session its shard's restart could not bring back: the answered call has no media left.
    this.media.on('lost', (key) =>
      this.anchor.endCallOfMedia(key, 'SIP;cause=503;text="media lost"').catch((err: unknown) => this.log?.warn({ err, key }, 'media loss not handled')),
    );
    this.limits = new EdgeLimits({
      limits: () => this.config.limits,
      log: this.log,
      queueDelayMs: (now) => this.transport?.queueDelayMs(now) ?? 0,
      serverTransactions: () => this.serverTx.pending,
      transactionBytes: () => this.serverTx.bytes,
      dialogs: () => this.dialogs.active,
      mediaSessions: () => this.media.size,
    });
    this.forwarder = new Forwarder({
      config: () => this.config,
      log: this.log,
      timers: this.timers,
      counters: this.counters,
      dialogs: this.dialogs,
      media: this.media,
      anchor: this.anchor,
      own: this.own,
      gate: this.gate,
      limits: this.limits,
      phones: this.phones,
      clientTx: this.clientTx,
      send: (data, to, local) => this.send(data, to, local),
      resolveHop: (hop) => this.hops.resolveHop(hop),
      carryFlow: (register, token, point) => this.phoneFlows.carryFlow(register, token, point),
      sendOwnRequest: (key, method, request, destination, local) => this.ownRequests.sendOwnRequest(key, method, request, destination, undefined, local),
      sendBye: (dialog, toward, reason, to) => this.ender.sendBye(dialog, toward, reason, to),
      endDialog: (dialog) => this.ender.endDialog(dialog),
    });
    this.admission = new InitialAdmission({
      log: this.log,
      gate: this.gate,
      own: this.own,
      routes: () => this.routes,
      phones: () => this.phones !== null,
      refusalLog: this.refusalLog,
      send: (data, to, local) => this.send(data, to, local),
    });
    this.inDialog = new InDialogRouter({
      log: this.log,
      counters: this.counters,
      dialogs: this.dialogs,
      gate: this.gate,
      own: this.own,
      anchor: this.anchor,
      forwarder: this.forwarder,
      refusalLog: this.refusalLog,
      routes: () => this.routes,
      resolver: () => this.resolver,
      resolveHop: (hop) => this.hops.resolveHop(hop),
      send: (data, to, local) => this.send(data, to, local),
    });
    this.ender = new CallEnder({
      log: this.log,
      timers: this.timers,
      dialogs: this.dialogs,
      media: this.media,
      own: this.own,
      inDialog: this.inDialog,
      ownRequests: this.ownRequests,
    });
  }

  /** Counters and current levels of the edge limits (metrics). */
  stats(): ProxyStats {
    const now = performance.now();
    const tcp = this.transport?.stats;
    return {
      sourceRate: this.limits.rateLimiter.snapshot(now),
      shed: this.limits.shed,
      shedding: this.limits.shedder.shedding,
      admittedShare: this.limits.shedder.share,
      queueDelayMs: this.transport?.queueDelayMs(now) ?? 0,
      loopLagMs: this.limits.shedder.lag(now),
      limitReached: { ...this.limits.limitReached },
      serverTransactions: this.serverTx.size,
      pendingServerTransactions: this.serverTx.pending,
      transactionBytes: this.serverTx.bytes,
      clientTransactions: this.clientTx.size,
      dialogs: this.dialogs.size,
      activeDialogs: this.dialogs.active,
      dnsLookups: this.hops.dnsLookups,
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
    return this.own.listenPoints;
  }

  async start(): Promise<void> {
    const sip = this.config.sip!;
    if (sip.listen.length === 0) throw new RangeError('SipProxy: no SIP listen point configured');
    await Promise.all([this.resolver.start(), this.gate.start()]);
    const { tcp, overload } = this.config.limits;
    const transport = new SipTransport({
      listen: sip.listen,
      parseLimits: { maxMessageBytes: sip.maxMessageBytes },
      ...(this.phones === null ? {} : { answerStun: (address: string) => this.limits.admitKeepalive(address, this.gate.classify(address)) }),
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
    this.own.bind(transport.listenPoints);
    // A probe (and a lag sample) several times per threshold, so shedding starts in time; a probe
    // not back after many thresholds was dropped by a full socket buffer.
    const probeMs = Math.max(5, Math.floor(Math.min(overload.maxQueueMs, overload.maxLagMs) / 4));
    const probeLostMs = Math.max(1000, 8 * overload.maxQueueMs);
    this.limits.shedder.tick(performance.now(), probeMs);
    this.overloadTimer = setInterval(() => {
      const now = performance.now();
      this.limits.shedder.tick(now, probeMs);
      this.limits.adjustShedding(now);
      transport.probeQueues(probeLostMs);
    }, probeMs).unref();
  }

  async stop(): Promise<void> {
    this.resolver.stop();
    this.gate.stop();
    this.phones?.stop();
    clearInterval(this.overloadTimer);
    this.serverTx.terminateAll();
    for (const tx of this.clientTx.values()) tx.terminate();
    this.timers.linger.clear();
    this.forwarder.stopTimers();
    this.dialogs.stopExpiry();
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
    this.anchor.reconfigure(config);
    this.resolver = resolver;
    this.gate.apply(admission);
    this.limits.rateLimiter.reconfigure(config.limits.sourceRate, performance.now());
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
      new SipDrainCalls({ log: this.log, dialogs: this.dialogs, forwarder: this.forwarder, ender: this.ender, clientTx: this.clientTx }),
      deadlineMs,
      { settleMs: this.timers.t4 },
    );
    this.drainer = drainer;
    this.log?.info({ calls: drainer.atStart, deadlineMs }, 'draining: new calls refused');
    return drainer.done.then(({ drained, ended }) => this.log?.info({ drained, ended }, 'drain finished'));
  }

  // ── transport ────────────────────────────────────────────────────────────

  /**
   * Sends toward `to` from `local`: for a response the listen point its request came in on, for a
   * request OwnAddresses.localFor's choice (a phone's flow: the point the flow came in on).
   */
  private send(data: Buffer, to: Endpoint, local?: ListenPoint): Promise<void> {
    const transport = this.transport;
    if (!transport) return Promise.reject(new Error('proxy stopped'));
    this.counters.sent(data);
    return transport.send(to, data, local);
  }

  /** A malformed request gets its 400 (or 505/513) back at the source; anything else is dropped. */
  private onParseError({ error, source, local }: InboundParseError): void {
    // Malformed requests count toward their source's rate like any other; over it, no answer.
    const verdict = this.limits.rateExempt(this.gate.classify(source.address)) ? 'pass' : this.limits.rateLimiter.take(source.address, performance.now());
    if (verdict !== 'pass') {
      if (verdict === 'refuse') this.limits.logBan(source.address);
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
    // A request too large to forward is answered (or, an ACK, dropped) below as it came: stamped,
    // its Via could no longer be read by a parser with the same limits (ForwardRoom.ts).
    const fits = fitsWhenForwarded(request, size);
    if (fits && stampReceived(via, source)) request.setTopVia(via);
    const key = this.serverKey(request);

    if (request.method === 'ACK') {
      const tx = this.serverTx.get(key);
      // An ACK matching a server INVITE transaction acknowledges our non-2xx (§17.2.1): absorbed.
      if (tx && tx.lastStatus >= 300) {
        tx.receiveAck();
        return;
      }
      // The ACK of a non-2xx the proxy sent without a transaction (a refusal by the edge limits): it
      // carries the To tag the proxy chose (§17.1.1.3), and it ends here.
      if (!tx && request.to?.tag !== undefined && request.to.tag === toTag(request)) return;
      // An ACK outside any known dialog is forwarded along its Route: a stranger's count toward its rate.
      if (!this.dialogs.find(request, this.spiralOfTopRoute(request)) && !this.limits.rateExempt(this.gate.classify(source.address)) && this.limits.rateLimiter.take(source.address, performance.now()) !== 'pass') return;
      // An ACK gets no answer (§17.1.1.3): one too large to forward once stamped is dropped.
      if (!fits) return;
      this.inDialog.forwardAck(request, source).catch((err: unknown) =>
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
    const refusal = this.ofAcceptedCall(request) ? null : this.limits.check(request, source, size, sourceClass);
    if (refusal) {
      if (refusal.kind === 'refuse') {
        const response = createResponse(request, 503, {
          reason: refusal.reason,
          toTag: toTag(request),
          headers: [['Retry-After', String(refusal.retryAfterSec)]],
        });
        void this.send(response.serialize(), source, local).catch(() => undefined);
      }
      return;
    }
    if (!fits) {
      // Answered at once like a refusal above, before any transaction or media (ForwardRoom.ts).
      const response = createResponse(request, 513, { toTag: toTagFits(request) ? toTag(request) : undefined });
      void this.send(response.serialize(), source, local).catch(() => undefined);
      return;
    }
    let admitted: Admitted | null = null;
    if (request.to?.tag === undefined && request.method !== 'CANCEL') {
      admitted = this.admission.admit(request, source, sourceClass);
      if (admitted.decision.kind === 'drop' || admitted.decision.kind === 'refuse') {
        this.admission.refuseInitial(request, source, local, admitted.decision);
        return;
      }
    }
    const server = this.serverTx.open(key, request.method, this.timers, source, local, size);
    // §8.2.6.2: the 100 Trying needs no To tag (and is sent for every INVITE: no hash for it).
    const reply = (status: number, reason?: string, headers?: Array<[string, string]>) =>
      server.respond(status, createResponse(request, status, { reason, toTag: status === 100 ? undefined : toTag(request), headers }).serialize());

    if (request.method === 'CANCEL') {
      this.onCancel(request, reply);
      return;
    }
    if (request.method === 'INVITE') reply(100);
    void this.forwardRequest(request, source, local, server, reply, sourceClass, admitted).catch((err: unknown) => {
      const outcome = this.forwarder.failureOutcome(err, local);
      this.log?.[outcome.status === 500 ? 'warn' : 'info']({ err, callId: request.callId, status: outcome.status }, 'request not forwarded');
      reply(outcome.status, outcome.reason, outcome.headers);
    });
  }

  /**
   * A request inside a known dialog (BYE, re-INVITE, ...) or the CANCEL of a known INVITE
   * belongs to a call already accepted: the edge limits do not apply to it.
   */
  private ofAcceptedCall(request: SipRequest): boolean {
    if (request.to?.tag !== undefined && this.dialogs.find(request, this.spiralOfTopRoute(request))) return true;
    return request.method === 'CANCEL' && this.serverTx.has(this.serverKey(request, 'INVITE'));
  }

  /** The spiral pass named by the topmost Route when it is ours (before popOwnRoutes). */
  private spiralOfTopRoute(request: SipRequest): number {
    const top = request.routes[0]?.uri;
    return top && this.own.refersToUs(top) ? spiralOf(top) : 0;
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
    const loop = loopHash(request);
    if (request.vias.some((v) => this.own.isOwnVia(v) && v.branch?.startsWith(`${BRANCH_PREFIX}${loop}.`))) {
      return reply(482);
    }
    // §16.4: a strict router upstream put our Record-Route URI into the Request-URI.
    const strict = undoStrictRouting(request, (uri) => this.own.refersToUs(uri));
    if (strict.kind === 'missing-route') return reply(400, 'No Route To Restore The Request-URI From');
    const own = popOwnRoutes(request, strict.kind === 'restored' ? strict.ours : null, this.own, this.gate);

    const inDialog = request.to?.tag !== undefined;
    const ctx: ResponseContext = {
      server, request, loop, local, from: 'caller', initial: false, caller: null, offered: false, branches: [],
      spiral: inDialog ? own.spiral : request.vias.filter((v) => this.own.isOwnVia(v)).length,
      untried: [], failoverAfterMs: null, best: null, winner: null, answered: false, stopped: false, starting: 0, register: null,
    };

    if (inDialog) {
      this.forwarder.contexts.set(server.key, ctx);
      try {
        await this.inDialog.forwardInDialog(ctx, source, sourceClass, own);
      } catch (err) {
        this.forwarder.contexts.delete(server.key);
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
      const uriHost = this.own.refersToUs(request.uri) ? registrar.host : null;
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
      targets = [{ hop: { host: flow.address, port: flow.port, transport: flow.transport }, trunk: null, uriHost: null, uriPort: undefined, local: this.phoneFlows.flowPoint(flow) }];
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
        local,
      };
      this.counters.callStarted(fromTrunk?.name ?? targets[0]?.trunk?.name ?? null);
    }
    this.forwarder.contexts.set(server.key, ctx);
    const first = fork === 'parallel' ? targets : targets.slice(0, 1);
    ctx.untried = fork === 'parallel' ? [] : targets.slice(1);
    ctx.starting = first.length;
    for (const target of first) await this.forwarder.startTarget(ctx, target);
  }

  private onCancel(request: SipRequest, reply: (status: number, reason?: string) => void): void {
    const inviteKey = this.serverKey(request, 'INVITE');
    if (!this.serverTx.has(inviteKey)) return reply(481);
    reply(200);
    const ctx = this.forwarder.contexts.get(inviteKey);
    if (ctx) this.forwarder.cancelPending(ctx);
  }

  // ── responses ────────────────────────────────────────────────────────────

  private onResponse(response: SipResponse): void {
    const via = response.topVia;
    const method = response.cseq?.method;
    if (!via || !method || !this.own.isOwnVia(via)) {
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
}

