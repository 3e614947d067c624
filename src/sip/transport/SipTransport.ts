/**
 * SIP over UDP and TCP, IPv4 and IPv6 (RFC 3261 §18), on configured listen points.
 *
 * Events:
 *  - 'message'    a parsed message with its source and the local listen point it arrived on;
 *  - 'parseError' a malformed request or response (SipParseError) with the same context. The
 *                 transport never answers: the proxy decides, using responseForParseError();
 *  - 'error'      socket-level failures (bind errors surface from start() instead).
 * Non-SIP garbage (no start line at all) is dropped and only counted.
 *
 * Sending: to {transport, address, port}. Over TCP an open connection to that address and port is
 * reused, whether pinlatch or the peer opened it (RFC 3261 §18.2.2: responses go back on the
 * request's connection; §18.1.1 connection reuse); otherwise one is opened. Connections close after
 * `tcpIdleTimeoutMs` without traffic, when a message begun is not complete after
 * `tcpMessageTimeoutMs` (a slowloris peer), when more than `tcpBufferBytes` wait to be taken by a
 * peer that does not read, on a framing error, or when the peer closes. Connections are bounded in
 * total (`maxTcpConnections`, inbound and outbound) and per source address
 * (`maxTcpConnectionsPerSource`, inbound); an inbound connection beyond a bound is closed at once.
 * UDP datagrams are sent from the listen point of the destination's address family.
 *
 * Queue probes (`probeQueues()`, `queueDelayMs()`): a small datagram sent to each UDP listen socket
 * from a socket of our own measures how long a datagram waits in the socket's receive queue before
 * JavaScript reads it (src/sip/edge/LoadShedder.ts says why it is measured this way).
 */
import dgram from 'node:dgram';
import { EventEmitter } from 'node:events';
import net from 'node:net';
import { randomBytes } from 'node:crypto';
import { QueueDelayProbe } from '../edge/LoadShedder.js';
import { LimitError } from '../edge/LimitError.js';
import { normalizedIp } from '../wire/normalizedIp.js';
import { SipFramingError, SipTransportError } from '../wire/errors.js';
import { SipParseError } from '../wire/parseError.js';
import type { SipMessage } from '../wire/message.js';
import { parseMessage, type ParseLimits } from '../wire/parser.js';
import { StreamFramer, type FramerLimits } from './StreamFramer.js';
import { bindingResponse, isStun } from './Stun.js';

export type TransportName = 'udp' | 'tcp';

/** A local address to listen on; port 0 picks a free port (see `listenPoints` after start). */
export interface ListenPoint {
  transport: TransportName;
  address: string;
  port: number;
}

/** A remote peer. */
export interface Endpoint {
  transport: TransportName;
  address: string;
  port: number;
}

export interface InboundMessage {
  message: SipMessage;
  source: Endpoint;
  local: ListenPoint;
  /** Bytes the message took on the wire (what holding it costs at least). */
  size: number;
}

export interface InboundParseError {
  error: SipParseError;
  source: Endpoint;
  local: ListenPoint;
}

export interface SipTransportOptions {
  listen: readonly ListenPoint[];
  parseLimits?: Partial<ParseLimits>;
  framerLimits?: Partial<FramerLimits>;
  /** Close a TCP connection after this long without traffic in either direction (default 300 s). */
  tcpIdleTimeoutMs?: number;
  /** Give up opening a TCP connection after this long (default 5 s). */
  tcpConnectTimeoutMs?: number;
  /** Open TCP connections at most, inbound and outbound (default 1024). */
  maxTcpConnections?: number;
  /** Open inbound TCP connections from one address at most (default 32). */
  maxTcpConnectionsPerSource?: number;
  /** Close a connection when more than this many bytes wait to be sent to it (default 1 MiB). */
  tcpBufferBytes?: number;
  /** Close a connection whose message begun is not complete after this long (default 30 s). */
  tcpMessageTimeoutMs?: number;
  /**
   * Answer STUN Binding requests on the UDP listen sockets (RFC 5626 §4.4.2 keepalives of phones)
   * from the sources this admits. Without it they are all dropped: a Binding response is larger
   * than its request, so a relay that serves no phones would only reflect spoofed requests.
   */
  answerStun?: (source: string) => boolean;
  /**
   * SO_RCVBUF of the UDP listen sockets (default: the system's). A burst that outgrows the
   * buffer is dropped by the kernel, answers included; load shedding bounds the time a datagram
   * waits, so a large buffer costs no latency, only memory.
   */
  udpReceiveBufferBytes?: number;
}

export interface TransportStats {
  messagesReceived: number;
  messagesSent: number;
  parseErrors: number;
  /** Datagrams / stream starts that were not SIP at all. */
  garbageDropped: number;
  /** CRLF keep-alives received (RFC 5626 §4.4.1). */
  keepalives: number;
  /** TCP connections closed because the stream could not be framed. */
  framingErrors: number;
  tcpConnectionsOpen: number;
  /** Inbound connections closed at once: the total bound was reached. */
  tcpRefusedTotal: number;
  /** Inbound connections closed at once: their source had its bound of connections. */
  tcpRefusedPerSource: number;
  /** Connections closed because the peer did not take what was sent to it. */
  tcpBufferOverflows: number;
  /** Connections closed because a message took longer than the message timeout to arrive. */
  tcpMessageTimeouts: number;
  /** Connections closed after the idle timeout. */
  tcpIdleTimeouts: number;
}

export interface SipTransportEvents {
  message: [InboundMessage];
  parseError: [InboundParseError];
  error: [Error];
  /** A TCP connection closed (either side): a flow over it is gone (RFC 5626 §5.3). */
  connectionClosed: [Endpoint];
}

interface TcpConnection {
  socket: net.Socket;
  key: string;
  local: ListenPoint;
  remote: Endpoint;
}

interface UdpListen {
  socket: dgram.Socket;
  local: ListenPoint;
  probe: QueueProbeSocket | null;
}

/** The socket that sends queue probes to one UDP listen socket, and what it sends. */
interface QueueProbeSocket {
  socket: dgram.Socket;
  /** Where the probes come from, as the listen socket sees it. */
  address: string;
  port: number;
  /** Where they go (the listen address, loopback for a wildcard one). */
  target: string;
  delay: QueueDelayProbe;
}

/** A probe datagram: no SIP start line, so a stray one anywhere else is dropped as garbage. */
const PROBE_TOKEN = Buffer.concat([Buffer.from('PLQP'), randomBytes(12)]);

const PONG = Buffer.from('\r\n');

function endpointKey(address: string, port: number): string {
  return `${normalizedIp(address) ?? address}|${port}`;
}

/** Address families of the few addresses a proxy talks to, so a send does not run net.isIPv6's regular expression. */
const familyCache = new Map<string, 4 | 6>();
const FAMILY_CACHE_LIMIT = 4096;

/** The socket family toward `address`: 6 for IPv6, 4 for IPv4 and IPv4-mapped IPv6 (and non-literals). */
function ipFamilyOf(address: string): 4 | 6 {
  let family = familyCache.get(address);
  if (family === undefined) {
    family = net.isIPv6(address) && !(normalizedIp(address) ?? '').includes('.') ? 6 : 4;
    if (familyCache.size >= FAMILY_CACHE_LIMIT) familyCache.clear();
    familyCache.set(address, family);
  }
  return family;
}

export class SipTransport extends EventEmitter<SipTransportEvents> {
  readonly #options: SipTransportOptions;
  readonly #udp: UdpListen[] = [];
  readonly #servers: Array<{ server: net.Server; local: ListenPoint }> = [];
  readonly #connections = new Map<string, TcpConnection>();
  readonly #connecting = new Map<string, Promise<TcpConnection>>();
  /** Open inbound connections per source address. */
  readonly #inboundBySource = new Map<string, number>();
  #closed = false;
  readonly #stats: TransportStats = {
    messagesReceived: 0,
    messagesSent: 0,
    parseErrors: 0,
    garbageDropped: 0,
    keepalives: 0,
    framingErrors: 0,
    tcpConnectionsOpen: 0,
    tcpRefusedTotal: 0,
    tcpRefusedPerSource: 0,
    tcpBufferOverflows: 0,
    tcpMessageTimeouts: 0,
    tcpIdleTimeouts: 0,
  };

  constructor(options: SipTransportOptions) {
    super();
    this.#options = options;
  }

  /** Binds every listen point; rejects with SipTransportError (and binds nothing) on failure. */
  async start(): Promise<void> {
    try {
      for (const lp of this.#options.listen) {
        if (lp.transport === 'udp') await this.#bindUdp(lp);
        else await this.#listenTcp(lp);
      }
    } catch (error) {
      await this.close();
      throw new SipTransportError(`cannot listen: ${(error as Error).message}`, { cause: error });
    }
  }

  /** The bound listen points, with the actual ports. */
  get listenPoints(): ListenPoint[] {
    return [...this.#udp.map((u) => u.local), ...this.#servers.map((s) => s.local)];
  }

  get stats(): Readonly<TransportStats> {
    return { ...this.#stats, tcpConnectionsOpen: this.#connections.size + this.#connecting.size };
  }

  /**
   * Sends a probe to every UDP listen socket whose previous probe is back, or in flight for
   * `lostAfterMs` (then taken as dropped by a full receive buffer).
   */
  probeQueues(lostAfterMs = 1000): void {
    if (this.#closed) return;
    const now = performance.now();
    for (const { probe, local } of this.#udp) {
      if (!probe || !probe.delay.send(now, lostAfterMs)) continue;
      probe.socket.send(PROBE_TOKEN, local.port, probe.target, (error) => {
        if (error) probe.delay.lost();
      });
    }
  }

  /** The longest queueing time of the UDP listen sockets known now, in ms (0 without probes). */
  queueDelayMs(now = performance.now()): number {
    let delay = 0;
    for (const { probe } of this.#udp) if (probe) delay = Math.max(delay, probe.delay.delay(now));
    return delay;
  }

  async #bindUdp(lp: ListenPoint): Promise<void> {
    const family = ipFamilyOf(lp.address);
    const socket = dgram.createSocket({
      type: family === 6 ? 'udp6' : 'udp4',
      ipv6Only: family === 6,
      ...(this.#options.udpReceiveBufferBytes === undefined ? {} : { recvBufferSize: this.#options.udpReceiveBufferBytes }),
    });
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(lp.port, lp.address, () => {
        socket.off('error', reject);
        resolve();
      });
    });
    const local: ListenPoint = { transport: 'udp', address: lp.address, port: socket.address().port };
    const listen: UdpListen = { socket, local, probe: null };
    this.#udp.push(listen);
    socket.on('error', (error) => this.emit('error', error));
    socket.on('message', (data, rinfo) => {
      const probe = listen.probe;
      if (probe && rinfo.port === probe.port && data.length === PROBE_TOKEN.length && rinfo.address === probe.address && data.equals(PROBE_TOKEN)) {
        probe.delay.received(performance.now());
        return;
      }
      const address = normalizedIp(rinfo.address) ?? rinfo.address;
      if (isStun(data)) {
        if (this.#options.answerStun?.(address) !== true) return;
        const answer = bindingResponse(data, address, rinfo.port);
        this.#stats.keepalives++;
        if (answer) socket.send(answer, rinfo.port, rinfo.address);
        return;
      }
      this.#receive(data, { transport: 'udp', address, port: rinfo.port }, local, 'datagram');
    });
    listen.probe = await this.#openProbe(local, family);
  }

  /** The socket that probes one listen socket: on its address, or on loopback for a wildcard one. */
  async #openProbe(local: ListenPoint, family: 4 | 6): Promise<QueueProbeSocket> {
    const wildcard = local.address === '0.0.0.0' || local.address === '::';
    const target = wildcard ? (family === 6 ? '::1' : '127.0.0.1') : local.address;
    const socket = dgram.createSocket({ type: family === 6 ? 'udp6' : 'udp4', ipv6Only: family === 6 });
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(0, target, () => {
        socket.off('error', reject);
        resolve();
      });
    });
    socket.on('error', () => undefined);
    socket.on('message', () => undefined);
    socket.unref();
    const bound = socket.address();
    return { socket, address: bound.address, port: bound.port, target, delay: new QueueDelayProbe() };
  }

  async #listenTcp(lp: ListenPoint): Promise<void> {
    let local: ListenPoint = { transport: 'tcp', address: lp.address, port: lp.port };
    const server = net.createServer((socket) => {
      if (this.#connections.size + this.#connecting.size >= (this.#options.maxTcpConnections ?? 1024)) {
        this.#stats.tcpRefusedTotal++;
        socket.destroy();
        return;
      }
      const source = normalizedIp(socket.remoteAddress ?? '') ?? socket.remoteAddress ?? '';
      const fromSource = this.#inboundBySource.get(source) ?? 0;
      if (fromSource >= (this.#options.maxTcpConnectionsPerSource ?? 32)) {
        this.#stats.tcpRefusedPerSource++;
        socket.destroy();
        return;
      }
      this.#inboundBySource.set(source, fromSource + 1);
      socket.once('close', () => {
        const left = (this.#inboundBySource.get(source) ?? 1) - 1;
        if (left > 0) this.#inboundBySource.set(source, left);
        else this.#inboundBySource.delete(source);
      });
      this.#adopt(socket, local);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ port: lp.port, host: lp.address, ipv6Only: ipFamilyOf(lp.address) === 6 }, () => {
        server.off('error', reject);
        resolve();
      });
    });
    local = { transport: 'tcp', address: lp.address, port: (server.address() as net.AddressInfo).port };
    server.on('error', (error) => this.emit('error', error));
    this.#servers.push({ server, local });
  }

  /** Registers a connected socket (inbound or outbound) and frames what it receives. */
  #adopt(socket: net.Socket, local: ListenPoint): TcpConnection {
    const address = normalizedIp(socket.remoteAddress ?? '') ?? socket.remoteAddress ?? '';
    const remote: Endpoint = { transport: 'tcp', address, port: socket.remotePort ?? 0 };
    const key = endpointKey(address, remote.port);
    const connection: TcpConnection = { socket, key, local, remote };
    this.#connections.get(key)?.socket.destroy();
    this.#connections.set(key, connection);
    const framer = new StreamFramer(this.#options.framerLimits);
    socket.setNoDelay(true);
    socket.setTimeout(this.#options.tcpIdleTimeoutMs ?? 300_000, () => {
      this.#stats.tcpIdleTimeouts++;
      socket.destroy();
    });
    // A message begun must be complete within the message timeout, however slowly its bytes come.
    let messageTimer: NodeJS.Timeout | undefined;
    const messageTimeoutMs = this.#options.tcpMessageTimeoutMs ?? 30_000;
    socket.on('data', (chunk: Buffer) => {
      let frames;
      try {
        frames = framer.push(chunk);
      } catch (error) {
        if (!(error instanceof SipFramingError)) throw error;
        this.#stats.framingErrors++;
        socket.destroy();
        return;
      }
      if (framer.buffered === 0 || frames.length > 0) {
        clearTimeout(messageTimer);
        messageTimer = undefined;
      }
      if (framer.buffered > 0 && messageTimer === undefined) {
        messageTimer = setTimeout(() => {
          this.#stats.tcpMessageTimeouts++;
          socket.destroy();
        }, messageTimeoutMs);
      }
      let ponged = false;
      for (const frame of frames) {
        if (frame.kind === 'ping') {
          this.#stats.keepalives++;
          // One pong per chunk: a peer pinging faster than it reads gets no amplification.
          if (!ponged) this.#write(connection, PONG);
          ponged = true;
        } else {
          this.#receive(frame.data, remote, local, 'stream');
        }
        if (socket.destroyed) return;
      }
    });
    socket.on('error', () => socket.destroy());
    socket.on('close', () => {
      clearTimeout(messageTimer);
      if (this.#connections.get(key) !== connection) return;
      this.#connections.delete(key);
      this.emit('connectionClosed', remote);
    });
    return connection;
  }

  /** Writes to a connection; a peer that leaves more than tcpBufferBytes unread is disconnected. */
  #write(connection: TcpConnection, data: Buffer, done?: (error?: Error | null) => void): void {
    const { socket } = connection;
    socket.write(data, done);
    if (socket.writableLength > (this.#options.tcpBufferBytes ?? 1_048_576)) {
      this.#stats.tcpBufferOverflows++;
      socket.destroy(new SipTransportError(`TCP peer ${connection.remote.address}:${connection.remote.port} does not read: ${socket.writableLength} bytes unsent`));
    }
  }

  #receive(data: Buffer, source: Endpoint, local: ListenPoint, framing: 'datagram' | 'stream'): void {
    if (framing === 'datagram' && data.every((b) => b === 0x0d || b === 0x0a)) {
      this.#stats.keepalives++;
      return;
    }
    let message: SipMessage;
    try {
      message = parseMessage(data, { framing, limits: this.#options.parseLimits });
    } catch (error) {
      if (!(error instanceof SipParseError)) throw error;
      if (error.startLine === 'none' && !error.partial) {
        this.#stats.garbageDropped++;
        return;
      }
      this.#stats.parseErrors++;
      this.emit('parseError', { error, source, local });
      return;
    }
    this.#stats.messagesReceived++;
    this.emit('message', { message, source, local, size: data.length });
  }

  /** True while a TCP connection with `remote` is open (a phone's flow: never opened by pinlatch). */
  hasConnection(remote: Endpoint): boolean {
    return this.#connections.has(endpointKey(remote.address, remote.port));
  }

  /**
   * Sends a message (serialized here; over TCP Content-Length is added when missing) or raw bytes.
   * `local` picks the listen point to send from; by default the first one of the destination's
   * transport and address family. A UDP send is one promise around the datagram's callback: a
   * proxied call sends seven datagrams, and an async function would add a promise and its await
   * to each.
   */
  send(destination: Endpoint, message: SipMessage | Buffer, local?: ListenPoint): Promise<void> {
    if (this.#closed) return Promise.reject(new SipTransportError('transport is closed'));
    if (destination.transport !== 'udp') return this.#sendTcp(destination, message, local);
    let data: Buffer;
    let socket: dgram.Socket;
    try {
      data = Buffer.isBuffer(message) ? message : message.serialize();
      socket = this.#pickUdp(destination.address, local).socket;
    } catch (error) {
      return Promise.reject(error);
    }
    return new Promise<void>((resolve, reject) => {
      socket.send(data, destination.port, destination.address, (error) => {
        if (error) {
          reject(new SipTransportError(`UDP send to ${destination.address}:${destination.port} failed`, { cause: error }));
          return;
        }
        this.#stats.messagesSent++;
        resolve();
      });
    });
  }

  async #sendTcp(destination: Endpoint, message: SipMessage | Buffer, local: ListenPoint | undefined): Promise<void> {
    const data = Buffer.isBuffer(message) ? message : message.ensureContentLength().serialize();
    const connection = await this.#tcpConnection(destination, local);
    await new Promise<void>((resolve, reject) => {
      this.#write(connection, data, (error) =>
        error ? reject(new SipTransportError(`TCP send to ${destination.address}:${destination.port} failed`, { cause: error })) : resolve(),
      );
    });
    this.#stats.messagesSent++;
  }

  #pickUdp(address: string, local: ListenPoint | undefined): { socket: dgram.Socket; local: ListenPoint } {
    const family = ipFamilyOf(address);
    const match = this.#udp.find((u) =>
      local ? u.local.address === local.address && u.local.port === local.port : ipFamilyOf(u.local.address) === family,
    );
    if (!match) throw new SipTransportError(`no UDP listen point for IPv${family} destination ${address}`);
    return match;
  }

  async #tcpConnection(destination: Endpoint, local: ListenPoint | undefined): Promise<TcpConnection> {
    const key = endpointKey(destination.address, destination.port);
    const existing = this.#connections.get(key);
    if (existing && !existing.socket.destroyed) return existing;
    const pending = this.#connecting.get(key);
    if (pending) return pending;
    if (this.#connections.size + this.#connecting.size >= (this.#options.maxTcpConnections ?? 1024)) {
      throw new LimitError('tcp.connections', `TCP connection to ${destination.address}:${destination.port} not opened: ${this.#options.maxTcpConnections ?? 1024} connections open`);
    }
    const family = ipFamilyOf(destination.address);
    const from =
      local ?? this.#servers.find((s) => ipFamilyOf(s.local.address) === family)?.local ?? this.#servers[0]?.local;
    if (!from) throw new SipTransportError('no TCP listen point configured');
    const unspecified = from.address === '0.0.0.0' || from.address === '::';
    const connecting = new Promise<TcpConnection>((resolve, reject) => {
      const socket = net.connect({
        host: destination.address,
        port: destination.port,
        family,
        ...(unspecified || ipFamilyOf(from.address) !== family ? {} : { localAddress: from.address }),
      });
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new SipTransportError(`TCP connect to ${destination.address}:${destination.port} timed out`));
      }, this.#options.tcpConnectTimeoutMs ?? 5000);
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.off('error', onError);
        resolve(this.#adopt(socket, from));
      });
      const onError = (error: Error): void => {
        clearTimeout(timer);
        reject(new SipTransportError(`TCP connect to ${destination.address}:${destination.port} failed`, { cause: error }));
      };
      socket.once('error', onError);
    });
    this.#connecting.set(key, connecting);
    try {
      return await connecting;
    } finally {
      this.#connecting.delete(key);
    }
  }

  /** Closes every socket, server and connection. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const connection of this.#connections.values()) connection.socket.destroy();
    this.#connections.clear();
    for (const u of this.#udp) u.probe?.socket.close();
    await Promise.all([
      ...this.#udp.map((u) => new Promise<void>((resolve) => u.socket.close(() => resolve()))),
      ...this.#servers.map((s) => new Promise<void>((resolve) => s.server.close(() => resolve()))),
    ]);
    this.#udp.length = 0;
    this.#servers.length = 0;
  }
}
