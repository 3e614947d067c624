/**
 * The whole surface of the native data plane (native/, built by binding.gyp).
 *
 * This file is the one narrow channel between TypeScript and C++: every export of the addon is
 * declared here, nothing else touches the `.node` file. The addon is context-aware: each piscina
 * worker loads its own instance, owns its own sockets on its own libuv loop, and no JavaScript
 * runs per packet. Control calls (open/close a stream, set a peer policy, read counters) are
 * synchronous and cheap; they happen per call, never per packet.
 */
import { createRequire } from 'node:module';
import { resolve } from 'node:path';

/** Which source may latch a leg (RFC 7362 §4: latching, hardened against RTP bleed). */
export type LatchMode =
  /** Only packets whose source IP equals `address` may latch (the port may differ). */
  | 'address'
  /** Weak mode: the first valid RTP/RTCP packet from anywhere latches. Named weak on purpose. */
  | 'any'
  /** No learning: media for this leg always goes to `address`:`port` (rtpengine `asymmetric`). */
  | 'fixed';

export interface LegPolicy {
  mode: LatchMode;
  /** IPv4 or IPv6 literal; required for 'address' and 'fixed'. */
  address?: string;
  /**
   * RTP port of the peer from signalling. Required for 'fixed' (always sent there); optional for
   * 'address', where media toward the leg goes to address:port until a packet latches the leg.
   */
  port?: number;
  /** RTCP port of the peer when `port` is given and the leg is not muxed (default port + 1). */
  rtcpPort?: number;
  /** RFC 5761: RTCP shares the RTP socket of this leg. */
  rtcpMux: boolean;
  /**
   * After latching, a new source may take over only when the latched source has been silent for
   * this long and the newcomer proves continuity (same SSRC, sequence close to the last seen).
   */
  handoverSilenceMs: number;
  /** Largest forward distance of the newcomer's sequence number from the last one seen. */
  handoverMaxSeqGap: number;
  /**
   * Restricted latching ('address' mode only): a source may latch when its first `latchPrefix`
   * bits equal those of `address` (0..32 for IPv4, 0..128 for IPv6; the full width, the default,
   * is the exact address).
   */
  latchPrefix?: number;
  /**
   * Restricted latching ('address' mode only): networks (canonical `address/length` text, of the
   * stream's family, at most 16) whose sources may latch as well.
   */
  latchNetworks?: string[];
}

export interface StreamSpec {
  /** Local IP literal to bind (IPv4 or IPv6). */
  address: string;
  /** Even RTP port of leg A; RTCP is aPort + 1. */
  aPort: number;
  /** Even RTP port of leg B; RTCP is bPort + 1. */
  bPort: number;
}

export interface LegCounters {
  /** Packets (RTP and RTCP) accepted from this leg's peer, and their bytes. */
  packetsIn: number;
  bytesIn: number;
  /** Packets (RTP and RTCP) sent to this leg's peer, and their bytes. */
  packetsOut: number;
  bytesOut: number;
  /** The RTCP share of packetsIn / packetsOut. */
  rtcpIn: number;
  rtcpOut: number;
  /** Datagrams that are not valid RTP/RTCP (never latch, never forwarded). */
  dropInvalid: number;
  /** Valid packets from a source that is not (or may not become) the latched peer. */
  dropStranger: number;
  /** Packets that had to be sent toward this leg while it has no peer yet. */
  dropNoPeer: number;
  /** sendmmsg failures (EAGAIN, ENOBUFS, unreachable...). */
  dropSendError: number;
  /**
   * The part of dropStranger refused by the address rule itself (the source fits neither the
   * address, its prefix nor a listed network), as opposed to a same-address newcomer kept out by
   * the handover rule. Not counted while the leg has no policy.
   */
  dropRefused: number;
  /** "ip:port" of the last source counted in dropRefused, or null. */
  lastRefused: string | null;
  /** Times the latched RTP peer changed (first latch counts 1). */
  latchChanges: number;
  /**
   * "ip:port" ("[ip]:port" for IPv6) where RTP for this leg goes: the latched peer, or the fixed
   * destination in 'fixed' mode; null while there is none.
   */
  rtpPeer: string | null;
  /** Same for RTCP (equal to rtpPeer when the leg uses rtcp-mux). */
  rtcpPeer: string | null;
  /** Last SSRC seen from the latched peer, or null. */
  ssrc: number | null;
  /**
   * Milliseconds (CLOCK_MONOTONIC) of the last valid packet accepted on this leg (strangers and
   * invalid datagrams do not count), 0 if none.
   */
  lastActivityMs: number;
}

/** A leg whose media so far arrives only from sources its rule refuses (NativeRelay.refusals). */
export interface LegRefusal {
  /** Stream id. */
  id: number;
  leg: 'a' | 'b';
  /** "ip:port" of the last refused source. */
  source: string;
  /** Packets refused since the leg's policy was set. */
  refused: number;
}

export interface StreamCounters {
  id: number;
  a: LegCounters;
  b: LegCounters;
}

export type NativeErrorCode =
  | 'ERR_PINLATCH_BIND' // bind failed (err.errno / err.syscallCode says why, e.g. EADDRINUSE)
  | 'ERR_PINLATCH_SOCKET' // socket()/setsockopt() failed (e.g. EMFILE)
  | 'ERR_PINLATCH_ARG' // bad argument (address literal, port, unknown stream id)
  | 'ERR_PINLATCH_CLOSED' // the relay instance was closed
  | 'ERR_PINLATCH_AFFINITY' // the thread could not be pinned to the CPU (EINVAL: offline or outside the cpuset)
  | 'ERR_PINLATCH_REALTIME'; // SCHED_FIFO refused (EPERM: no CAP_SYS_NICE)

/** What the addon throws: an Error with a stable code, plus the errno for system call failures. */
export interface NativeError extends Error {
  code: NativeErrorCode;
  /** RelayControl.openStreams: the spec that failed. */
  index?: number;
  /** errno name of the failed system call (EADDRINUSE, EMFILE...), when there was one. */
  syscallCode?: string;
  /** Negative errno (Node's convention for system errors), when there was one. */
  errno?: number;
  /** The failed system call ('bind', 'socket', 'setsockopt'...). */
  syscall?: string;
}

/**
 * What every stream of one relay has counted, the closed ones included (NativeRelay.totals): the
 * per-leg counters of LegCounters summed over both legs of all streams.
 */
export type RelayTotals = Pick<
  LegCounters,
  'packetsIn' | 'bytesIn' | 'packetsOut' | 'bytesOut' | 'rtcpIn' | 'rtcpOut' | 'dropInvalid' | 'dropStranger' | 'dropNoPeer' | 'dropSendError' | 'dropRefused' | 'latchChanges'
> & {
  /** Streams opened since the relay was created. */
  streamsOpened: number;
  /** Streams open now. */
  streams: number;
  /**
   * Commands from the main thread (RelayControl) that failed on the relay's thread: a stream
   * whose bound sockets the poll or the ring would not take.
   */
  commandErrors: number;
};

/** One leg whose latched peers may have changed, as the relay reports it (see takeLatchChanges). */
export interface LatchChange {
  id: number;
  leg: 'a' | 'b';
  /** As LegCounters.rtpPeer / rtcpPeer: "ip:port" ("[ip]:port" for IPv6), or null. */
  rtpPeer: string | null;
  rtcpPeer: string | null;
}

/** Latched peers to re-create on a leg (restoreLatch), in the form LatchChange reports them. */
export interface LatchedPeers {
  rtpPeer?: string | null;
  rtcpPeer?: string | null;
}

/**
 * The data path of a relay. 'uring': one io_uring per relay, a multishot receive armed on every
 * socket and each packet sent with IORING_OP_SEND, many sockets' packets per system call (Linux
 * 6.10 or later). 'epoll': one uv_poll per socket with recvmmsg/sendmmsg batches (any kernel).
 * 'auto' (default) takes io_uring where the kernel has it. Without the option the PINLATCH_IO
 * environment variable (same values) decides. Forcing 'uring' where it is not available throws
 * ERR_PINLATCH_SOCKET with syscall 'io_uring_setup'.
 */
export type IoChoice = 'auto' | 'uring' | 'epoll';

/**
 * Kernel socket buffer sizes of a relay's stream sockets: what each socket asks for
 * (SO_RCVBUF/SO_SNDBUF) and what the kernel grants. Linux caps a request silently at
 * net.core.rmem_max / net.core.wmem_max; the granted sizes are read back (getsockopt, halved:
 * the kernel reports its doubled bookkeeping size) from a probe socket when the relay is created.
 */
export interface SocketBuffers {
  receiveBytes: number;
  sendBytes: number;
  grantedReceiveBytes: number;
  grantedSendBytes: number;
}

/** Where the calling thread runs (NativeAddon.placeThread). */
export interface ThreadPlacement {
  /** Kernel thread id, as in /proc/self/task/<tid>. */
  tid: number;
  /** CPUs the thread may run on (its affinity mask), ascending. */
  cpus: number[];
  /** SCHED_FIFO priority, 0 for the normal scheduling class. */
  realtimePriority: number;
  /** The thread's name, as /proc/self/task/<tid>/comm, `top -H` and `ps -L` show it. */
  name: string;
}

export interface RelayOptions {
  /** recvmmsg/sendmmsg batch size. */
  batch?: number;
  io?: IoChoice;
  /** SO_RCVBUF requested for every stream socket, 4096..268435456 (default 262144). */
  receiveBufferBytes?: number;
  /** SO_SNDBUF requested for every stream socket, 4096..268435456 (default 262144). */
  sendBufferBytes?: number;
}

/** One per worker environment: the data plane of one shard. */
export interface NativeRelay {
  /** Opens the 4 sockets of one stream (A RTP/RTCP, B RTP/RTCP); returns its id. */
  openStream(spec: StreamSpec): number;
  /**
   * Sets (or replaces) the latch policy of one leg; a latched peer that no longer fits is dropped.
   * The stream's idle clock starts again (signalling just negotiated it).
   */
  setLeg(id: number, leg: 'a' | 'b', policy: LegPolicy): void;
  /** Closes the stream's sockets. Unknown ids are ignored (idempotent). */
  closeStream(id: number): void;
  /** Counters of the given streams (all streams when omitted). */
  stats(ids?: number[]): StreamCounters[];
  /**
   * The counters of every stream this relay has had, summed: those of closed streams are added up
   * when each closes, the open ones at the call (one pass over the open streams, nothing per packet).
   */
  totals(): RelayTotals;
  /**
   * Ids of streams with no valid packet on either leg for `idleMs`, counted from the later of the
   * last valid packet and the last setLeg (or the opening).
   */
  idle(idleMs: number): number[];
  /**
   * Legs whose latched peers may have changed since the last call (a latch, a handover, a
   * policy that forgot a peer), each with its peers now; the marks are cleared. Set per latch
   * event, never per packet: the shard polls this to keep the main thread's copy of the latches.
   */
  takeLatchChanges(): LatchChange[];
  /**
   * Re-creates latches learned by a shard that has died: each given peer becomes the latched
   * source of its socket when the leg's current policy would have let it latch ('fixed' and
   * unset legs learn nothing; a muxed leg has no RTCP socket peer). Not counted in latchChanges.
   * Returns how many of the two peers latched. Throws ERR_PINLATCH_ARG on a malformed peer or an
   * unknown stream.
   */
  restoreLatch(id: number, leg: 'a' | 'b', peers: LatchedPeers): number;
  /**
   * Legs that have refused packets and accepted none since their policy was set (media arrives
   * only from sources the rule refuses), each returned once per policy.
   */
  refusals(): LegRefusal[];
  /** Number of open streams. */
  readonly size: number;
  /**
   * Unbound UDP sockets the relay's loop made ahead for the streams RelayControl opens (open
   * descriptors, at most SPARE_SOCKETS_PER_FAMILY (media/api.ts) per address family; none after close).
   */
  readonly spareSockets: number;
  /** The data path this relay runs on (see IoChoice). */
  readonly engine: 'uring' | 'epoll';
  /** Requested and granted socket buffer sizes (see SocketBuffers). */
  readonly socketBuffers: SocketBuffers;
  /**
   * Closes every socket and the control channel (RelayControl pushes throw ERR_PINLATCH_CLOSED
   * from then on; queued commands' sockets are closed); idempotent. Later calls of the other
   * methods throw ERR_PINLATCH_CLOSED.
   */
  close(): void;
  /** What addon.connect() takes to reach this relay from another thread. */
  readonly controlToken: number;
  /**
   * Commands from RelayControl that failed on this thread since the last call: `count` of all
   * time, `errors` the texts of the failures since the last call (at most 16).
   */
  takeCommandErrors(): { count: number; errors: string[] };
}

/** A leg policy for a stream being opened by RelayControl.openStreams (`spec`: its index). */
export interface OpenLegPolicy {
  spec: number;
  leg: 'a' | 'b';
  policy: LegPolicy;
}

/**
 * The main thread's handle on a relay running in another thread (addon.connect): it opens,
 * configures and closes that relay's streams without a message to its thread's JavaScript. The
 * sockets are bound on the calling thread, so bind errors (ERR_PINLATCH_BIND / EADDRINUSE...) and
 * argument errors are thrown here, synchronously; the commands are then queued natively and the
 * relay's loop applies them in order, at its next iteration (a packet, a timer) or once wake() is
 * called, and always before any later method of the relay runs. Pushing does not wake the relay's
 * thread: each wake-up preempts the caller when both share a CPU, so the caller wakes it once for a
 * burst (ShardPool). Once the relay is
 * closed (its thread stopped or died) every method throws ERR_PINLATCH_CLOSED and closes what it
 * bound.
 */
export interface RelayControl {
  /**
   * Opens streams with their leg policies, all or nothing; returns their ids. A failure throws
   * with `index`, the spec (or, for a policy, the spec of the leg) that failed.
   */
  openStreams(specs: StreamSpec[], legs?: OpenLegPolicy[]): number[];
  /** Sets leg policies (see NativeRelay.setLeg); all are checked before any is queued. */
  setLegs(legs: Array<{ id: number; leg: 'a' | 'b'; policy: LegPolicy }>): void;
  /** Closes streams; unknown ids are ignored. */
  closeStreams(ids: number[]): void;
  /** Wakes the relay's loop (uv_async_send) if pushed commands wait for it; never throws. */
  wake(): void;
}

export interface NativeAddon {
  /** Addon build version string. */
  readonly version: string;
  /** Creates the relay of this environment (one per worker thread). */
  createRelay(options?: RelayOptions): NativeRelay;
  /** The control handle of the open relay whose controlToken this is; throws ERR_PINLATCH_CLOSED if none. */
  connect(controlToken: number): RelayControl;
  /**
   * Places the calling thread (a shard calls it from its own worker thread, which runs its
   * sockets): `cpu` pins it to that one CPU (pthread_setaffinity_np), `realtimePriority` (1..99)
   * moves it to SCHED_FIFO, `name` (1..15 printable ASCII characters, no space) names it
   * (pthread_setname_np). Returns the placement read back. Throws ERR_PINLATCH_AFFINITY (errno
   * EINVAL: CPU offline or outside the cpuset), ERR_PINLATCH_REALTIME (EPERM: the process lacks
   * CAP_SYS_NICE), ERR_PINLATCH_ARG (out of range, or a name it cannot take: then nothing is
   * applied). Without options it only reads the placement.
   */
  placeThread(options?: { cpu?: number; realtimePriority?: number; name?: string }): ThreadPlacement;
  /** Monotonic clock in ms, the one lastActivityMs uses. */
  nowMs(): number;
  /**
   * Gives the C library's free memory back to the kernel (glibc malloc_trim(0), every thread's
   * arena): true when some was released; false when none was, or on a C library without it.
   * It walks every arena under its lock: a pause, for a quiet process only (app/IdleCollector).
   */
  trimMemory(): boolean;
}

const require = createRequire(import.meta.url);

function loadAddon(): NativeAddon {
  // PINLATCH_ADDON names another build of the same sources (the ASan/UBSan one the tests run).
  const override = process.env.PINLATCH_ADDON;
  if (override) return require(resolve(override)) as NativeAddon;
  const candidates = ['../build/Release/pinlatch.node', '../../build/Release/pinlatch.node'];
  let lastError: unknown;
  for (const path of candidates) {
    try {
      return require(path) as NativeAddon;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'MODULE_NOT_FOUND') throw err;
      lastError = err;
    }
  }
  throw new Error(
    `pinlatch native addon not built (run \`npm install\` or \`npm run build\`): ${String(lastError)}`,
  );
}

export const addon: NativeAddon = loadAddon();
