/** What signalling needs to know about each stream of an SDP, without changing it. */
import { isIP } from 'node:net';
import { parseSdp } from './parse.js';
import type { MediaView, SdpView } from './view.js';

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

export function isZeroAddress(address: string): boolean {
  return address === '0.0.0.0' || (isIP(address) === 6 && /^[0:]+$/.test(address));
}

function describeMedia(view: SdpView, m: MediaView, index: number): SdpMediaInfo {
  const c = m.connection ?? view.connection;
  const address = c === null ? null : c.address;
  const zeroAddress = address !== null && isZeroAddress(address);
  const direction = m.direction ?? view.direction ?? 'sendrecv';
  return {
    index,
    type: m.type,
    port: m.port,
    rejected: m.port === 0,
    proto: m.proto,
    formats: m.formats,
    address,
    ipVersion: c === null ? null : c.ipVersion,
    peerAddress: address !== null && !zeroAddress && isIP(address) !== 0 ? address : null,
    rtcpPort: m.rtcp === null ? null : m.rtcp.port,
    rtcpAddress: m.rtcp === null ? null : m.rtcp.address,
    rtcpMux: m.rtcpMux,
    direction,
    zeroAddress,
    hold: zeroAddress || direction === 'sendonly' || direction === 'inactive',
    ice: m.ice || view.ice,
  };
}

export function describeParsed(view: SdpView): SdpInfo {
  const o = view.origin;
  return {
    origin: { username: o.username, sessionId: o.sessionId, sessionVersion: o.sessionVersion, address: o.address, ipVersion: o.ipVersion },
    sessionName: view.sessionName ?? '',
    media: view.media.map((m, i) => describeMedia(view, m, i)),
  };
}

/** Describes every m-line of an SDP body; throws SdpError when the body is malformed. */
export function describeSdp(text: string): SdpInfo {
  return describeParsed(parseSdp(text));
}
