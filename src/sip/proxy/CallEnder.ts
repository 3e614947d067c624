/**
 * The end of a dialog and of its call: the dialog leaves the table (after Timer J's time, so that
 * retransmitted BYE and ACK still find their way) and its media session is released; a call the
 * proxy ends itself (media timeout or loss, drain, a 2xx it cannot pass on) gets a BYE of the
 * proxy's own toward each side (§15.1.1) with a Reason (RFC 3326).
 */
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { MediaRelayApi } from '../../media/api.js';
import type { TransactionTimers } from '../transaction/timers.js';
import type { Endpoint, ListenPoint } from '../transport/SipTransport.js';
import { Dialog, type DialogSide } from './Dialog.js';
import type { DialogTable } from './DialogTable.js';
import { BRANCH_PREFIX } from './identifiers.js';
import type { InDialogRouter } from './InDialogRouter.js';
import { byeOf } from './OwnRequests.js';
import type { OwnAddresses } from './OwnAddresses.js';
import type { OwnRequestSender } from './OwnRequestSender.js';
import { routeToStrictRouter } from './StrictRoute.js';

export interface CallEnderDeps {
  log: Logger | undefined;
  timers: TransactionTimers;
  dialogs: DialogTable;
  media: MediaRelayApi;
  own: OwnAddresses;
  inDialog: InDialogRouter;
  ownRequests: OwnRequestSender;
}

export class CallEnder {
  constructor(private readonly deps: CallEnderDeps) {}

  async endDialog(dialog: Dialog): Promise<void> {
    if (dialog.state === 'terminated') return;
    const mediaKey = dialog.mediaKey;
    dialog.terminate();
    this.deps.log?.debug({ callId: dialog.callId}, 'dialog ended');
    // Keep the entries a little so that retransmitted BYE/ACK still find their way (Timer J).
    this.deps.dialogs.expireLater(dialog, this.deps.timers.timeout);
    if (mediaKey) {
      this.deps.dialogs.disown(mediaKey);
      await this.deps.media.release(mediaKey).catch((err: unknown) => this.deps.log?.warn({ err, callId: dialog.callId }, 'media release failed'));
    }
  }

  /** BYE toward both sides with `reason` (RFC 3326), then the dialog and its media end. */
  async endCall(dialog: Dialog, reason: string): Promise<void> {
    await Promise.all((['caller', 'callee'] as const).map((side) => this.sendBye(dialog, side, reason)));
    await this.endDialog(dialog);
  }

  /**
   * A BYE of the proxy's own toward one side, as if the other side had sent it (§15.1.1), with a
   * Reason (RFC 3326) saying why; `to` overrides the destination the dialog gives.
   */
  async sendBye(dialog: Dialog, toward: DialogSide, reason: string, to?: Endpoint): Promise<void> {
    const target = dialog.peer(toward);
    const sender = dialog.peer(Dialog.other(toward));
    if (!target.target) return;
    sender.cseq += 1;
    const bye = byeOf({ callId: dialog.callId, target: target.target, from: sender.nameAddr, to: target.nameAddr, cseq: sender.cseq, reason });
    for (const route of target.routeSet) bye.append('Route', route);
    const branch = `${BRANCH_PREFIX}${randomBytes(8).toString('hex')}`;
    let destination: Endpoint;
    let local: ListenPoint;
    try {
      destination = to ?? (await this.deps.inDialog.destinationToward(target, bye));
      // §16.6 step 6 / §12.2.1.1: a strict router first in the route set gets the Request-URI form it needs.
      routeToStrictRouter(bye);
      local = this.deps.own.localFor(destination, target.local);
      bye.prepend('Via', this.deps.own.viaFor(destination, branch, local).toString());
    } catch (err) {
      this.deps.log?.info({ err, callId: dialog.callId, toward, reason }, 'BYE not sent');
      return;
    }
    this.deps.ownRequests.sendOwnRequest(`${branch}|BYE`, 'BYE', bye, destination, undefined, local);
  }}
