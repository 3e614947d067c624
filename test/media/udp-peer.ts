/**
 * A media endpoint for relay tests: one real UDP socket on loopback that records what it
 * receives, and builds minimal valid RTP packets (RFC 3550 §5.1 fixed header).
 */
import { createSocket, type Socket } from 'node:dgram';
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';

export interface Received {
  data: Buffer;
  address: string;
  port: number;
}

/** RTP v2, no padding/extension/CSRC, PT 0 (PCMU), `payloadBytes` of silence. */
export function rtpPacket(ssrc: number, seq: number, payloadBytes = 160): Buffer {
  const packet = Buffer.alloc(12 + payloadBytes, 0xff);
  packet[0] = 0x80;
  packet[1] = 0x00;
  packet.writeUInt16BE(seq & 0xffff, 2);
  packet.writeUInt32BE((seq * 160) >>> 0, 4);
  packet.writeUInt32BE(ssrc >>> 0, 8);
  return packet;
}

export class UdpPeer {
  readonly received: Received[] = [];
  readonly #socket: Socket;
  readonly port: number;

  private constructor(socket: Socket) {
    this.#socket = socket;
    this.port = socket.address().port;
    socket.on('message', (data, rinfo) => this.received.push({ data, address: rinfo.address, port: rinfo.port }));
  }

  static async open(address = '127.0.0.1', port = 0): Promise<UdpPeer> {
    const socket = createSocket({ type: address.includes(':') ? 'udp6' : 'udp4' });
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(port, address, () => {
        socket.off('error', reject);
        resolve();
      });
    });
    return new UdpPeer(socket);
  }

  send(data: Buffer, port: number, address = '127.0.0.1'): Promise<void> {
    return new Promise((resolve, reject) => this.#socket.send(data, port, address, (err) => (err ? reject(err) : resolve())));
  }

  /** Resolves when `predicate` holds on what was received, rejects after `timeoutMs`. */
  async waitFor(predicate: (received: Received[]) => boolean, timeoutMs = 3000, what = 'packets'): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!predicate(this.received)) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what} (${this.received.length} received)`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.#socket.close(() => resolve()));
  }
}

/** True when a UDP port on `address` can be bound right now (nobody holds it). */
export async function canBind(port: number, address = '127.0.0.1'): Promise<boolean> {
  try {
    const peer = await UdpPeer.open(address, port);
    await peer.close();
    return true;
  } catch {
    return false;
  }
}

/**
 * UDP sockets open in this process (all threads share the descriptor table). Other socket kinds
 * (worker and loader plumbing) come and go on their own and are not counted.
 */
/**
 * Whether `port` becomes bindable within `withinMs`: a released session's sockets are closed by
 * its shard's loop moments after release() resolves (MediaRelayApi.release).
 */
export async function freedWithin(port: number, withinMs = 2000, address = '127.0.0.1'): Promise<boolean> {
  const deadline = Date.now() + withinMs;
  for (;;) {
    if (await canBind(port, address)) return true;
    if (Date.now() >= deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

export function openUdpSocketCount(): number {
  const udpInodes = new Set<string>();
  for (const table of ['/proc/net/udp', '/proc/net/udp6']) {
    let text = '';
    try {
      text = readFileSync(table, 'utf8');
    } catch {
      continue; // no IPv6 in this kernel
    }
    for (const line of text.split('\n').slice(1)) {
      const inode = line.trim().split(/\s+/)[9];
      if (inode) udpInodes.add(inode);
    }
  }
  let count = 0;
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      const match = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/self/fd/${fd}`));
      if (match && udpInodes.has(match[1]!)) count++;
    } catch {
      // the fd closed between readdir and readlink
    }
  }
  return count;
}

// Test relays take their ranges below the Linux ephemeral range (32768-60999 by default), so
// no socket bound to port 0 anywhere on the machine lands inside them.
const RANGE_LOW = 10_000;
const RANGE_HIGH = 32_000;
const RANGE_STEP = 100;
const handedOut: Array<{ min: number; max: number }> = [];

/**
 * A port range of `span` ports that nobody holds right now and that no other relay of this test
 * process was given; the search starts at a pid-dependent place so concurrent test processes
 * spread out.
 */
export async function freePortRange(span: number): Promise<{ min: number; max: number }> {
  const slots = Math.floor((RANGE_HIGH - RANGE_LOW) / RANGE_STEP);
  const first = (process.pid * 37) % slots;
  for (let i = 0; i < slots; i++) {
    const min = RANGE_LOW + ((first + i) % slots) * RANGE_STEP;
    const max = min + span - 1;
    if (max >= RANGE_HIGH || handedOut.some((r) => min <= r.max && r.min <= max)) continue;
    let free = true;
    for (let port = min; port <= max && free; port++) free = await canBind(port);
    if (!free) continue;
    handedOut.push({ min, max });
    return { min, max };
  }
  throw new Error(`no free range of ${span} UDP ports in ${RANGE_LOW}-${RANGE_HIGH}`);
}
