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
  /** SO_RCVBUF asked for on the SIP UDP sockets (the kernel caps it at net.core.rmem_max). */
  readonly udpReceiveBufferBytes: number;
  /** Calls' worth of messages run through the parser, SDP anchoring and responses after start (JIT warm-up). */
  readonly warmUpRounds: number;
  /** On SIGTERM/SIGINT, running calls may finish this long before they are ended with BYE. */
  readonly drainSec: number;
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
  /** CPUs the shard threads are pinned to (shard i on cpus[i mod length]); absent: not pinned. */
  readonly cpus?: readonly number[];
  /** SCHED_FIFO priority of the shard threads; absent: normal scheduling. */
  readonly realtime?: number;
  /** SO_RCVBUF / SO_SNDBUF requested for every media socket. */
  readonly socketBuffers: { readonly receiveBytes: number; readonly sendBytes: number };
  /** A session with no media on any stream for this long is timed out. */
  readonly timeoutSec: number;
  /** Released ports stay unused this long, so late packets of an old call never reach a new one. */
  readonly quarantineMs: number;
  /** How often each shard tells the main thread about latch changes. */
  readonly latchSyncMs: number;
  /** How long the sessions of a dead shard may take to come back on its replacement (0: dropped at once). */
  readonly restoreTimeoutMs: number;
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
  /**
   * Networks (canonical CIDR text) whose requests, besides the upstream's, may use this route;
   * empty: the upstream only.
   */
  readonly from: readonly string[];
}

export interface PhonesConfig {
  /** Where phones' REGISTERs go: `phones.registrar`, else the upstream. */
  readonly registrar: SipUriTarget;
  /** Where the flow token travels: a Path header (RFC 3327), or the Contact (registrars without Path). */
  readonly flowIn: 'path' | 'contact';
  /** Networks (canonical CIDR text) phones may come from; empty: any source that is not a trunk or the upstream. */
  readonly networks: readonly string[];
  /** Bindings held at most; a new one beyond gets 503. */
  readonly maxBindings: number;
  /** OPTIONS pings to UDP phones (0: none) and how many may go unanswered before the flow is dead. */
  readonly keepalive: { readonly intervalSec: number; readonly maxMissed: number };
  /** Registration throttling, or null (every REGISTER goes to the registrar). */
  readonly throttle: { readonly phoneExpiresSec: number; readonly registrarExpiresSec: number } | null;
}

export interface AdmissionConfig {
  /** Networks (canonical CIDR text) that count as the upstream PBX, besides its URI's host. */
  readonly upstreamNetworks: readonly string[];
  /** What a refused request from a stranger gets: 403, or no answer. */
  readonly strangers: 'reject' | 'drop';
  /** Who gets an answer to an OPTIONS addressed to pinlatch itself. */
  readonly options: 'anyone' | 'trusted';
  /** One case-insensitive pattern of the scanners' User-Agent values (searched, not anchored), or null. */
  readonly scannerUserAgents: RegExp | null;
  /** Key of the Record-Route token (dialogs survive a restart), or null: drawn at start. */
  readonly routeSecret: string | null;
}

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

/**
 * A full garbage collection and a malloc trim once the relay is quiet after a load
 * (app/IdleCollector.ts; docs/configuration.md `memory.idleCollection`).
 */
export interface IdleCollectionConfig {
  /** Seconds the relay must have been quiet; 0 turns idle collection off. */
  readonly quietSec: number;
  /** At most one collection in this many seconds. */
  readonly minIntervalSec: number;
  /** Quiet means at most this many signalling messages (SIP and NG) per second, or a twentieth of the peak rate. */
  readonly maxMessagesPerSec: number;
}

export interface MemoryConfig {
  readonly idleCollection: IdleCollectionConfig;
}

export interface MetricsConfig {
  readonly address: string;
  readonly port: number;
}

/** Per-source request rate (pike-like token bucket); docs/configuration.md `limits.sourceRate`. */
export interface SourceRateConfig {
  /** Sustained rate of new requests a source may send. */
  readonly requestsPerSec: number;
  /** Requests a source may send at once above the sustained rate. */
  readonly burst: number;
  /** A source over its rate is answered 503 once, then ignored this long. */
  readonly banSec: number;
  /** Sources remembered at most (the table's bound). */
  readonly sources: number;
}

export interface TcpLimitsConfig {
  /** Open TCP connections, inbound and outbound together. */
  readonly connections: number;
  /** Open inbound TCP connections from one IP address. */
  readonly connectionsPerSource: number;
  /** Bytes written to a connection and not yet taken by the peer before it is closed. */
  readonly bufferBytes: number;
  /** A connection without traffic this long is closed. */
  readonly idleSec: number;
  /** A message begun but not complete after this long closes its connection (slowloris). */
  readonly messageTimeoutSec: number;
}

export interface OverloadConfig {
  /** Queueing time of the SIP UDP sockets above which new requests are refused (default T1/4, at least 100 ms). */
  readonly maxQueueMs: number;
  /** Event-loop lag above which new requests are refused (default T1, at least 200 ms). */
  readonly maxLagMs: number;
  /** Retry-After of the 503 a refused request gets. */
  readonly retryAfterSec: number;
}

export interface LimitsConfig {
  readonly sourceRate: SourceRateConfig;
  /** Open server transactions. */
  readonly serverTransactions: number;
  /** Bytes of the requests the open server transactions hold. */
  readonly transactionBytes: number;
  /** Dialogs (early and confirmed) the proxy keeps. */
  readonly dialogs: number;
  /** Media sessions open in the relay above which a new SIP INVITE with SDP is refused. */
  readonly mediaSessions: number;
  /** Concurrent DNS lookups of host names named in requests. */
  readonly dnsLookups: number;
  readonly tcp: TcpLimitsConfig;
  readonly overload: OverloadConfig;
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
  /** Phones behind NAT registering through pinlatch (src/sip/registrar/), or null: none. */
  readonly phones: PhonesConfig | null;
  /** Who may use which route (src/sip/edge/Admission.ts). */
  readonly admission: AdmissionConfig;
  readonly log: { readonly level: LogLevel };
  /** Bounds on state, rates and load (every one has a default). */
  readonly limits: LimitsConfig;
  /** Prometheus endpoint, or null when disabled. */
  readonly metrics: MetricsConfig | null;
  /** What the process does about its own memory. */
  readonly memory: MemoryConfig;
}
