/**
 * The light view of an SDP body that parseSdp builds in one scan: its lines as written, what each
 * line is to anchoring, and the few fields describing needs. Anchoring copies every line it has no
 * reason to change verbatim, so nothing else of the body is parsed.
 */
import type { MediaDirection } from './describe.js';

/** What a line is to anchoring (RFC 8866 §5 line types; attributes by name, §5.13). */
export const LineKind = {
  /** Copied verbatim. */
  other: 0,
  /** o= (§5.2): its version and, on request, its address are rewritten. */
  origin: 1,
  /** s= (§5.3): replaced on request. */
  name: 2,
  /** c= (§5.7): always the relay address. */
  connection: 3,
  /** m= (§5.14): the port becomes the relay's. */
  media: 4,
  /** a=rtcp (RFC 3605). */
  rtcp: 5,
  /** a=rtcp-mux (RFC 5761) or a=rtcp-mux-only (RFC 8858). */
  rtcpMux: 6,
  /** a=sendrecv, a=sendonly, a=recvonly, a=inactive (RFC 3264 §5.1). */
  direction: 7,
  /** An ICE attribute (RFC 8839), removed unless the plan keeps ICE. */
  ice: 8,
} as const;
export type LineKind = (typeof LineKind)[keyof typeof LineKind];

export interface ConnectionView {
  readonly ipVersion: 4 | 6;
  /** The address as written (may be a host name or carry a multicast TTL). */
  readonly address: string;
}

export interface RtcpView {
  readonly port: number;
  /** Address of the long form (`a=rtcp:<port> IN IP4 <address>`), or null for the short form. */
  readonly address: string | null;
}

export interface MediaView {
  /** Index in SdpView.lines of the m= line. */
  readonly line: number;
  /** Index in SdpView.lines one past the last line of this media description. */
  readonly end: number;
  readonly type: string;
  readonly port: number;
  /** Offset in the m= line just after the port: the rest of the line (proto and formats) is kept. */
  readonly portEnd: number;
  readonly proto: string;
  readonly formats: string;
  /** The last media-level c= line (a later one replaces an earlier one, as sdp-transform read them). */
  readonly connection: ConnectionView | null;
  /** The last a=rtcp line. */
  readonly rtcp: RtcpView | null;
  readonly rtcpMux: boolean;
  /** The last direction attribute of the media description. */
  readonly direction: MediaDirection | null;
  /** A candidate or ICE credentials at media level. */
  readonly ice: boolean;
}

export interface OriginView {
  readonly line: number;
  readonly username: string;
  readonly sessionId: string;
  /** Decimal text: versions can exceed 2^53 (RFC 8866 §5.2 only asks for a 64-bit-ish number). */
  readonly sessionVersion: string;
  readonly address: string;
  readonly ipVersion: 4 | 6;
}

export interface SdpView {
  /** The non-empty lines of the body, in order, without their line ends. */
  readonly lines: readonly string[];
  /** LineKind of each line of `lines`. */
  readonly kinds: Uint8Array;
  readonly origin: OriginView;
  /** Value of the last s= line, or null when the body has none. */
  readonly sessionName: string | null;
  readonly connection: ConnectionView | null;
  readonly direction: MediaDirection | null;
  /** ICE credentials or ice-lite at session level. */
  readonly ice: boolean;
  readonly media: readonly MediaView[];
}
