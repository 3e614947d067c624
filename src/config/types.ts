/**
 * The validated configuration, as every other module sees it: plain data, all defaults filled,
 * deep-frozen. docs/configuration.md documents each key.
 */
import type { SipUriTarget } from './sip-uri.js';

export type SipTransport = 'udp' | 'tcp';

export interface SipListen {
  readonly transport: SipTransport;
  /** IP literal to bind (0.0.0.0 / :: allowed). */
  readonly address: string;
  readonly port: number;
}

/** RFC 3261 §17 timer values (Table 4). */
export interface SipTimers {
  /** RTT estimate; retransmission base (default 500). */
  readonly t1Ms: number;
  /** Maximum retransmission interval of non-INVITE requests and INVITE responses (default 4000). */
  readonly t2Ms: number;
  /** Maximum time a message stays in the network (default 5000). */
  readonly t4Ms: number;
  /** Timer C (§16.6 step 11): a proxied INVITE with no final response is cancelled (default 180000). */
  readonly inviteTimeoutMs: number;
}

export interface SipConfig {
  readonly listen: readonly SipListen[];
  /** Address or host name put into Via and Record-Route. */
  readonly advertise: string;
  readonly timers: SipTimers;
  /** Largest SIP message accepted (bytes). */
  readonly maxMessageBytes: number;
}

/**
 * Restricted latching: besides the address a leg's latch rule rests on (SDP address or
 * signalling source), the sources that may latch it. Default: the address alone.
 */
export interface LatchRestrictionConfig {
  /** A source may latch when its first prefixV4 bits equal the IPv4 rule address's (32: equal). */
  readonly prefixV4: number;
  /** Same for IPv6 (128: equal). */
  readonly prefixV6: number;
  /** Canonical CIDR prefixes whose sources may latch as well. */
  readonly networks: readonly string[];
}

export interface LatchingConfig {
  /** Silence of the latched source before a newcomer may take over. */
  readonly handoverSilenceMs: number;
  /** Largest forward sequence gap of a newcomer that proves continuity. */
  readonly handoverMaxSeqGap: number;
  /** Restricted latching of SIP peers that are not trunks (phones, the upstream PBX). */
  readonly endpoints: LatchRestrictionConfig;
}

export interface MediaConfig {
  /** IP literal the relay's sockets bind to. */
  readonly address: string;
  /** IP literal written into SDP c= lines. */
  readonly advertise: string;
  /** Inclusive port range; min is even, RTP takes even ports and RTCP the next odd one. */
  readonly ports: { readonly min: number; readonly max: number };
  /** Number of relay worker threads. */
  readonly shards: number;
  /** A session with no media on any stream for this long is timed out. */
  readonly timeoutSec: number;
  /** Released ports stay unused this long, so late packets of an old call never reach a new one. */
  readonly quarantineMs: number;
  readonly latching: LatchingConfig;
}

export interface NgConfig {
  readonly address: string;
  readonly port: number;
  /** Also listen for NG over TCP on the same address and port. */
  readonly tcp: boolean;
  /**
   * Source prefixes NG commands are accepted from, canonical CIDR text (`127.0.0.0/8`); anything
   * else is dropped and counted. Default: loopback (allowed only when `address` is loopback).
   */
  readonly allow: readonly string[];
}

export interface TrunkConfig {
  readonly name: string;
  /** IP literal or host name (re-resolved every resolveIntervalSec). */
  readonly host: string;
  /** True when host is an IP literal (no resolution needed). */
  readonly hostIsAddress: boolean;
  readonly port: number;
  readonly transport: SipTransport;
  /** Keep sending in-dialog requests to the trunk address, whatever Contact/Record-Route say. */
  readonly pinRoute: boolean;
  readonly resolveIntervalSec: number;
  /** Restricted latching of the trunk's media legs. */
  readonly latching: LatchRestrictionConfig;
}

export interface RouteConfig {
  /** The pattern as written, or null when the rule does not test the user part. */
  readonly user: string | null;
  /** The pattern as written, or null when the rule does not test the host part. */
  readonly host: string | null;
  /** Compiled, anchored (whole-value) form of `user`. */
  readonly userPattern: RegExp | null;
  /** Compiled, anchored, case-insensitive form of `host`. */
  readonly hostPattern: RegExp | null;
  /** Names of entries of `trunks`, in the order they are tried (`trunk: x` is `trunks: [x]`). */
  readonly trunks: readonly string[];
  /**
   * How a call is forked over several trunks: 'serial' tries them in order, the next one when a
   * trunk fails (no answer, unreachable, 5xx); 'parallel' sends to all at once, the first 2xx wins.
   */
  readonly fork: 'serial' | 'parallel';
  /**
   * Serial fork: a trunk that has sent no response at all (not even 100 Trying) for this long is
   * given up and the next one tried; null waits for Timer B (64 x T1).
   */
  readonly failoverAfterMs: number | null;
}

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

export interface MetricsConfig {
  readonly address: string;
  readonly port: number;
}

export interface PinlatchConfig {
  /** Where the configuration came from (file path, `<default>`...). */
  readonly source: string;
  /** SIP proxy; null runs pinlatch as a media relay only (NG drop-in for rtpengine). */
  readonly sip: SipConfig | null;
  readonly media: MediaConfig;
  /** NG control protocol listener, or null when disabled. */
  readonly ng: NgConfig | null;
  readonly trunks: readonly TrunkConfig[];
  /** Ordered: the first rule that matches picks the trunk. */
  readonly routes: readonly RouteConfig[];
  /** Where requests coming from a trunk are sent, or null (they get 404). */
  readonly upstream: SipUriTarget | null;
  readonly log: { readonly level: LogLevel };
  /** Prometheus endpoint, or null when disabled. */
  readonly metrics: MetricsConfig | null;
}
