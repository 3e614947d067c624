/**
 * NG control socket: rtpengine's `--listen-ng` (UDP) and `--listen-tcp-ng` (TCP) transports.
 *
 * Wire format (rtpengine docs/ng_control_protocol.md): `<cookie> <dictionary>`, the dictionary in
 * bencode or, when it starts with `{`, JSON; the reply carries the same cookie and uses the
 * request's encoding. Over TCP messages follow each other with no length prefix: a message ends
 * where its bencode dictionary ends (rtpengine's control_ng.c reads TCP the same way), so TCP
 * takes bencode only.
 *
 * Only sources inside the allow-list (`allow`, loopback by default) are served: NG has no
 * authentication, and whoever can reach the socket can open, redirect and end media sessions. A
 * datagram or TCP connection from elsewhere is dropped unanswered, before any decoding, and
 * counted (`refused`).
 *
 * Requests are decoded with hard limits (bencode.ts), answered from the retransmission cache
 * when the cookie was seen (CookieCache.ts), otherwise handed to the NgController. Nothing a
 * client sends can throw out of this class: every failure becomes `result: error` or, when there
 * is not even a cookie to answer to, a counted drop.
 */
import { createSocket, type Socket as UdpSocket, type RemoteInfo } from 'node:dgram';
import { createServer, type Server as TcpServer, type Socket as TcpSocket } from 'node:net';
import { once } from 'node:events';
import {
  BencodeError,
  DEFAULT_BENCODE_LIMITS,
  decode,
  decodeJson,
  decodePrefix,
  encode,
  toJsonValue,
  type BencodeDict,
  type BencodeInput,
  type BencodeLimits,
  type BencodeValue,
} from './bencode.js';
import { CookieCache, type CookieCacheOptions } from './CookieCache.js';
import { NgError } from './errors.js';
import { CidrSet } from '../net/cidr.js';
import { parseNgRequest } from './NgRequest.js';

/** What the server needs from the command layer (NgController implements it). */
export interface NgRequestHandler {
  handle(request: ReturnType<typeof parseNgRequest>, source: NgPeer): Promise<NgReply>;
}

export interface NgPeer {
  address: string;
  port: number;
  transport: 'udp' | 'tcp';
}

export type NgReply = { [key: string]: BencodeInput | undefined };

export interface NgServerOptions {
  /** Listen address; loopback by default (rtpengine's advice: NG has no authentication). */
  address?: string;
  /** UDP port (0 = ephemeral, read `udpPort` after listen()). */
  port: number;
  /** Also listen on TCP: true = same port as UDP, a number = that port. */
  tcp?: boolean | number;
  limits?: Partial<BencodeLimits>;
  cookieCache?: Partial<CookieCacheOptions>;
  /** Longest cookie accepted; Kamailio's are ~20 bytes. */
  maxCookieBytes?: number;
  /** Sources commands are accepted from; default loopback (127.0.0.0/8 and ::1). */
  allow?: CidrSet;
  /** Called for each request that could not be processed (for logging); never for ping. */
  onProblem?: (problem: NgProblem) => void;
  /**
   * Called for a refused source (not in `allow`): its first datagram or connection, then at most
   * once per REFUSAL_REPORT_INTERVAL_MS with the number refused meanwhile, so a flood cannot
   * flood the log.
   */
  onRefused?: (refusal: NgRefusal) => void;
}

export interface NgRefusal {
  peer: NgPeer;
  /** Datagrams and connections refused since the previous report (this one included). */
  count: number;
}

export interface NgProblem {
  peer: NgPeer;
  code: string;
  message: string;
}

export interface NgServerCounters {
  requests: number;
  retransmissions: number;
  /** Datagrams or TCP messages without a usable cookie (not answerable). */
  dropped: number;
  /** Requests answered with `result: error`. */
  errors: number;
  /** Datagrams and TCP connections from sources outside the allow-list, dropped unanswered. */
  refused: number;
}

/** Shortest time between two refusal reports (onRefused). */
export const REFUSAL_REPORT_INTERVAL_MS = 10_000;

const SPACE = 0x20;
const OPEN_BRACE = 0x7b;

export class NgServer {
  readonly counters: NgServerCounters = { requests: 0, retransmissions: 0, dropped: 0, errors: 0, refused: 0 };
  /** Sources commands are accepted from. */
  readonly allow: CidrSet;
  private readonly handler: NgRequestHandler;
  private readonly options: NgServerOptions;
  private readonly limits: BencodeLimits;
  private readonly maxCookieBytes: number;
  private readonly cache: CookieCache;
  private udp: UdpSocket | undefined;
  private tcp: TcpServer | undefined;
  private readonly connections = new Set<TcpSocket>();
  private closed = false;
  private lastRefusalReport = Number.NEGATIVE_INFINITY;
  private refusedSinceReport = 0;

  constructor(handler: NgRequestHandler, options: NgServerOptions) {
    this.handler = handler;
    this.options = options;
    this.allow = options.allow ?? CidrSet.loopback();
    this.limits = { ...DEFAULT_BENCODE_LIMITS, ...options.limits };
    this.maxCookieBytes = options.maxCookieBytes ?? 256;
    this.cache = new CookieCache(options.cookieCache);
  }

  /** Bound UDP port (after listen()). */
  get udpPort(): number {
    if (this.udp === undefined) throw new Error('NgServer is not listening');
    return this.udp.address().port;
  }

  /** Bound TCP port (after listen(), when TCP is enabled). */
  get tcpPort(): number | undefined {
    const a = this.tcp?.address();
    return a !== undefined && a !== null && typeof a === 'object' ? a.port : undefined;
  }

  get address(): string {
    return this.options.address ?? '127.0.0.1';
  }

  async listen(): Promise<void> {
    const address = this.address;
    const udp = createSocket({ type: address.includes(':') ? 'udp6' : 'udp4' });
    udp.on('message', (msg, rinfo) => this.onDatagram(msg, rinfo));
    // A send error to one client must not bring the socket down; the request is simply lost.
    udp.on('error', () => {});
    await new Promise<void>((resolve, reject) => {
      udp.once('error', reject);
      udp.bind(this.options.port, address, () => {
        udp.off('error', reject);
        resolve();
      });
    });
    this.udp = udp;

    if (this.options.tcp !== undefined && this.options.tcp !== false) {
      const tcpPort = this.options.tcp === true ? udp.address().port : this.options.tcp;
      const server = createServer((socket) => this.onConnection(socket));
      server.on('error', () => {});
      server.listen(tcpPort, address);
      await Promise.race([once(server, 'listening'), once(server, 'error').then(([err]) => Promise.reject(err))]);
      this.tcp = server;
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const socket of this.connections) socket.destroy();
    this.connections.clear();
    const tasks: Promise<unknown>[] = [];
    if (this.udp !== undefined) tasks.push(new Promise<void>((r) => this.udp!.close(() => r())));
    if (this.tcp !== undefined) tasks.push(new Promise<void>((r) => this.tcp!.close(() => r())));
    await Promise.all(tasks);
    this.cache.clear();
  }

  private onDatagram(msg: Buffer, rinfo: RemoteInfo): void {
    const peer: NgPeer = { address: rinfo.address, port: rinfo.port, transport: 'udp' };
    if (!this.allow.has(rinfo.address)) return this.refuse(peer);
    const space = msg.indexOf(SPACE);
    if (space <= 0 || space > this.maxCookieBytes) {
      this.counters.dropped += 1;
      this.report(peer, 'ERR_PINLATCH_NG_FRAMING', 'datagram without a cookie');
      return;
    }
    const send = (reply: Buffer): void => {
      if (!this.closed) this.udp?.send(reply, rinfo.port, rinfo.address);
    };
    void this.process(msg, space, peer, send);
  }

  private onConnection(socket: TcpSocket): void {
    if (this.closed) {
      socket.destroy();
      return;
    }
    const peer: NgPeer = { address: socket.remoteAddress ?? '', port: socket.remotePort ?? 0, transport: 'tcp' };
    if (!this.allow.has(peer.address)) {
      socket.destroy();
      return this.refuse(peer);
    }
    this.connections.add(socket);
    let pending: Buffer = Buffer.alloc(0);
    const send = (reply: Buffer): void => {
      if (!socket.destroyed) socket.write(reply);
    };
    socket.on('data', (chunk: Buffer) => {
      pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
      for (;;) {
        const space = pending.indexOf(SPACE);
        if (space < 0) {
          if (pending.length > this.maxCookieBytes) return this.dropConnection(socket, peer, 'no cookie');
          return;
        }
        if (space === 0 || space > this.maxCookieBytes) return this.dropConnection(socket, peer, 'bad cookie');
        if (space + 1 >= pending.length) return;
        if (pending[space + 1] === OPEN_BRACE) return this.dropConnection(socket, peer, 'JSON is not framed on TCP');
        let end: number;
        try {
          end = decodePrefix(pending, this.limits, space + 1).end;
        } catch (err) {
          if (err instanceof BencodeError && err.code === 'ERR_PINLATCH_BENCODE_TRUNCATED') return;
          // The stream has lost its framing: answer this one, then nothing after it can be trusted.
          void this.process(pending, space, peer, send);
          return this.dropConnection(socket, peer, (err as Error).message);
        }
        const message = pending.subarray(0, end);
        pending = pending.subarray(end);
        void this.process(message, space, peer, send);
      }
    });
    socket.on('error', () => {});
    socket.on('close', () => this.connections.delete(socket));
  }

  private refuse(peer: NgPeer): void {
    this.counters.refused += 1;
    this.refusedSinceReport += 1;
    const now = performance.now();
    if (now - this.lastRefusalReport < REFUSAL_REPORT_INTERVAL_MS) return;
    this.lastRefusalReport = now;
    const count = this.refusedSinceReport;
    this.refusedSinceReport = 0;
    this.options.onRefused?.({ peer, count });
  }

  private dropConnection(socket: TcpSocket, peer: NgPeer, why: string): void {
    this.counters.dropped += 1;
    this.report(peer, 'ERR_PINLATCH_NG_FRAMING', why);
    socket.end();
    socket.destroy();
  }

  /** Decodes, deduplicates, executes and answers one `<cookie> <dictionary>` message. */
  private async process(message: Buffer, space: number, peer: NgPeer, send: (reply: Buffer) => void): Promise<void> {
    const cookie = message.subarray(0, space);
    const cacheKey = `${peer.transport}:${peer.address}:${peer.port}:${cookie.toString('latin1')}`;
    const seen = this.cache.begin(cacheKey);
    if (seen.state !== 'new') {
      this.counters.retransmissions += 1;
      if (seen.state === 'done') send(seen.reply);
      return;
    }
    this.counters.requests += 1;
    const json = message[space + 1] === OPEN_BRACE;
    let reply: NgReply;
    try {
      const dict = this.decodeBody(message, space + 1, json);
      const request = parseNgRequest(dict);
      reply = await this.handler.handle(request, peer);
    } catch (err) {
      reply = this.errorReply(err, peer);
    }
    if (reply['result'] === 'error') this.counters.errors += 1;
    const wire = this.frame(cookie, reply, json);
    this.cache.complete(cacheKey, wire);
    send(wire);
  }

  private decodeBody(message: Buffer, start: number, json: boolean): BencodeDict {
    if (start >= message.length) throw new NgError('ERR_PINLATCH_NG_DECODE', 'Empty message');
    let value: BencodeValue;
    try {
      value = json ? decodeJson(message, this.limits, start) : decode(message, this.limits, start);
    } catch (err) {
      if (err instanceof BencodeError) throw new NgError('ERR_PINLATCH_NG_DECODE', `Could not decode dictionary: ${err.message}`, { cause: err });
      throw err;
    }
    if (typeof value !== 'object' || Buffer.isBuffer(value) || Array.isArray(value)) {
      throw new NgError('ERR_PINLATCH_NG_DECODE', 'Could not decode dictionary: not a dictionary');
    }
    return value;
  }

  private errorReply(err: unknown, peer: NgPeer): NgReply {
    if (err instanceof NgError) {
      this.report(peer, err.code, err.message);
      return { result: 'error', 'error-reason': err.message };
    }
    // A bug in a command must still produce an answer, not an unhandled rejection.
    const message = err instanceof Error ? err.message : String(err);
    this.report(peer, 'ERR_PINLATCH_NG_INTERNAL', message);
    return { result: 'error', 'error-reason': `Internal error: ${message}` };
  }

  private frame(cookie: Buffer, reply: NgReply, json: boolean): Buffer {
    let body: Buffer;
    try {
      body = json ? Buffer.from(JSON.stringify(toJsonValue(reply)), 'utf8') : encode(reply);
    } catch (err) {
      body = encode({ result: 'error', 'error-reason': `Could not encode reply: ${(err as Error).message}` });
    }
    const out = Buffer.allocUnsafe(cookie.length + 1 + body.length);
    cookie.copy(out, 0);
    out[cookie.length] = SPACE;
    body.copy(out, cookie.length + 1);
    return out;
  }

  private report(peer: NgPeer, code: string, message: string): void {
    this.options.onProblem?.({ peer, code, message });
  }
}
