/**
 * The proxy's dialogs, found by Call-ID and tag (RFC 3261 §12: a dialog is Call-ID + both tags),
 * and the dialog that owns each media session.
 *
 * Every dialog is entered once per tag it is known by: the caller's tag from the INVITE on, the
 * callee's once a response carries it. The early dialogs of a forked INVITE share the caller's
 * tag, so the caller-tag entry names one of them (the first, then the one whose 2xx won) and a
 * request from the caller is matched on the callee's tag in its To first.
 *
 * A spiral (Dialog.spiral) makes dialogs with the same Call-ID and tags: each pass is entered
 * under its own number, which in-dialog requests carry in pinlatch's Record-Route (`sp`).
 */
import { ownedString } from '../transaction/owned.js';
import type { Dialog } from './Dialog.js';

export interface DialogTags {
  callId?: string;
  from?: { tag?: string };
  to?: { tag?: string };
}

function tagKey(callId: string, spiral: number, tag: string | undefined): string {
  return spiral === 0 ? `${callId}|${tag}` : `${callId}|${tag}|s${spiral}`;
}

export class DialogTable {
  /**
   * Ended dialogs waiting to leave the table, oldest first, with the performance.now() at which
   * each goes. Every one waits the same time (Timer J), so they go in the order they came: one
   * timer for all of them, where a timer per dialog would cost a Timeout and a closure each
   * (thousands of them after a busy minute). Bounded as the table is: a dialog ends once.
   */
  readonly #ending: Array<{ dialog: Dialog; at: number } | undefined> = [];
  #endingHead = 0;
  #endingTimer: NodeJS.Timeout | undefined;
  /** The ended dialogs among `entries`: they wait in `#ending`, and limits.dialogs does not count them. */
  readonly #ended = new Set<Dialog>();
  private readonly byTag = new Map<string, Dialog>();
  private readonly byMedia = new Map<string, Dialog>();
  /** Entries per dialog in byTag, so that `size` counts dialogs, not tags. */
  private readonly entries = new Map<Dialog, number>();

  /** Dialogs with at least one entry. */
  get size(): number {
    return this.entries.size;
  }

  /**
   * The dialogs in the table that have not ended: what limits.dialogs bounds. An ended one stays
   * for Timer J so that a retransmitted BYE still finds it, and at a few hundred calls per second
   * those outnumber the calls up; they count toward the calls that made them, not the bound.
   */
  get active(): number {
    return this.entries.size - this.#ended.size;
  }

  /** The dialog of an in-dialog request (or of an ACK), from its Call-ID, tags and spiral pass. */
  find(request: DialogTags, spiral = 0): Dialog | undefined {
    const callId = request.callId;
    if (!callId) return undefined;
    const fromTag = request.from?.tag;
    const toTag = request.to?.tag;
    const byTo = this.byTag.get(tagKey(callId, spiral, toTag));
    if (byTo && byTo.caller.tag === fromTag && byTo.callee.tag === toTag) return byTo;
    return this.byTag.get(tagKey(callId, spiral, fromTag)) ?? byTo;
  }

  /** Enters `dialog` under one of its tags (replacing what was there: the winner of a fork). */
  add(dialog: Dialog, tag: string | undefined): void {
    dialog.ownStrings();
    const key = ownedString(tagKey(dialog.callId, dialog.spiral, tag));
    const replaced = this.byTag.get(key);
    if (replaced === dialog) return;
    if (replaced) this.#release(replaced);
    this.byTag.set(key, dialog);
    this.entries.set(dialog, (this.entries.get(dialog) ?? 0) + 1);
  }

  #release(dialog: Dialog): void {
    const left = (this.entries.get(dialog) ?? 1) - 1;
    if (left > 0) {
      this.entries.set(dialog, left);
    } else {
      this.entries.delete(dialog);
      this.#ended.delete(dialog);
    }
  }

  /** Removes the entry under `tag` if it is this dialog's. */
  remove(dialog: Dialog, tag: string | undefined): void {
    const key = tagKey(dialog.callId, dialog.spiral, tag);
    if (this.byTag.get(key) === dialog) {
      this.byTag.delete(key);
      this.#release(dialog);
    }
  }

  /** Both of the dialog's entries. */
  removeAll(dialog: Dialog): void {
    this.remove(dialog, dialog.caller.tag);
    this.remove(dialog, dialog.callee.tag);
  }

  /** `dialog` leaves the table (removeAll) `afterMs` from now. */
  expireLater(dialog: Dialog, afterMs: number, now = performance.now()): void {
    if (this.entries.has(dialog)) this.#ended.add(dialog);
    this.#ending.push({ dialog, at: now + afterMs });
    if (this.#endingTimer === undefined) this.#armEnding(afterMs);
  }

  /** Ended dialogs still waiting to leave. */
  get ending(): number {
    return this.#ending.length - this.#endingHead;
  }

  #armEnding(ms: number): void {
    this.#endingTimer = setTimeout(() => this.#expire(performance.now()), Math.max(0, ms)).unref();
  }

  #expire(now: number): void {
    this.#endingTimer = undefined;
    const queue = this.#ending;
    while (this.#endingHead < queue.length && queue[this.#endingHead]!.at <= now) {
      this.removeAll(queue[this.#endingHead]!.dialog);
      queue[this.#endingHead] = undefined;
      this.#endingHead += 1;
    }
    // The slots already gone are dropped once they are most of the array.
    if (this.#endingHead > 1024 && this.#endingHead * 2 > queue.length) {
      queue.splice(0, this.#endingHead);
      this.#endingHead = 0;
    }
    if (this.#endingHead === queue.length) {
      queue.length = 0;
      this.#endingHead = 0;
      return;
    }
    this.#armEnding(queue[this.#endingHead]!.at - now);
  }

  /** The expiry timer stops (the proxy stops); the dialogs waiting stay in the table. */
  stopExpiry(): void {
    clearTimeout(this.#endingTimer);
    this.#endingTimer = undefined;
  }

  /** Every dialog not terminated, once each. */
  live(): Dialog[] {
    const out = new Set<Dialog>();
    for (const dialog of this.byTag.values()) if (dialog.state !== 'terminated') out.add(dialog);
    return [...out];
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
    dialog.ownStrings();
    this.byMedia.set(dialog.mediaKey === mediaKey ? dialog.mediaKey : ownedString(mediaKey), dialog);
  }

  disown(mediaKey: string): void {
    this.byMedia.delete(mediaKey);
  }
}
