#!/usr/bin/env node
// A minimal RTP endpoint for the end-to-end tests, started by sipp (<exec command>) inside the
// caller's or the gateway's network namespace once the SDP exchange tells it where to send:
//   rtp-endpoint.mjs <localIp> <localPort> <remoteIp> <remotePort> <count> <delayMs> <outFile>
// It sends <count> RTP packets (PCMU, 20 ms apart) from <localIp>:<localPort> — the address and
// port its SDP advertised, so symmetric latching sees the right source — counts the distinct RTP
// sequence numbers it receives, and writes {sent, received, sources, firstSeq, span} as JSON to
// <outFile> (firstSeq: the lowest sequence number received, null when none came: behind NAT, what
// the peer sent before this endpoint's own first packet opened its mapping cannot arrive; span:
// how many sequence numbers lie from the lowest to the highest received, across a wrap — the
// packets a peer that starts at a random sequence number, a real phone, sent meanwhile).
// IPv4 or IPv6, as <localIp> is; a source is written `address:port` (IPv6 without brackets).
// sipp forks for <exec> without closing its sockets, so the forked sipp and its shell hold sipp's
// SIP port until this process ends: tests wait for <outFile> before reusing that port.
import { createSocket } from 'node:dgram';
import { writeFileSync } from 'node:fs';

const [localIp, localPort, remoteIp, remotePort, countArg, delayArg, outFile] = process.argv.slice(2);
const count = Number(countArg);
const delayMs = Number(delayArg);
const PTIME_MS = 20;
// After its own last packet it listens on until the peer has been silent for LISTEN_TAIL_MS (the
// peer's endpoint may have started later: a process start apart on a loaded machine), at most
// MAX_TAIL_MS.
const LISTEN_TAIL_MS = count > 0 ? 1500 : 0;
const MAX_TAIL_MS = count > 0 ? 6000 : 0;
let lastHeard = 0;
let firstArrived = null;
let lowRel = 0;
let highRel = 0;

const socket = createSocket(localIp.includes(':') ? 'udp6' : 'udp4');
const seen = new Set();
const sources = new Set();
let sent = 0;
let sendError = null;

socket.on('message', (msg, rinfo) => {
  // RTP version 2 (RFC 3550 §5.1) and at least the 12-byte fixed header.
  if (msg.length < 12 || msg[0] >> 6 !== 2) return;
  const seq = msg.readUInt16BE(2);
  seen.add(seq);
  lastHeard = Date.now();
  firstArrived ??= seq;
  // Relative to the first arrival, within half the sequence space either way (RFC 3550 §A.1).
  const rel = ((seq - firstArrived + 0x8000) & 0xffff) - 0x8000;
  lowRel = Math.min(lowRel, rel);
  highRel = Math.max(highRel, rel);
  sources.add(`${rinfo.address}:${rinfo.port}`);
});

function packet(seq) {
  const buf = Buffer.alloc(12 + 160, 0xff);
  buf[0] = 0x80;
  buf[1] = 0; // PCMU
  buf.writeUInt16BE(seq & 0xffff, 2);
  buf.writeUInt32BE((seq * 160) >>> 0, 4);
  buf.writeUInt32BE(0x5eed0000 + Number(localPort), 8);
  return buf;
}

socket.bind(Number(localPort), localIp, () => {
  setTimeout(() => {
    const timer = setInterval(() => {
      if (sent >= count) {
        clearInterval(timer);
        return;
      }
      socket.send(packet(sent), Number(remotePort), remoteIp, (err) => {
        if (err) sendError = err.code ?? String(err);
      });
      sent += 1;
    }, PTIME_MS);
  }, delayMs);
  const ownEnd = Date.now() + delayMs + count * PTIME_MS;
  const finish = () => {
    const now = Date.now();
    if (now < ownEnd + MAX_TAIL_MS && now - Math.max(lastHeard, ownEnd) < LISTEN_TAIL_MS) {
      setTimeout(finish, 100);
      return;
    }
    writeFileSync(
      outFile,
      JSON.stringify({
        sent,
        received: seen.size,
        firstSeq: seen.size === 0 ? null : Math.min(...seen),
        span: seen.size === 0 ? 0 : highRel - lowRel + 1,
        sources: [...sources],
        remote: `${remoteIp}:${remotePort}`,
        sendError,
      }),
    );
    socket.close();
  };
  setTimeout(finish, delayMs + count * PTIME_MS + LISTEN_TAIL_MS);
});
