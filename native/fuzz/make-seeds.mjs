#!/usr/bin/env node
// Writes the seed corpora of the native targets (native/fuzz/corpus/<name>/seed-*):
//   rtp_check    RTP as codecs send it (RFC 3550 §5.1: CSRCs, header extension, padding), RTCP
//                compounds (SR/RR + SDES, BYE, APP; RFC 3550 §6.4), an SRTCP-shaped compound
//                (RFC 3711 §3.4: index and tag after the packet), and near misses of each;
//   latch_state  programs for the fuzzer's opcode reader, from a fixed pseudo-random sequence.
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';

const root = new URL('./corpus/', import.meta.url);

function rtp({ pt = 0, seq = 1, ts = 160, ssrc = 0x1234abcd, csrc = [], ext = null, pad = 0, payload = 160, marker = false }) {
  const head = Buffer.alloc(12 + 4 * csrc.length);
  head[0] = 0x80 | (pad ? 0x20 : 0) | (ext ? 0x10 : 0) | csrc.length;
  head[1] = (marker ? 0x80 : 0) | pt;
  head.writeUInt16BE(seq, 2);
  head.writeUInt32BE(ts, 4);
  head.writeUInt32BE(ssrc, 8);
  csrc.forEach((c, i) => head.writeUInt32BE(c, 12 + 4 * i));
  const parts = [head];
  if (ext) {
    const e = Buffer.alloc(4 + 4 * ext.words);
    e.writeUInt16BE(ext.profile, 0);
    e.writeUInt16BE(ext.words, 2);
    parts.push(e);
  }
  parts.push(Buffer.alloc(payload, 0xd5));
  if (pad) {
    const p = Buffer.alloc(pad);
    p[pad - 1] = pad;
    parts.push(p);
  }
  return Buffer.concat(parts);
}

function rtcp(pt, count, body) {
  const head = Buffer.alloc(4);
  head[0] = 0x80 | count;
  head[1] = pt;
  head.writeUInt16BE((4 + body.length) / 4 - 1, 2);
  return Buffer.concat([head, body]);
}

const ssrc = Buffer.from([0x12, 0x34, 0xab, 0xcd]);
const sr = rtcp(200, 0, Buffer.concat([ssrc, Buffer.alloc(20)]));
const rr = rtcp(201, 1, Buffer.concat([ssrc, Buffer.alloc(24)]));
const sdes = rtcp(202, 1, Buffer.concat([ssrc, Buffer.from([1, 5, ...Buffer.from('alice'), 0, 0, 0, 0, 0, 0])]).subarray(0, 16));
const bye = rtcp(203, 1, ssrc);
const app = rtcp(204, 0, Buffer.concat([ssrc, Buffer.from('NAME'), Buffer.alloc(4)]));

const rtpCheck = [
  rtp({}),
  rtp({ pt: 8, marker: true, payload: 80 }),
  rtp({ pt: 101, payload: 4 }),
  rtp({ csrc: [1, 2, 3] }),
  rtp({ csrc: Array.from({ length: 15 }, (_, i) => i), payload: 0 }),
  rtp({ ext: { profile: 0xbede, words: 2 } }),
  rtp({ ext: { profile: 0x1000, words: 0 }, payload: 0 }),
  rtp({ pad: 4 }),
  rtp({ pad: 255, payload: 0 }),
  rtp({ payload: 0 }),
  rtp({}).subarray(0, 11),
  Buffer.concat([sr, sdes]),
  Buffer.concat([rr, sdes, bye]),
  app,
  Buffer.concat([sr, Buffer.alloc(24, 0x5a), Buffer.from([0x80, 0, 0, 1]), Buffer.alloc(10, 0xaa)]),
  sr.subarray(0, 7),
  Buffer.from([0x80, 200, 0xff, 0xff, 0, 0, 0, 0]),
  Buffer.from([0x80, 0x7f]),
  Buffer.alloc(0),
];

// A fixed xorshift sequence: the same seeds on every machine.
let state = 0x9e3779b9;
const next = () => {
  state ^= state << 13;
  state >>>= 0;
  state ^= state >>> 17;
  state ^= state << 5;
  state >>>= 0;
  return state;
};
const latchState = Array.from({ length: 24 }, (_, i) => Buffer.from(Array.from({ length: 16 + 24 * i }, () => next() & 0xff)));

function write(name, inputs) {
  const dir = new URL(`${name}/`, root);
  mkdirSync(dir, { recursive: true });
  for (const f of readdirSync(dir)) if (f.startsWith('seed-')) rmSync(new URL(f, dir));
  for (const data of inputs) writeFileSync(new URL(`seed-${createHash('sha1').update(data).digest('hex').slice(0, 16)}`, dir), data);
  console.log(`${name}: ${inputs.length} seeds`);
}

write('rtp_check', rtpCheck);
write('latch_state', latchState);
