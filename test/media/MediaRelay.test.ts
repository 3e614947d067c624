import * as assert from 'uvu/assert';
import { suite } from '../support/suite.ts';
import { MediaRelay } from '../../src/media/MediaRelay.ts';
import { MediaError } from '../../src/media/errors.ts';
import type { LegHint, MediaSession } from '../../src/media/api.ts';
import { UdpPeer, canBind, freedWithin, openUdpSocketCount, rtpPacket, freePortRange } from './udp-peer.ts';

const SHARDS = 2;

interface Context {
  relay: MediaRelay;
  caller: UdpPeer;
  callee: UdpPeer;
}

function loopbackHint(port: number): LegHint {
  return { sdpAddress: '127.0.0.1', sdpPort: port, rtcpMux: false, signalSource: '127.0.0.1' };
}

async function expectMediaError(promise: Promise<unknown>, code: string): Promise<MediaError> {
  try {
    await promise;
  } catch (err) {
    assert.instance(err, MediaError);
    assert.is((err as MediaError).code, code);
    return err as MediaError;
  }
  throw new assert.Assertion({ message: `expected ${code}`, generated: true, operator: 'rejects' });
}

/**
 * Waits until a leg has latched. Packets sent to two different relay sockets may be read in
 * either order, so a test that needs "B latched before A's packet" must wait for it.
 */
async function waitLatched(relay: MediaRelay, key: string, leg: 'a' | 'b', index = 0): Promise<void> {
  const deadline = Date.now() + 3000;
  for (;;) {
    const stats = await relay.stats(key);
    if (stats?.[index]?.[leg].rtpPeer) return;
    if (Date.now() > deadline) throw new Error(`leg ${leg} of ${key} did not latch`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Sets both legs toward the two peers, latches both ways, and checks one packet each way. */
async function latchAndForward(relay: MediaRelay, session: MediaSession, caller: UdpPeer, callee: UdpPeer, ssrc: number) {
  const stream = session.streams[0]!;
  caller.received.length = 0;
  callee.received.length = 0;
  await relay.setLeg(session.key, 0, 'a', loopbackHint(caller.port));
  await relay.setLeg(session.key, 0, 'b', loopbackHint(callee.port));
  const fromB = (r: { port: number }) => r.port === stream.b.rtp;
  const fromA = (r: { port: number }) => r.port === stream.a.rtp;
  // Latches B; A has not latched yet, so it goes to the caller's SDP port (an on-site peer).
  await callee.send(rtpPacket(ssrc + 1, 1), stream.b.rtp);
  await waitLatched(relay, session.key, 'b');
  await caller.send(rtpPacket(ssrc, 1), stream.a.rtp); // latches A, leaves B's socket toward the callee
  await callee.waitFor((r) => r.some(fromB), 3000, `caller media via ${stream.b.rtp}`);
  await callee.send(rtpPacket(ssrc + 1, 2), stream.b.rtp);
  await caller.waitFor((r) => r.filter(fromA).length >= 2, 3000, `callee media via ${stream.a.rtp}`);
  assert.is(callee.received.find(fromB)!.data.readUInt32BE(8), ssrc);
  assert.is(caller.received.find(fromA)!.data.readUInt32BE(8), ssrc + 1);
}

const test = suite<Context>('media/MediaRelay', { timeoutMs: 30_000 });

test.before(async (ctx) => {
  ctx.relay = await MediaRelay.start({
    address: '127.0.0.1',
    ports: await freePortRange(2000),
    shards: SHARDS,
    timeoutMs: 0,
    quarantineMs: 200,
  });
  ctx.caller = await UdpPeer.open();
  ctx.callee = await UdpPeer.open();
});

test.after(async (ctx) => {
  await ctx.caller?.close();
  await ctx.callee?.close();
  await ctx.relay?.close();
});

test('starts the requested shards and advertises the bind address', ({ relay }) => {
  assert.is(relay.shards, SHARDS);
  assert.is(relay.advertise, '127.0.0.1');
  for (let i = 0; i < SHARDS; i++) assert.ok(relay.isShardUp(i));
});

test('a session gets even RTP ports with RTCP + 1 for both legs of every stream', async ({ relay }) => {
  const session = await relay.ensureSession('ports', 2);
  assert.is(session.key, 'ports');
  assert.is(session.streams.length, 2);
  const all = new Set<number>();
  session.streams.forEach((s, i) => {
    assert.is(s.index, i);
    for (const leg of [s.a, s.b]) {
      assert.is(leg.rtp % 2, 0);
      assert.is(leg.rtcp, leg.rtp + 1);
      all.add(leg.rtp);
    }
  });
  assert.is(all.size, 4);
  assert.is(relay.get('ports'), session);
  // An offer with more m-lines adds streams and keeps the existing ones; fewer changes nothing.
  const grown = await relay.ensureSession('ports', 3);
  assert.equal(grown.streams.slice(0, 2), session.streams);
  assert.is(grown.streams.length, 3);
  assert.is(await relay.ensureSession('ports', 1), grown);
  await relay.release('ports');
  assert.is(relay.get('ports'), undefined);
});

test('concurrent calls for one key share one session', async ({ relay }) => {
  const [a, b, c] = await Promise.all([relay.ensureSession('same', 1), relay.ensureSession('same', 1), relay.ensureSession('same', 2)]);
  assert.equal(a!.streams[0], b!.streams[0]);
  assert.equal(c!.streams[0], a!.streams[0]);
  assert.is(c!.streams.length, 2);
  await relay.release('same');
});

test('latches both ways and relays RTP through the sockets it advertised', async ({ relay, caller, callee }) => {
  const session = await relay.ensureSession('call-1', 1);
  await latchAndForward(relay, session, caller, callee, 0x1000);
  const [stats] = (await relay.stats('call-1'))!;
  assert.is(stats!.index, 0);
  assert.is(stats!.a.rtpPeer, `127.0.0.1:${caller.port}`);
  assert.is(stats!.b.rtpPeer, `127.0.0.1:${callee.port}`);
  assert.is(stats!.a.packetsIn, 1);
  assert.is(stats!.b.packetsIn, 2);
  assert.is(stats!.b.packetsOut, 1); // caller's packet, out toward the callee
  // The callee's first packet, before the caller latched, went to the caller's SDP port (an
  // on-site loopback peer); the second to the latched source, which here is the same socket.
  assert.is(stats!.a.packetsOut, 2);
  assert.is(stats!.a.dropNoPeer, 0);
  await relay.release('call-1');
});

test('the derived policy keeps a stranger from latching or injecting', async ({ relay, caller, callee }) => {
  const session = await relay.ensureSession('call-stranger', 1);
  const stream = session.streams[0]!;
  const stranger = await UdpPeer.open('127.0.0.2');
  try {
    await relay.setLeg('call-stranger', 0, 'a', loopbackHint(caller.port));
    await relay.setLeg('call-stranger', 0, 'b', loopbackHint(callee.port));
    await callee.send(rtpPacket(0x2001, 1), stream.b.rtp);
    await waitLatched(relay, 'call-stranger', 'b');
    for (let seq = 1; seq <= 5; seq++) await stranger.send(rtpPacket(0x6666, seq), stream.a.rtp);
    await caller.send(rtpPacket(0x2000, 1), stream.a.rtp);
    await callee.waitFor((r) => r.some((p) => p.port === stream.b.rtp), 3000, 'caller media');
    await callee.send(rtpPacket(0x2001, 2), stream.b.rtp);
    await caller.waitFor((r) => r.some((p) => p.port === stream.a.rtp), 3000, 'callee media');
    const fromRelayB = callee.received.filter((p) => p.port === stream.b.rtp).map((p) => p.data.readUInt32BE(8));
    assert.equal(fromRelayB, [0x2000]);
    assert.is(stranger.received.length, 0);
    const [stats] = (await relay.stats('call-stranger'))!;
    assert.is(stats!.a.dropStranger, 5);
    assert.is(stats!.a.rtpPeer, `127.0.0.1:${caller.port}`);
  } finally {
    await stranger.close();
    await relay.release('call-stranger');
  }
});

test('legs given to ensureSession apply with the opening, and on an existing session', async ({ relay, caller, callee }) => {
  // Leg A's policy travels with the opening of the streams, leg B's with the "answer".
  const session = await relay.ensureSession('call-batched', 1, [{ index: 0, leg: 'a', hint: loopbackHint(caller.port) }]);
  const again = await relay.ensureSession('call-batched', 1, [{ index: 0, leg: 'b', hint: loopbackHint(callee.port) }]);
  assert.equal(again.streams, session.streams);
  const stream = session.streams[0]!;
  const stranger = await UdpPeer.open('127.0.0.2');
  try {
    await callee.send(rtpPacket(0x3001, 1), stream.b.rtp);
    await waitLatched(relay, 'call-batched', 'b');
    for (let seq = 1; seq <= 3; seq++) await stranger.send(rtpPacket(0x6666, seq), stream.a.rtp);
    await caller.send(rtpPacket(0x3000, 1), stream.a.rtp);
    await callee.waitFor((r) => r.some((p) => p.port === stream.b.rtp && p.data.readUInt32BE(8) === 0x3000), 3000, 'caller media');
    const [stats] = (await relay.stats('call-batched'))!;
    assert.is(stats!.a.dropStranger, 3);
    assert.is(stats!.a.rtpPeer, `127.0.0.1:${caller.port}`);
    // A second m-line: the new stream opens with its leg set, the first keeps its ports.
    const grown = await relay.ensureSession('call-batched', 2, [
      { index: 0, leg: 'a', hint: loopbackHint(caller.port) },
      { index: 1, leg: 'a', hint: loopbackHint(caller.port) },
    ]);
    assert.is(grown.streams.length, 2);
    assert.equal(grown.streams[0], stream);
    await expectMediaError(relay.ensureSession('call-batched', 2, [{ index: 2, leg: 'a', hint: loopbackHint(caller.port) }]), 'ERR_PINLATCH_ARG');
    await expectMediaError(relay.ensureSession('call-batched', 2, [{ index: 0, leg: 'a', hint: { ...loopbackHint(4000), sdpPort: 70000 } }]), 'ERR_PINLATCH_ARG');
  } finally {
    await stranger.close();
    await relay.release('call-batched');
  }
});

test('bad arguments are typed errors', async ({ relay }) => {
  await expectMediaError(relay.ensureSession('', 1), 'ERR_PINLATCH_ARG');
  await expectMediaError(relay.ensureSession('k', 0), 'ERR_PINLATCH_ARG');
  await expectMediaError(relay.ensureSession('k', 1.5), 'ERR_PINLATCH_ARG');
  await expectMediaError(relay.setLeg('nobody', 0, 'a', loopbackHint(4000)), 'ERR_PINLATCH_UNKNOWN_SESSION');
  await relay.ensureSession('args', 1);
  await expectMediaError(relay.setLeg('args', 1, 'a', loopbackHint(4000)), 'ERR_PINLATCH_ARG');
  await expectMediaError(relay.setLeg('args', 0, 'c' as 'a', loopbackHint(4000)), 'ERR_PINLATCH_ARG');
  await expectMediaError(relay.setLeg('args', 0, 'a', { ...loopbackHint(4000), sdpPort: 70000 }), 'ERR_PINLATCH_ARG');
  await expectMediaError(relay.setLeg('args', 0, 'a', { ...loopbackHint(0), mode: 'fixed' }), 'ERR_PINLATCH_ARG');
  assert.is(await relay.stats('nobody'), undefined);
  await relay.release('nobody'); // idempotent
  await relay.release('args');
  await relay.release('args');
  assert.not.ok(relay.keys().includes('args'));
});

test('release closes the sockets: the ports can be bound again', async ({ relay }) => {
  const session = await relay.ensureSession('release-me', 2);
  const ports = session.streams.flatMap((s) => [s.a.rtp, s.a.rtcp, s.b.rtp, s.b.rtcp]);
  for (const port of ports) assert.not.ok(await canBind(port), `port ${port} should be held by the relay`);
  const before = relay.portUsage();
  await relay.release('release-me');
  for (const port of ports) assert.ok(await freedWithin(port), `port ${port} should be free after release`);
  const after = relay.portUsage();
  assert.is(after.inUse, before.inUse - 4);
  assert.is(after.quarantined, before.quarantined + 4);
});

test('200 sessions spread over the shards all relay both ways', async ({ relay, caller, callee }) => {
  const COUNT = 200;
  caller.received.length = 0;
  callee.received.length = 0;
  const keys = Array.from({ length: COUNT }, (_, i) => `many-${i}`);
  const sessions = await Promise.all(keys.map((key) => relay.ensureSession(key, 1)));
  const perShard = new Array<number>(SHARDS).fill(0);
  for (const key of keys) perShard[relay.shardOf(key)!]!++;
  for (const n of perShard) assert.ok(n >= COUNT / SHARDS - 2, `uneven spread ${perShard.join('/')}`);

  await Promise.all(keys.map((key) => relay.setLeg(key, 0, 'a', loopbackHint(caller.port))));
  await Promise.all(keys.map((key) => relay.setLeg(key, 0, 'b', loopbackHint(callee.port))));
  const bPortToIndex = new Map(sessions.map((s, i) => [s.streams[0]!.b.rtp, i]));
  const aPortToIndex = new Map(sessions.map((s, i) => [s.streams[0]!.a.rtp, i]));

  // In chunks, so no receive buffer on either side overflows.
  const CHUNK = 50;
  for (let start = 0; start < COUNT; start += CHUNK) {
    const chunk = sessions.slice(start, start + CHUNK);
    for (const [j, s] of chunk.entries()) await callee.send(rtpPacket(100_000 + start + j, 1), s.streams[0]!.b.rtp);
    await Promise.all(chunk.map((s) => waitLatched(relay, s.key, 'b')));
    for (const [j, s] of chunk.entries()) await caller.send(rtpPacket(start + j, 1), s.streams[0]!.a.rtp);
    await callee.waitFor((r) => r.length >= start + chunk.length, 5000, `caller media of sessions ${start}..`);
  }
  for (const packet of callee.received) {
    assert.is(packet.data.readUInt32BE(8), bPortToIndex.get(packet.port), `packet via ${packet.port}`);
  }
  assert.is(new Set(callee.received.map((p) => p.port)).size, COUNT);

  for (let start = 0; start < COUNT; start += CHUNK) {
    const chunk = sessions.slice(start, start + CHUNK);
    for (const [j, s] of chunk.entries()) await callee.send(rtpPacket(100_000 + start + j, 2), s.streams[0]!.b.rtp);
    await caller.waitFor((r) => r.length >= start + chunk.length, 5000, `callee media of sessions ${start}..`);
  }
  for (const packet of caller.received) {
    assert.is(packet.data.readUInt32BE(8), 100_000 + aPortToIndex.get(packet.port)!);
  }
  assert.is(new Set(caller.received.map((p) => p.port)).size, COUNT);

  const inUse = relay.portUsage().inUse;
  await Promise.all(keys.map((key) => relay.release(key)));
  assert.is(relay.portUsage().inUse, inUse - 2 * COUNT);
});

test('a shard whose worker dies: its sessions are restored on its replacement, the rest keep relaying', async ({ relay, caller, callee }) => {
  const keys = Array.from({ length: 12 }, (_, i) => `victim-${i}`);
  const sessions = await Promise.all(keys.map((key) => relay.ensureSession(key, 1)));
  const onShard0 = keys.filter((key) => relay.shardOf(key) === 0);
  const onShard1 = keys.filter((key) => relay.shardOf(key) === 1);
  assert.ok(onShard0.length > 0 && onShard1.length > 0);
  const lost: string[] = [];
  relay.on('lost', (key) => lost.push(key));
  const restoredBefore = relay.faultCounters().sessionsRestored;

  await relay.terminateShard(0);
  // A surviving session still relays while shard 0 is down or restoring.
  caller.received.length = 0;
  callee.received.length = 0;
  await latchAndForward(relay, relay.get(onShard1[0]!)!, caller, callee, 0x3000);
  const during = await relay.ensureSession('after-loss', 1);
  assert.ok(during.streams.length === 1);

  const deadline = Date.now() + 15_000;
  while (relay.faultCounters().sessionsRestored < restoredBefore + onShard0.length && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.is(relay.faultCounters().sessionsRestored, restoredBefore + onShard0.length);
  assert.equal(lost, []);
  assert.ok(relay.isShardUp(0), 'shard 0 restarted');
  // Every session kept its ports; a restored one relays on them.
  for (const s of sessions) assert.equal(relay.get(s.key), s);
  caller.received.length = 0;
  callee.received.length = 0;
  await latchAndForward(relay, relay.get(onShard0[0]!)!, caller, callee, 0x4000);

  await Promise.all([...keys, 'after-loss'].map((key) => relay.release(key)));
});

test('IPv6: a relay bound to ::1 latches and relays both ways', async () => {
  const relay = await MediaRelay.start({ address: '::1', ports: await freePortRange(20), shards: 1, timeoutMs: 0 });
  const caller = await UdpPeer.open('::1');
  const callee = await UdpPeer.open('::1');
  try {
    assert.is(relay.advertise, '::1');
    const session = await relay.ensureSession('v6', 1);
    const stream = session.streams[0]!;
    const hint = (port: number): LegHint => ({ sdpAddress: '::1', sdpPort: port, rtcpMux: false, signalSource: '::1' });
    await relay.setLeg('v6', 0, 'a', hint(caller.port));
    await relay.setLeg('v6', 0, 'b', hint(callee.port));
    await callee.send(rtpPacket(0x6001, 1), stream.b.rtp, '::1');
    await waitLatched(relay, 'v6', 'b');
    await caller.send(rtpPacket(0x6000, 1), stream.a.rtp, '::1');
    await callee.waitFor((r) => r.some((p) => p.port === stream.b.rtp), 3000, 'caller media over IPv6');
    await callee.send(rtpPacket(0x6001, 2), stream.b.rtp, '::1');
    await caller.waitFor((r) => r.some((p) => p.port === stream.a.rtp), 3000, 'callee media over IPv6');
    const [stats] = (await relay.stats('v6'))!;
    assert.is(stats!.a.rtpPeer, `[::1]:${caller.port}`);
  } finally {
    await caller.close();
    await callee.close();
    await relay.close();
  }
});

test('calls after close() are rejected', async () => {
  const relay = await MediaRelay.start({ address: '127.0.0.1', ports: await freePortRange(100), shards: 1 });
  await relay.close();
  await expectMediaError(relay.ensureSession('late', 1), 'ERR_PINLATCH_CLOSED');
  await relay.close(); // idempotent
});

test('close() leaves no socket open', async () => {
  const baseline = openUdpSocketCount();
  const relay = await MediaRelay.start({ address: '127.0.0.1', ports: await freePortRange(200), shards: 2 });
  const sessions = await Promise.all(Array.from({ length: 10 }, (_, i) => relay.ensureSession(`close-${i}`, 1)));
  assert.ok(openUdpSocketCount() >= baseline + 40, 'each stream holds 4 sockets');
  await relay.close();
  assert.is(openUdpSocketCount(), baseline);
  for (const s of sessions) assert.ok(await canBind(s.streams[0]!.b.rtcp));
});

test('without quarantine a released pair is bound again at once, on another shard too: the new session waits for the old sockets to close', async () => {
  const range = await freePortRange(4);
  const relay = await MediaRelay.start({ address: '127.0.0.1', ports: range, shards: 2, quarantineMs: 0 });
  try {
    for (let round = 0; round < 6; round++) {
      const session = await relay.ensureSession(`reuse-${round}`, 1);
      assert.is(session.streams[0]!.a.rtp, range.min);
      // The close goes to the shard natively; the next open binds the same ports right away.
      await relay.release(`reuse-${round}`);
    }
    assert.is(relay.portUsage().setAside, 0, 'our own closing sockets are not mistaken for another process');
  } finally {
    await relay.close();
  }
});

test.run();
