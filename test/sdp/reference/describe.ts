// Reference model: src/sdp/describe.ts as it was before src/sdp scanned lines itself (commit 00b4a2b),
// a full sdp-transform parse and write. Kept for test/sdp/reference.test.ts (the line-copying
// implementation must agree with it) and bench/micro/sdp-rewrite.ts (the before/after figures).
/** What signalling needs to know about each stream of an SDP, without changing it. */
import { isIP } from 'node:net';
import type { MediaDescription, SessionDescription } from 'sdp-transform';
import { connectionOf, parseSdp } from './parse.ts';

export type MediaDirection = 'sendrecv' | 'sendonly' | 'recvonly' | 'inactive';

export interface SdpMediaInfo {
  /** Position of the m-line (0-based); the media plane's stream index. */
  readonly index: number;
  /** audio, video, image, application, text... */
  readonly type: string;
  /** RTP port from the m= line; 0 means the stream is rejected or disabled (RFC 3264 §6, §8.2). */
  readonly port: number;
  readonly rejected: boolean;
  /** Transport protocol, e.g. RTP/AVP, RTP/SAVPF, UDP/TLS/RTP/SAVPF, udptl. */
  readonly proto: string;
  /** Format list as written on the m= line. */
  readonly formats: string;
  /** Connection address as written (media-level c= over session-level), or null when there is none. */
  readonly address: string | null;
  readonly ipVersion: 4 | 6 | null;
  /**
   * The address media can be sent to: an IP literal that is not 0.0.0.0 / ::, or null (no c=,
   * hold address, or a host name). This is LegHint.sdpAddress.
   */
  readonly peerAddress: string | null;
  /** Port from a=rtcp (RFC 3605), or null when absent (RTCP then uses port + 1). */
  readonly rtcpPort: number | null;
  /** Address from a=rtcp, or null when absent. */
  readonly rtcpAddress: string | null;
  /** a=rtcp-mux present (RFC 5761). */
  readonly rtcpMux: boolean;
  /** Media-level attribute over session-level; sendrecv when neither is present (RFC 3264 §5.1). */
  readonly direction: MediaDirection;
  /** c= is 0.0.0.0 (or ::), the RFC 2543 way of putting a stream on hold (RFC 3264 §8.4). */
  readonly zeroAddress: boolean;
  /** The sender of this SDP holds the stream: zero address, sendonly or inactive. */
  readonly hold: boolean;
  /** ICE attributes present for this stream (candidates or credentials, media or session level). */
  readonly ice: boolean;
}

export interface SdpInfo {
  readonly origin: {
    readonly username: string;
    readonly sessionId: string;
    /** Decimal text: versions can exceed 2^53 (RFC 8866 §5.2 only asks for a 64-bit-ish number). */
    readonly sessionVersion: string;
    readonly address: string;
    readonly ipVersion: 4 | 6;
  };
  readonly sessionName: string;
  readonly media: readonly SdpMediaInfo[];
}

const DIRECTIONS = new Set<string>(['sendrecv', 'sendonly', 'recvonly', 'inactive']);

export function isZeroAddress(address: string): boolean {
  return address === '0.0.0.0' || (isIP(address) === 6 && /^[0:]+$/.test(address));
}

function directionOf(session: SessionDescription, media: MediaDescription): MediaDirection {
  const d = media.direction ?? session.direction;
  return d !== undefined && DIRECTIONS.has(d) ? d : 'sendrecv';
}

function hasIce(session: SessionDescription, media: MediaDescription): boolean {
  return (
    (media.candidates?.length ?? 0) > 0 ||
    media.iceUfrag !== undefined ||
    media.icePwd !== undefined ||
    session.iceUfrag !== undefined ||
    session.icePwd !== undefined ||
    session.icelite !== undefined
  );
}

export function describeParsed(session: SessionDescription): SdpInfo {
  const media = session.media.map((m, index): SdpMediaInfo => {
    const c = connectionOf(session, m);
    const address = c === undefined ? null : String(c.ip);
    const zeroAddress = address !== null && isZeroAddress(address);
    const direction = directionOf(session, m);
    return {
      index,
      type: m.type,
      port: m.port,
      rejected: m.port === 0,
      proto: m.protocol,
      formats: m.payloads === undefined ? '' : String(m.payloads),
      address,
      ipVersion: c === undefined ? null : (c.version as 4 | 6),
      peerAddress: address !== null && !zeroAddress && isIP(address) !== 0 ? address : null,
      rtcpPort: m.rtcp === undefined ? null : m.rtcp.port,
      rtcpAddress: m.rtcp?.address ?? null,
      rtcpMux: m.rtcpMux !== undefined,
      direction,
      zeroAddress,
      hold: zeroAddress || direction === 'sendonly' || direction === 'inactive',
      ice: hasIce(session, m),
    };
  });
  const o = session.origin;
  return {
    origin: {
      username: String(o.username),
      sessionId: String(o.sessionId),
      sessionVersion: String(o.sessionVersion),
      address: String(o.address),
      ipVersion: o.ipVer as 4 | 6,
    },
    sessionName: session.name === undefined ? '' : String(session.name),
    media,
  };
}

/** Describes every m-line of an SDP body; throws SdpError when the body is malformed. */
export function describeSdp(text: string): SdpInfo {
  return describeParsed(parseSdp(text));
}
