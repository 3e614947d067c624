/**
 * The o= session version of the SDPs pinlatch sends in one direction of one session. RFC 3264 §8:
 * a changed description carries the previous version plus one; an unchanged one (a retransmitted
 * or re-sent offer/answer) keeps the version, or the receiver treats it as a new offer. Because
 * the relay rewrites the SDP, what counts is whether the relay's own output changed — not the
 * endpoint's input (its port may change while the relay's stays put).
 *
 * The last output is kept as its SHA-1 digest (20 bytes), not as text: every call in progress
 * holds one per direction, and an SDP is a few hundred bytes. SHA-1 rather than a fast
 * non-cryptographic hash because the text is the endpoints' (hostile) input: a body made to
 * collide with the previous one would go out under the same version and be ignored. The one-shot
 * crypto.hash costs about half a microsecond per SDP, createHash twice that, since it builds a
 * Hash object first (bench/micro/sdp-version-hash.ts).
 */
import { hash } from 'node:crypto';

function digestOf(body: string): string {
  return hash('sha1', body, 'binary');
}

export class SdpVersionState {
  #lastDigest: string | null = null;
  #version: bigint | null = null;

  /** Version last written, or null before the first SDP. */
  get version(): bigint | null {
    return this.#version;
  }

  /**
   * Version to write for an output whose text with the version blanked is `body`. The first
   * output keeps the endpoint's version; later ones add one when the body differs (or when
   * `force`, rtpengine's force-increment-sdp-ver).
   */
  next(body: string, inputVersion: bigint, force = false): bigint {
    const digest = digestOf(body);
    if (this.#version === null) {
      this.#version = inputVersion;
    } else if (force || digest !== this.#lastDigest) {
      this.#version += 1n;
    }
    this.#lastDigest = digest;
    return this.#version;
  }
}
