/**
 * The calls the SIP proxy holds, as the metrics endpoint and the NG `list`/`query` commands show
 * them: one entry per call (the early dialogs of a forked INVITE are one call), ringing or answered.
 */
import type { Dialog } from './Dialog.js';
import { NO_TRUNK } from './SipCounters.js';

export interface SipCallView {
  callId: string;
  /** The caller's From tag (media leg A) and the callee's To tag (leg B; null before an answer). */
  callerTag: string | null;
  calleeTag: string | null;
  state: 'ringing' | 'answered';
  /** Media session key, or null while no SDP was anchored. */
  mediaKey: string | null;
  /** The trunk on the callee side, else on the caller side, else null. */
  trunk: string | null;
  /** Unix milliseconds when the INVITE was taken on. */
  createdAt: number;
}

/** One view per call of the live dialogs: the answered dialog of a call wins over its early ones. */
export function callViews(dialogs: Iterable<Dialog>): SipCallView[] {
  const byCall = new Map<string, SipCallView>();
  for (const d of dialogs) {
    if (d.state === 'terminated') continue;
    const key = `${d.callId}|${d.caller.tag}`;
    const known = byCall.get(key);
    if (known?.state === 'answered') continue;
    byCall.set(key, {
      callId: d.callId,
      callerTag: d.caller.tag ?? null,
      calleeTag: d.callee.tag ?? null,
      state: d.state === 'confirmed' ? 'answered' : 'ringing',
      mediaKey: d.mediaKey ?? known?.mediaKey ?? null,
      trunk: d.callee.trunk ?? d.caller.trunk,
      createdAt: d.createdAt,
    });
  }
  return [...byCall.values()];
}

/** Answered calls per trunk (`none` for calls without one). */
export function answeredByTrunk(calls: readonly SipCallView[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const c of calls) if (c.state === 'answered') out.set(c.trunk ?? NO_TRUNK, (out.get(c.trunk ?? NO_TRUNK) ?? 0) + 1);
  return out;
}
