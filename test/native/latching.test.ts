/**
 * Symmetric latching that cannot be hijacked (RFC 7362 hardened against RTP bleed/inject:
 * Asterisk CVE-2017-14099, rtpproxy CVE-2017-14114, rtpengine CVE-2025-53399), over real UDP.
 * The stranger sits on 127.0.0.2 (another source IP) or on another port of 127.0.0.1.
 */
import dgram from 'node:dgram';
import * as assert from 'uvu/assert';
import { setTimeout as sleep } from 'node:timers/promises';
import { suite } from '../support/suite.ts';
import { addon, type NativeRelay } from '../../src/native.ts';
import { UdpPeer, counters, ioPaths, openStream, policy, quiet, rtcpReceiverReport, rtp, until } from './rtp-peer.ts';
import type { IoPath } from './rtp-peer.ts';

const test = suite('native latching', { timeoutMs: 15_000 });
const LOCAL = '127.0.0.1';
const SILENCE_MS = 300;

interface Call {
  relay: NativeRelay;
  id: number;
  aPort: number;
  bPort: number;
  caller: UdpPeer;
  callee: UdpPeer;
  peers: UdpPeer[];
}

async function call(io: IoPath): Promise<Call> {
  const relay = addon.createRelay({ io });
  const { id, aPort, bPort } = openStream(relay, LOCAL);
  const caller = await UdpPeer.bind(LOCAL);
  const callee = await UdpPeer.bind(LOCAL);
  relay.setLeg(id, 'a', policy({ handoverSilenceMs: SILENCE_MS }));
  relay.setLeg(id, 'b', policy({ handoverSilenceMs: SILENCE_MS }));
  return { relay, id, aPort, bPort, caller, callee, peers: [caller, callee] };
}

async function hangUp(c: Call): Promise<void> {
  c.relay.close();
  await Promise.all(c.peers.map((p) => p.close()));
}

async function extraPeer(c: Call, address = LOCAL): Promise<UdpPeer> {
  const peer = await UdpPeer.bind(address);
  c.peers.push(peer);
  return peer;
}

/** Both legs latched: the caller (SSRC 0xa) sent seq 1..5, the callee (SSRC 0xb) seq 1. */
async function established(c: Call): Promise<void> {
  await c.callee.send(rtp({ ssrc: 0xb, seq: 1 }), c.bPort, LOCAL);
  await until('B latched', () => counters(c.relay, c.id).b.rtpPeer !== null);
  for (let seq = 1; seq <= 5; seq += 1) await c.caller.send(rtp({ ssrc: 0xa, seq }), c.aPort, LOCAL);
  await until('callee got 5 packets', () => c.callee.received.length === 5);
}

for (const io of ioPaths()) {
  test(`${io}: a stranger spraying before and after latching receives nothing and injects nothing`, async () => {
    const c = await call(io);
    const stranger = await extraPeer(c, '127.0.0.2');
    const strangerSameIp = await extraPeer(c);
    try {
      const ports = [c.aPort, c.aPort + 1, c.bPort, c.bPort + 1];
      const spray = async (seqBase: number) => {
        for (const port of ports) {
          for (let i = 0; i < 5; i += 1) {
            // Its own SSRC, copies of both real SSRCs with plausible next sequence numbers, and RTCP.
            await stranger.send(rtp({ ssrc: 0x5757, seq: seqBase + i }), port, LOCAL);
            await stranger.send(rtp({ ssrc: 0xa, seq: seqBase + i }), port, LOCAL);
            await stranger.send(rtp({ ssrc: 0xb, seq: seqBase + i }), port, LOCAL);
            await stranger.send(rtcpReceiverReport(0xa), port, LOCAL);
          }
        }
      };
      // Before latching: 4 ports x 5 x (3 RTP + 1 RTCP) = 80 packets, all from the wrong IP. RTP
      // sent to an RTCP port is not valid RTCP (2 x 15 dropInvalid); the other 50 are strangers.
      await spray(1);
      await until('80 stranger packets dropped', () => {
        const s = counters(c.relay, c.id);
        return s.a.dropStranger + s.b.dropStranger === 50 && s.a.dropInvalid + s.b.dropInvalid === 30;
      });
      let s = counters(c.relay, c.id);
      assert.is(s.a.rtpPeer, null);
      assert.is(s.b.rtpPeer, null);
      assert.is(s.a.rtcpPeer, null);
      assert.is(s.a.latchChanges + s.b.latchChanges, 0);

      await established(c);
      // During the call: the wrong-IP stranger sprays again, and a same-IP stranger sends copies of
      // the caller's SSRC with the very next sequence numbers while the caller keeps talking.
      await spray(6);
      for (let seq = 6; seq <= 25; seq += 1) {
        await strangerSameIp.send(rtp({ ssrc: 0xa, seq }), c.aPort, LOCAL);
        await c.caller.send(rtp({ ssrc: 0xa, seq }), c.aPort, LOCAL);
        await c.callee.send(rtp({ ssrc: 0xb, seq }), c.bPort, LOCAL);
      }
      await until('callee got all caller packets', () => c.callee.received.length === 25);
      await until('caller got all callee packets', () => c.caller.received.length === 20);
      await until('all stranger packets counted', () => {
        const t = counters(c.relay, c.id);
        return t.a.dropStranger + t.b.dropStranger === 50 + 50 + 20 && t.a.dropInvalid + t.b.dropInvalid === 60;
      });
      await quiet();

      assert.is(stranger.received.length, 0, 'the wrong-IP stranger received media');
      assert.is(strangerSameIp.received.length, 0, 'the same-IP stranger received media');
      // Exactly the caller's 25 packets reached the callee, each once and in order.
      assert.equal(
        c.callee.received.map((d) => d.data.readUInt16BE(2)),
        Array.from({ length: 25 }, (_, i) => i + 1),
      );
      assert.ok(c.caller.received.every((d) => d.data.readUInt32BE(8) === 0xb));
      s = counters(c.relay, c.id);
      assert.is(s.a.rtpPeer, c.caller.endpoint);
      assert.is(s.b.rtpPeer, c.callee.endpoint);
      assert.is(s.a.latchChanges, 1);
      assert.is(s.b.latchChanges, 1);
      assert.is(s.a.packetsIn, 25);
      assert.is(s.b.packetsOut, 25);
    } finally {
      await hangUp(c);
    }
  });

  test(`${io}: a NAT rebinding is followed after the silence window under the continuity rule`, async () => {
    const c = await call(io);
    const rebound = await extraPeer(c);
    try {
      await established(c);
      // The caller's NAT moves it to a new port; its stream continues (same SSRC, seq 6, 7, 8).
      for (let seq = 6; seq <= 8; seq += 1) await rebound.send(rtp({ ssrc: 0xa, seq }), c.aPort, LOCAL);
      await until('3 early packets dropped', () => counters(c.relay, c.id).a.dropStranger === 3);
      // Before the window: not followed, nothing forwarded, nothing sent to the new port.
      await c.callee.send(rtp({ ssrc: 0xb, seq: 2 }), c.bPort, LOCAL);
      await until('caller (old port) got media', () => c.caller.received.length === 1);
      assert.is(counters(c.relay, c.id).a.rtpPeer, c.caller.endpoint);
      assert.is(c.callee.received.length, 5);
      assert.is(rebound.received.length, 0);

      await sleep(SILENCE_MS + 50);
      await rebound.send(rtp({ ssrc: 0xa, seq: 9 }), c.aPort, LOCAL);
      await until('callee got the rebound packet', () => c.callee.received.length === 6);
      assert.is(c.callee.received[5]!.data.readUInt16BE(2), 9);
      const s = counters(c.relay, c.id);
      assert.is(s.a.rtpPeer, rebound.endpoint);
      assert.is(s.a.latchChanges, 2);
      // Media toward the caller now follows it to the new port.
      await c.callee.send(rtp({ ssrc: 0xb, seq: 3 }), c.bPort, LOCAL);
      await until('rebound port got media', () => rebound.received.length === 1);
      assert.is(rebound.received[0]!.port, c.aPort);
      await quiet(50);
      assert.is(c.caller.received.length, 1);
      // The old mapping is now the stranger.
      await c.caller.send(rtp({ ssrc: 0xa, seq: 10 }), c.aPort, LOCAL);
      await until('old port dropped', () => counters(c.relay, c.id).a.dropStranger === 4);
    } finally {
      await hangUp(c);
    }
  });

  test(`${io}: a newcomer is not followed with a wrong SSRC, a sequence jump or a replayed sequence`, async () => {
    const c = await call(io);
    const newcomer = await extraPeer(c);
    try {
      await established(c);
      await sleep(SILENCE_MS + 50);
      await newcomer.send(rtp({ ssrc: 0xbad, seq: 6 }), c.aPort, LOCAL); // wrong SSRC
      await newcomer.send(rtp({ ssrc: 0xa, seq: 5 }), c.aPort, LOCAL); // replay of the last seen
      await newcomer.send(rtp({ ssrc: 0xa, seq: 3 }), c.aPort, LOCAL); // behind
      await newcomer.send(rtp({ ssrc: 0xa, seq: 5 + 51 }), c.aPort, LOCAL); // beyond handoverMaxSeqGap
      await newcomer.send(rtp({ ssrc: 0xa, seq: 40000 }), c.aPort, LOCAL); // far ahead
      await until('5 drops', () => counters(c.relay, c.id).a.dropStranger === 5);
      await quiet(50);
      let s = counters(c.relay, c.id);
      assert.is(s.a.rtpPeer, c.caller.endpoint);
      assert.is(s.a.latchChanges, 1);
      assert.is(c.callee.received.length, 5);

      // With the gap set to 0 handover is off entirely (strict source), even for a perfect successor.
      c.relay.setLeg(c.id, 'a', policy({ handoverSilenceMs: SILENCE_MS, handoverMaxSeqGap: 0 }));
      await newcomer.send(rtp({ ssrc: 0xa, seq: 6 }), c.aPort, LOCAL);
      await until('6 drops', () => counters(c.relay, c.id).a.dropStranger === 6);
      s = counters(c.relay, c.id);
      assert.is(s.a.rtpPeer, c.caller.endpoint);
      // Restored: the perfect successor takes over (the peer has been silent long enough).
      c.relay.setLeg(c.id, 'a', policy({ handoverSilenceMs: SILENCE_MS }));
      await newcomer.send(rtp({ ssrc: 0xa, seq: 6 }), c.aPort, LOCAL);
      await until('callee got seq 6', () => c.callee.received.length === 6);
      assert.is(counters(c.relay, c.id).a.rtpPeer, newcomer.endpoint);
    } finally {
      await hangUp(c);
    }
  });

  test(`${io}: RTCP latches separately and hands over only after its own silence window`, async () => {
    const c = await call(io);
    const calleeRtcp = await extraPeer(c);
    const callerRtcp = await extraPeer(c);
    const callerRtcpRebound = await extraPeer(c);
    try {
      await established(c);
      await calleeRtcp.send(rtcpReceiverReport(0xb), c.bPort + 1, LOCAL);
      await callerRtcp.send(rtcpReceiverReport(0xa), c.aPort + 1, LOCAL);
      await until('callee RTCP got report', () => calleeRtcp.received.length === 1);
      assert.is(counters(c.relay, c.id).a.rtcpPeer, callerRtcp.endpoint);

      // Not silent yet: even with the right sender SSRC, a new RTCP source is a stranger.
      await callerRtcpRebound.send(rtcpReceiverReport(0xa), c.aPort + 1, LOCAL);
      await until('RTCP newcomer dropped', () => counters(c.relay, c.id).a.dropStranger === 1);
      await sleep(SILENCE_MS + 50);
      await callerRtcpRebound.send(rtcpReceiverReport(0xa), c.aPort + 1, LOCAL);
      await until('callee RTCP got second report', () => calleeRtcp.received.length === 2);
      assert.is(counters(c.relay, c.id).a.rtcpPeer, callerRtcpRebound.endpoint);
      await calleeRtcp.send(rtcpReceiverReport(0xb), c.bPort + 1, LOCAL);
      await until('rebound RTCP got report', () => callerRtcpRebound.received.length === 1);
      assert.is(callerRtcp.received.length, 0);
      // The RTP latch did not move.
      assert.is(counters(c.relay, c.id).a.rtpPeer, c.caller.endpoint);
    } finally {
      await hangUp(c);
    }
  });

  test(`${io}: an RTCP newcomer from another IP needs the leg's RTP SSRC as its sender SSRC`, async () => {
    const c = await call(io);
    const calleeRtcp = await extraPeer(c);
    const callerRtcp = await extraPeer(c);
    const elsewhere = await extraPeer(c, '127.0.0.2');
    try {
      // Weak mode on A, so only the RTCP rule (not the address rule) stands in the way.
      c.relay.setLeg(c.id, 'a', policy({ mode: 'any', address: undefined, handoverSilenceMs: SILENCE_MS }));
      await established(c);
      await calleeRtcp.send(rtcpReceiverReport(0xb), c.bPort + 1, LOCAL);
      await callerRtcp.send(rtcpReceiverReport(0xa), c.aPort + 1, LOCAL);
      await until('callee RTCP got report', () => calleeRtcp.received.length === 1);
      await sleep(SILENCE_MS + 50);
      await elsewhere.send(rtcpReceiverReport(0x5757), c.aPort + 1, LOCAL);
      await until('foreign SSRC dropped', () => counters(c.relay, c.id).a.dropStranger === 1);
      assert.is(counters(c.relay, c.id).a.rtcpPeer, callerRtcp.endpoint);
      await elsewhere.send(rtcpReceiverReport(0xa), c.aPort + 1, LOCAL);
      await until('callee RTCP got second report', () => calleeRtcp.received.length === 2);
      assert.is(counters(c.relay, c.id).a.rtcpPeer, elsewhere.endpoint);
      assert.is(counters(c.relay, c.id).a.rtpPeer, c.caller.endpoint);
    } finally {
      await hangUp(c);
    }
  });

  test(`${io}: invalid datagrams never latch, even in weak mode, and are counted`, async () => {
    const c = await call(io);
    try {
      c.relay.setLeg(c.id, 'a', policy({ mode: 'any', address: undefined }));
      const valid = rtp({ ssrc: 0xa, seq: 1 });
      const version1 = Buffer.from(valid);
      version1[0] = 0x40;
      const badCsrcCount = Buffer.from(valid.subarray(0, 40));
      badCsrcCount[0] = 0x8f; // 15 CSRCs need 72 octets of header
      const badExtension = Buffer.from(valid);
      badExtension[0] = 0x90;
      badExtension.writeUInt16BE(1000, 14); // extension claims 4000 octets
      const badPadding = Buffer.from(valid);
      badPadding[0] = 0xa0;
      badPadding[badPadding.length - 1] = 250; // more padding than payload
      const zeroPadding = Buffer.from(valid);
      zeroPadding[0] = 0xa0;
      zeroPadding[zeroPadding.length - 1] = 0;
      const rtcpBadLength = rtcpReceiverReport(0xa);
      rtcpBadLength.writeUInt16BE(10, 2);
      const garbage = [
        Buffer.alloc(0),
        Buffer.from([0x80]),
        valid.subarray(0, 11),
        version1,
        badCsrcCount,
        badExtension,
        badPadding,
        zeroPadding,
        rtcpBadLength,
        rtcpReceiverReport(0xa).subarray(0, 7),
        Buffer.from('INVITE sip:x@y SIP/2.0\r\n\r\n'),
      ];
      for (const g of garbage) await c.caller.send(g, c.aPort, LOCAL);
      // On the RTCP port only RTCP is valid: RTP and garbage are both invalid there.
      await c.caller.send(valid, c.aPort + 1, LOCAL);
      await c.caller.send(rtcpBadLength, c.aPort + 1, LOCAL);
      const expected = garbage.length + 2;
      await until('all garbage counted', () => counters(c.relay, c.id).a.dropInvalid === expected);
      let s = counters(c.relay, c.id);
      assert.is(s.a.rtpPeer, null);
      assert.is(s.a.rtcpPeer, null);
      assert.is(s.a.latchChanges, 0);
      assert.is(s.a.packetsIn, 0);
      assert.is(s.a.lastActivityMs, 0);

      // A valid packet with a legal extension and padding does latch.
      const legal = Buffer.alloc(12 + 8 + 20, 0);
      legal[0] = 0xb0; // V=2, P, X
      legal.writeUInt16BE(1, 2);
      legal.writeUInt32BE(0xa, 8);
      legal.writeUInt16BE(0xbede, 12);
      legal.writeUInt16BE(1, 14);
      legal[legal.length - 1] = 4;
      await c.caller.send(legal, c.aPort, LOCAL);
      await until('latched', () => counters(c.relay, c.id).a.rtpPeer !== null);
      // Garbage after latching moves nothing either.
      const other = await extraPeer(c);
      await other.send(version1, c.aPort, LOCAL);
      await until('counted', () => counters(c.relay, c.id).a.dropInvalid === expected + 1);
      s = counters(c.relay, c.id);
      assert.is(s.a.rtpPeer, c.caller.endpoint);
      assert.is(s.a.latchChanges, 1);
    } finally {
      await hangUp(c);
    }
  });

  test(`${io}: 'fixed' mode sends to the given address without learning and accepts only that IP`, async () => {
    const c = await call(io);
    const calleeRtcp = await UdpPeer.bind(LOCAL);
    c.peers.push(calleeRtcp);
    const stranger = await extraPeer(c, '127.0.0.2');
    const calleeOtherPort = await extraPeer(c);
    try {
      c.relay.setLeg(c.id, 'b', {
        mode: 'fixed',
        address: LOCAL,
        port: c.callee.port,
        rtcpPort: calleeRtcp.port,
        rtcpMux: false,
        handoverSilenceMs: SILENCE_MS,
        handoverMaxSeqGap: 50,
      });
      let s = counters(c.relay, c.id);
      assert.is(s.b.rtpPeer, c.callee.endpoint);
      assert.is(s.b.rtcpPeer, calleeRtcp.endpoint);
      // The callee never spoke, yet media reaches it.
      await c.caller.send(rtp({ ssrc: 0xa, seq: 1 }), c.aPort, LOCAL);
      await c.caller.send(rtcpReceiverReport(0xa), c.aPort + 1, LOCAL);
      await until('callee got RTP', () => c.callee.received.length === 1);
      await until('callee got RTCP', () => calleeRtcp.received.length === 1);
      // From the fixed IP any port is accepted; another IP is a stranger; the destination stays.
      await calleeOtherPort.send(rtp({ ssrc: 0xb, seq: 1 }), c.bPort, LOCAL);
      await stranger.send(rtp({ ssrc: 0xb, seq: 2 }), c.bPort, LOCAL);
      await until('caller got one packet', () => c.caller.received.length === 1);
      await until('stranger counted', () => counters(c.relay, c.id).b.dropStranger === 1);
      await c.caller.send(rtp({ ssrc: 0xa, seq: 2 }), c.aPort, LOCAL);
      await until('callee got RTP again', () => c.callee.received.length === 2);
      s = counters(c.relay, c.id);
      assert.is(s.b.rtpPeer, c.callee.endpoint);
      assert.is(s.b.latchChanges, 0);
      assert.is(calleeOtherPort.received.length + stranger.received.length, 0);
    } finally {
      await hangUp(c);
    }
  });

  test(`${io}: setLeg clears a latch that no longer fits the new policy`, async () => {
    const c = await call(io);
    try {
      await established(c);
      c.relay.setLeg(c.id, 'a', policy({ address: '127.0.0.9', handoverSilenceMs: SILENCE_MS }));
      let s = counters(c.relay, c.id);
      assert.is(s.a.rtpPeer, null);
      await c.callee.send(rtp({ ssrc: 0xb, seq: 2 }), c.bPort, LOCAL);
      await until('no peer counted', () => counters(c.relay, c.id).a.dropNoPeer === 1);
      // A policy the peer still fits keeps the latch.
      c.relay.setLeg(c.id, 'a', policy({ handoverSilenceMs: SILENCE_MS }));
      await c.caller.send(rtp({ ssrc: 0xa, seq: 6 }), c.aPort, LOCAL);
      await until('relatched', () => counters(c.relay, c.id).a.rtpPeer !== null);
      c.relay.setLeg(c.id, 'a', policy({ mode: 'any', address: undefined, handoverSilenceMs: SILENCE_MS }));
      s = counters(c.relay, c.id);
      assert.is(s.a.rtpPeer, c.caller.endpoint);
      assert.is(s.a.latchChanges, 2);
    } finally {
      await hangUp(c);
    }
  });

  test(`${io}: idle() lists streams without valid media for the given time; strangers do not count`, async () => {
    const relay = addon.createRelay({ io });
    const caller = await UdpPeer.bind(LOCAL);
    const stranger = await UdpPeer.bind('127.0.0.2');
    try {
      const first = openStream(relay, LOCAL);
      const second = openStream(relay, LOCAL);
      relay.setLeg(first.id, 'a', policy());
      relay.setLeg(second.id, 'a', policy());
      assert.equal(relay.idle(0).sort(), [first.id, second.id].sort());
      assert.equal(relay.idle(60_000), []);
      await sleep(150);
      assert.equal(relay.idle(100).sort(), [first.id, second.id].sort());
      await caller.send(rtp({ ssrc: 1, seq: 1 }), first.aPort, LOCAL);
      await stranger.send(rtp({ ssrc: 2, seq: 1 }), second.aPort, LOCAL);
      await until('both packets seen', () => {
        const [a, b] = [counters(relay, first.id), counters(relay, second.id)];
        return a.a.packetsIn === 1 && b.a.dropStranger === 1;
      });
      assert.equal(relay.idle(100), [second.id]);
      const now = addon.nowMs();
      assert.ok(now - counters(relay, first.id).a.lastActivityMs < 100);
    } finally {
      relay.close();
      await Promise.all([caller.close(), stranger.close()]);
    }
  });

  test(`${io}: a port held by another socket gives ERR_PINLATCH_BIND/EADDRINUSE and leaves nothing open`, async () => {
    const relay = addon.createRelay({ io });
    const { aPort, bPort, id } = openStream(relay, LOCAL);
    relay.closeStream(id);
    const holder = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => holder.bind(bPort + 1, LOCAL, () => resolve()));
    try {
      try {
        relay.openStream({ address: LOCAL, aPort, bPort });
        assert.unreachable('openStream succeeded on a port in use');
      } catch (err) {
        const e = err as { code?: string; syscallCode?: string; errno?: number; syscall?: string };
        assert.is(e.code, 'ERR_PINLATCH_BIND');
        assert.is(e.syscallCode, 'EADDRINUSE');
        assert.is(e.syscall, 'bind');
        assert.is(typeof e.errno, 'number');
      }
      assert.is(relay.size, 0);
      // The three sockets bound before the failure were closed: their ports are free again.
      for (const port of [aPort, aPort + 1, bPort]) {
        const probe = dgram.createSocket('udp4');
        await new Promise<void>((resolve, reject) => {
          probe.once('error', reject);
          probe.bind(port, LOCAL, () => resolve());
        });
        await new Promise<void>((resolve) => probe.close(() => resolve()));
      }
    } finally {
      relay.close();
      await new Promise<void>((resolve) => holder.close(() => resolve()));
    }
  });

  test(`${io}: bad arguments and a closed relay give typed errors, never a crash`, () => {
    const relay = addon.createRelay({ io, batch: 8 });
    const code = (fn: () => unknown): string | undefined => {
      try {
        fn();
      } catch (err) {
        return (err as { code?: string }).code;
      }
      return undefined;
    };
    assert.is(code(() => relay.openStream({ address: 'not-an-ip', aPort: 30000, bPort: 30002 })), 'ERR_PINLATCH_ARG');
    assert.is(code(() => relay.openStream({ address: LOCAL, aPort: 30001, bPort: 30004 })), 'ERR_PINLATCH_ARG');
    assert.is(code(() => relay.openStream({ address: LOCAL, aPort: 0, bPort: 30004 })), 'ERR_PINLATCH_ARG');
    assert.is(code(() => relay.setLeg(12345, 'a', policy())), 'ERR_PINLATCH_ARG');
    assert.is(code(() => addon.createRelay({ batch: 0 })), 'ERR_PINLATCH_ARG');
    const { id } = openStream(relay, LOCAL);
    assert.is(code(() => relay.setLeg(id, 'c' as 'a', policy())), 'ERR_PINLATCH_ARG');
    assert.is(code(() => relay.setLeg(id, 'a', policy({ mode: 'address', address: undefined }))), 'ERR_PINLATCH_ARG');
    assert.is(code(() => relay.setLeg(id, 'a', policy({ mode: 'fixed' }))), 'ERR_PINLATCH_ARG');
    assert.is(code(() => relay.setLeg(id, 'a', policy({ handoverSilenceMs: -1 }))), 'ERR_PINLATCH_ARG');
    assert.is(code(() => relay.setLeg(id, 'a', policy({ mode: 'weird' as 'any' }))), 'ERR_PINLATCH_ARG');
    relay.closeStream(id);
    relay.closeStream(id);
    relay.closeStream(999);
    assert.is(relay.size, 0);
    relay.close();
    assert.is(code(() => relay.openStream({ address: LOCAL, aPort: 30000, bPort: 30002 })), 'ERR_PINLATCH_CLOSED');
    assert.is(code(() => relay.stats()), 'ERR_PINLATCH_CLOSED');
    assert.is(code(() => relay.close()), undefined, 'close() is idempotent');
  });
}

test.run();
