/**
 * The native relay forwards media between the two legs of a stream over real UDP sockets: latching
 * both ways (RFC 7362), RTCP on its own port, rtcp-mux (RFC 5761) and mux <-> non-mux bridging,
 * IPv4 and IPv6.
 */
import * as assert from 'uvu/assert';
import { suite } from '../support/suite.ts';
import { addon, type NativeRelay } from '../../src/native.ts';
import { UdpPeer, counters, ioPaths, openStream, policy, quiet, rtcpReceiverReport, rtp, until } from './rtp-peer.ts';
import type { IoPath } from './rtp-peer.ts';

const test = suite('native forwarding', { timeoutMs: 10_000 });

interface Call {
  relay: NativeRelay;
  id: number;
  aPort: number;
  bPort: number;
  caller: UdpPeer;
  callee: UdpPeer;
  close(): Promise<void>;
}

async function call(io: IoPath, address: string, extra: UdpPeer[] = []): Promise<Call> {
  const relay = addon.createRelay({ io });
  const { id, aPort, bPort } = openStream(relay, address);
  const caller = await UdpPeer.bind(address);
  const callee = await UdpPeer.bind(address);
  return {
    relay,
    id,
    aPort,
    bPort,
    caller,
    callee,
    async close() {
      relay.close();
      await Promise.all([caller, callee, ...extra].map((p) => p.close()));
    },
  };
}

for (const io of ioPaths()) {
  test(`${io}: latches both legs from their first valid packets and forwards media both ways`, async () => {
    const c = await call(io, '127.0.0.1');
    try {
      c.relay.setLeg(c.id, 'a', policy());
      c.relay.setLeg(c.id, 'b', policy());

      // Caller speaks first: leg A latches, but leg B has no peer yet, so the packet is dropped.
      await c.caller.send(rtp({ ssrc: 0x1111, seq: 1 }), c.aPort, '127.0.0.1');
      await until('A latched', () => counters(c.relay, c.id).a.rtpPeer !== null);
      let s = counters(c.relay, c.id);
      assert.is(s.a.rtpPeer, c.caller.endpoint);
      assert.is(s.a.latchChanges, 1);
      assert.is(s.a.ssrc, 0x1111);
      assert.is(s.b.dropNoPeer, 1);
      assert.is(s.b.packetsOut, 0);

      // Callee answers: leg B latches and its packet reaches the caller from leg A's RTP port.
      await c.callee.send(rtp({ ssrc: 0x2222, seq: 100 }), c.bPort, '127.0.0.1');
      await until('caller got media', () => c.caller.received.length === 1);
      assert.is(c.caller.received[0]!.port, c.aPort);
      assert.is(c.caller.received[0]!.data.readUInt32BE(8), 0x2222);

      for (let seq = 2; seq <= 10; seq += 1) await c.caller.send(rtp({ ssrc: 0x1111, seq }), c.aPort, '127.0.0.1');
      await until('callee got media', () => c.callee.received.length === 9);
      assert.ok(c.callee.received.every((d) => d.port === c.bPort));
      assert.equal(
        c.callee.received.map((d) => d.data.readUInt16BE(2)),
        [2, 3, 4, 5, 6, 7, 8, 9, 10],
      );

      s = counters(c.relay, c.id);
      assert.is(s.a.packetsIn, 10);
      assert.is(s.a.bytesIn, 10 * 172);
      assert.is(s.a.packetsOut, 1);
      assert.is(s.b.packetsIn, 1);
      assert.is(s.b.packetsOut, 9);
      assert.is(s.b.bytesOut, 9 * 172);
      assert.is(s.b.rtpPeer, c.callee.endpoint);
      assert.is(s.a.dropStranger + s.b.dropStranger + s.a.dropInvalid + s.b.dropInvalid, 0);
      assert.ok(s.a.lastActivityMs > 0 && s.a.lastActivityMs <= addon.nowMs());
    } finally {
      await c.close();
    }
  });

  test(`${io}: RTCP latches on the RTCP ports and is relayed RTCP port to RTCP port`, async () => {
    const c = await call(io, '127.0.0.1');
    const callerRtcp = await UdpPeer.bind('127.0.0.1');
    const calleeRtcp = await UdpPeer.bind('127.0.0.1');
    try {
      c.relay.setLeg(c.id, 'a', policy());
      c.relay.setLeg(c.id, 'b', policy());
      await c.caller.send(rtp({ ssrc: 0x1111, seq: 1 }), c.aPort, '127.0.0.1');
      await calleeRtcp.send(rtcpReceiverReport(0x2222), c.bPort + 1, '127.0.0.1');
      await until('B RTCP latched', () => counters(c.relay, c.id).b.rtcpPeer !== null);
      // A has no RTCP peer yet: the callee's report is dropped and counted on A.
      assert.is(counters(c.relay, c.id).a.dropNoPeer, 1);

      await callerRtcp.send(rtcpReceiverReport(0x1111), c.aPort + 1, '127.0.0.1');
      await until('callee RTCP got report', () => calleeRtcp.received.length === 1);
      assert.is(calleeRtcp.received[0]!.port, c.bPort + 1);
      await calleeRtcp.send(rtcpReceiverReport(0x2222), c.bPort + 1, '127.0.0.1');
      await until('caller RTCP got report', () => callerRtcp.received.length === 1);
      assert.is(callerRtcp.received[0]!.port, c.aPort + 1);

      const s = counters(c.relay, c.id);
      assert.is(s.a.rtcpPeer, callerRtcp.endpoint);
      assert.is(s.b.rtcpPeer, calleeRtcp.endpoint);
      assert.is(s.a.rtcpIn, 1);
      assert.is(s.a.rtcpOut, 1);
      assert.is(s.b.rtcpIn, 2);
      assert.is(s.b.rtcpOut, 1);
      // RTCP never travelled on the RTP sockets.
      assert.is(c.caller.received.length, 0);
      assert.is(c.callee.received.length, 0);
    } finally {
      await c.close();
      await Promise.all([callerRtcp.close(), calleeRtcp.close()]);
    }
  });

  test(`${io}: rtcp-mux on both legs: RTCP shares the RTP socket (RFC 5761 §4 demultiplexing)`, async () => {
    const c = await call(io, '127.0.0.1');
    try {
      c.relay.setLeg(c.id, 'a', policy({ rtcpMux: true }));
      c.relay.setLeg(c.id, 'b', policy({ rtcpMux: true }));
      await c.caller.send(rtp({ ssrc: 0x1111, seq: 1 }), c.aPort, '127.0.0.1');
      await c.callee.send(rtp({ ssrc: 0x2222, seq: 1 }), c.bPort, '127.0.0.1');
      await until('caller got RTP', () => c.caller.received.length === 1);
      await c.caller.send(rtcpReceiverReport(0x1111), c.aPort, '127.0.0.1');
      await until('callee got RTCP on the RTP port', () => c.callee.received.length === 1);
      assert.is(c.callee.received[0]!.port, c.bPort);
      assert.is(c.callee.received[0]!.data[1], 201);
      await c.callee.send(rtcpReceiverReport(0x2222), c.bPort, '127.0.0.1');
      await until('caller got RTCP', () => c.caller.received.length === 2);
      assert.is(c.caller.received[1]!.port, c.aPort);
      const s = counters(c.relay, c.id);
      assert.is(s.a.rtcpPeer, c.caller.endpoint);
      assert.is(s.a.rtcpIn, 1);
      assert.is(s.b.rtcpOut, 1);
      assert.is(s.a.dropInvalid + s.b.dropInvalid, 0);
    } finally {
      await c.close();
    }
  });

  test(`${io}: bridges a mux leg and a non-mux leg, and rtcp-mux can be switched off again`, async () => {
    const c = await call(io, '127.0.0.1');
    const calleeRtcp = await UdpPeer.bind('127.0.0.1');
    try {
      c.relay.setLeg(c.id, 'a', policy({ rtcpMux: true }));
      c.relay.setLeg(c.id, 'b', policy({ rtcpMux: false }));
      await c.caller.send(rtp({ ssrc: 0x1111, seq: 1 }), c.aPort, '127.0.0.1');
      await c.callee.send(rtp({ ssrc: 0x2222, seq: 1 }), c.bPort, '127.0.0.1');
      await calleeRtcp.send(rtcpReceiverReport(0x2222), c.bPort + 1, '127.0.0.1');
      // B's RTCP (own port) reaches the mux caller on A's RTP port.
      await until('caller got RTP and RTCP', () => c.caller.received.length === 2);
      assert.ok(c.caller.received.every((d) => d.port === c.aPort));
      assert.equal(c.caller.received.map((d) => d.data[1]).sort(), [0, 201]);
      // The mux caller's RTCP (on A's RTP port) leaves B's RTCP port toward B's RTCP peer.
      await c.caller.send(rtcpReceiverReport(0x1111), c.aPort, '127.0.0.1');
      await until('callee RTCP got report', () => calleeRtcp.received.length === 1);
      assert.is(calleeRtcp.received[0]!.port, c.bPort + 1);
      assert.is(c.callee.received.length, 0);

      // Leg A turns mux off: its RTCP now goes to its own RTCP port, learned there.
      const callerRtcp = await UdpPeer.bind('127.0.0.1');
      try {
        c.relay.setLeg(c.id, 'a', policy({ rtcpMux: false }));
        await callerRtcp.send(rtcpReceiverReport(0x1111), c.aPort + 1, '127.0.0.1');
        await until('callee RTCP got second report', () => calleeRtcp.received.length === 2);
        await calleeRtcp.send(rtcpReceiverReport(0x2222), c.bPort + 1, '127.0.0.1');
        await until('caller RTCP socket got report', () => callerRtcp.received.length === 1);
        assert.is(callerRtcp.received[0]!.port, c.aPort + 1);
        assert.is(c.caller.received.length, 2);
      } finally {
        await callerRtcp.close();
      }
    } finally {
      await c.close();
      await calleeRtcp.close();
    }
  });

  test(`${io}: IPv6 stream on ::1 latches and forwards both ways`, async () => {
    const c = await call(io, '::1');
    try {
      c.relay.setLeg(c.id, 'a', policy({ address: '::1' }));
      c.relay.setLeg(c.id, 'b', policy({ address: '::1' }));
      await c.caller.send(rtp({ ssrc: 7, seq: 1 }), c.aPort, '::1');
      await c.callee.send(rtp({ ssrc: 8, seq: 1 }), c.bPort, '::1');
      await until('caller got media', () => c.caller.received.length === 1);
      await c.caller.send(rtp({ ssrc: 7, seq: 2 }), c.aPort, '::1');
      await until('callee got media', () => c.callee.received.length === 1);
      assert.is(c.callee.received[0]!.port, c.bPort);
      const s = counters(c.relay, c.id);
      assert.is(s.a.rtpPeer, c.caller.endpoint);
      assert.ok(s.a.rtpPeer!.startsWith('[::1]:'));
      assert.is(s.b.rtpPeer, c.callee.endpoint);
      // An IPv4 policy address does not fit an IPv6 stream.
      try {
        c.relay.setLeg(c.id, 'a', policy({ address: '127.0.0.1' }));
        assert.unreachable('setLeg accepted an IPv4 address on an IPv6 stream');
      } catch (err) {
        assert.is((err as { code?: string }).code, 'ERR_PINLATCH_ARG');
      }
    } finally {
      await c.close();
    }
  });

  test(`${io}: a leg without a policy latches nothing (drops count as strangers)`, async () => {
    const c = await call(io, '127.0.0.1');
    try {
      c.relay.setLeg(c.id, 'b', policy());
      await c.caller.send(rtp({ ssrc: 1, seq: 1 }), c.aPort, '127.0.0.1');
      await until('stranger counted', () => counters(c.relay, c.id).a.dropStranger === 1);
      await quiet(50);
      const s = counters(c.relay, c.id);
      assert.is(s.a.rtpPeer, null);
      assert.is(s.a.latchChanges, 0);
      assert.is(s.a.packetsIn, 0);
    } finally {
      await c.close();
    }
  });
  test(`${io}: closeStream frees the ports at once (a new socket can bind them)`, async () => {
    const relay = addon.createRelay({ io });
    assert.is(relay.engine, io);
    const { id, aPort, bPort } = openStream(relay, '127.0.0.1');
    relay.setLeg(id, 'a', policy({ mode: 'any', address: undefined }));
    const sender = await UdpPeer.bind('127.0.0.1');
    await sender.send(rtp({ ssrc: 7, seq: 1 }), aPort, '127.0.0.1');
    await until('A latched', () => counters(relay, id).a.rtpPeer !== null);
    relay.closeStream(id);
    for (const port of [aPort, aPort + 1, bPort, bPort + 1]) {
      const probe = await UdpPeer.bind('127.0.0.1', port);
      await probe.close();
    }
    relay.close();
    await sender.close();
  });
}

test('the data path is chosen by createRelay({io}), then PINLATCH_IO, else auto', () => {
  const code = (fn: () => unknown) => {
    try {
      fn();
    } catch (err) {
      return (err as { code?: string }).code;
    }
    return 'no error';
  };
  const paths = ioPaths();
  const auto = addon.createRelay();
  assert.is(auto.engine, paths.includes('uring') ? 'uring' : 'epoll');
  auto.close();
  const saved = process.env.PINLATCH_IO;
  try {
    process.env.PINLATCH_IO = 'epoll';
    const fromEnv = addon.createRelay();
    assert.is(fromEnv.engine, 'epoll');
    fromEnv.close();
    // The option wins over the variable.
    const forced = addon.createRelay({ io: paths.at(-1)! });
    assert.is(forced.engine, paths.at(-1));
    forced.close();
    process.env.PINLATCH_IO = 'fast';
    assert.is(code(() => addon.createRelay()), 'ERR_PINLATCH_ARG');
  } finally {
    if (saved === undefined) delete process.env.PINLATCH_IO;
    else process.env.PINLATCH_IO = saved;
  }
  assert.is(code(() => addon.createRelay({ io: 'fast' as 'auto' })), 'ERR_PINLATCH_ARG');
  if (!paths.includes('uring')) assert.is(code(() => addon.createRelay({ io: 'uring' })), 'ERR_PINLATCH_SOCKET');
});

test.run();
