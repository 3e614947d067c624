/**
 * The proxy's admission control in one place: who a source is, what its initial requests may do
 * (Admission.ts), the tokens that mark pinlatch's own Record-Route (RouteToken.ts), and the
 * counters an operator watches. The decisions themselves are the pure functions beside it.
 */
import type { PinlatchConfig } from '../../config/index.js';
import type { LookupFunction } from '../proxy/TrunkResolver.js';
import type { TrunkConfig } from '../../config/types.js';
import { CidrSet } from '../../net/cidr.js';
import type { SipUri } from '../wire/uri.js';
import { admitInitial, type AdmissionPolicy, type InitialDecision } from './Admission.js';
import { decideInDialog, type InDialogDecision, type InDialogFacts } from './InDialogGuard.js';
import { ROUTE_TOKEN_PARAM, RouteTokens } from './RouteToken.js';
import { SourceClassifier, type SourceClass } from './SourceClassifier.js';
import { UpstreamAddresses } from './UpstreamAddresses.js';

export interface AdmissionCounters {
  /** Initial requests refused with 403. */
  refused: number;
  /** Initial requests dropped without an answer (strangers when so configured). */
  dropped: number;
  /** Requests dropped because their User-Agent names a scanner. */
  scanners: number;
  /** In-dialog requests refused (403/481) or, for ACK, dropped. */
  inDialogRefused: number;
}

export interface InitialFacts {
  source: SourceClass;
  method: string;
  flowRoute: boolean;
  optionsToUs: boolean;
  userAgent: string | undefined;
  strangerRoute: boolean;
}

/** Gatekeeper.prepare's result: what a reloaded configuration admits, not in force yet. */
export interface PreparedAdmission {
  readonly policy: AdmissionPolicy;
  readonly upstream: UpstreamAddresses;
  readonly classifier: SourceClassifier;
}

const UPSTREAM_RESOLVE_SEC = 60;
const ANY = { has: () => true };

export class Gatekeeper {
  readonly counters: AdmissionCounters = { refused: 0, dropped: 0, scanners: 0, inDialogRefused: 0 };
  private readonly tokens: RouteTokens;
  private policy: AdmissionPolicy;
  private upstream: UpstreamAddresses;
  private classifier: SourceClassifier;
  private running = false;

  constructor(
    config: PinlatchConfig,
    key: Buffer,
    private readonly trunkOf: (address: string) => TrunkConfig | undefined,
    private readonly lookup: LookupFunction,
    private readonly onUpstreamError: (err: unknown) => void,
  ) {
    this.tokens = new RouteTokens(key);
    ({ policy: this.policy, upstream: this.upstream, classifier: this.classifier } = this.build(config));
  }

  /** The admission objects of one configuration (the route-token key is not one of them). */
  private build(config: PinlatchConfig): PreparedAdmission {
    const { admission, phones } = config;
    const upstream = new UpstreamAddresses([config.upstream, phones?.registrar ?? null], admission.upstreamNetworks, this.lookup, this.onUpstreamError);
    const phoneNetworks = phones ? (phones.networks.length > 0 ? CidrSet.parse(phones.networks) : ANY) : null;
    return {
      policy: { strangers: admission.strangers, options: admission.options, scannerUserAgents: admission.scannerUserAgents },
      upstream,
      classifier: new SourceClassifier(this.trunkOf, upstream, phoneNetworks),
    };
  }

  start(): Promise<void> {
    this.running = true;
    return this.upstream.start(UPSTREAM_RESOLVE_SEC);
  }

  /**
   * A reloaded configuration's upstream, admission lists and policy, its upstream host names
   * resolved (when running), ready for `apply` — or `discard` when the reload does not go ahead.
   */
  async prepare(config: PinlatchConfig): Promise<PreparedAdmission> {
    const next = this.build(config);
    if (this.running) await next.upstream.start(UPSTREAM_RESOLVE_SEC);
    return next;
  }

  /** Puts prepared admission objects in force for the next request; the counters go on. */
  apply(next: PreparedAdmission): void {
    const old = this.upstream;
    ({ policy: this.policy, upstream: this.upstream, classifier: this.classifier } = next);
    old.stop();
  }

  discard(next: PreparedAdmission): void {
    next.upstream.stop();
  }

  stop(): void {
    this.running = false;
    this.upstream.stop();
  }

  classify(address: string): SourceClass {
    return this.classifier.classify(address);
  }

  /** The decision for an initial request, counted when it refuses or drops. */
  admit(facts: InitialFacts): InitialDecision {
    const decision = admitInitial(this.policy, {
      source: facts.source.kind,
      method: facts.method,
      flowRoute: facts.flowRoute,
      optionsToUs: facts.optionsToUs,
      userAgent: facts.userAgent,
      strangerRoute: facts.strangerRoute,
    });
    if (decision.kind === 'refuse') this.counters.refused += 1;
    else if (decision.kind === 'drop') this.counters[decision.reason === 'scanner' ? 'scanners' : 'dropped'] += 1;
    return decision;
  }

  /** The decision for an in-dialog request, counted when it refuses. */
  inDialog(facts: InDialogFacts): InDialogDecision {
    const decision = decideInDialog(facts);
    if (decision.kind === 'refuse') this.counters.inDialogRefused += 1;
    return decision;
  }

  /** The Record-Route parameter that signs pinlatch's route into dialog `callId`. */
  routeToken(callId: string, pin: string | null): [string, string] {
    return [ROUTE_TOKEN_PARAM, this.tokens.sign(callId, pin)];
  }

  /** Whether one of pinlatch's own Route URIs carries a valid token for `callId`. */
  tokenOf(uri: SipUri, callId: string | undefined, pin: string | null): 'valid' | 'invalid' | 'none' {
    const token = uri.params.get(ROUTE_TOKEN_PARAM);
    if (typeof token !== 'string') return 'none';
    return callId !== undefined && this.tokens.verify(token, callId, pin) ? 'valid' : 'invalid';
  }
}
