/**
 * The signed token in pinlatch's own Record-Route URI (`;plt=`).
 *
 * An in-dialog request is forwarded only along a route pinlatch itself put into that dialog
 * (RFC 3261 §16.12: the Route set is the record-route set it built). Without a signature, anyone
 * could write `Route: <sip:pinlatch;lr>` above a Request-URI of their choice and use the proxy to
 * reach any host; with it, the Route must carry a token that only this proxy can make, bound to
 * the dialog's Call-ID and to the pin parameter beside it (so neither can be swapped).
 *
 * HMAC-SHA256, truncated to 96 bits (base64url, 16 characters): long enough that guessing is
 * hopeless at any packet rate, short enough for the URI. The key comes from the configuration
 * (so dialogs survive a restart) or is drawn at start.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

export const ROUTE_TOKEN_PARAM = 'plt';
const TOKEN_BYTES = 12;

export class RouteTokens {
  private readonly key: Buffer;

  constructor(key?: string | Buffer) {
    this.key = key === undefined ? randomBytes(32) : Buffer.from(key);
  }

  private mac(callId: string, pin: string | null): Buffer {
    return createHmac('sha256', this.key).update(`${callId}\0${pin ?? ''}`).digest().subarray(0, TOKEN_BYTES);
  }

  /** The token for a Record-Route written into the dialog `callId`, with pin parameter `pin`. */
  sign(callId: string, pin: string | null): string {
    return this.mac(callId, pin).toString('base64url');
  }

  /** True when `token` is what sign(callId, pin) gives; constant time in the token's bytes. */
  verify(token: string, callId: string, pin: string | null): boolean {
    const given = Buffer.from(token, 'base64url');
    return given.length === TOKEN_BYTES && timingSafeEqual(given, this.mac(callId, pin));
  }
}
