/**
 * Shard faults with live media: a call relays RTP both ways, its shard's worker thread is
 * terminated mid-call (a real thread death: the addon's environment cleanup closes its sockets),
 * and the call's streams come back on the restarted shard with the same ports, the same leg
 * policies and the same latched peers, without any signalling. Packets are lost only while the
 * shard is down.
 */
import * as assert from 'uvu/assert';
import { suite } from '../support/suite.ts';
import { MediaRelay } from '../../src/media/MediaRelay.ts';
import type { LegHint } from '../../src/media/api.ts';
import { UdpPeer, canBind, freedWithin, freePortRange, openUdpSocketCount, rtpPacket } from './udp-peer.ts';
import { ioPaths, rtcpReceiverReport } from '../native/rtp-peer.ts';
import { MetricsServer } from '../../src/app/MetricsServer.ts';

const test = suite('media/MediaRelay: shard restore', { timeoutMs: 60_000 });

/** Address rule on the signalling source and no SDP destination: media goes only to a latched peer. */
const LATCH_ONLY: LegHint = { sdpAddress: null, sdpPort: 4000, rtcpMux: false, signalSource: '127.0.0.1', mode: 'address' };

async function until(what: string, condition: () => boolean | Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Sequence numbers of RTP with `ssrc` that `peer` received from relay port `port`. */
function seqsFrom(peer: UdpPeer, port: number, ssrc: number): number[] {
  return peer.received
    .filter((p) => p.port === port && p.data.length >= 12 && p.data[1] === 0 && p.data.readUInt32BE(8) === ssrc)
    .map((p) => p.data.readUInt16BE(2));
}

/** The sequence numbers in 1..last that are missing from `got`. */
function missing(got: number[], last: number): number[] {
  const have = new Set(got);
  const out: number[] = [];
  for (let seq = 1; seq <= last; seq++) if (!have.has(seq)) out.push(seq);
  return out;
}

const FAULTS = {
  // The worker thread is terminated from outside (worker.terminate()).
  terminated: (relay: MediaRelay, shard: number) => relay.terminateShard(shard),
  // The shard throws an uncaught error and its thread ends from inside: piscina reports the
  // worker's error before the thread has exited, so the old sockets may still be closing.
  crashed: (relay: MediaRelay, shard: number) => relay.crashShard(shard),
};

// Both data paths: the shards' relays pick theirs from PINLATCH_IO, read when each is created.
for (const io of ioPaths()) for (const [fault, kill] of Object.entries(FAULTS)) test(`${io}: a call keeps its media through its shard's death (${fault}): same ports, latches restored, loss only in the gap`, async () => {
  process.env.PINLATCH_IO = io;
  const relay = await MediaRelay.start({
    address: '127.0.0.1',
    ports: await freePortRange(40),
    shards: 2,
    timeoutMs: 0,
    latchSyncMs: 50,
  });
  const caller = await UdpPeer.open();
  const callee = await UdpPeer.open();
  let streaming: NodeJS.Timeout | undefined;
  try {
    const session = await relay.ensureSession('call', 1, [
      { index: 0, leg: 'a', hint: LATCH_ONLY },
      { index: 0, leg: 'b', hint: LATCH_ONLY },
    ]);
    const bystander = await relay.ensureSession('bystander', 1);
    const { a, b } = session.streams[0]!;
    const shard = relay.shardOf('call')!;
    assert.is.not(relay.shardOf('bystander'), shard, 'the other session is on the other shard');

    // Both legs latch: callee first (B), then caller (A); RTCP latches A's RTCP socket.
    await callee.send(rtpPacket(0xb, 1), b.rtp);
    await until('B latched', async () => (await relay.stats('call'))![0]!.b.rtpPeer !== null);
    await caller.send(rtcpReceiverReport(0xa), a.rtcp);
    let callerSeq = 0;
    const sendCaller = () => caller.send(rtpPacket(0xa, ++callerSeq), a.rtp);
    await sendCaller();
    await until('caller RTP reaches the callee', () => seqsFrom(callee, b.rtp, 0xa).length === 1);
    await callee.send(rtpPacket(0xb, 2), b.rtp);
    await until('callee RTP reaches the caller', () => seqsFrom(caller, a.rtp, 0xb).length === 1);
    const before = (await relay.stats('call'))![0]!;
    const callerAt = `127.0.0.1:${caller.port}`;
    const calleeAt = `127.0.0.1:${callee.port}`;
    assert.is(before.a.rtpPeer, callerAt);
    assert.is(before.a.rtcpPeer, callerAt);
    assert.is(before.b.rtpPeer, calleeAt);
    // The main thread learns the latches from the shard's periodic report, not per packet.
    await until('latches reported to the main thread', () => {
      const [known] = relay.latchedPeers('call')!;
      return known!.a.rtpPeer === callerAt && known!.a.rtcpPeer === callerAt && known!.b.rtpPeer === calleeAt;
    });

    // The caller streams RTP (every 20 ms, bounded) through the fault; the callee stays silent,
    // so media reaches it afterwards only if B's latched peer was restored.
    streaming = setInterval(() => {
      if (callerSeq < 1500) void sendCaller().catch(() => undefined);
    }, 20);
    await until('caller streams', () => seqsFrom(callee, b.rtp, 0xa).length >= 10);

    const socketsBefore = openUdpSocketCount();
    await kill(relay, shard);
    await until('the session is restored', () => relay.faultCounters().sessionsRestored === 1);
    // The dead worker left no socket behind: the restored streams replace its four exactly.
    await until('UDP sockets back to their number before the fault', () => openUdpSocketCount() === socketsBefore, 5000);
    assert.equal(relay.faultCounters(), { shardRestarts: 1, sessionsRestored: 1, sessionsLost: 0 });
    assert.equal(relay.get('call'), session, 'same session, same ports');
    assert.is(relay.shardOf('call'), shard);
    assert.ok(relay.get('bystander'));
    assert.equal(relay.get('bystander'), bystander);

    const restoredAt = callerSeq;
    await until('caller RTP flows again through the same port', () => seqsFrom(callee, b.rtp, 0xa).some((seq) => seq > restoredAt + 20));
    clearInterval(streaming);
    streaming = undefined;
    const last = callerSeq;
    await until('the last caller packet arrived', () => seqsFrom(callee, b.rtp, 0xa).includes(last), 5000);
    const lost = missing(seqsFrom(callee, b.rtp, 0xa), last);
    assert.ok(lost.length > 0, 'packets sent while the shard was down are lost');
    // One gap: the packets lost form one run, and none after the restore.
    assert.is(lost[lost.length - 1]! - lost[0]! + 1, lost.length, `lost packets form one run: ${lost.join(',')}`);
    assert.ok(lost[lost.length - 1]! <= restoredAt, `nothing lost after the restore (lost up to ${lost[lost.length - 1]}, restored at ${restoredAt})`);

    // The other way: the callee's RTP reaches the caller with no new packet from the caller first.
    const callerHad = seqsFrom(caller, a.rtp, 0xb).length;
    for (let seq = 3; seq < 13; seq++) await callee.send(rtpPacket(0xb, seq), b.rtp);
    await until('callee RTP reaches the caller again', () => seqsFrom(caller, a.rtp, 0xb).length === callerHad + 10, 5000);

    // Restored, not relearned: the new shard counts no latch change, yet knows both peers.
    const after = (await relay.stats('call'))![0]!;
    assert.is(after.a.rtpPeer, callerAt);
    assert.is(after.a.rtcpPeer, callerAt);
    assert.is(after.b.rtpPeer, calleeAt);
    assert.is(after.a.latchChanges, 0);
    assert.is(after.b.latchChanges, 0);

    await relay.release('call');
    await relay.release('bystander');
    assert.ok(await freedWithin(a.rtp), 'released ports are free again');
  } finally {
    delete process.env.PINLATCH_IO;
    clearInterval(streaming);
    await caller.close();
    await callee.close();
    await relay.close();
  }
});

test('restoreTimeoutMs 0: the sessions of a dead shard are dropped and reported lost, their sockets closed', async () => {
  const relay = await MediaRelay.start({
    address: '127.0.0.1',
    ports: await freePortRange(100),
    shards: 2,
    timeoutMs: 0,
    quarantineMs: 0,
    restoreTimeoutMs: 0,
  });
  try {
    const keys = Array.from({ length: 8 }, (_, i) => `victim-${i}`);
    const sessions = await Promise.all(keys.map((key) => relay.ensureSession(key, 1)));
    const onShard0 = keys.filter((key) => relay.shardOf(key) === 0);
    assert.ok(onShard0.length > 0);
    const lost: string[] = [];
    relay.on('lost', (key) => lost.push(key));
    await relay.terminateShard(0);
    await until('every session of shard 0 reported lost', () => lost.length === onShard0.length, 10_000);
    assert.equal(lost.sort(), [...onShard0].sort());
    for (const key of onShard0) assert.is(relay.get(key), undefined);
    for (const s of sessions.filter((s) => onShard0.includes(s.key))) {
      assert.ok(await canBind(s.streams[0]!.a.rtp), `port ${s.streams[0]!.a.rtp} still held`);
    }
    assert.equal(relay.faultCounters(), { shardRestarts: 1, sessionsRestored: 0, sessionsLost: onShard0.length });
    const metrics = await new MetricsServer({ media: relay }).registry.metrics();
    assert.match(metrics, /^pinlatch_media_shard_restarts_total 1$/m);
    assert.match(metrics, /^pinlatch_media_sessions_restored_total 0$/m);
    assert.match(metrics, new RegExp(`^pinlatch_media_sessions_lost_total ${onShard0.length}$`, 'm'));
  } finally {
    await relay.close();
  }
});

test.run();
