/**
 * Forwarding of a request on its branches and relaying of their responses (RFC 3261 §16.6,
 * §16.7): a response context per server transaction, a branch per target (serial or parallel
 * forking over a route's trunks, with early failover), Timer C and CANCEL (§9.1, §16.10), the
 * early dialogs of an initial INVITE and the one that wins, and the final response that goes
 * upstream once every branch is done.
 */
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { PinlatchConfig, TrunkConfig } from '../../config/types.js';
import type { MediaRelayApi } from '../../media/api.js';
import { MediaError } from '../../media/errors.js';
import { isIp } from '../../net/address.js';
import { MediaFamilyError } from '../../sdp/index.js';
import type { EdgeLimits } from '../edge/EdgeLimits.js';
import type { Gatekeeper } from '../edge/Gatekeeper.js';
import { LimitError } from '../edge/LimitError.js';
import type { Phones } from '../registrar/Phones.js';
import type { RegisterAction } from '../registrar/Registrar.js';
import { restoreContacts } from '../registrar/contacts.js';
import { ClientTransaction, type ClientTransactionHandlers } from '../transaction/ClientTransaction.js';
import { IoTimer } from '../transaction/IoTimer.js';
import { ownedBytes, ownedString } from '../transaction/owned.js';
import type { ServerTransaction } from '../transaction/ServerTransaction.js';
import type { TransactionTimers } from '../transaction/timers.js';
import type { Endpoint, ListenPoint } from '../transport/SipTransport.js';
import { createResponse, SipRequest, SipResponse } from '../wire/message.js';
import { SipUri } from '../wire/uri.js';
import { firstContact, hostOf } from './contactOf.js';
import { Dialog, type DialogPeer, type DialogSide } from './Dialog.js';
import type { DialogTable } from './DialogTable.js';
import { BRANCH_PREFIX, branchFor, toTag } from './identifiers.js';
import type { MediaAnchor } from './MediaAnchor.js';
import { natReason } from './NatDetector.js';
import { ackOf2xx, cancelOf, hopByHopAck, inviteIdentity, routeSetTowardCallee } from './OwnRequests.js';
import type { OwnAddresses } from './OwnAddresses.js';
import { SPIRAL_PARAM } from './OwnRoute.js';
import { betterOutcome, failsOver, upstreamStatus, type BranchOutcome } from './ResponseContext.js';
import { RoutePin, type HopTarget } from './RoutePin.js';
import { callFailureOf, type SipCounters } from './SipCounters.js';
import { ClientTransactionLink } from './ClientTransactionLink.js';

export type ForwardedRegister = Extract<RegisterAction, { kind: 'forward' }>;

const DIALOG_CREATING = new Set(['INVITE', 'SUBSCRIBE', 'REFER', 'NOTIFY']);

/** RFC 3326 Reason of the BYE that ends a dialog whose 2xx pinlatch did not pass on. */
const ANSWERED_ELSEWHERE = 'SIP;cause=200;text="Call completed elsewhere"';
/** Further dialogs (other To tags) one forwarded INVITE's winning branch may have ended. */
const MAX_EXTRA_DIALOGS = 16;

/**
 * What the winning branch keeps for Timer M (32 s) to end the further dialogs a forking proxy
 * downstream may create with more 2xx (other To tags, RFC 3261 §13.2.2.4, §16.7 step 5): the
 * call's dialog (kept that long anyway: its Call-ID and the caller's From), the INVITE's CSeq,
 * where the branch went and from where, and the ACK sent to each such dialog (resent on its 2xx
 * retransmissions) — not the INVITE, the branch or its context.
 */
interface ExtraDialogs {
  call: Dialog;
  inviteCseq: number;
  destination: Endpoint;
  local: ListenPoint;
  /** ACK bytes by To tag, at most MAX_EXTRA_DIALOGS; null until the first such dialog (most calls have none). */
  acks: Map<string, Buffer> | null;
}

/**
 * §16.7's response context: one server transaction and the branches its request was forwarded
 * on (one for in-dialog and non-forked requests; one per trunk of a forking route).
 */
export interface ResponseContext {
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
export interface BranchTarget {
  hop: HopTarget;
  /** The trunk it goes to (null: the upstream). */
  trunk: TrunkConfig | null;
  /** Request-URI host and port toward it (the user part is kept); null keeps the Request-URI. */
  uriHost: string | null;
  uriPort: number | undefined;
  /** A phone's flow: the listen point it came in on, which the branch leaves from (PhoneFlows.flowPoint). */
  local?: ListenPoint;
}

/** One forwarded copy of a request and its client transaction. */
export interface Branch {
  ctx: ResponseContext;
  key: string;
  client: ClientTransaction<SipResponse> | null;
  forwarded: SipRequest;
  destination: Endpoint;
  /** The listen point the branch leaves from (its Via and Record-Route name it). */
  local: ListenPoint;
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
  /** The winning branch: what ends further dialogs its INVITE created (extraDialogsOf). */
  extra?: ExtraDialogs | null;
}

/** What the forwarder uses of the proxy around it. */
export interface ForwarderDeps {
  config(): PinlatchConfig;
  log: Logger | undefined;
  timers: TransactionTimers;
  counters: SipCounters;
  dialogs: DialogTable;
  media: MediaRelayApi;
  anchor: MediaAnchor;
  own: OwnAddresses;
  gate: Gatekeeper;
  limits: EdgeLimits;
  phones: Phones | null;
  /** Client transactions by key, the proxy's own requests' among them. */
  clientTx: Map<string, ClientTransaction<SipResponse>>;
  send(data: Buffer, to: Endpoint, local?: ListenPoint): Promise<void>;
  resolveHop(hop: HopTarget): Promise<Endpoint>;
  /** Puts a phone's flow token where the registrar keeps it. */
  carryFlow(register: SipRequest, token: string, point: ListenPoint): void;
  sendOwnRequest(key: string, method: string, request: SipRequest, destination: Endpoint, local: ListenPoint): void;
  sendBye(dialog: Dialog, toward: DialogSide, reason: string, to?: Endpoint): Promise<void>;
  endDialog(dialog: Dialog): Promise<void>;
}

export class Forwarder {
  /** Branches with a client transaction and no final response yet, by transaction key. */
  private readonly forwards = new Map<string, Branch>();
  /** Response contexts by the key of their server transaction (CANCEL finds its INVITE's here). */
  readonly contexts = new Map<string, ResponseContext>();

  constructor(private readonly deps: ForwarderDeps) {}

  /** Timer C and the failover timers of every pending branch stop (the proxy stops). */
  stopTimers(): void {
    for (const branch of this.forwards.values()) {
      clearTimeout(branch.timerC);
      branch.failoverTimer?.stop();
    }
  }

  /** Starts one branch of an initial (out-of-dialog) request toward one target (counted in ctx.starting). */
  async startTarget(ctx: ResponseContext, target: BranchTarget): Promise<void> {
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
      const destination = await this.deps.resolveHop(target.hop);
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
          local: target.local,
        }, ctx.spiral);
        if (ctx.branches.length === 0) this.deps.dialogs.add(dialog, ctx.caller.tag);
      }
      await this.launchBranch(ctx, forwarded, destination, dialog, pin ?? ctx.caller?.pin ?? null, target.local);
    } catch (err) {
      // One target that cannot be reached or anchored fails its branch, not the whole fork.
      this.deps.log?.warn({ err, callId: request.callId, trunk: target.trunk?.name }, 'branch not started');
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
    this.deps.dialogs.remove(dialog, ctx.caller?.tag);
    const key = dialog.mediaKey;
    if (!key || this.deps.dialogs.ownerOf(key) !== dialog || ctx.starting > 1 || ctx.branches.some((b) => b.dialog?.mediaKey === key)) return;
    this.deps.dialogs.disown(key);
    void this.deps.media.release(key).catch((err: unknown) => this.deps.log?.warn({ err, key }, 'media release failed'));
  }

  /**
   * Via, Record-Route, SDP anchoring and the client transaction of one branch; `flow` is the
   * listen point of the phone's flow it goes over, if it does.
   */
  async launchBranch(
    ctx: ResponseContext,
    forwarded: SipRequest,
    destination: Endpoint,
    dialog: Dialog | null,
    pin: RoutePin | null,
    flow: ListenPoint | undefined,
  ): Promise<void> {
    const { request } = ctx;
    forwarded.decrementMaxForwards();
    const index = ctx.branches.length;
    // Branch 0 keeps the form derived from the incoming branch alone (§16.6 step 8, §16.10).
    const branch = `${branchFor(request, ctx.loop)}${index === 0 ? '' : `.${index}`}`;
    const outbound = this.deps.own.localFor(destination, flow);
    forwarded.pushVia(this.deps.own.viaFor(destination, branch, outbound));
    if (request.to?.tag === undefined && DIALOG_CREATING.has(request.method)) {
      const params: Array<[string, string | null]> = [['lr', null]];
      if (pin) params.push(['pin', pin.trunk]);
      if (ctx.spiral > 0) params.push([SPIRAL_PARAM, String(ctx.spiral)]);
      params.push(this.deps.gate.routeToken(request.callId!, pin?.trunk ?? null));
      // §16.6 step 4; the caller-facing entry first, so the one facing the callee ends on top.
      if (outbound !== ctx.local) forwarded.prepend('Record-Route', this.deps.own.recordRoute(ctx.local, params));
      forwarded.prepend('Record-Route', this.deps.own.recordRoute(outbound, params));
    }
    if (ctx.register) this.deps.carryFlow(forwarded, ctx.register.token, outbound);
    const offered = await this.deps.anchor.anchorBody(request, forwarded, dialog, ctx.from, 'offer');
    if (index === 0) ctx.offered = offered;
    const b: Branch = {
      ctx, key: `${branch}|${forwarded.method}`, client: null, forwarded, destination, local: outbound, branch, dialog,
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

  private startClient(b: Branch): void {
    const method = b.forwarded.method;
    const { ctx, key } = b;
    // The link stays for the transaction's whole life (Timer K/M included, 32 s); the handlers
    // below, which hold the branch, its response context and their parsed requests, go at its end.
    const link = new ClientTransactionLink(this.deps.clientTx, key, this.deps.send, b.destination, b.local);
    const client = new ClientTransaction<SipResponse>(key, method, b.forwarded.serialize(), b.destination.transport === 'tcp', this.deps.timers, link, {
      onResponse: (response, status) =>
        this.relayResponse(b, response, status).catch((err: unknown) => {
          // A response that cannot be anchored (e.g. relay ports exhausted) must not take the
          // process down: the branch fails with a response of the proxy's own (§16.7 lets it
          // answer), and a 2xx it cannot carry is ACKed and ended so that the callee is not left up.
          this.deps.log?.warn({ err, callId: ctx.request.callId, status }, 'response not relayed');
          if (status < 200) return;
          if (status < 300 && ctx.initial && ctx.winner !== b && !b.lateAck) {
            void this.refuseAnswer(b, response, 'SIP;cause=503;text="media unavailable"');
          }
          this.branchFailed(ctx, b, this.failureOutcome(err, ctx.local));
        }),
      onTimeout: () => this.branchFailed(ctx, b, { status: 408, response: null }),
      onTransportError: (err) => {
        this.deps.log?.info({ err, callId: ctx.request.callId, to: b.destination }, 'next hop unreachable');
        this.branchFailed(ctx, b, { status: 503, response: null });
      },
      buildAck: (response) => hopByHopAck(b.forwarded, response).serialize(),
    });
    b.client = client;
    this.deps.clientTx.set(key, client);
    this.forwards.set(key, b);
    if (method === 'INVITE') {
      // Timer C (§16.6 step 11): no final response for this long → CANCEL the branch.
      b.timerC = setTimeout(() => this.cancelBranch(b), this.deps.timers.timerC);
    }
    if (ctx.untried.length > 0 && ctx.failoverAfterMs !== null) {
      // A trunk that does not even send 100 Trying is given up early so that the next one can
      // take the call before the caller hangs up (Timer B would take 64 x T1).
      b.failoverTimer = new IoTimer();
      b.failoverTimer.start(ctx.failoverAfterMs, () => {
        // Any response (even 100) moved the transaction on from Calling/Trying: the hop is alive.
        if (b.done || (client.state !== 'calling' && client.state !== 'trying')) return;
        this.deps.log?.info({ callId: ctx.request.callId, to: b.destination }, 'no response: next trunk');
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
    this.deps.sendOwnRequest(`${b.branch}|CANCEL`, 'CANCEL', cancelOf(b.forwarded), b.destination, b.local);
    // §16.10 / §9.1: a branch that has no final response 64 × T1 after its CANCEL is given up
    // (408): a callee that rings forever and ignores CANCEL must not hold the call's dialog,
    // media session and transactions for ever.
    clearTimeout(b.timerC);
    b.timerC = setTimeout(() => {
      if (b.done) return;
      b.client?.terminate();
      this.branchFailed(b.ctx, b, { status: 408, response: null });
    }, this.deps.timers.timeout);
  }

  /** Every pending branch of the context (except `keep`) is cancelled; no new one starts. */
  cancelPending(ctx: ResponseContext, keep?: Branch): void {
    ctx.stopped = true;
    for (const b of ctx.branches) if (b !== keep) this.cancelBranch(b);
  }

  private async relayResponse(b: Branch, response: SipResponse, status: number): Promise<void> {
    if (status < 200 && b.cancel === 'wanted') this.sendCancel(b);
    if (status === 100) return; // §16.7 step 5: 100 Trying is hop-by-hop.
    if (b.lateAck) {
      // A retransmission of a 2xx the proxy refused: the same ACK again (§13.2.2.4), nothing else.
      if (status >= 200 && status < 300) await this.deps.send(b.lateAck, b.destination, b.local).catch(() => undefined);
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
      await this.refuseAnswer(b, response, ANSWERED_ELSEWHERE);
      return;
    }
    const extra = status >= 200 && ctx.winner === b && response.to?.tag !== b.dialog?.callee.tag ? this.extraDialogsOf(b) : null;
    if (extra) {
      // Another dialog on the winning branch (its 2xx came while the first was being relayed).
      await this.endExtraDialog(extra, response);
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
          this.deps.dialogs.add(dialog, tag);
        }
        peer.routeSet = routeSetTowardCallee(response, (r) => this.deps.own.refersToUs(r.uri));
      }
      const contact = firstContact(response);
      if (contact) {
        peer.target = contact.toString();
        // The trunk side's NAT is pinRoute's business (RFC 3261 behaviour without it).
        if (!peer.trunk) peer.natted = natReason(hostOf(contact), peer.source) !== null;
      }
      if (ctx.initial && status >= 200) dialog.state = 'confirmed';
      await this.deps.anchor.anchorBody(response, out, dialog, fromSide, ctx.offered ? 'answer' : 'offer');
    }
    if (ctx.register && status >= 200) {
      restoreContacts(out);
      this.deps.phones!.registrar.onRegistered(ctx.register, out, performance.now());
    }
    if (status >= 200) {
      const first = !b.done;
      this.closeBranch(b);
      ctx.answered = true;
      if (first && ctx.initial && dialog) {
        ctx.winner = b;
        this.deps.counters.callAnswered(dialog.callee.trunk ?? dialog.caller.trunk);
        this.adoptDialog(ctx, dialog);
        // §16.7 step 10: a 2xx ends the fork; the other branches are cancelled.
        this.cancelPending(ctx, b);
      }
      this.settle(ctx);
    }
    ctx.server.respond(status, out.serialize());
    if (status >= 200 && status < 300 && b.client?.state === 'accepted') {
      b.client.lingerWith(this.relayAgain2xx(ctx.server, response.to?.tag, this.extraDialogsOf(b)));
    }
  }

  /**
   * What a branch's client transaction keeps for Timer M (32 s) once its 2xx went upstream: the
   * server transaction, which sends the same 2xx again for each retransmission (same content), not
   * the branch and its response context with their parsed requests. A 2xx with another To tag is
   * a second dialog from a forking proxy downstream: one call has one media session, so it is not
   * passed on, and the caller never learns of it — pinlatch ACKs it and ends it with a BYE.
   */
  private relayAgain2xx(server: ServerTransaction, tag: string | undefined, extra: ExtraDialogs | null): (response: SipResponse) => void {
    const own = tag === undefined ? undefined : ownedString(tag);
    return (response) => {
      if (response.to?.tag === own) server.resendAccepted();
      else if (extra) void this.endExtraDialog(extra, response);
    };
  }

  /** The winning branch of an initial INVITE: what ends further dialogs on it; null for any other. */
  private extraDialogsOf(b: Branch): ExtraDialogs | null {
    if (!b.ctx.initial || !b.dialog) return null;
    b.extra ??= { call: b.dialog, inviteCseq: b.ctx.request.cseq?.seq ?? 1, destination: b.destination, local: b.local, acks: null };
    return b.extra;
  }

  /**
   * A 2xx of another dialog than the call's on the winning branch: ACKed (§13.2.2.4, the same ACK
   * again for its retransmissions) and ended with a BYE toward its callee with a Reason (RFC
   * 3326), as refuseAnswer does for a 2xx of another branch. A 2xx without To tag or Contact
   * cannot be ACKed and is dropped.
   */
  private async endExtraDialog(extra: ExtraDialogs, response: SipResponse): Promise<void> {
    const tag = response.to?.tag;
    const contact = firstContact(response);
    if (!tag || !contact) return;
    const acks = (extra.acks ??= new Map());
    const sent = acks.get(tag);
    if (sent) {
      await this.deps.send(sent, extra.destination, extra.local).catch(() => undefined);
      return;
    }
    if (acks.size >= MAX_EXTRA_DIALOGS) return;
    const { call, destination, local } = extra;
    const invite = { from: call.caller.nameAddr, callId: call.callId, cseq: extra.inviteCseq };
    const routeSet = routeSetTowardCallee(response, (r) => this.deps.own.refersToUs(r.uri)).map(ownedString);
    const ack = ackOf2xx(invite, response, contact.toString(), routeSet);
    ack.prepend('Via', this.deps.own.viaFor(destination, `${BRANCH_PREFIX}${randomBytes(8).toString('hex')}`, local).toString());
    const bytes = ownedBytes(ack.serialize());
    acks.set(ownedString(tag), bytes);
    this.deps.log?.info({ callId: invite.callId, to: destination }, 'second dialog on the answered branch: ACK and BYE');
    await this.deps.send(bytes, destination, local).catch((err: unknown) =>
      this.deps.log?.info({ err, callId: invite.callId }, 'ACK of a second dialog\'s 2xx not delivered'),
    );
    const dialog = new Dialog(invite.callId, {
      tag: call.caller.tag, nameAddr: invite.from, target: undefined, routeSet: [], cseq: invite.cseq,
      source: destination, pin: null, trunk: null, natted: false,
    }, {
      tag, nameAddr: response.get('to') ?? '', target: contact.toString(), routeSet, cseq: 0,
      source: destination, pin: null, trunk: null, natted: false, local,
    });
    await this.deps.sendBye(dialog, 'callee', ANSWERED_ELSEWHERE, destination);
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
      this.deps.log?.info({ callId: ctx.request.callId, status: outcome.status, trunk: next.trunk?.name }, 'failover to the next trunk');
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
  failureOutcome(err: unknown, local: ListenPoint): BranchOutcome<SipResponse> {
    if (err instanceof MediaFamilyError) {
      const agent = new SipUri({ host: this.deps.own.advertisedHost(local), port: local.port }).hostport;
      return { status: 488, response: null, headers: [['Warning', err.warning(agent)]] };
    }
    if (err instanceof MediaError && err.code === 'ERR_PINLATCH_PORTS_EXHAUSTED') return { status: 503, response: null, reason: 'Media Ports Exhausted' };
    if (err instanceof LimitError) {
      this.deps.limits.limitReached[err.kind] += 1;
      return { status: 503, response: null, reason: 'Limit Reached', headers: [['Retry-After', String(this.deps.config().limits.overload.retryAfterSec)]] };
    }
    return { status: 500, response: null, reason: 'Server Internal Error' };
  }

  /** When every branch is done: the best final response upstream, unless a 2xx already went. */
  private settle(ctx: ResponseContext): void {
    if (ctx.starting > 0 || ctx.branches.some((b) => !b.done) || this.contexts.get(ctx.server.key) !== ctx) return;
    this.contexts.delete(ctx.server.key);
    // A BYE's final response, whatever it is, ends its dialog (§15.1.2).
    const byeDialog = ctx.request.method === 'BYE' ? ctx.branches[0]?.dialog : null;
    if (byeDialog) void this.deps.endDialog(byeDialog);
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
      out = createResponse(ctx.request, status, { reason: best.reason, toTag: toTag(ctx.request), headers: best.headers });
    }
    if (ctx.initial) {
      this.deps.counters.callFailed(callFailureOf(status));
      this.endFailedCall(ctx.branches.map((b) => b.dialog).filter((d): d is Dialog => d !== null));
    }
    ctx.server.respond(status, out.serialize());
  }

  /** The winning branch's dialog becomes the call's: found by the caller's tag, owner of the media. */
  private adoptDialog(ctx: ResponseContext, dialog: Dialog): void {
    this.deps.dialogs.add(dialog, dialog.caller.tag);
    if (dialog.mediaKey) this.deps.dialogs.own(dialog.mediaKey, dialog);
    for (const b of ctx.branches) if (b.dialog && b.dialog !== dialog) this.retire(b.dialog);
  }

  /** An early dialog of a branch that lost: gone from the table; the call's media is not its to release. */
  private retire(dialog: Dialog): void {
    dialog.state = 'terminated';
    this.deps.dialogs.remove(dialog, dialog.callee.tag);
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
    dialog.callee.routeSet = routeSetTowardCallee(response, (r) => this.deps.own.refersToUs(r.uri));
    this.deps.log?.info({ callId: ctx.request.callId, to: b.destination, reason }, '2xx not passed on: ACK and BYE');
    const ack = ackOf2xx(inviteIdentity(ctx.request), response, contact.toString(), dialog.callee.routeSet);
    ack.prepend('Via', this.deps.own.viaFor(b.destination, `${BRANCH_PREFIX}${randomBytes(8).toString('hex')}`, b.local).toString());
    b.lateAck = ack.serialize();
    await this.deps.send(b.lateAck, b.destination, b.local).catch((err: unknown) =>
      this.deps.log?.info({ err, callId: dialog.callId }, 'ACK of a second 2xx not delivered'),
    );
    await this.deps.sendBye(dialog, 'callee', reason, b.destination);
  }

  /** A failed initial INVITE: every branch's early dialog goes, and the call's media session once. */
  private endFailedCall(dialogs: readonly Dialog[]): void {
    const keys = new Set<string>();
    for (const dialog of dialogs) {
      this.retire(dialog);
      this.deps.dialogs.remove(dialog, dialog.caller.tag);
      if (dialog.mediaKey) keys.add(dialog.mediaKey);
    }
    for (const key of keys) {
      this.deps.dialogs.disown(key);
      void this.deps.media.release(key).catch((err: unknown) => this.deps.log?.warn({ err, key }, 'media release failed'));
    }
  }
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
