/**
 * The proxy's dialogs, found by Call-ID and tag (RFC 3261 §12: a dialog is Call-ID + both tags),
 * and the dialog that owns each media session.
 *
 * Every dialog is entered once per tag it is known by: the caller's tag from the INVITE on, the
 * callee's once a response carries it. The early dialogs of a forked INVITE share the caller's
 * tag, so the caller-tag entry names one of them (the first, then the one whose 2xx won) and a
 * request from the caller is matched on the callee's tag in its To first.
 */
import type { Dialog } from './Dialog.js';

export interface DialogTags {
  callId?: string;
  from?: { tag?: string };
  to?: { tag?: string };
}

export class DialogTable {
  private readonly byTag = new Map<string, Dialog>();
  private readonly byMedia = new Map<string, Dialog>();

  /** The dialog of an in-dialog request (or of an ACK), from its Call-ID and tags. */
  find(request: DialogTags): Dialog | undefined {
    const callId = request.callId;
    if (!callId) return undefined;
    const fromTag = request.from?.tag;
    const toTag = request.to?.tag;
    const byTo = this.byTag.get(`${callId}|${toTag}`);
    if (byTo && byTo.caller.tag === fromTag && byTo.callee.tag === toTag) return byTo;
    return this.byTag.get(`${callId}|${fromTag}`) ?? byTo;
  }

  /** Enters `dialog` under one of its tags (replacing what was there: the winner of a fork). */
  add(dialog: Dialog, tag: string | undefined): void {
    this.byTag.set(`${dialog.callId}|${tag}`, dialog);
  }

  /** Removes the entry under `tag` if it is this dialog's. */
  remove(dialog: Dialog, tag: string | undefined): void {
    const key = `${dialog.callId}|${tag}`;
    if (this.byTag.get(key) === dialog) this.byTag.delete(key);
  }

  /** Both of the dialog's entries. */
  removeAll(dialog: Dialog): void {
    this.remove(dialog, dialog.caller.tag);
    this.remove(dialog, dialog.callee.tag);
  }

  /** Dialogs in the table (each is entered under up to two tags, counted once). */
  get size(): number {
    return new Set(this.byTag.values()).size;
  }

  /** The dialog a media session's events (timeout) concern. */
  ownerOf(mediaKey: string): Dialog | undefined {
    return this.byMedia.get(mediaKey);
  }

  /**
   * Makes `dialog` the owner of its media session; `unlessOwned` keeps an owner that is not
   * terminated (the early dialog of a failed-over branch hands the session on).
   */
  own(mediaKey: string, dialog: Dialog, unlessOwned = false): void {
    if (unlessOwned && (this.byMedia.get(mediaKey)?.state ?? 'terminated') !== 'terminated') return;
    this.byMedia.set(mediaKey, dialog);
  }

  disown(mediaKey: string): void {
    this.byMedia.delete(mediaKey);
  }
}
