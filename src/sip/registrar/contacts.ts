/**
 * Rewrites the Contact entries of a REGISTER or of its answer in place: the expiries throttling
 * changes, and the flow a Contact carries for registrars without Path.
 */
import type { NameAddr } from '../wire/headers/nameAddr.js';
import type { SipMessage, SipResponse } from '../wire/message.js';
import { unalias } from './ContactAlias.js';

/** `change` edits a copy of each Contact and returns false to leave that one as it was. */
export function rewriteContacts(message: SipMessage, change: (copy: NameAddr) => boolean): void {
  let changed = false;
  const values = message.contacts.map((c) => {
    const copy = c.clone();
    if (!change(copy)) return c.toString();
    changed = true;
    return copy.toString();
  });
  if (changed) message.set('Contact', values.join(', '));
}

/** The registrar's answer lists the aliased Contacts: the phone gets its own back. */
export function restoreContacts(response: SipResponse): void {
  rewriteContacts(response, (c) => {
    const original = unalias(c.uri)?.original;
    if (original) c.uri = original;
    return original !== undefined;
  });
}
