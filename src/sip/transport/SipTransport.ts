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
 * `tcpIdleTimeoutMs` without traffic, on a framing error, or when the peer closes.
 * UDP datagrams are sent from the listen point of the destination's address family.
 */
import dgram from 'node:dgram';
import { EventEmitter } from 'node:events';
import net from 'node:net';
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
  /** Refuse inbound TCP connections beyond this many open ones (default 1024). */
  maxTcpConnections?: number;
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
  readonly #udp: Array<{ socket: dgram.Socket; local: ListenPoint }> = [];
  readonly #servers: Array<{ server: net.Server; local: ListenPoint }> = [];
  readonly #connections = new Map<string, TcpConnection>();
  readonly #connecting = new Map<string, Promise<TcpConnection>>();
  #closed = false;
  readonly #stats: TransportStats = {
    messagesReceived: 0,
    messagesSent: 0,
    parseErrors: 0,
    garbageDropped: 0,
    keepalives: 0,
    framingErrors: 0,
    tcpConnectionsOpen: 0,
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
    return { ...this.#stats, tcpConnectionsOpen: this.#connections.size };
  }

  async #bindUdp(lp: ListenPoint): Promise<void> {
    const family = ipFamilyOf(lp.address);
    const socket = dgram.createSocket({ type: family === 6 ? 'udp6' : 'udp4', ipv6Only: family === 6 });
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(lp.port, lp.address, () => {
        socket.off('error', reject);
        resolve();
      });
    });
    const local: ListenPoint = { transport: 'udp', address: lp.address, port: socket.address().port };
    socket.on('error', (error) => this.emit('error', error));
    socket.on('message', (data, rinfo) => {
      const address = normalizedIp(rinfo.address) ?? rinfo.address;
      if (isStun(data)) {
        const answer = bindingResponse(data, address, rinfo.port);
        this.#stats.keepalives++;
        if (answer) socket.send(answer, rinfo.port, rinfo.address);
        return;
      }
      this.#receive(data, { transport: 'udp', address, port: rinfo.port }, local, 'datagram');
    });
    this.#udp.push({ socket, local });
  }

  async #listenTcp(lp: ListenPoint): Promise<void> {
    let local: ListenPoint = { transport: 'tcp', address: lp.address, port: lp.port };
    const server = net.createServer((socket) => {
      if (this.#connections.size >= (this.#options.maxTcpConnections ?? 1024)) {
        socket.destroy();
        return;
      }
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
    socket.setTimeout(this.#options.tcpIdleTimeoutMs ?? 300_000, () => socket.destroy());
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
      for (const frame of frames) {
        if (frame.kind === 'ping') {
          this.#stats.keepalives++;
          socket.write(PONG);
        } else {
          this.#receive(frame.data, remote, local, 'stream');
        }
      }
    });
    socket.on('error', () => socket.destroy());
    socket.on('close', () => {
      if (this.#connections.get(key) !== connection) return;
      this.#connections.delete(key);
      this.emit('connectionClosed', remote);
    });
    return connection;
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
    this.emit('message', { message, source, local });
  }

  /**
   * Sends a message (serialized here; over TCP Content-Length is added when missing) or raw bytes.
   * `local` picks the listen point to send from; by default the first one of the destination's
   * transport and address family.
   */
  /** True while a TCP connection with `remote` is open (a phone's flow: never opened by pinlatch). */
  hasConnection(remote: Endpoint): boolean {
    return this.#connections.has(endpointKey(remote.address, remote.port));
  }

  async send(destination: Endpoint, message: SipMessage | Buffer, options: { local?: ListenPoint } = {}): Promise<void> {
    if (this.#closed) throw new SipTransportError('transport is closed');
    if (destination.transport === 'udp') {
      const data = Buffer.isBuffer(message) ? message : message.serialize();
      const udp = this.#pickUdp(destination.address, options.local);
      await new Promise<void>((resolve, reject) => {
        udp.socket.send(data, destination.port, destination.address, (error) =>
          error ? reject(new SipTransportError(`UDP send to ${destination.address}:${destination.port} failed`, { cause: error })) : resolve(),
        );
      });
    } else {
      const data = Buffer.isBuffer(message) ? message : message.ensureContentLength().serialize();
      const connection = await this.#tcpConnection(destination, options.local);
      await new Promise<void>((resolve, reject) => {
        connection.socket.write(data, (error) =>
          error ? reject(new SipTransportError(`TCP send to ${destination.address}:${destination.port} failed`, { cause: error })) : resolve(),
        );
      });
    }
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
    await Promise.all([
      ...this.#udp.map((u) => new Promise<void>((resolve) => u.socket.close(() => resolve()))),
      ...this.#servers.map((s) => new Promise<void>((resolve) => s.server.close(() => resolve()))),
    ]);
    this.#udp.length = 0;
    this.#servers.length = 0;
  }
}
