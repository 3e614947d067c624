import * as assert from 'uvu/assert';
import { setTimeout as sleep } from 'node:timers/promises';
import { suite } from '../support/suite.ts';
import { MediaRelay, type MediaRelayOptions } from '../../src/media/MediaRelay.ts';
import { MediaError } from '../../src/media/errors.ts';
import type { LegHint } from '../../src/media/api.ts';
import { UdpPeer, canBind, openUdpSocketCount, rtpPacket, freePortRange } from './udp-peer.ts';

async function expectMediaError(promise: Promise<unknown>, code: string): Promise<MediaError> {
  try {
    await promise;
  } catch (err) {
    assert.instance(err, MediaError);
    assert.is((err as MediaError).code, code, (err as Error).message);
    return err as MediaError;
  }
  throw new assert.Assertion({ message: `expected ${code}`, generated: true, operator: 'rejects' });
}

/** Runs `body` with a one-shard relay over `pairs` RTP/RTCP pairs, closing it whatever happens. */
async function withRelay(
  pairs: number,
  options: Partial<MediaRelayOptions>,
  body: (relay: MediaRelay, base: number) => Promise<void>,
): Promise<void> {
  const range = await freePortRange(2 * pairs);
  const relay = await MediaRelay.start({ address: '127.0.0.1', ports: range, shards: 1, timeoutMs: 0, ...options });
  try {
    await body(relay, range.min);
  } finally {
    await relay.close();
  }
}

function loopbackHint(port: number): LegHint {
  return { sdpAddress: '127.0.0.1', sdpPort: port, rtcpMux: false, signalSource: '127.0.0.1' };
}

const ports = suite('media/MediaRelay: port range limits', { timeoutMs: 30_000 });

ports('exhaustion is a typed error; nothing is left half-open; ports come back after quarantine', async () => {
  await withRelay(8, { quarantineMs: 150 }, async (relay) => {
    await relay.ensureSession('x', 3); // 6 of 8 pairs
    const sockets = openUdpSocketCount();
    await expectMediaError(relay.ensureSession('y', 2), 'ERR_PINLATCH_PORTS_EXHAUSTED');
    assert.not.ok(relay.get('y'));
    assert.is(relay.portUsage().inUse, 6);
    assert.is(relay.portUsage().available, 2);
    // Growing an existing session past the range leaves it as it was.
    await expectMediaError(relay.ensureSession('x', 5), 'ERR_PINLATCH_PORTS_EXHAUSTED');
    assert.is(relay.get('x')!.streams.length, 3);
    assert.is(openUdpSocketCount(), sockets);
    assert.equal(relay.shardLoads(), [3]);

    await relay.release('x');
    assert.is(relay.portUsage().quarantined, 6);
    await expectMediaError(relay.ensureSession('y', 2), 'ERR_PINLATCH_PORTS_EXHAUSTED'); // still quarantined
    await sleep(200);
    const y = await relay.ensureSession('y', 4);
    assert.is(y.streams.length, 4);
    await relay.release('y');
  });
});

ports('a pair held by another process is set aside and other ports are used', async () => {
  await withRelay(6, { quarantineMs: 0 }, async (relay, base) => {
    // The pool hands out base and base+2 first (leg A and B of stream 0): occupy base+2.
    const squatter = await UdpPeer.open('127.0.0.1', base + 2);
    try {
      const session = await relay.ensureSession('k', 1);
      const used = [session.streams[0]!.a.rtp, session.streams[0]!.b.rtp];
      assert.not.ok(used.includes(base + 2));
      assert.not.ok(used.includes(base), 'the whole failed stream is set aside');
      assert.is(relay.portUsage().setAside, 2);
      assert.is(relay.portUsage().inUse, 2);
      await relay.release('k');
    } finally {
      await squatter.close();
    }
  });
});

ports('running out of ports while working around a busy pair rolls everything back', async () => {
  await withRelay(3, { quarantineMs: 0 }, async (relay, base) => {
    const squatter = await UdpPeer.open('127.0.0.1', base + 2);
    try {
      const sockets = openUdpSocketCount();
      await expectMediaError(relay.ensureSession('k', 1), 'ERR_PINLATCH_PORTS_EXHAUSTED');
      assert.equal(relay.keys(), []);
      assert.is(relay.portUsage().inUse, 0);
      assert.is(relay.portUsage().setAside, 2);
      assert.is(relay.portUsage().available, 1);
      assert.is(openUdpSocketCount(), sockets);
      assert.ok(await canBind(base + 4), 'the third pair was not left bound');
      assert.equal(relay.shardLoads(), [0]);
    } finally {
      await squatter.close();
    }
  });
});

ports('an address that is not local is a bind error, and no port leaks', async () => {
  // 192.0.2.1 (TEST-NET-1) is assigned to no interface of the test machine.
  const range = await freePortRange(20);
  const relay = await MediaRelay.start({ address: '192.0.2.1', ports: range, shards: 1, timeoutMs: 0 });
  try {
    const err = await expectMediaError(relay.ensureSession('k', 1), 'ERR_PINLATCH_BIND');
    assert.is(err.syscallCode, 'EADDRNOTAVAIL');
    assert.is(relay.portUsage().inUse, 0);
    assert.is(relay.portUsage().available, 10);
  } finally {
    await relay.close();
  }
});

ports('bad options are configuration errors before any worker starts', async () => {
  const base = { address: '127.0.0.1', ports: { min: 30000, max: 30099 } };
  await expectMediaError(MediaRelay.start({ ...base, address: 'localhost' }), 'ERR_PINLATCH_CONFIG');
  await expectMediaError(MediaRelay.start({ ...base, address: '0.0.0.0' }), 'ERR_PINLATCH_CONFIG'); // advertise required
  // The relay's sockets serve the bind address's family only: an advertise of the other one is unreachable.
  await expectMediaError(MediaRelay.start({ ...base, address: '::', advertise: '203.0.113.10' }), 'ERR_PINLATCH_CONFIG');
  await expectMediaError(MediaRelay.start({ ...base, advertise: '2001:db8::10' }), 'ERR_PINLATCH_CONFIG');
  await expectMediaError(MediaRelay.start({ ...base, ports: { min: 30000, max: 30000 } }), 'ERR_PINLATCH_CONFIG');
  await expectMediaError(MediaRelay.start({ ...base, timeoutMs: -1 }), 'ERR_PINLATCH_CONFIG');
  await expectMediaError(MediaRelay.start({ ...base, shards: 0 }), 'ERR_PINLATCH_CONFIG');
  await expectMediaError(MediaRelay.start({ ...base, handoverMaxSeqGap: 0 }), 'ERR_PINLATCH_CONFIG');
});

const timeouts = suite('media/MediaRelay: inactivity timeout', { timeoutMs: 30_000 });

timeouts('a session times out when every stream is idle, not while one still has media', async () => {
  await withRelay(16, { timeoutMs: 300 }, async (relay) => {
    const timedOut: Array<{ key: string; at: number }> = [];
    const started = Date.now();
    relay.on('timeout', (key) => timedOut.push({ key, at: Date.now() - started }));
    const caller = await UdpPeer.open();
    try {
      await relay.ensureSession('silent', 1);
      const alive = await relay.ensureSession('alive', 2);
      await relay.setLeg('alive', 0, 'a', loopbackHint(caller.port));
      await relay.setLeg('alive', 1, 'a', loopbackHint(caller.port));
      // Stream 0 of 'alive' gets media every 50 ms for 1.2 s; stream 1 never does.
      for (let seq = 1; seq <= 24; seq++) {
        await caller.send(rtpPacket(0x5000, seq), alive.streams[0]!.a.rtp);
        await sleep(50);
      }
      assert.equal(timedOut.map((t) => t.key), ['silent']);
      assert.ok(timedOut[0]!.at >= 300, `timed out after ${timedOut[0]!.at} ms`);
      // Media stops: now 'alive' goes idle too, and is reported once.
      const deadline = Date.now() + 3000;
      while (timedOut.length < 2 && Date.now() < deadline) await sleep(20);
      await sleep(400);
      assert.equal(timedOut.map((t) => t.key), ['silent', 'alive']);
      // Media again, then silence again: a new idle period, a new event.
      await caller.send(rtpPacket(0x5000, 25), alive.streams[0]!.a.rtp);
      const again = Date.now() + 3000;
      while (timedOut.length < 3 && Date.now() < again) await sleep(20);
      assert.equal(timedOut.map((t) => t.key), ['silent', 'alive', 'alive']);
    } finally {
      await caller.close();
    }
  });
});

timeouts('an offer/answer starts the idle clock again: a ringing call is not timed out by its answer', async () => {
  await withRelay(8, { timeoutMs: 400 }, async (relay) => {
    const timedOut: number[] = [];
    const started = Date.now();
    relay.on('timeout', () => timedOut.push(Date.now() - started));
    await relay.ensureSession('ringing', 1);
    // No early media: the session is reported idle once while the call rings.
    const first = Date.now() + 3000;
    while (timedOut.length < 1 && Date.now() < first) await sleep(20);
    assert.is(timedOut.length, 1);
    // The answer's SDP sets leg B: a new negotiation, a new idle period from now.
    const answeredAt = Date.now() - started;
    await relay.setLeg('ringing', 0, 'b', loopbackHint(40_000));
    const second = Date.now() + 3000;
    while (timedOut.length < 2 && Date.now() < second) await sleep(20);
    assert.is(timedOut.length, 2, 'idle again after the answer: a second event');
    assert.ok(timedOut[1]! - answeredAt >= 400, `not before the timeout after the answer (${timedOut[1]! - answeredAt} ms)`);
  });
});

ports.run();
timeouts.run();
