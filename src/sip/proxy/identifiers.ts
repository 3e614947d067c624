/**
 * The identifiers the proxy derives for what it sends: the To tag of its own responses
 * (§8.2.6.2) and the Via branch of what it forwards, with its loop-detection part (§16.6 step 8).
 * Derived, not random, so that a retransmitted request gets the same ones.
 */
import { hash } from 'node:crypto';
import type { SipRequest } from '../wire/message.js';

/** The magic cookie (§8.1.1.7) and pinlatch's own mark. */
export const BRANCH_PREFIX = 'z9hG4bKpl';

/** A stable To tag for the responses the proxy itself generates (§8.2.6.2). */
export function toTag(request: SipRequest): string {
  return hash('sha1', `${request.callId}|${request.from?.tag}|${request.topVia?.branch}`, 'hex').slice(0, 12);
}

/**
 * The loop-detection part of the branch: fields that change in a spiral but not in a loop
 * (§16.6 step 8), the Route set as received among them (§16.3 step 4: a spiral is a request
 * routed anew) — an in-dialog request spiralling back through the PBX keeps its Request-URI,
 * only the Route entries it has used up tell the passes apart.
 */
export function loopHash(request: SipRequest): string {
  const routes = request.getAll('route').join(',');
  return hash('sha1', `${request.uriText}|${request.callId}|${request.from?.tag}|${request.to?.tag}|${request.cseq?.seq}|${routes}`, 'hex').slice(0, 10);
}

export function branchFor(request: SipRequest, loop = loopHash(request)): string {
  const tx = hash('sha1', `${request.topVia!.branch}|${request.topVia!.sentBy}`, 'hex').slice(0, 12);
  return `${BRANCH_PREFIX}${loop}.${tx}`;
}
