/**
 * The gate for an initial request (no To tag) at the edge: its source's class and the route it
 * may take go to the admission rules (Admission.ts, through the Gatekeeper), and a refused one
 * is answered 403 or dropped without a transaction (§16.3).
 */
import type { Logger } from 'pino';
import { FLOW_PARAM } from '../registrar/ContactAlias.js';
import type { OwnAddresses } from '../proxy/OwnAddresses.js';
import type { RouteChoice, RouteTable } from '../proxy/RouteTable.js';
import { toTag } from '../proxy/identifiers.js';
import type { Endpoint, ListenPoint } from '../transport/SipTransport.js';
import { createResponse, type SipRequest } from '../wire/message.js';
import type { InitialDecision } from './Admission.js';
import type { Gatekeeper } from './Gatekeeper.js';
import type { LogBudget } from './LogBudget.js';
import type { SourceClass } from './SourceClassifier.js';

/** An initial request's admission and, for one that is routed, the rule it takes. */
export interface Admitted {
  decision: InitialDecision;
  choice: RouteChoice | null;
}

export interface InitialAdmissionDeps {
  log: Logger | undefined;
  gate: Gatekeeper;
  own: OwnAddresses;
  /** The route table in force (a reloaded configuration replaces it). */
  routes(): RouteTable;
  /** Phones are configured: a request may follow a phone's flow. */
  phones(): boolean;
  /** Refused and dropped requests are logged once a second at most (shared with in-dialog routing). */
  refusalLog: LogBudget;
  send(data: Buffer, to: Endpoint, local: ListenPoint): Promise<void>;
}

export class InitialAdmission {
  constructor(private readonly deps: InitialAdmissionDeps) {}

  /** Admission of an initial request (src/sip/edge/Admission.ts), with the route it may take. */
  admit(request: SipRequest, source: Endpoint, sourceClass: SourceClass): Admitted {
    const optionsToUs = request.method === 'OPTIONS' && this.deps.own.addressesUs(request.uri);
    let choice: RouteChoice | null = null;
    if (!optionsToUs && sourceClass.kind !== 'trunk') {
      const uri = request.uri;
      choice = uri.kind === 'sip' ? this.deps.routes().select({ user: uri.user ?? null, host: uri.host }, sourceClass.kind === 'stranger' ? source.address : undefined) : null;
    }
    const top = request.routes[0]?.uri;
    const decision = this.deps.gate.admit({
      source: sourceClass,
      method: request.method,
      flowRoute:
        this.deps.phones() &&
        ((top?.kind === 'sip' && top.user !== undefined && this.deps.own.refersToUs(top)) ||
          (request.uri.kind === 'sip' && request.uri.params.has(FLOW_PARAM) && this.deps.own.refersToUs(request.uri))),
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
  refuseInitial(request: SipRequest, source: Endpoint, local: ListenPoint, decision: InitialDecision): void {
    const skipped = this.deps.refusalLog.take(performance.now());
    const who = () => ({ source: `${source.address}:${source.port}`, method: request.method, ruri: request.uriText, userAgent: request.get('user-agent'), skipped });
    if (decision.kind === 'drop') {
      if (skipped !== null) this.deps.log?.info({ ...who(), reason: decision.reason }, 'request dropped');
      return;
    }
    if (decision.kind !== 'refuse') return;
    if (skipped !== null) this.deps.log?.info({ ...who(), status: decision.status }, 'request refused: source may not use this route');
    if (request.method === 'ACK') return;
    const response = createResponse(request, decision.status, { reason: decision.reason, toTag: toTag(request) });
    void this.deps.send(response.serialize(), source, local).catch(() => undefined);
  }
}
