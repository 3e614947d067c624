/**
 * The o= session version of the SDPs pinlatch sends in one direction of one session. RFC 3264 §8:
 * a changed description carries the previous version plus one; an unchanged one (a retransmitted
 * or re-sent offer/answer) keeps the version, or the receiver treats it as a new offer. Because
 * the relay rewrites the SDP, what counts is whether the relay's own output changed — not the
 * endpoint's input (its port may change while the relay's stays put).
 */
export class SdpVersionState {
  #lastBody: string | null = null;
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
    if (this.#version === null) {
      this.#version = inputVersion;
    } else if (force || body !== this.#lastBody) {
      this.#version += 1n;
    }
    this.#lastBody = body;
    return this.#version;
  }
}
