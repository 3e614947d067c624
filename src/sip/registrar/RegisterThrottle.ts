/**
 * Registration throttling (what OpenSIPS's mid_registrar does): a phone behind NAT is told a short
 * expiry, so that its own re-REGISTERs keep its NAT mapping open, while the registrar is given a
 * long one, so that it sees a fraction of the REGISTERs. pinlatch answers the phone's refreshes in
 * between from the binding it holds, and forwards what the registrar must see: a new binding, a
 * change (another Contact, another flow, another Call-ID), a removal, and the refresh that keeps
 * the registrar's own binding alive.
 *
 * Digest authentication stays the registrar's: a refresh is answered locally only when it
 * continues the registration the registrar accepted — same Call-ID, a higher CSeq (RFC 3261
 * §10.2.4: one Call-ID per registrar and UA), same Contact, same flow. Anything else goes to the
 * registrar with its Authorization untouched, and may be challenged there.
 */

export interface ThrottlePolicy {
  /** Expiry the phone is told (s). */
  readonly phoneExpiresSec: number;
  /** Expiry asked of the registrar (s). */
  readonly registrarExpiresSec: number;
}

/** What pinlatch holds of one registered Contact. */
export interface Binding {
  readonly aor: string;
  readonly contact: string;
  readonly callId: string;
  cseq: number;
  flowKey: string;
  /** When the registrar's binding ends (ms, clock of `now`). */
  registrarExpiresAt: number;
  /** When the phone's lease ends (ms): its own refreshes must come before. */
  phoneExpiresAt: number;
}

export interface RegisterFacts {
  aor: string;
  /** The Contact URIs of the REGISTER; ['*'] for a wildcard removal, [] for a query. */
  contacts: readonly string[];
  /** The expiry the phone asks for (Contact expires param, else Expires header, else 3600). */
  expiresSec: number;
  callId: string;
  cseq: number;
  flowKey: string;
}

export type ThrottleDecision =
  /** Answer 200 here, with this expiry for the phone. */
  | { readonly kind: 'answer'; readonly expiresSec: number }
  /** Send it to the registrar; `expiresSec` replaces what the phone asked for (null: as sent). */
  | { readonly kind: 'forward'; readonly expiresSec: number | null };

export function decideRegister(policy: ThrottlePolicy | null, binding: Binding | undefined, facts: RegisterFacts, now: number): ThrottleDecision {
  const single = facts.contacts.length === 1 && facts.contacts[0] !== '*';
  if (!policy || !single) return { kind: 'forward', expiresSec: null };
  if (facts.expiresSec === 0) return { kind: 'forward', expiresSec: null };
  const continues =
    binding !== undefined &&
    binding.contact === facts.contacts[0] &&
    binding.callId === facts.callId &&
    facts.cseq > binding.cseq &&
    binding.flowKey === facts.flowKey;
  const phoneExpiresSec = Math.min(policy.phoneExpiresSec, facts.expiresSec);
  // The registrar's binding must outlive the phone's next lease, with a margin for the phone's
  // refresh coming late: otherwise this refresh is the one that must reach it.
  const needed = now + 2 * phoneExpiresSec * 1000;
  if (continues && binding.registrarExpiresAt >= needed) return { kind: 'answer', expiresSec: phoneExpiresSec };
  return { kind: 'forward', expiresSec: Math.max(policy.registrarExpiresSec, facts.expiresSec) };
}
