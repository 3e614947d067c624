/**
 * Test support for the native data plane: real UDP endpoints (node:dgram) that play the two call
 * parties and the attacker, RTP/RTCP packet builders, a stream opener that skips ports in use, and
 * a count of the descriptors a relay owns.
 */
import dgram from 'node:dgram';
import { readdirSync, readlinkSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import * as assert from 'uvu/assert';
import { addon, type LegPolicy, type NativeError, type NativeRelay, type RelayControl, type StreamCounters } from '../../src/native.ts';
import { scaled } from '../support/suite.ts';

export interface RtpFields {
  ssrc: number;
  seq: number;
  payloadType?: number;
  marker?: boolean;
  payloadBytes?: number;
  timestamp?: number;
}

/** A minimal valid RTP packet (RFC 3550 §5.1): V=2, no CSRC, no extension, no padding. */
export function rtp(fields: RtpFields): Buffer {
  const payload = fields.payloadBytes ?? 160;
  const packet = Buffer.alloc(12 + payload, 0xd5);
  packet[0] = 0x80;
  packet[1] = ((fields.marker ? 0x80 : 0) | (fields.payloadType ?? 0)) & 0xff;
  packet.writeUInt16BE(fields.seq & 0xffff, 2);
  packet.writeUInt32BE((fields.timestamp ?? fields.seq * 160) >>> 0, 4);
  packet.writeUInt32BE(fields.ssrc >>> 0, 8);
  return packet;
}

/** An RTCP receiver report with no report blocks (RFC 3550 §6.4.2): 8 octets, length field 1. */
export function rtcpReceiverReport(senderSsrc: number): Buffer {
  const packet = Buffer.alloc(8);
  packet[0] = 0x80;
  packet[1] = 201;
  packet.writeUInt16BE(1, 2);
  packet.writeUInt32BE(senderSsrc >>> 0, 4);
  return packet;
}

export interface Datagram {
  data: Buffer;
  address: string;
  port: number;
}

/** A UDP endpoint that records everything it receives. */
export class UdpPeer {
  readonly received: Datagram[] = [];
  private constructor(private readonly socket: dgram.Socket) {
    socket.on('message', (data, rinfo) => this.received.push({ data, address: rinfo.address, port: rinfo.port }));
  }

  static async bind(address: string, port = 0): Promise<UdpPeer> {
    const socket = address.includes(':')
      ? dgram.createSocket({ type: 'udp6', ipv6Only: true })
      : dgram.createSocket({ type: 'udp4' });
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(port, address, () => {
        socket.off('error', reject);
        resolve();
      });
    });
    return new UdpPeer(socket);
  }

  get address(): string {
    return this.socket.address().address;
  }
  get port(): number {
    return this.socket.address().port;
  }
  /** "ip:port" as the addon prints it ("[ip]:port" for IPv6). */
  get endpoint(): string {
    return this.address.includes(':') ? `[${this.address}]:${this.port}` : `${this.address}:${this.port}`;
  }

  send(data: Buffer, port: number, address: string): Promise<void> {
    return new Promise((resolve, reject) => this.socket.send(data, port, address, (err) => (err ? reject(err) : resolve())));
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.socket.close(() => resolve()));
  }
}

/** Polls `condition` every few ms until it holds; throws with `what` after `timeoutMs`. */
export async function until(what: string, condition: () => boolean, timeoutMs = 2000): Promise<void> {
  const deadline = Date.now() + scaled(timeoutMs);
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

/**
 * Gives in-flight datagrams time to arrive. Used only to assert that something does NOT happen
 * (a stranger receives nothing): loopback delivery takes microseconds, so 100 ms is generous.
 */
export function quiet(ms = 100): Promise<void> {
  return sleep(ms);
}

export function counters(relay: NativeRelay, id: number): StreamCounters {
  const [stats] = relay.stats([id]);
  if (!stats) throw new Error(`no stats for stream ${id}`);
  return stats;
}

export interface OpenedStream {
  id: number;
  aPort: number;
  bPort: number;
}

/** Opens a stream through `open` on random even ports, skipping ports that another process holds. */
function onFreePorts(open: (aPort: number, bPort: number) => number): OpenedStream {
  for (let attempt = 0; attempt < 50; attempt += 1) {
    const aPort = 20000 + 4 * Math.floor(Math.random() * 9000);
    const bPort = aPort + 2;
    try {
      return { id: open(aPort, bPort), aPort, bPort };
    } catch (err) {
      if ((err as { code?: string }).code !== 'ERR_PINLATCH_BIND') throw err;
    }
  }
  throw new Error('no free port pair found in 50 attempts');
}

/** Opens a stream on `relay` on free ports. */
export function openStream(relay: NativeRelay, address: string): OpenedStream {
  return onFreePorts((aPort, bPort) => relay.openStream({ address, aPort, bPort }));
}

/** Opens a stream through a relay's control channel on free loopback ports. */
export function openControlled(control: RelayControl, address = '127.0.0.1'): OpenedStream {
  return onFreePorts((aPort, bPort) => control.openStreams([{ address, aPort, bPort }])[0]!);
}

/** The error `fn` throws. */
export function thrown(fn: () => unknown): NativeError {
  try {
    fn();
  } catch (err) {
    return err as NativeError;
  }
  throw new assert.Assertion({ message: 'expected an error', generated: true, operator: 'throws' });
}

export type IoPath = 'epoll' | 'uring';

/**
 * The data paths to test on this machine: always epoll; io_uring too when the kernel offers what
 * the relay needs (a relay forced to 'uring' then opens). Where it does not, the uring tests are
 * not defined and that is printed, so a run on an old kernel says what it did not cover.
 */
export function ioPaths(): IoPath[] {
  try {
    addon.createRelay({ io: 'uring' }).close();
    return ['epoll', 'uring'];
  } catch (err) {
    process.stdout.write(`note: io_uring path not available here (${String(err)}); testing epoll only\n`);
    return ['epoll'];
  }
}

export function policy(overrides: Partial<LegPolicy> = {}): LegPolicy {
  return {
    mode: 'address',
    address: '127.0.0.1',
    rtcpMux: false,
    handoverSilenceMs: 300,
    handoverMaxSeqGap: 50,
    ...overrides,
  };
}

/**
 * Descriptors the relay owns: sockets and io_uring rings. Worker threads also open and close
 * descriptors of their own (libuv loop, loader caches) on their own schedule; those say nothing
 * about whether the addon released its sockets.
 */
export function relayFds(): number {
  let n = 0;
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      const target = readlinkSync(`/proc/self/fd/${fd}`);
      if (target.startsWith('socket:') || target === 'anon_inode:[io_uring]') n += 1;
    } catch {
      // closed between readdir and readlink
    }
  }
  return n;
}
