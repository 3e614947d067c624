/**
 * The addon's two shard-fault primitives: takeLatchChanges (which legs' latched peers changed,
 * polled by the shard, never per packet) and restoreLatch (a new stream takes over the latches
 * of one that died with its shard, only where its policy would have let them latch).
 */
import * as assert from 'uvu/assert';
import { suite } from '../support/suite.ts';
import { addon, type NativeRelay } from '../../src/native.ts';
import { UdpPeer, counters, openStream, policy, quiet, rtp, rtcpReceiverReport, until } from './rtp-peer.ts';

const test = suite('native latch restore', { timeoutMs: 20_000 });

function expectArgError(fn: () => unknown, pattern: RegExp): void {
  try {
    fn();
  } catch (err) {
    assert.is((err as { code?: string }).code, 'ERR_PINLATCH_ARG');
    assert.match((err as Error).message, pattern);
    return;
  }
  assert.unreachable('expected ERR_PINLATCH_ARG');
}

function withRelay(fn: (relay: NativeRelay) => Promise<void>): () => Promise<void> {
  return async () => {
    const relay = addon.createRelay();
    try {
      await fn(relay);
    } finally {
      relay.close();
    }
  };
}

test(
  'a latch is reported once by takeLatchChanges; a policy change is reported too',
  withRelay(async (relay) => {
    const { id, aPort } = openStream(relay, '127.0.0.1');
    assert.equal(relay.takeLatchChanges(), []);
    relay.setLeg(id, 'a', policy());
    assert.equal(relay.takeLatchChanges(), [{ id, leg: 'a', rtpPeer: null, rtcpPeer: null }]);
    assert.equal(relay.takeLatchChanges(), []);
    const caller = await UdpPeer.bind('127.0.0.1');
    try {
      await caller.send(rtp({ ssrc: 1, seq: 1 }), aPort, '127.0.0.1');
      await caller.send(rtcpReceiverReport(1), aPort + 1, '127.0.0.1');
      await until('A latched RTP and RTCP', () => counters(relay, id).a.rtcpPeer !== null);
      assert.equal(relay.takeLatchChanges(), [{ id, leg: 'a', rtpPeer: caller.endpoint, rtcpPeer: caller.endpoint }]);
      // More packets from the latched peer are no change.
      await caller.send(rtp({ ssrc: 1, seq: 2 }), aPort, '127.0.0.1');
      await until('second packet in', () => counters(relay, id).a.packetsIn === 3);
      assert.equal(relay.takeLatchChanges(), []);
    } finally {
      await caller.close();
    }
  }),
);

test(
  'restoreLatch re-creates latched peers where the policy allows, without counting a latch change',
  withRelay(async (relay) => {
    const { id, aPort, bPort } = openStream(relay, '127.0.0.1');
    const caller = await UdpPeer.bind('127.0.0.1');
    const callee = await UdpPeer.bind('127.0.0.1');
    try {
      relay.setLeg(id, 'a', policy());
      relay.setLeg(id, 'b', policy());
      assert.is(relay.restoreLatch(id, 'b', { rtpPeer: callee.endpoint, rtcpPeer: callee.endpoint }), 2);
      assert.is(relay.restoreLatch(id, 'a', { rtpPeer: null }), 0);
      const b = counters(relay, id).b;
      assert.is(b.rtpPeer, callee.endpoint);
      assert.is(b.rtcpPeer, callee.endpoint);
      assert.is(b.latchChanges, 0);
      // The callee never sent anything, yet the caller's media reaches it.
      await caller.send(rtp({ ssrc: 7, seq: 1 }), aPort, '127.0.0.1');
      await until('caller media at the callee', () => callee.received.length === 1);
      assert.is(callee.received[0]!.port, bPort);

      // Not where the policy forbids: an IP the address rule rejects, a fixed leg, a muxed RTCP socket.
      expectArgError(() => relay.restoreLatch(id, 'a', { rtpPeer: '[::1]:4000' }), /address family/);
      assert.is(relay.restoreLatch(id, 'a', { rtpPeer: '127.0.0.2:4000' }), 0);
      relay.setLeg(id, 'a', policy({ mode: 'fixed', port: 5000 }));
      assert.is(relay.restoreLatch(id, 'a', { rtpPeer: caller.endpoint }), 0);
      relay.setLeg(id, 'a', policy({ rtcpMux: true }));
      assert.is(relay.restoreLatch(id, 'a', { rtpPeer: caller.endpoint, rtcpPeer: '127.0.0.1:9' }), 1);
      assert.is(counters(relay, id).a.rtcpPeer, caller.endpoint, 'muxed: RTCP goes where RTP goes');
      await quiet(20);
    } finally {
      await caller.close();
      await callee.close();
    }
  }),
);

test(
  'restoreLatch refuses malformed peers and unknown streams with ERR_PINLATCH_ARG',
  withRelay(async (relay) => {
    const { id } = openStream(relay, '127.0.0.1');
    relay.setLeg(id, 'a', policy());
    for (const bad of ['127.0.0.1', '127.0.0.1:', '127.0.0.1:0', '127.0.0.1:65536', 'host:5000', '::1:5000', '[::1:5000', ':5000', '127.0.0.1:50x']) {
      expectArgError(() => relay.restoreLatch(id, 'a', { rtpPeer: bad }), /rtpPeer/);
    }
    expectArgError(() => relay.restoreLatch(id, 'c' as 'a', {}), /leg must be/);
    expectArgError(() => relay.restoreLatch(id + 100, 'a', {}), /unknown stream/);
    expectArgError(() => relay.restoreLatch(id, 'a', { rtpPeer: 5 as unknown as string }), /rtpPeer/);
  }),
);

test.run();
