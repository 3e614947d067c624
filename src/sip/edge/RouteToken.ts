/**
 * The signed token in pinlatch's own Record-Route URI (`;plt=`).
 *
 * An in-dialog request is forwarded only along a route pinlatch itself put into that dialog
 * (RFC 3261 §16.12: the Route set is the record-route set it built). Without a signature, anyone
 * could write `Route: <sip:pinlatch;lr>` above a Request-URI of their choice and use the proxy to
 * reach any host; with it, the Route must carry a token that only this proxy can make, bound to
 * the dialog's Call-ID and to the pin parameter beside it (so neither can be swapped).
 *
 * HMAC-SHA256, truncated to 96 bits: long enough that guessing is hopeless at any packet rate,
 * short enough for the URI. Written as 24 lowercase hex digits, read in either case: a URI
 * parameter's value compares case-insensitively (RFC 3261 §19.1.4), so a hop may change its case,
 * and a mixed-case alphabet can spell a header name inside the header (sipp's CSeq lookup is a
 * search for "CSeq" anywhere in the message: a token with those four letters made it abort the
 * call, about once per million). The 16-character base64url form of the same 96 bits, which
 * earlier versions wrote, still verifies. The key comes from the configuration (so dialogs
 * survive a restart) or is drawn at start.
 *
 * Each HMAC costs some microseconds of the main thread (a new Hmac object and key schedule per
 * call of node:crypto), and a call needs one to sign its Record-Route and one per in-dialog
 * request (ACK, BYE, ...). So the tokens signed or verified lately are remembered with the
 * Call-ID and pin they are valid for, and a request presenting one of them for the same Call-ID
 * and pin is valid without computing the HMAC again: the same answer the HMAC would give, since
 * only a token this proxy made or accepted is remembered. A hit reveals nothing an attacker can
 * use (it needs the exact valid token); any other token goes through the HMAC and a
 * constant-time comparison as before. The memory is bounded (RECENT_TOKENS, the oldest
 * forgotten first): a long call's BYE usually finds its token forgotten and pays one HMAC.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

export const ROUTE_TOKEN_PARAM = 'plt';
const TOKEN_BYTES = 12;
/** The token as written: hex. */
const TOKEN_CHARS = TOKEN_BYTES * 2;
/** The base64url form written before: verified, never written. */
const LEGACY_TOKEN_CHARS = 16;
/** Tokens remembered: some seconds of calls at hundreds per second (about 100 bytes each). */
const RECENT_TOKENS = 4096;

export class RouteTokens {
  private readonly key: Buffer;
  /** Recently signed or verified tokens → the `callId\0pin` they are valid for. */
  private readonly recent = new Map<string, string>();
  /**
   * The remembered tokens in the order they came, a ring of RECENT_TOKENS: the one to forget is
   * the slot about to be reused. (Forgetting a Map's first key instead walks past every entry
   * deleted before it, which V8 keeps until the table is rebuilt: thousands of steps per call.)
   */
  private readonly order: Array<string | undefined> = new Array(RECENT_TOKENS).fill(undefined);
  private next = 0;

  constructor(key?: string | Buffer) {
    this.key = key === undefined ? randomBytes(32) : Buffer.from(key);
  }

  private mac(signed: string): Buffer {
    return createHmac('sha256', this.key).update(signed).digest().subarray(0, TOKEN_BYTES);
  }

  private remember(token: string, signed: string): void {
    // A token is in the ring once while it is remembered (a token is made from its Call-ID and
    // pin alone, so signing again gives one already there): it is forgotten RECENT_TOKENS
    // remembered tokens after it first came.
    if (this.recent.has(token)) return;
    const oldest = this.order[this.next];
    if (oldest !== undefined) this.recent.delete(oldest);
    this.order[this.next] = token;
    this.next = (this.next + 1) % RECENT_TOKENS;
    this.recent.set(token, signed);
  }

  /** The token for a Record-Route written into the dialog `callId`, with pin parameter `pin`. */
  sign(callId: string, pin: string | null): string {
    const signed = `${callId}\0${pin ?? ''}`;
    const token = this.mac(signed).toString('hex');
    this.remember(token, signed);
    return token;
  }

  /** True when `token` is what sign(callId, pin) gives; constant time in the token's bytes. */
  verify(token: string, callId: string, pin: string | null): boolean {
    const signed = `${callId}\0${pin ?? ''}`;
    if (this.recent.get(token) === signed) return true;
    // Buffer.from stops at the first character that is not of the encoding: such a token comes
    // out short and is refused by its length.
    const given =
      token.length === TOKEN_CHARS ? Buffer.from(token, 'hex') : token.length === LEGACY_TOKEN_CHARS ? Buffer.from(token, 'base64url') : null;
    if (given === null) return false;
    if (given.length !== TOKEN_BYTES || !timingSafeEqual(given, this.mac(signed))) return false;
    this.remember(token, signed);
    return true;
  }
}
