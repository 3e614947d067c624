/**
 * Restricted latching in the native relay: a leg's address rule widened to a prefix of its
 * address (`latchPrefix`) or to listed networks (`latchNetworks`), for a NAT that sends media from
 * another public address than its signalling, and the refusal report of a leg whose media arrives
 * only from sources its rule refuses. Real UDP: the file runs in a network namespace of its own
 * with extra IPv6 addresses on its loopback (127/8 is there anyway).
 */
import * as assert from 'uvu/assert';
import { runInsideNetns } from '../support/netns.ts';
import { suite } from '../support/suite.ts';
import { addon, type LegPolicy, type NativeRelay } from '../../src/native.ts';
import { UdpPeer, counters, ioPaths, openStream, policy, quiet, rtp, until } from './rtp-peer.ts';
import type { IoPath } from './rtp-peer.ts';

const V6 = { relay: '2001:db8:a::1', peer: '2001:db8:a::5', near: '2001:db8:a::6', far: '2001:db8:b::6' };
await runInsideNetns(import.meta.url, Object.values(V6));

const test = suite('native restricted latching', { timeoutMs: 15_000 });

interface Leg {
  relay: NativeRelay;
  id: number;
  aPort: number;
  peers: UdpPeer[];
  callee: UdpPeer;
  local: string;
}

/** A stream on `local`; leg B is latched to a callee at `local` already; leg A gets `a`. */
async function open(io: IoPath, local: string, a: Partial<LegPolicy>): Promise<Leg> {
  const relay = addon.createRelay({ io });
  const { id, aPort, bPort } = openStream(relay, local);
  const callee = await UdpPeer.bind(local);
  relay.setLeg(id, 'b', policy({ address: local }));
  relay.setLeg(id, 'a', policy(a));
  await callee.send(rtp({ ssrc: 0xb, seq: 1 }), bPort, local);
  await until('B latched', () => counters(relay, id).b.rtpPeer !== null);
  return { relay, id, aPort, peers: [callee], callee, local };
}

async function sendFrom(leg: Leg, address: string, ssrc: number, count = 3): Promise<UdpPeer> {
  const peer = await UdpPeer.bind(address);
  leg.peers.push(peer);
  for (let seq = 1; seq <= count; seq += 1) await peer.send(rtp({ ssrc, seq }), leg.aPort, leg.local);
  return peer;
}

async function close(leg: Leg): Promise<void> {
  leg.relay.close();
  await Promise.all(leg.peers.map((p) => p.close()));
}

for (const io of ioPaths()) {
  test(`${io}: the default rule refuses another address of the same NAT, counts it and reports the leg once`, async () => {
    const leg = await open(io, '127.0.0.1', { address: '127.0.0.1' });
    try {
      const peer = await sendFrom(leg, '127.0.0.2', 0xa);
      await until('3 refused', () => counters(leg.relay, leg.id).a.dropRefused === 3);
      const a = counters(leg.relay, leg.id).a;
      assert.is(a.dropStranger, 3, 'a refusal is a stranger drop');
      assert.is(a.lastRefused, `127.0.0.2:${peer.port}`);
      assert.is(a.rtpPeer, null);
      assert.is(a.packetsIn, 0);
      assert.equal(leg.relay.refusals(), [{ id: leg.id, leg: 'a', source: `127.0.0.2:${peer.port}`, refused: 3 }]);
      assert.equal(leg.relay.refusals(), [], 'reported once');
      await sendFrom(leg, '127.0.0.2', 0xa);
      await until('6 refused', () => counters(leg.relay, leg.id).a.dropRefused === 6);
      assert.equal(leg.relay.refusals(), [], 'still once');
      await quiet();
      assert.is(leg.callee.received.length, 0);
    } finally {
      await close(leg);
    }
  });

  test(`${io}: latchPrefix 24 lets 127.0.0.2 latch a leg signalled from 127.0.0.1, not 127.0.1.2`, async () => {
    const leg = await open(io, '127.0.0.1', { address: '127.0.0.1', latchPrefix: 24 });
    try {
      const outside = await sendFrom(leg, '127.0.1.2', 0xe);
      await until('outside refused', () => counters(leg.relay, leg.id).a.dropRefused === 3);
      const inside = await sendFrom(leg, '127.0.0.2', 0xa);
      await until('callee got 3', () => leg.callee.received.length === 3);
      const a = counters(leg.relay, leg.id).a;
      assert.is(a.rtpPeer, `127.0.0.2:${inside.port}`);
      assert.is(a.lastRefused, `127.0.1.2:${outside.port}`);
      assert.equal(leg.relay.refusals(), [], 'a leg that accepted media is not reported');
    } finally {
      await close(leg);
    }
  });

  test(`${io}: latchNetworks let a listed network latch; the address itself still may`, async () => {
    const leg = await open(io, '127.0.0.1', { address: '127.0.0.1', latchNetworks: ['127.0.5.0/24', '127.9.0.0/16'] });
    try {
      await sendFrom(leg, '127.0.0.2', 0xe);
      await until('127.0.0.2 refused', () => counters(leg.relay, leg.id).a.dropRefused === 3);
      const listed = await sendFrom(leg, '127.9.7.7', 0xa);
      await until('callee got 3', () => leg.callee.received.length === 3);
      assert.is(counters(leg.relay, leg.id).a.rtpPeer, `127.9.7.7:${listed.port}`);
    } finally {
      await close(leg);
    }
    const exact = await open(io, '127.0.0.1', { address: '127.0.0.1', latchNetworks: ['127.0.5.0/24'] });
    try {
      const self = await sendFrom(exact, '127.0.0.1', 0xa);
      await until('callee got 3', () => exact.callee.received.length === 3);
      assert.is(counters(exact.relay, exact.id).a.rtpPeer, `127.0.0.1:${self.port}`);
    } finally {
      await close(exact);
    }
  });

  test(`${io}: IPv6: latchPrefix 64 takes the /64 of the address, nothing beyond it`, async () => {
    const leg = await open(io, V6.relay, { address: V6.peer, latchPrefix: 64 });
    try {
      await sendFrom(leg, V6.far, 0xe);
      await until('far refused', () => counters(leg.relay, leg.id).a.dropRefused === 3);
      const near = await sendFrom(leg, V6.near, 0xa);
      await until('callee got 3', () => leg.callee.received.length === 3);
      assert.is(counters(leg.relay, leg.id).a.rtpPeer, `[${V6.near}]:${near.port}`);
    } finally {
      await close(leg);
    }
  });

  test(`${io}: a new policy that fits the refused source lets it latch, and starts a new report`, async () => {
    const leg = await open(io, '127.0.0.1', { address: '127.0.0.1' });
    try {
      const peer = await sendFrom(leg, '127.0.0.2', 0xa);
      await until('refused', () => counters(leg.relay, leg.id).a.dropRefused === 3);
      assert.is(leg.relay.refusals().length, 1);
      leg.relay.setLeg(leg.id, 'a', policy({ address: '127.0.0.1', latchNetworks: ['127.0.0.2/32'] }));
      for (let seq = 4; seq <= 6; seq += 1) await peer.send(rtp({ ssrc: 0xa, seq }), leg.aPort, leg.local);
      await until('callee got 3', () => leg.callee.received.length === 3);
      assert.equal(leg.relay.refusals(), []);
      // A policy that refuses it again is a new rule: reported again, once.
      leg.relay.setLeg(leg.id, 'a', policy({ address: '127.0.0.1' }));
      for (let seq = 7; seq <= 9; seq += 1) await peer.send(rtp({ ssrc: 0xa, seq }), leg.aPort, leg.local);
      await until('refused again', () => counters(leg.relay, leg.id).a.dropRefused === 6);
      assert.equal(leg.relay.refusals(), [{ id: leg.id, leg: 'a', source: `127.0.0.2:${peer.port}`, refused: 3 }]);
      assert.is(counters(leg.relay, leg.id).a.rtpPeer, null, 'the latched peer no longer fits and is forgotten');
    } finally {
      await close(leg);
    }
  });

  test(`${io}: a rebinding to another address inside the prefix is a handover like a port change`, async () => {
    const leg = await open(io, '127.0.0.1', { address: '127.0.0.1', latchPrefix: 24, handoverSilenceMs: 100 });
    try {
      await sendFrom(leg, '127.0.0.2', 0xa, 3);
      await until('callee got 3', () => leg.callee.received.length === 3);
      await quiet(200);
      const moved = await UdpPeer.bind('127.0.0.3');
      leg.peers.push(moved);
      for (let seq = 4; seq <= 6; seq += 1) await moved.send(rtp({ ssrc: 0xa, seq }), leg.aPort, leg.local);
      await until('callee got 6', () => leg.callee.received.length === 6);
      const a = counters(leg.relay, leg.id).a;
      assert.is(a.rtpPeer, `127.0.0.3:${moved.port}`);
      assert.is(a.latchChanges, 2);
      assert.is(a.dropRefused, 0);
    } finally {
      await close(leg);
    }
  });
}

test('bad restrictions are argument errors', () => {
  const relay = addon.createRelay({ io: 'epoll' });
  try {
    const { id } = openStream(relay, '127.0.0.1');
    const code = (p: Partial<LegPolicy>) => {
      try {
        relay.setLeg(id, 'a', policy(p));
        return 'ok';
      } catch (err) {
        return `${(err as { code?: string }).code}: ${(err as Error).message}`;
      }
    };
    assert.match(code({ latchPrefix: 33 }), /ERR_PINLATCH_ARG: latchPrefix must be an integer in 0\.\.32/);
    assert.match(code({ latchNetworks: ['2001:db8::/32'] }), /ERR_PINLATCH_ARG: .*not of the stream's address family/);
    assert.match(code({ latchNetworks: ['10.0.0.0/33'] }), /ERR_PINLATCH_ARG: .*invalid prefix length/);
    assert.match(code({ latchNetworks: ['10.0.0.0'] }), /ERR_PINLATCH_ARG: .*not address\/length/);
    assert.match(code({ latchNetworks: Array.from({ length: 17 }, (_, i) => `10.${i}.0.0/16`) }), /at most 16/);
    assert.is(code({ latchPrefix: 32, latchNetworks: Array.from({ length: 16 }, (_, i) => `10.${i}.0.0/16`) }), 'ok');
  } finally {
    relay.close();
  }
});

test.run();
