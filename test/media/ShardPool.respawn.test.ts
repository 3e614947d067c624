/**
 * Piscina stops replacing workers for the rest of a pool's life once a replacement worker dies
 * before it reported ready (`workerFailsDuringBootstrap`, docs: ecosystem.md §1 item 2). This
 * test produces exactly that with real threads: it kills a shard, then kills piscina's
 * replacement worker while it is still bootstrapping, and checks that the shard comes back anyway
 * (ShardPool aborts the stranded task and resubmits it), well before the 20 s start watchdog.
 *
 * To get hold of the replacement worker, the Worker class that piscina instantiates is wrapped
 * by a subclass that only records each instance; the threads themselves are real and unchanged.
 * This file runs in its own process (test/run.mjs), so the wrapper touches no other test.
 */
import * as assert from 'uvu/assert';
import { createRequire } from 'node:module';
import type { Worker } from 'node:worker_threads';
import { suite } from '../support/suite.ts';

const require = createRequire(import.meta.url);
const workerThreads = require('node:worker_threads') as typeof import('node:worker_threads');
const created: Worker[] = [];
const RealWorker = workerThreads.Worker;
workerThreads.Worker = class RecordedWorker extends RealWorker {
  constructor(...args: ConstructorParameters<typeof RealWorker>) {
    super(...args);
    created.push(this);
  }
};
const { ShardPool } = await import('../../src/media/ShardPool.ts');

const test = suite('media/ShardPool: piscina stops respawning', { timeoutMs: 30_000 });

test('a shard whose replacement worker dies during bootstrap comes back', async () => {
  const pool = await ShardPool.start({ shards: 2, shard: { idleMs: 0, idleCheckMs: 1000 } });
  try {
    const lost: number[] = [];
    pool.on('lost', (shard) => lost.push(shard));
    const before = created.length;
    await pool.terminateShard(0);
    assert.is(created.length, before + 1, 'piscina started a replacement');
    await created[before]!.terminate(); // dies before it reported ready
    const deadline = Date.now() + 10_000;
    while (!pool.isUp(0) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.ok(pool.isUp(0), 'shard 0 is running again');
    assert.ok(pool.isUp(1), 'shard 1 was never disturbed');
    assert.equal(lost, [0], 'lost once: the replacement never ran the shard');
    assert.ok(created.length >= before + 2, 'the shard runs in a worker piscina did not replace');
    assert.equal(await pool.request(0, 'stats', {}), []);
    assert.equal(await pool.request(1, 'stats', {}), []);
  } finally {
    await pool.close();
  }
});

test.run();
