/**
 * Reading a message's first Contact (the remote target, §12.1) without letting a malformed
 * header field stop the message: a field that does not parse reads as absent.
 */
import type { SipMessage } from '../wire/message.js';
import type { SipUri } from '../wire/uri.js';

/** The value `read` returns, or undefined when it throws (a header field that does not parse). */
export function safe<T>(read: () => T): T | undefined {
  try {
    return read();
  } catch {
    return undefined;
  }
}

export function firstContact(message: SipMessage): SipUri | undefined {
  const contact = safe(() => message.contact);
  if (!contact || contact.star) return undefined;
  const uri = contact.contacts[0]?.uri;
  return uri?.kind === 'sip' ? uri : undefined;
}

export function hostOf(uri: SipUri): { host: string; port: number | null } {
  return { host: uri.host, port: uri.port ?? null };
}
