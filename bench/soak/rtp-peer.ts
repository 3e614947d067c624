/**
 * The soak's RTP: one process that is the media of every caller and every callee at once.
 *
 *   node --import tsx bench/soak/rtp-peer.ts --caller IP:PORT --callee IP:PORT --fifo PATH [--ptime-ms 20]
 *
 * Every call's SDP names one of the two sockets (the caller's offer the first, the callee's
 * answer the second), so pinlatch relays every call between the same two addresses, each call
 * through its own pair of relay ports. The caller's sipp tells this process the relay port of
 * its call once the 200 names it, by a line written into the FIFO from its scenario's <exec>:
 *   a <relay ip> <relay port> <milliseconds>
 * and the caller's stream starts: an RTP packet every ptime for that long, from the caller socket
 * (symmetric RTP, so pinlatch latches onto it). Its first packet out of pinlatch, on the callee
 * socket, comes from the call's other relay port: the callee's stream starts there and then, back
 * toward that port, until the caller's ends. Streams end by the clock, not by a packet count: a
 * process that is descheduled sends fewer packets instead of sending after the BYE. (Only one side learns its port from
 * sipp because every <exec> costs sipp two forks and a wait, which stall it on a busy machine.)
 * Every stream has its own SSRC, which pinlatch leaves alone: a packet that comes out on the other
 * socket is counted as delivered for that stream.
 *
 * stdin takes `stats` (answered with one JSON line on stdout) and `quit`.
 */
import { createSocket, type Socket } from 'node:dgram';
import { createReadStream, openSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';

interface Stream {
  side: 'a' | 'b';
  ssrc: number;
  to: { address: string; port: number };
  /** Date.now() after which the stream sends no more. */
  until: number;
  sent: number;
  delivered: number;
  done: boolean;
  /** The callee's stream of a caller's stream, once started. */
  answered: boolean;
}

export interface RtpPeerStats {
  streams: number;
  active: number;
  sent: number;
  delivered: number;
  /** Finished streams of which nothing came out on the far side. */
  silent: number;
  /** Packets that came back out on the socket that sent them. */
  misrouted: number;
  /** Packets of no stream this process knows (or one finished long ago). */
  foreign: number;
  badLines: number;
}

/** A finished stream keeps counting late packets this long, then is forgotten. */
const LATE_MS = 3000;

function endpoint(text: string): { address: string; port: number } {
  const i = text.lastIndexOf(':');
  return { address: text.slice(0, i), port: Number(text.slice(i + 1)) };
}

function main(): void {
  const { values } = parseArgs({
    options: {
      caller: { type: 'string' },
      callee: { type: 'string' },
      fifo: { type: 'string' },
      'ptime-ms': { type: 'string', default: '20' },
    },
    strict: true,
  });
  if (!values.caller || !values.callee || !values.fifo) throw new Error('--caller, --callee and --fifo are required');
  const ptimeMs = Number(values['ptime-ms']);
  const streams = new Map<number, Stream>();
  const active: Stream[] = [];
  const stats: RtpPeerStats = { streams: 0, active: 0, sent: 0, delivered: 0, silent: 0, misrouted: 0, foreign: 0, badLines: 0 };
  let nextSsrc = 0x50a10000;

  const sockets = { a: createSocket('udp4'), b: createSocket('udp4') } satisfies Record<'a' | 'b', Socket>;
  const start = (side: 'a' | 'b', to: Stream['to'], until: number): void => {
    const s: Stream = { side, ssrc: nextSsrc++ >>> 0, to, until, sent: 0, delivered: 0, done: false, answered: false };
    streams.set(s.ssrc, s);
    active.push(s);
    stats.streams++;
  };
  const onPacket = (side: 'a' | 'b') => (msg: Buffer, from: { address: string; port: number }) => {
    // RTP version 2 (RFC 3550 §5.1) with its 12-byte fixed header.
    if (msg.length < 12 || msg[0]! >> 6 !== 2) return;
    const stream = streams.get(msg.readUInt32BE(8));
    if (stream === undefined) stats.foreign++;
    else if (stream.side === side) stats.misrouted++;
    else {
      stream.delivered++;
      stats.delivered++;
      if (side === 'b' && !stream.answered && !stream.done) {
        stream.answered = true;
        start('b', { address: from.address, port: from.port }, stream.until);
      }
    }
  };
  sockets.a.on('message', onPacket('a'));
  sockets.b.on('message', onPacket('b'));

  const packet = (s: Stream): Buffer => {
    const buf = Buffer.alloc(12 + 160, 0xff);
    buf[0] = 0x80;
    buf[1] = 0; // PCMU
    buf.writeUInt16BE(s.sent & 0xffff, 2);
    buf.writeUInt32BE((s.sent * 160) >>> 0, 4);
    buf.writeUInt32BE(s.ssrc, 8);
    return buf;
  };

  // One timer for every stream: a packet per stream per ptime, whatever the number of calls.
  const tick = setInterval(() => {
    const now = Date.now();
    for (let i = active.length - 1; i >= 0; i--) {
      const s = active[i]!;
      if (now < s.until) {
        sockets[s.side].send(packet(s), s.to.port, s.to.address);
        s.sent++;
        stats.sent++;
        continue;
      }
      s.done = true;
      active[i] = active[active.length - 1]!;
      active.pop();
    }
    for (const [ssrc, s] of streams) {
      if (!s.done || now - s.until < LATE_MS) continue;
      if (s.delivered === 0) stats.silent++;
      streams.delete(ssrc);
    }
  }, ptimeMs);

  const onLine = (line: string): void => {
    const [side, address, port, ms] = line.trim().split(/\s+/);
    if (side !== 'a' || !address || !Number(port) || !(Number(ms) > 0)) {
      stats.badLines++;
      return;
    }
    start('a', { address, port: Number(port) }, Date.now() + Number(ms));
  };
  // Opened read-write, so neither does the open wait for a writer nor does a writer's close end
  // the stream: every sipp <exec> opens, writes one line and closes.
  const fifo = createReadStream('', { fd: openSync(values.fifo, 'r+') });
  createInterface({ input: fifo }).on('line', onLine);

  // The FIFO's read waits in a libuv thread that nothing can interrupt: leave by exiting.
  const quit = (): never => process.exit(0);
  createInterface({ input: process.stdin }).on('line', (cmd) => {
    if (cmd === 'stats') process.stdout.write(`${JSON.stringify({ ...stats, active: active.length })}\n`);
    else if (cmd === 'quit') quit();
  });
  process.stdin.on('end', quit);

  const caller = endpoint(values.caller);
  const callee = endpoint(values.callee);
  let bound = 0;
  const ready = (): void => {
    if (++bound === 2) process.stdout.write(`${JSON.stringify({ ready: true, pid: process.pid })}\n`);
  };
  sockets.a.bind(caller.port, caller.address, ready);
  sockets.b.bind(callee.port, callee.address, ready);
}

main();
