/**
 * Routing of requests inside a dialog (RFC 3261 §16.12, §12.2): toward the other side of a dialog
 * the proxy holds (its pin, its packet source behind NAT, else its remote target and route set),
 * or along the request's own Route for a dialog it does not know — each only when the edge's
 * in-dialog guard lets it through (edge/InDialogGuard.ts). The ACK of a 2xx goes end to end
 * without a transaction (§16.6, §17.1.1.3).
 */
import type { Logger } from 'pino';
import type { Gatekeeper } from '../edge/Gatekeeper.js';
import { routesTrusted } from '../edge/InDialogGuard.js';
import type { LogBudget } from '../edge/LogBudget.js';
import type { SourceClass } from '../edge/SourceClassifier.js';
import type { Endpoint } from '../transport/SipTransport.js';
import { createResponse, type SipRequest } from '../wire/message.js';
import { normalizedIp } from '../wire/normalizedIp.js';
import { parseUri } from '../wire/uri.js';
import { firstContact, safe } from './contactOf.js';
import { Dialog, type DialogPeer } from './Dialog.js';
import type { DialogTable } from './DialogTable.js';
import type { Forwarder, ResponseContext } from './Forwarder.js';
import { branchFor } from './identifiers.js';
import type { MediaAnchor } from './MediaAnchor.js';
import type { OwnAddresses } from './OwnAddresses.js';
import { popOwnRoutes, type OwnRoute } from './OwnRoute.js';
import { nextHop, uriHop, type HopTarget } from './RoutePin.js';
import type { RouteTable } from './RouteTable.js';
import type { SipCounters } from './SipCounters.js';
import { routeToStrictRouter, undoStrictRouting } from './StrictRoute.js';
import type { TrunkResolver } from './TrunkResolver.js';

/** Requests that may change their sender's remote target (§12.2: re-INVITE; RFC 3311 UPDATE). */
const TARGET_REFRESH = new Set(['INVITE', 'UPDATE']);

/** What in-dialog routing uses of the proxy around it. */
export interface InDialogRouterDeps {
  log: Logger | undefined;
  counters: SipCounters;
  dialogs: DialogTable;
  gate: Gatekeeper;
  own: OwnAddresses;
  anchor: MediaAnchor;
  forwarder: Forwarder;
  /** Refused and dropped requests are logged once a second at most (shared with admission). */
  refusalLog: LogBudget;
  /** The route table and the trunks' resolver in force (a reloaded configuration replaces them). */
  routes(): RouteTable;
  resolver(): TrunkResolver;
  resolveHop(hop: HopTarget): Promise<Endpoint>;
  send(data: Buffer, to: Endpoint): Promise<void>;
}

export class InDialogRouter {
  constructor(private readonly deps: InDialogRouterDeps) {}

  /** An in-dialog request: one branch, toward the other side of its dialog (or along its Route). */
  async forwardInDialog(ctx: ResponseContext, source: Endpoint, sourceClass: SourceClass, own: OwnRoute): Promise<void> {
    const { request } = ctx;
    const forwarded = request.clone();
    const dialog = this.deps.dialogs.find(request, own.spiral) ?? null;
    const from = dialog?.sideOfFromTag(request.from?.tag) ?? 'caller';
    const verdict = this.deps.gate.inDialog({
      token: own.token,
      dialogKnown: dialog !== null,
      nextHopInDialog: dialog !== null && this.hopInDialog(dialog.peer(Dialog.other(from)), forwarded),
      sourceTrusted: routesTrusted(sourceClass),
    });
    if (verdict.kind === 'refuse') {
      const skipped = this.deps.refusalLog.take(performance.now());
      if (skipped !== null) {
        this.deps.log?.info({ source: `${source.address}:${source.port}`, method: request.method, callId: request.callId, status: verdict.status, reason: verdict.reason, skipped }, 'in-dialog request refused');
      }
      this.deps.forwarder.contexts.delete(ctx.server.key);
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
      const trunk = pinParam ? this.deps.routes().trunk(pinParam) : undefined;
      const target = trunk && this.deps.resolver().fromSource(source.address)?.name !== trunk.name ? this.deps.resolver().target(trunk.name) : null;
      if (target) this.deps.counters.pinnedRequests += 1;
      destination = target
        ? await this.deps.resolveHop(target)
        : await this.deps.resolveHop(nextHop(uriHop(forwarded.uri), forwarded.routes.map((r) => uriHop(r.uri))));
    }
    // §16.6 step 6: toward a strict router (the route set decided the destination, or pin/NAT did).
    routeToStrictRouter(forwarded);
    await this.deps.forwarder.launchBranch(ctx, forwarded, destination, dialog, null);
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
  async destinationToward(peer: DialogPeer, forwarded: SipRequest): Promise<Endpoint> {
    if (peer.pin) {
      this.deps.counters.pinnedRequests += 1;
      return this.deps.resolveHop(nextHop(uriHop(forwarded.uri), [], peer.pin));
    }
    // Behind NAT and reached directly (no proxy record-routed in between): its packet source.
    if (peer.natted && !peer.trunk && peer.routeSet.length === 0) return peer.source;
    return this.deps.resolveHop(nextHop(uriHop(forwarded.uri), forwarded.routes.map((r) => uriHop(r.uri))));
  }

  /** Forwards an ACK for a 2xx end to end (it has its own branch, no transaction, §16.6/§17.1.1.3). */
  async forwardAck(request: SipRequest, source: Endpoint): Promise<void> {
    const strict = undoStrictRouting(request, (uri) => this.deps.own.refersToUs(uri));
    if (strict.kind === 'missing-route') {
      this.deps.log?.info({ callId: request.callId }, 'ACK with our Record-Route in the Request-URI and no Route dropped');
      return;
    }
    const own = popOwnRoutes(request, strict.kind === 'restored' ? strict.ours : null, this.deps.own, this.deps.gate);
    const dialog = this.deps.dialogs.find(request, own.spiral);
    const forwarded = request.clone();
    const from = dialog?.sideOfFromTag(request.from?.tag) ?? 'caller';
    const verdict = this.deps.gate.inDialog({
      token: own.token,
      dialogKnown: dialog !== undefined,
      nextHopInDialog: dialog !== undefined && this.hopInDialog(dialog.peer(Dialog.other(from)), forwarded),
      sourceTrusted: routesTrusted(this.deps.gate.classify(source.address)),
    });
    if (verdict.kind === 'refuse') {
      const skipped = this.deps.refusalLog.take(performance.now());
      if (skipped !== null) this.deps.log?.info({ source: `${source.address}:${source.port}`, callId: request.callId, reason: verdict.reason, skipped }, 'ACK dropped');
      return;
    }
    if (request.maxForwards === 0) return;
    forwarded.decrementMaxForwards();
    let destination: Endpoint;
    if (dialog) {
      dialog.peer(from).source = source;
      await this.deps.anchor.anchorBody(request, forwarded, dialog, from, 'answer');
      destination = await this.destinationToward(dialog.peer(Dialog.other(from)), forwarded);
    } else {
      destination = await this.deps.resolveHop(nextHop(uriHop(forwarded.uri), forwarded.routes.map((r) => uriHop(r.uri))));
    }
    routeToStrictRouter(forwarded);
    try {
      forwarded.pushVia(this.deps.own.viaFor(destination, branchFor(request)));
    } catch (err) {
      this.deps.log?.info({ err, callId: request.callId, to: destination }, 'ACK not delivered');
      return;
    }
    await this.deps.send(forwarded.serialize(), destination).catch((err: unknown) =>
      this.deps.log?.info({ err, callId: request.callId, to: destination }, 'ACK not delivered'),
    );
  }
}
