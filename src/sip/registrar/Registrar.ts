/**
 * pinlatch as the edge proxy of phones behind NAT (RFC 3327 Path, RFC 5626 flows): what happens
 * to a phone's REGISTER and to the registrar's answer, and where a request for a phone goes.
 * Free of sockets and timers (the proxy passes `now`), so every rule is tested directly.
 *
 * - A phone's REGISTER goes to the registrar with a Path whose URI carries the flow token of the
 *   NAT mapping (or TCP connection) it came over; the registrar stores that Path and puts it into
 *   the Route of every request for the phone, which is how such a request finds the flow again.
 * - With throttling, a refresh that merely continues an accepted registration is answered here
 *   (RegisterThrottle.ts), and the expiries each side sees are rewritten.
 * - pinlatch keeps a binding per Contact: for throttling, for the keepalives that hold the NAT
 *   mapping open, for the listing an operator reads, and to bound the state (503 beyond).
 */
import { createResponse, type SipRequest, type SipResponse } from '../wire/message.js';
import type { NameAddr } from '../wire/headers/nameAddr.js';
import { BindingTable } from './BindingTable.js';
import { rewriteContacts } from './contacts.js';
import { flowKey, type Flow } from './Flow.js';
import { FlowTable } from './FlowTable.js';
import type { FlowTokens } from './FlowToken.js';
import { decideRegister, type RegisterFacts, type ThrottlePolicy } from './RegisterThrottle.js';

/** The To tag of a 200 pinlatch answers itself (a REGISTER creates no dialog: any tag serves). */
const LOCAL_TO_TAG = 'pinlatch';

/** RFC 3261 §10.2.1.1: a REGISTER without Expires asks for the registrar's default, commonly 3600. */
const DEFAULT_EXPIRES_SEC = 3600;

export interface RegistrarPolicy {
  readonly maxBindings: number;
  readonly throttle: ThrottlePolicy | null;
}

export interface RegistrarCounters {
  /** REGISTERs received from phones. */
  registers: number;
  /** Refreshes answered by pinlatch (throttling). */
  answeredLocally: number;
  /** REGISTERs refused because the binding table is full. */
  refusedFull: number;
  /** Requests for a phone whose flow is dead (430). */
  flowFailed: number;
  /** Requests whose flow token is not one of pinlatch's (refused). */
  forgedTokens: number;
}

export type RegisterAction =
  | { readonly kind: 'answer'; readonly response: SipResponse }
  | { readonly kind: 'refuse'; readonly status: 503; readonly reason: string }
  /** Forward (the request's expiries already rewritten); `facts` go with it to onRegistered. */
  | { readonly kind: 'forward'; readonly facts: RegisterFacts; readonly flow: Flow; readonly token: string };

export type FlowLookup =
  | { readonly kind: 'flow'; readonly flow: Flow }
  | { readonly kind: 'dead'; readonly flow: Flow }
  | { readonly kind: 'forged' };

function contactText(c: NameAddr): string {
  return c.uri.toString();
}

/** The Contact of a REGISTER that names exactly one. */
function singleContact(request: SipRequest): NameAddr | undefined {
  const contact = request.contact;
  return contact && !contact.star && contact.contacts.length === 1 ? contact.contacts[0] : undefined;
}

function expiresOf(request: SipRequest | SipResponse, contact: NameAddr | undefined): number {
  const param = contact?.params.get('expires');
  const header = request.get('expires');
  const text = typeof param === 'string' ? param : header;
  const value = text === undefined ? NaN : Number(text.trim());
  return Number.isInteger(value) && value >= 0 ? Math.min(value, 2 ** 31 - 1) : DEFAULT_EXPIRES_SEC;
}

export class Registrar {
  readonly flows = new FlowTable();
  readonly bindings: BindingTable;
  readonly counters: RegistrarCounters = { registers: 0, answeredLocally: 0, refusedFull: 0, flowFailed: 0, forgedTokens: 0 };

  constructor(
    private readonly tokens: FlowTokens,
    private readonly policy: RegistrarPolicy,
  ) {
    this.bindings = new BindingTable(this.flows, policy.maxBindings);
  }

  private facts(request: SipRequest, flow: Flow): RegisterFacts {
    const contact = request.contact;
    const contacts = contact?.star ? ['*'] : (contact?.contacts ?? []).map(contactText);
    return {
      aor: request.to?.uri.toString() ?? '',
      contacts,
      expiresSec: expiresOf(request, contact?.star ? undefined : contact?.contacts[0]),
      callId: request.callId ?? '',
      cseq: request.cseq?.seq ?? 0,
      flowKey: flowKey(flow),
    };
  }

  /** A phone's REGISTER arriving over `flow`. */
  onRegister(request: SipRequest, flow: Flow, now: number): RegisterAction {
    this.counters.registers += 1;
    const facts = this.facts(request, flow);
    // Only a REGISTER the registrar accepted makes a flow (onRegistered): a challenged or refused
    // one, from any number of source ports, leaves nothing behind. A known flow is heard again.
    this.flows.heard(facts.flowKey, now);
    const first = facts.contacts[0];
    const binding = first !== undefined && first !== '*' ? this.bindings.get(facts.aor, first) : undefined;
    if (first !== undefined && first !== '*' && facts.expiresSec > 0 && !this.bindings.hasRoom(facts.aor, first)) {
      this.counters.refusedFull += 1;
      return { kind: 'refuse', status: 503, reason: 'Registrations Full' };
    }
    const decision = decideRegister(this.policy.throttle, binding, facts, now);
    if (decision.kind === 'answer') {
      this.counters.answeredLocally += 1;
      binding!.cseq = facts.cseq;
      binding!.phoneExpiresAt = now + decision.expiresSec * 1000;
      // From the request as parsed: decideRegister answers only a REGISTER with one Contact.
      const granted = singleContact(request)!.clone();
      granted.params.set('expires', String(decision.expiresSec));
      const response = createResponse(request, 200, { toTag: LOCAL_TO_TAG });
      response.set('Contact', granted.toString());
      return { kind: 'answer', response };
    }
    if (decision.expiresSec !== null) {
      request.set('Expires', String(decision.expiresSec));
      rewriteContacts(request, (c) => {
        if (!c.params.has('expires')) return false;
        c.params.set('expires', String(decision.expiresSec));
        return true;
      });
    }
    const token = this.flows.get(facts.flowKey)?.token ?? this.tokens.encode(flow);
    return { kind: 'forward', facts, flow, token };
  }

  /**
   * The registrar's final answer to a forwarded REGISTER (`response` is the copy going to the
   * phone): a 2xx records or removes the bindings and, with throttling, tells the phone its
   * short expiry.
   */
  onRegistered(action: Extract<RegisterAction, { kind: 'forward' }>, response: SipResponse, now: number): void {
    if (response.status < 200 || response.status >= 300) return;
    const { facts } = action;
    const granted = new Map<string, number>();
    for (const c of response.contacts) granted.set(contactText(c), expiresOf(response, c));
    if (facts.contacts[0] === '*') {
      for (const b of this.bindings.ofAor(facts.aor)) this.bindings.delete(b.aor, b.contact);
      return;
    }
    for (const contact of facts.contacts) {
      const registrarSec = granted.get(contact) ?? 0;
      if (facts.expiresSec === 0 || registrarSec === 0) {
        this.bindings.delete(facts.aor, contact);
        continue;
      }
      const phoneSec = this.policy.throttle ? Math.min(this.policy.throttle.phoneExpiresSec, registrarSec) : registrarSec;
      this.flows.touch(action.flow, action.token, now);
      this.bindings.set({
        aor: facts.aor,
        contact,
        callId: facts.callId,
        cseq: facts.cseq,
        flowKey: facts.flowKey,
        registrarExpiresAt: now + registrarSec * 1000,
        phoneExpiresAt: now + phoneSec * 1000,
      });
    }
    if (this.policy.throttle) {
      // The phone is told its own, shorter expiry for each Contact of its own.
      const ours = new Set(facts.contacts);
      const { phoneExpiresSec } = this.policy.throttle;
      rewriteContacts(response, (c) => {
        const key = contactText(c);
        if (!ours.has(key)) return false;
        c.params.set('expires', String(Math.min(phoneExpiresSec, granted.get(key) ?? 0)));
        return true;
      });
      response.remove('expires');
    }
  }

  /** Where a request whose Route carried flow token `token` goes. */
  lookup(token: string): FlowLookup {
    // A token the table holds is one pinlatch computed itself: no HMAC to check again.
    const known = this.flows.withToken(token);
    if (known && !known.alive) {
      this.counters.flowFailed += 1;
      return { kind: 'dead', flow: known.flow };
    }
    if (known) return { kind: 'flow', flow: known.flow };
    const flow = this.tokens.decode(token);
    if (!flow) {
      this.counters.forgedTokens += 1;
      return { kind: 'forged' };
    }
    const state = this.flows.get(flowKey(flow));
    if (state && !state.alive) {
      this.counters.flowFailed += 1;
      return { kind: 'dead', flow };
    }
    // A flow not in the table (pinlatch restarted) is still the phone's last known mapping.
    return { kind: 'flow', flow };
  }

  /** A request for a phone that names no flow at all (no token where one must be): forged. */
  forged(): FlowLookup {
    this.counters.forgedTokens += 1;
    return { kind: 'forged' };
  }

  /** The TCP connection of a flow `lookup` found is gone: the flow is dead from now on. */
  connectionGone(flow: Flow): void {
    this.flows.markDead(flowKey(flow));
    this.counters.flowFailed += 1;
  }

  /** Ends the bindings whose lease ran out; returns how many. */
  expire(now: number): number {
    return this.bindings.expire(now);
  }
}
