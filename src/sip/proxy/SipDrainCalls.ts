/**
 * What a drain (Drain.ts) counts and ends on the SIP side: the answered calls (confirmed dialogs)
 * and the ringing ones (initial INVITEs without a final answer); at the deadline the ringing ones
 * are cancelled and the answered ones get BYE both ways (RFC 3261 §21.5.4 for the 503 reason),
 * and the drain settles while those BYEs and CANCELs are unanswered.
 */
import type { Logger } from 'pino';
import type { ClientTransaction } from '../transaction/ClientTransaction.js';
import type { SipResponse } from '../wire/message.js';
import type { CallEnder } from './CallEnder.js';
import type { Dialog } from './Dialog.js';
import type { DialogTable } from './DialogTable.js';
import type { DrainCalls } from './Drain.js';
import type { Forwarder, ResponseContext } from './Forwarder.js';

export interface SipDrainCallsDeps {
  log: Logger | undefined;
  dialogs: DialogTable;
  forwarder: Forwarder;
  ender: CallEnder;
  clientTx: Map<string, ClientTransaction<SipResponse>>;
}

export class SipDrainCalls implements DrainCalls {
  constructor(private readonly deps: SipDrainCallsDeps) {}

  count(): number {
    return this.answeredCalls().length + this.ringingCalls().length;
  }

  async endAll(): Promise<number> {
    const answered = this.answeredCalls();
    const ringing = this.ringingCalls();
    if (answered.length + ringing.length > 0) {
      this.deps.log?.info({ answered: answered.length, ringing: ringing.length }, 'drain deadline: ending the calls still up');
    }
    for (const ctx of ringing) this.deps.forwarder.cancelPending(ctx);
    await Promise.all(answered.map((dialog) => this.deps.ender.endCall(dialog, 'SIP;cause=503;text="shutting down"')));
    return answered.length + ringing.length;
  }

  settling(): boolean {
    return this.ringingCalls().length > 0 || this.byesOrCancelsUnanswered();
  }

  /** A BYE or CANCEL still waiting for its final response. */
  private byesOrCancelsUnanswered(): boolean {
    for (const [key, tx] of this.deps.clientTx) {
      if ((key.endsWith('|BYE') || key.endsWith('|CANCEL')) && (tx.state === 'trying' || tx.state === 'proceeding')) return true;
    }
    return false;
  }

  private answeredCalls(): Dialog[] {
    return this.deps.dialogs.live().filter((d) => d.state === 'confirmed');
  }

  /** Initial INVITEs without a final answer yet. */
  private ringingCalls(): ResponseContext[] {
    return [...this.deps.forwarder.contexts.values()].filter((ctx) => ctx.initial && !ctx.answered);
  }
}
