/**
 * The typed main-thread API of the media plane. The SIP proxy (src/sip/) and the NG control
 * protocol (src/control/) are its two clients; both see the same session table.
 *
 * A media session belongs to one call and holds one relay stream per SDP m-line. Each stream has
 * two legs: A faces the offerer (the caller), B faces the answerer. Packets received on A's
 * sockets leave through B's sockets toward B's latched peer, and the other way round.
 */
import type { LegCounters, LatchMode } from '../native.js';

export type LegName = 'a' | 'b';

/**
 * Restricted latching (docs/latching.md): besides the address a leg's rule rests on (its SDP
 * address or its signalling source), which sources may latch it. For a NAT that sends media from
 * another public address than its signalling (several WAN links, an address pool), or a
 * multi-homed phone whose RTP leaves from another local address. The default (32, 128, none) is
 * the address alone.
 */
export interface LatchRestriction {
  /** Leading bits of an IPv4 rule address a source must share, 0..32 (32: the address alone). */
  prefixV4: number;
  /** Leading bits of an IPv6 rule address a source must share, 0..128 (128: the address alone). */
  prefixV6: number;
  /** CIDR prefixes whose sources may latch as well (those of the relay's family apply); at most 16. */
  networks: readonly string[];
  /** Where the rule is configured (a key path such as `trunks[gateway].latching`), for logs. */
  origin?: string;
}

/** What signalling tells the media plane about one leg's peer. */
export interface LegHint {
  /** Address from the SDP (c= line), or null when the SDP has none usable (e.g. 0.0.0.0 hold). */
  sdpAddress: string | null;
  /** RTP port from the m= line (0 = rejected stream). */
  sdpPort: number;
  /** RTCP port from a=rtcp, when present. */
  sdpRtcpPort?: number;
  /** The peer uses rtcp-mux (RFC 5761) on this leg. */
  rtcpMux: boolean;
  /**
   * Where this leg's signalling came from (the SIP packet source, or NG `received from`).
   * When the SDP address is not routable, only media from this address may latch.
   */
  signalSource: string | null;
  /**
   * Override of the automatic choice: 'fixed' sends to the SDP address without learning
   * (rtpengine `asymmetric`); 'any' accepts the first valid source (weak, rtpengine's default).
   * When omitted the policy is derived from sdpAddress/signalSource (see LatchPolicyRule).
   */
  mode?: LatchMode;
  /** Widens an address rule (never 'fixed' or 'any'); omitted: the address alone. */
  restriction?: LatchRestriction;
}

/** One leg's hint, set together with ensureSession (one round trip to the shard for both). */
export interface LegUpdate {
  /** Index of the stream (m-line). */
  index: number;
  leg: LegName;
  hint: LegHint;
}

export interface StreamPorts {
  /** Even RTP port; RTCP is rtp + 1. */
  rtp: number;
  rtcp: number;
}

export interface RelayStream {
  /** Index of the m-line this stream serves. */
  index: number;
  /** Local ports advertised to leg A's peer (the offerer). */
  a: StreamPorts;
  /** Local ports advertised to leg B's peer (the answerer). */
  b: StreamPorts;
}

export interface MediaSession {
  /** Unique key of the session (e.g. Call-ID + from-tag). */
  readonly key: string;
  readonly streams: readonly RelayStream[];
}

export interface StreamStats {
  index: number;
  a: LegCounters;
  b: LegCounters;
}

export interface MediaEvents {
  /** No valid media on any stream of the session for the configured inactivity timeout. */
  timeout: (key: string) => void;
  /** A shard worker died; these sessions' sockets are gone. */
  lost: (key: string, reason: string) => void;
}

export interface MediaRelayApi {
  /** Advertised media address (what goes into SDP c= lines). */
  readonly advertise: string;
  /** Number of open sessions. */
  readonly size: number;
  /**
   * Creates the session if new and makes sure it has `streamCount` streams (an offer with more
   * m-lines adds streams; existing streams keep their ports), then applies `legs` as setLeg
   * would, in the same shard request as the opening when there is one. Throws MediaError
   * 'ERR_PINLATCH_PORTS_EXHAUSTED' when the port range is used up (nothing is left half-open).
   */
  ensureSession(key: string, streamCount: number, legs?: readonly LegUpdate[]): Promise<MediaSession>;
  /** Sets one leg's peer hint of one stream; the latch policy follows from it. */
  setLeg(key: string, index: number, leg: LegName, hint: LegHint): Promise<void>;
  /** Per-stream counters of one session, or undefined when unknown. */
  stats(key: string): Promise<StreamStats[] | undefined>;
  /** Looks a session up without creating it. */
  get(key: string): MediaSession | undefined;
  /** Keys of all sessions. */
  keys(): string[];
  /**
   * Returns the session's ports to the pool (quarantined) and has its shard close its sockets:
   * the shard's loop closes them moments later, before it handles any later request, without a
   * round trip. Idempotent.
   */
  release(key: string): Promise<void>;
  on<E extends keyof MediaEvents>(event: E, listener: MediaEvents[E]): this;
  /** Stops every shard and closes every socket. */
  close(): Promise<void>;
}

/** SpareSockets::kPerFamily (native/include/spare_sockets.h): descriptors a relay holds ahead of its opens. */
export const SPARE_SOCKETS_PER_FAMILY = 64;
