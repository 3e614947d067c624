/**
 * Who may use the proxy for what: the decision for an initial (out-of-dialog) request.
 *
 * pinlatch sits on a public address in front of a PSTN gateway. An INVITE for a dialled number
 * from anyone who is not the PBX is toll fraud, and SIP scanners send exactly that all day. So
 * every initial request is judged by where it came from (SourceClassifier.ts), never by what it
 * claims:
 *
 * - a trunk's requests go to the upstream PBX, never to another trunk;
 * - the upstream PBX's requests follow the route rules to the trunks;
 * - a phone (with `phones:` configured, a source that is none of these) registers with the
 *   registrar and calls through the upstream PBX, which authenticates it; never a trunk;
 * - a request of the upstream (or registrar) whose Route is a phone's Path goes to that phone;
 * - anyone else (a stranger) may use only a route whose `from` networks include it; otherwise it
 *   gets 403, or nothing at all when the configuration says to drop strangers;
 * - a request whose User-Agent names a known scanner is dropped without an answer (an answer
 *   tells the scanner that something lives here);
 * - an OPTIONS addressed to pinlatch itself is answered to anyone (monitoring, NAT keepalives),
 *   or to trusted sources only when so configured.
 */

export type SourceKind = 'upstream' | 'trunk' | 'phone' | 'stranger';

export interface AdmissionPolicy {
  /** What a stranger's refused request gets: 403 Forbidden, or no answer. */
  readonly strangers: 'reject' | 'drop';
  /** Who gets an answer to an OPTIONS addressed to pinlatch itself. */
  readonly options: 'anyone' | 'trusted';
  /** User-Agent values of known scanners (dropped silently), or null. */
  readonly scannerUserAgents: RegExp | null;
}

export interface InitialRequest {
  source: SourceKind;
  method: string;
  /** Its first Route is pinlatch's Path URI for a phone (a flow token). */
  flowRoute: boolean;
  /** An OPTIONS addressed to the proxy itself (no user part, one of its addresses). */
  optionsToUs: boolean;
  userAgent: string | undefined;
  /** A route rule whose `from` networks include this (stranger) source matches the request. */
  strangerRoute: boolean;
}

export type InitialDecision =
  | { readonly kind: 'answer-options' }
  | { readonly kind: 'to-upstream' }
  | { readonly kind: 'route' }
  | { readonly kind: 'register' }
  | { readonly kind: 'to-flow' }
  | { readonly kind: 'refuse'; readonly status: 403; readonly reason: string }
  | { readonly kind: 'drop'; readonly reason: 'scanner' | 'stranger' };

const ANSWER_OPTIONS: InitialDecision = { kind: 'answer-options' };
const TO_UPSTREAM: InitialDecision = { kind: 'to-upstream' };
const ROUTE: InitialDecision = { kind: 'route' };
const REGISTER: InitialDecision = { kind: 'register' };
const TO_FLOW: InitialDecision = { kind: 'to-flow' };

export function admitInitial(policy: AdmissionPolicy, request: InitialRequest): InitialDecision {
  if (request.userAgent !== undefined && policy.scannerUserAgents?.test(request.userAgent)) return { kind: 'drop', reason: 'scanner' };
  const trusted = request.source === 'upstream' || request.source === 'trunk';
  if (request.optionsToUs && (trusted || policy.options === 'anyone')) return ANSWER_OPTIONS;
  if (request.source === 'trunk') return TO_UPSTREAM;
  if (request.source === 'upstream') return request.flowRoute ? TO_FLOW : ROUTE;
  if (request.source === 'phone') return request.method === 'REGISTER' ? REGISTER : TO_UPSTREAM;
  if (request.strangerRoute && !request.optionsToUs) return ROUTE;
  return policy.strangers === 'drop' ? { kind: 'drop', reason: 'stranger' } : { kind: 'refuse', status: 403, reason: 'Forbidden' };
}
