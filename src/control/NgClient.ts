/**
 * A minimal NG client over UDP: what a SIP proxy's rtpengine module does, for pinlatch's tests and
 * its control-plane benchmark (it talks to rtpengine just the same). Requests are matched to replies
 * by cookie; a request not answered within `timeoutMs` is sent again once per `retransmitMs`
 * with the same cookie (as Kamailio does), then fails.
 */
import { createSocket, type Socket } from 'node:dgram';
import { decode, encode, type BencodeDict, type BencodeInput } from './bencode.js';

export interface NgClientOptions {
  host: string;
  port: number;
  /** Give up after this long (ms). */
  timeoutMs?: number;
  /** Resend with the same cookie after this long without a reply (ms); 0 = never. */
  retransmitMs?: number;
  /** Local address to send from; default the loopback address of `host`'s family. */
  localAddress?: string;
}

interface Waiter {
  resolve: (reply: BencodeDict) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
  resend: NodeJS.Timeout | undefined;
}

export class NgClient {
  private readonly socket: Socket;
  private readonly waiters = new Map<string, Waiter>();
  private readonly options: Required<Omit<NgClientOptions, 'localAddress'>>;
  private counter = 0;
  private readonly prefix = `${process.pid}_${Math.floor(Math.random() * 1e6)}_`;

  private constructor(socket: Socket, options: Required<Omit<NgClientOptions, 'localAddress'>>) {
    this.socket = socket;
    this.options = options;
    socket.on('message', (msg) => this.onReply(msg));
  }

  static async connect(options: NgClientOptions): Promise<NgClient> {
    const socket = createSocket(options.host.includes(':') ? 'udp6' : 'udp4');
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(0, options.localAddress ?? (options.host.includes(':') ? '::1' : '127.0.0.1'), () => resolve());
    });
    return new NgClient(socket, { timeoutMs: 5000, retransmitMs: 0, ...options });
  }

  /** Sends a request dictionary and resolves with the decoded reply dictionary. */
  request(dict: BencodeInput, cookie = this.nextCookie()): Promise<BencodeDict> {
    return this.requestRaw(Buffer.concat([Buffer.from(`${cookie} `, 'latin1'), encode(dict)]), cookie);
  }

  /** Sends raw bytes that start with `<cookie> ` and waits for the reply carrying that cookie. */
  requestRaw(message: Buffer, cookie: string): Promise<BencodeDict> {
    return new Promise<BencodeDict>((resolve, reject) => {
      const send = (): void => this.socket.send(message, this.options.port, this.options.host);
      const timer = setTimeout(() => {
        this.finish(cookie);
        reject(new Error(`NG request ${cookie} not answered in ${this.options.timeoutMs} ms`));
      }, this.options.timeoutMs);
      const resend = this.options.retransmitMs > 0 ? setInterval(send, this.options.retransmitMs) : undefined;
      this.waiters.set(cookie, { resolve, reject, timer, resend });
      send();
    });
  }

  nextCookie(): string {
    this.counter += 1;
    return `${this.prefix}${this.counter}`;
  }

  private finish(cookie: string): Waiter | undefined {
    const w = this.waiters.get(cookie);
    if (w === undefined) return undefined;
    clearTimeout(w.timer);
    clearInterval(w.resend);
    this.waiters.delete(cookie);
    return w;
  }

  private onReply(msg: Buffer): void {
    const space = msg.indexOf(0x20);
    if (space <= 0) return;
    const w = this.finish(msg.toString('latin1', 0, space));
    if (w === undefined) return;
    try {
      const value = msg[space + 1] === 0x7b ? JSON.parse(msg.toString('utf8', space + 1)) : decode(msg, undefined, space + 1);
      w.resolve(value as BencodeDict);
    } catch (err) {
      w.reject(err as Error);
    }
  }

  close(): void {
    for (const cookie of [...this.waiters.keys()]) this.finish(cookie)?.reject(new Error('NG client closed'));
    this.socket.close();
  }
}

/** Text of a reply value (Buffer or JSON string). */
export function replyText(value: unknown): string | undefined {
  if (Buffer.isBuffer(value)) return value.toString('utf8');
  if (typeof value === 'string') return value;
  return undefined;
}
