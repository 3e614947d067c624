/**
 * The warm-up before listening (src/sip/warmup/): calls through a private proxy on loopback with a
 * real media relay and shard worker complete, leave no session, no listener on the relay and no
 * socket behind, and stop at their deadline.
 */
import * as assert from 'uvu/assert';
import { suite } from '../../support/suite.ts';
import { freePortRange } from '../../media/udp-peer.ts';
import { parseConfig } from '../../../src/config/index.ts';
import { MediaRelay } from '../../../src/media/MediaRelay.ts';
import { mediaRelayOptions } from '../../../src/app/Pinlatch.ts';
import { runSelfCalls, SelfCallError } from '../../../src/sip/warmup/SelfCalls.ts';
import { warmUpBeforeListening } from '../../../src/sip/warmup/warmUpBeforeListening.ts';

const test = suite('sip/warmup/SelfCalls', { timeoutMs: 30_000 });

async function relayOf(warmUpRounds: number, span = 200): Promise<{ relay: MediaRelay; config: ReturnType<typeof parseConfig> }> {
  const ports = await freePortRange(span);
  const config = parseConfig(`
sip:
  listen: [{ transport: udp, address: 127.0.0.1, port: 5060 }]
  warmUpRounds: ${warmUpRounds}
media:
  address: 127.0.0.1
  ports: { min: ${ports.min}, max: ${ports.min + span - 1} }
  quarantineMs: 600000
  shards: 1
trunks:
  - { name: gateway, host: 127.0.0.3, port: 5060 }
routes:
  - { trunk: gateway }
`);
  return { relay: await MediaRelay.start(mediaRelayOptions(config.media)), config };
}

test('calls through the private proxy, in both message forms, complete and leave nothing behind', async () => {
  const { relay, config } = await relayOf(1000);
  try {
    const listeners = relay.listenerCount('timeout') + relay.listenerCount('lost');
    const completed = await runSelfCalls({ config, media: relay, calls: 12, deadline: performance.now() + 20_000 });
    assert.is(completed, 12);
    assert.is(relay.size, 0, 'every media session released');
    assert.is(relay.listenerCount('timeout') + relay.listenerCount('lost'), listeners, 'the private proxy no longer hears the relay');
    // Ports come back once the shard has closed the sockets, shortly after the session is gone.
    for (let i = 0; i < 50 && relay.portUsage().quarantined < 24; i++) await new Promise((r) => setTimeout(r, 100));
    assert.is(relay.portUsage().quarantined, 24, 'two port pairs per call went through a real session');
  } finally {
    await relay.close();
  }
});

test('a call the proxy refuses (its ports all quarantined by the first call) ends the calls with that failure, nothing left waiting', async () => {
  const { relay, config } = await relayOf(1000, 4);
  try {
    const failed = await runSelfCalls({ config, media: relay, calls: 20, deadline: performance.now() + 20_000 }).then(() => null, (err: unknown) => err);
    assert.instance(failed, SelfCallError);
    assert.match((failed as Error).message, /refused 5\d\d/);
    assert.is(relay.size, 0);
    // Waits that outlived their call would reject now, unhandled, and end this process.
    await new Promise((r) => setTimeout(r, 2500));
  } finally {
    await relay.close();
  }
});

test('no call begins after the deadline', async () => {
  const { relay, config } = await relayOf(1000);
  try {
    assert.is(await runSelfCalls({ config, media: relay, calls: 50, deadline: performance.now() - 1 }), 0);
  } finally {
    await relay.close();
  }
});

test('warmUpBeforeListening: calls bounded by the port range (two pairs each), then the rounds, every pair free after; 0 rounds: nothing', async () => {
  const { relay, config } = await relayOf(30);
  try {
    const pairs = relay.portUsage().size;
    const result = await warmUpBeforeListening({ config, media: relay });
    assert.is(result.calls, Math.min(30, Math.floor(pairs / 2)));
    assert.is(result.rounds, 30);
    const usage = relay.portUsage();
    assert.equal([usage.inUse, usage.quarantined, usage.available], [0, 0, pairs], 'the warm-up leaves the whole range to real calls');
    assert.ok(result.ms >= result.callsMs);
    const none = await warmUpBeforeListening({ config: { ...config, sip: { ...config.sip!, warmUpRounds: 0 } }, media: relay });
    assert.equal(none, { calls: 0, callsMs: 0, rounds: 0, ms: 0 });
  } finally {
    await relay.close();
  }
});

test.run();
