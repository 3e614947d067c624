/**
 * The relay serves one IP family: every stream of a MediaRelay is bound on media.address, and an
 * IPv6 socket of the relay never accepts IPv4(-mapped) peers (native/src/udp_socket.cc). An SDP
 * whose active streams name an address of the other family cannot be anchored — the relay could
 * neither receive from nor send to that peer — so it is refused before any media is set up.
 */
import { isIP } from 'node:net';
import type { SdpInfo } from './describe.js';

/** An SDP with media of another IP family than the relay's (RFC 3261 §20.43 warn-code 301). */
export class MediaFamilyError extends Error {
  readonly code = 'ERR_PINLATCH_MEDIA_FAMILY' as const;
  /** Positions of the m-lines whose c= address is of the other family. */
  readonly streams: readonly number[];
  readonly relayFamily: 4 | 6;

  constructor(streams: readonly number[], relayFamily: 4 | 6) {
    const other = relayFamily === 4 ? 6 : 4;
    super(`IPv${other} media in m-line(s) ${streams.join(', ')}; the media relay serves IPv${relayFamily} only`);
    this.name = 'MediaFamilyError';
    this.streams = streams;
    this.relayFamily = relayFamily;
  }

  /** A Warning header value (RFC 3261 §20.43): 301 "Incompatible network address formats". */
  warning(agent: string): string {
    return `301 ${agent} "Incompatible network address formats: ${this.message}"`;
  }
}

/** The IP family of the relay's address, checked once (not per SDP). */
export function relayFamilyOf(relayAddress: string): 4 | 6 {
  const family = isIP(relayAddress);
  if (family !== 4 && family !== 6) throw new RangeError(`relay address ${relayAddress} is not an IP literal`);
  return family;
}

/**
 * Throws MediaFamilyError when an active (non-rejected) stream of `info` has a connection address
 * of another family than the relay's. Streams without c= (none at session level either) pass.
 */
export function checkMediaFamily(info: SdpInfo, relayFamily: 4 | 6): void {
  const foreign = info.media.filter((m) => !m.rejected && m.ipVersion !== null && m.ipVersion !== relayFamily).map((m) => m.index);
  if (foreign.length > 0) throw new MediaFamilyError(foreign, relayFamily);
}
