/**
 * A plain UDP SIP endpoint for loopback proxy tests: it binds its own 127.0.0.x address (the proxy
 * tells trunks apart by source address, so every role gets one), records every message it
 * receives and waits for one that matches, within a bound.
 */
import dgram from 'node:dgram';
import type { SipMessage, SipRequest, SipResponse } from '../../src/sip/message.ts';
import { parseMessage } from '../../src/sip/parser.ts';

export class UdpSipPeer {
  readonly received: SipMessage[] = [];
  private readonly waiters = new Set<() => void>();

  static async bind(address: string): Promise<UdpSipPeer> {
    const socket = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => socket.bind(0, address, resolve));
    return new UdpSipPeer(address, socket);
  }

  private constructor(
    readonly address: string,
    private readonly socket: dgram.Socket,
  ) {
    socket.on('message', (data) => {
      this.received.push(parseMessage(data, { framing: 'datagram' }));
      for (const wake of this.waiters) wake();
    });
  }

  get port(): number {
    return this.socket.address().port;
  }

  send(message: string | SipMessage, port: number, host: string): void {
    const data = typeof message === 'string' ? Buffer.from(message, 'latin1') : message.ensureContentLength().serialize();
    this.socket.send(data, port, host);
  }

  /** The first received message matching `match`, within `ms`. */
  async waitFor<T extends SipMessage>(match: (m: SipMessage) => m is T, ms?: number): Promise<T>;
  async waitFor(match: (m: SipMessage) => boolean, ms?: number): Promise<SipMessage>;
  async waitFor(match: (m: SipMessage) => boolean, ms = 5000): Promise<SipMessage> {
    const deadline = Date.now() + ms;
    for (;;) {
      const found = this.received.find(match);
      if (found) return found;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`${this.address}: no matching message within ${ms} ms; got ${this.received.map(describe).join(', ')}`);
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
    this.socket.close();
  }
}

export function describe(m: SipMessage): string {
  return m.kind === 'request' ? `${m.method} ${m.uriText}` : `${m.status} ${m.cseq?.method}`;
}

export const isRequest = (method: string, callId?: string) => (m: SipMessage): m is SipRequest =>
  m.kind === 'request' && m.method === method && (callId === undefined || m.callId === callId);

export const isResponse = (callId: string, method = 'INVITE', final = true) => (m: SipMessage): m is SipResponse =>
  m.kind === 'response' && m.callId === callId && m.cseq?.method === method && (!final || m.status >= 200);

/** A UDP port free on `address` right now (the configuration takes no port 0). */
export async function freeUdpPort(address: string): Promise<number> {
  const socket = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, address, resolve));
  const { port } = socket.address();
  await new Promise<void>((resolve) => socket.close(() => resolve()));
  return port;
}
