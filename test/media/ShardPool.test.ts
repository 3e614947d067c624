import * as assert from 'uvu/assert';
import { once } from 'node:events';
import { suite } from '../support/suite.ts';
import { ShardPool } from '../../src/media/ShardPool.ts';
import { MediaError } from '../../src/media/errors.ts';
import { canBind, freePortRange } from './udp-peer.ts';

async function expectMediaError(promise: Promise<unknown>, code: string): Promise<void> {
  try {
    await promise;
  } catch (err) {
    assert.instance(err, MediaError);
    assert.is((err as MediaError).code, code, (err as Error).message);
    return;
  }
  throw new assert.Assertion({ message: `expected ${code}`, generated: true, operator: 'rejects' });
}

/** The MediaError `fn` throws synchronously. */
function expectThrown(fn: () => unknown): MediaError {
  try {
    fn();
  } catch (err) {
    assert.instance(err, MediaError);
    return err as MediaError;
  }
  throw new assert.Assertion({ message: 'expected a MediaError', generated: true, operator: 'throws' });
}

const test = suite('media/ShardPool', { timeoutMs: 30_000 });

test('each shard runs in its own worker thread and answers typed requests', async () => {
  const pool = await ShardPool.start({ shards: 2, shard: { idleMs: 0, idleCheckMs: 1000 } });
  try {
    const threads = [pool.threadIdOf(0), pool.threadIdOf(1)];
    assert.ok(threads.every((t) => typeof t === 'number' && t > 0));
    assert.is.not(threads[0], threads[1]);
    assert.equal(await pool.request(0, 'stats', {}), []);
    const { min } = await freePortRange(4);
    const [id] = pool.openStreams(1, [{ address: '127.0.0.1', aPort: min, bPort: min + 2 }]);
    assert.not.ok(await canBind(min), 'bound by the time openStreams returns');
    // Opened natively, asked for over the port: the shard applies the open before the request.
    const [counters] = await pool.request(1, 'stats', { ids: [id!] });
    assert.is(counters!.id, id);
    pool.closeStreams(1, [id!]);
    assert.equal(await pool.request(1, 'stats', {}), [], 'the close is applied before a later request');
    assert.ok(await canBind(min));
    // A failing spec closes the sockets bound before it in the same batch, synchronously.
    const failed = expectThrown(() =>
      pool.openStreams(1, [
        { address: '127.0.0.1', aPort: min, bPort: min + 2 },
        { address: '127.0.0.1', aPort: min, bPort: min + 2 },
      ]),
    );
    assert.equal([failed.index, failed.code, failed.syscallCode], [1, 'ERR_PINLATCH_BIND', 'EADDRINUSE']);
    assert.ok(await canBind(min));
    assert.is(expectThrown(() => pool.setLegs(0, [{ id: 999, leg: 'a', policy: { mode: 'any', rtcpMux: false, handoverSilenceMs: 1000, handoverMaxSeqGap: 100 } }])).code, 'ERR_PINLATCH_ARG');
    assert.is(expectThrown(() => pool.openStreams(7, [{ address: '127.0.0.1', aPort: min, bPort: min + 2 }])).code, 'ERR_PINLATCH_ARG');
    await expectMediaError(pool.request(7, 'stats', {}), 'ERR_PINLATCH_ARG');
  } finally {
    await pool.close();
  }
  await expectMediaError(pool.request(0, 'stats', {}), 'ERR_PINLATCH_CLOSED');
  assert.is(expectThrown(() => pool.closeStreams(0, [1])).code, 'ERR_PINLATCH_CLOSED');
});

test('a terminated shard is reported lost and restarted in a new worker', async () => {
  const pool = await ShardPool.start({ shards: 1, shard: { idleMs: 0, idleCheckMs: 1000 } });
  try {
    const before = pool.threadIdOf(0);
    const { min } = await freePortRange(4);
    pool.openStreams(0, [{ address: '127.0.0.1', aPort: min, bPort: min + 2 }]);
    const lost = once(pool, 'lost');
    const up = once(pool, 'up');
    await pool.terminateShard(0);
    const [shard, reason] = await lost;
    assert.is(shard, 0);
    assert.match(reason as string, /exit|terminat/);
    assert.ok(await canBind(min), "the dead worker's sockets are closed");
    await expectMediaError(pool.terminateShard(0), 'ERR_PINLATCH_ARG'); // not running until it is back
    await up;
    assert.ok(pool.isUp(0));
    assert.is.not(pool.threadIdOf(0), before);
    assert.equal(await pool.request(0, 'stats', {}), []);
  } finally {
    await pool.close();
  }
});

test('bad shard counts are configuration errors', async () => {
  await expectMediaError(ShardPool.start({ shards: 0, shard: { idleMs: 0, idleCheckMs: 1000 } }), 'ERR_PINLATCH_CONFIG');
  await expectMediaError(ShardPool.start({ shards: 1.5, shard: { idleMs: 0, idleCheckMs: 1000 } }), 'ERR_PINLATCH_CONFIG');
});

test.run();
