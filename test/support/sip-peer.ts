/**
 * What the SIP proxy tests share: a SIP endpoint over real UDP/TCP sockets that records what it
 * receives, builders for the requests and answers the tests exchange, and the proxy under test
 * (SipProxy + MediaRelay in this process) started from a YAML text.
 */
import dgram from 'node:dgram';
import net from 'node:net';
import { randomBytes } from 'node:crypto';
import { parseMessage } from '../../src/sip/wire/parser.ts';
import { createResponse, type SipMessage, type SipRequest, type SipResponse } from '../../src/sip/wire/message.ts';
import { StreamFramer } from '../../src/sip/transport/StreamFramer.ts';
import { parseConfig } from '../../src/config/index.ts';
import { MediaRelay } from '../../src/media/MediaRelay.ts';
import { mediaRelayOptions } from '../../src/app/Pinlatch.ts';
import { SipProxy } from '../../src/sip/proxy/Proxy.ts';

/** The proxy's address in the IPv4 loopback proxy tests. */
export const PROXY = '127.0.0.1';

const familyOf = (address: string) => (net.isIPv6(address) ? 6 : 4);
/** The proxy a peer talks to when none is named: PROXY, or ::1 for a peer on an IPv6 address. */
const proxyFor = (address: string) => (familyOf(address) === 6 ? '::1' : PROXY);

/** A SIP endpoint over UDP or TCP that records every message it receives. */
export class SipPeer {
  readonly received: SipMessage[] = [];
  private readonly waiters = new Set<() => void>();
  private udp: dgram.Socket | null = null;
  private tcp: net.Socket | null = null;
  port = 0;

  static async udp(address: string, proxy = proxyFor(address)): Promise<SipPeer> {
    const peer = new SipPeer(address, 'UDP', proxy);
    const socket = dgram.createSocket(familyOf(address) === 6 ? 'udp6' : 'udp4');
    await new Promise<void>((resolve) => socket.bind(0, address, resolve));
    socket.on('message', (data) => peer.push(data, 'datagram'));
    peer.udp = socket;
    peer.port = socket.address().port;
    return peer;
  }

  static async tcp(address: string, to: number, proxy = proxyFor(address)): Promise<SipPeer> {
    const peer = new SipPeer(address, 'TCP', proxy);
    const socket = net.connect({ host: proxy, port: to, localAddress: address });
    await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
    const framer = new StreamFramer();
    socket.on('data', (chunk) => {
      for (const frame of framer.push(chunk)) if (frame.kind === 'message') peer.push(frame.data, 'stream');
    });
    peer.tcp = socket;
    peer.port = socket.localPort!;
    return peer;
  }

  private constructor(
    readonly address: string,
    readonly transport: 'UDP' | 'TCP',
    readonly proxy: string,
  ) {}

  /** `address:port` as a Via sent-by or URI hostport writes it (IPv6 in brackets, RFC 3261 §25.1). */
  get hostport(): string {
    return `${familyOf(this.address) === 6 ? `[${this.address}]` : this.address}:${this.port}`;
  }

  private push(data: Buffer, framing: 'datagram' | 'stream'): void {
    this.received.push(parseMessage(data, { framing }));
    for (const wake of this.waiters) wake();
  }

  send(text: string | Buffer | SipMessage, port: number, host = this.proxy): void {
    const data = Buffer.isBuffer(text) ? text : typeof text === 'string' ? Buffer.from(text, 'latin1') : text.ensureContentLength().serialize();
    if (this.tcp) this.tcp.write(data);
    else this.udp!.send(data, port, host);
  }

  sendMessage(message: SipMessage, port: number, host = this.proxy): void {
    this.send(message.ensureContentLength().serialize(), port, host);
  }

  /** The first received message (from index `from` on) matching `match`, within `ms`. */
  async waitFor<T extends SipMessage>(match: (m: SipMessage) => m is T, ms?: number): Promise<T>;
  async waitFor(match: (m: SipMessage) => boolean, ms?: number): Promise<SipMessage>;
  async waitFor(match: (m: SipMessage) => boolean, ms = 5000): Promise<SipMessage> {
    const deadline = Date.now() + ms;
    for (;;) {
      const found = this.received.find(match);
      if (found) return found;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no matching message within ${ms} ms; got ${this.received.map(describe).join(', ')}`);
      await new Promise<void>((resolve) => {
        const wake = () => {
          this.waiters.delete(wake);
          clearTimeout(timer);
          resolve();
        };
        const timer = setTimeout(wake, left);
        this.waiters.add(wake);
      });
    }
  }

  close(): void {
    this.udp?.close();
    this.tcp?.destroy();
  }
}

export function describe(m: SipMessage): string {
  return m.kind === 'request' ? `${m.method} ${m.uriText}` : `${m.status} ${m.cseq?.method}`;
}

export const isResponse = (callId: string, method = 'INVITE', final = true) => (m: SipMessage): m is SipResponse =>
  m.kind === 'response' && m.callId === callId && m.cseq?.method === method && (!final || m.status >= 200);
export const isRequest = (method: string, callId?: string) => (m: SipMessage): m is SipRequest =>
  m.kind === 'request' && m.method === method && (callId === undefined || m.callId === callId);

export function sdp(address: string, port: number, version = 1, direction = 'sendrecv'): string {
  return [
    'v=0',
    `o=- 4711 ${version} IN IP4 ${address}`,
    's=-',
    `c=IN IP4 ${address}`,
    't=0 0',
    `m=audio ${port} RTP/AVP 0 8`,
    'a=rtpmap:0 PCMU/8000',
    `a=${direction}`,
    '',
  ].join('\r\n');
}

export interface RequestSpec {
  method?: string;
  user: string;
  /** Where the request comes from (Via, From, Contact). */
  peer: Pick<SipPeer, 'address' | 'port' | 'transport'>;
  proxyPort: number;
  callId?: string;
  maxForwards?: number;
  body?: string;
  toTag?: string;
  cseq?: number;
  uri?: string;
  routes?: string[];
}

export function request(spec: RequestSpec): string {
  const method = spec.method ?? 'INVITE';
  const body = spec.body ?? '';
  const branch = `z9hG4bK${randomBytes(6).toString('hex')}`;
  return [
    `${method} ${spec.uri ?? `sip:${spec.user}@${PROXY}:${spec.proxyPort}`} SIP/2.0`,
    `Via: SIP/2.0/${spec.peer.transport} ${spec.peer.address}:${spec.peer.port};branch=${branch};rport`,
    ...(spec.routes ?? []).map((r) => `Route: ${r}`),
    `Max-Forwards: ${spec.maxForwards ?? 70}`,
    `From: <sip:caller@${spec.peer.address}>;tag=c${spec.callId ?? 'x'}`,
    `To: <sip:${spec.user}@${PROXY}>${spec.toTag ? `;tag=${spec.toTag}` : ''}`,
    `Call-ID: ${spec.callId ?? randomBytes(6).toString('hex')}`,
    `CSeq: ${spec.cseq ?? 1} ${method}`,
    `Contact: <sip:caller@${spec.peer.address}:${spec.peer.port}${spec.peer.transport === 'TCP' ? ';transport=tcp' : ''}>`,
    ...(body ? ['Content-Type: application/sdp'] : []),
    `Content-Length: ${Buffer.byteLength(body)}`,
    '',
    body,
  ].join('\r\n');
}

/** The gateway's answer to a request it received, with its Record-Route and Contact (§12.1.1). */
export function answer(req: SipRequest, status: number, gateway: SipPeer, body?: string, toTag = 'gw1'): SipResponse {
  const response = createResponse(req, status, { toTag });
  for (const rr of req.getAll('record-route')) response.append('Record-Route', rr);
  response.set('Contact', `<sip:gw@${gateway.address}:${gateway.port}>`);
  if (body) response.setBody(Buffer.from(body, 'latin1'), 'application/sdp');
  return response;
}

export function sdpPort(message: SipMessage): number {
  return Number(/m=audio (\d+)/.exec(message.body.toString('latin1'))![1]);
}

export async function freeSipPort(): Promise<number> {
  for (;;) {
    const udp = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => udp.bind(0, PROXY, resolve));
    const port = udp.address().port;
    const server = net.createServer();
    const ok = await new Promise<boolean>((resolve) => {
      server.once('error', () => resolve(false));
      server.listen(port, PROXY, () => resolve(true));
    });
    await new Promise<void>((resolve) => (ok ? server.close(() => resolve()) : resolve()));
    await new Promise<void>((resolve) => udp.close(() => resolve()));
    if (ok) return port;
  }
}

export async function until(check: () => boolean | Promise<boolean>, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what} within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 25));
  }
}


/** A SipProxy with its MediaRelay, in this process, from a YAML configuration text. */
export interface ProxyUnderTest {
  relay: MediaRelay;
  proxy: SipProxy;
}

export async function startProxy(yaml: string): Promise<ProxyUnderTest> {
  const config = parseConfig(yaml);
  const relay = await MediaRelay.start(mediaRelayOptions(config.media));
  const proxy = new SipProxy({ config, media: relay });
  try {
    await proxy.start();
  } catch (err) {
    await relay.close();
    throw err;
  }
  return { relay, proxy };
}

/** Stops what startProxy started (either may be missing when `before` failed half-way). */
export async function stopProxy(sut: Partial<ProxyUnderTest>): Promise<void> {
  await sut.proxy?.stop();
  await sut.relay?.close();
}

/** A Record-Route or Route value of pinlatch's without its signed token (`;plt=`), for comparing. */
export function withoutToken(value: string | undefined): string | undefined {
  return value?.replace(/;plt=[A-Za-z0-9_-]+/, '');
}
