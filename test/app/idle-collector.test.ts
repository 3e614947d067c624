/**
 * Idle collection (src/app/IdleCollector.ts): when it runs — only once the relay has been quiet
 * for quietSec (few messages or a twentieth of the peak rate, calls in progress well below the peak), at most once per
 * minIntervalSec, and only when the heap grew — then the real thing: V8's gc() taken without
 * --expose-gc frees a heap full of garbage, the native malloc trim answers, and a running
 * pinlatch collects by itself once quiet and counts it on its metrics endpoint.
 */
import { once } from 'node:events';
import { createServer } from 'node:net';
import { pino } from 'pino';
import * as assert from 'uvu/assert';
import { suite } from '../support/suite.ts';
import { freePortRange } from '../media/udp-peer.ts';
import { scrapeMetrics, valueOf } from '../support/scrape.ts';
import { parseConfig } from '../../src/config/index.ts';
import type { IdleCollectionConfig } from '../../src/config/index.ts';
import { Pinlatch } from '../../src/app/Pinlatch.ts';
import { fullCollection, IdleCollector, MIN_GROWTH_BYTES, type MemoryReading, type RelayLoad } from '../../src/app/IdleCollector.ts';
import { addon } from '../../src/native.ts';

const test = suite('app: idle collection', { timeoutMs: 30_000 });

const MiB = 1024 * 1024;
const ADDRESS = '127.0.93.1';

async function freeTcpPort(): Promise<number> {
  const server = createServer().listen(0, ADDRESS);
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** A collector on a hand-driven clock, load and memory; `collected` counts its collections. */
function rig(config: Partial<IdleCollectionConfig> = {}) {
  const load: RelayLoad = { messages: 0, calls: 0 };
  const memory: MemoryReading = { heapBytes: 20 * MiB, rssBytes: 100 * MiB };
  let now = 0;
  const state = { collected: 0 };
  const collector = new IdleCollector({
    config: () => ({ quietSec: 30, minIntervalSec: 60, maxMessagesPerSec: 10, ...config }),
    load: () => load,
    memory: () => ({ ...memory }),
    reclaimer: {
      collect: () => {
        state.collected += 1;
        memory.heapBytes = 20 * MiB;
        memory.rssBytes = 100 * MiB;
      },
      trim: () => true,
    },
  }, now);
  /** `seconds` checks, one a second, with `perSec` messages each. */
  const run = (seconds: number, perSec = 0) => {
    for (let i = 0; i < seconds; i++) {
      now += 1000;
      load.messages += perSec;
      collector.check(now);
    }
  };
  return { collector, load, memory, state, run };
}

test('no collection while signalling is busy, one once it has been quiet for quietSec', () => {
  const r = rig();
  r.memory.heapBytes = 200 * MiB;
  r.load.calls = 500;
  r.run(120, 400);
  assert.is(r.state.collected, 0, 'under load');
  r.load.calls = 0;
  r.run(29);
  assert.is(r.state.collected, 0, 'quiet, not long enough');
  r.run(2);
  assert.is(r.state.collected, 1);
  assert.is(r.collector.counters.collections, 1);
  assert.is(r.collector.counters.heapFreedBytes, 180 * MiB);
  assert.is(r.collector.counters.rssFreedBytes, 0);
});

test('a burst of messages starts the quiet period again; a trickle below maxMessagesPerSec does not', () => {
  const r = rig();
  r.memory.heapBytes = 200 * MiB;
  r.run(20, 5);
  r.run(1, 50);
  r.run(20, 5);
  assert.is(r.state.collected, 0);
  r.run(11, 5);
  assert.is(r.state.collected, 1);
});

test('the tail of a load (retransmissions at a twentieth of its peak rate or less) is quiet; a steady rate is not', () => {
  const r = rig();
  r.memory.heapBytes = 200 * MiB;
  r.run(60, 2000);
  r.run(31, 100);
  assert.is(r.state.collected, 1, '100/s after a 2000/s peak');
  const steady = rig();
  steady.memory.heapBytes = 200 * MiB;
  steady.run(300, 100);
  assert.is(steady.state.collected, 0, 'a steady 100/s is load');
  const dip = rig();
  dip.memory.heapBytes = 200 * MiB;
  dip.run(60, 2000);
  dip.run(60, 101);
  assert.is(dip.state.collected, 0, 'just above a twentieth of the peak');
});

test('calls in progress: not while they go up at 40 % of the peak; collected at a quarter of it', () => {
  const r = rig();
  r.memory.heapBytes = 200 * MiB;
  r.load.calls = 1000;
  r.run(5, 2000);
  r.load.calls = 400;
  // 40 % of the peak, a call more every 10 s (a little signalling goes with each).
  for (let i = 0; i < 6; i++) {
    r.load.calls += 1;
    r.run(10, 2);
  }
  assert.is(r.state.collected, 0, 'calls going up at 40 % of the peak');
  r.load.calls = 250;
  r.run(31);
  assert.is(r.state.collected, 1, '25 % of the peak');
});

test('calls that stay up while nothing is signalled (media sessions waiting for their media timeout) do not hold it off', () => {
  const r = rig();
  r.memory.heapBytes = 200 * MiB;
  r.load.calls = 300;
  r.run(20, 2000);
  r.load.calls = 280;
  r.run(36);
  assert.is(r.state.collected, 1, '280 of a peak of 300, none added for quietSec');
});

test('at most once per minIntervalSec, and not for a heap that barely grew', () => {
  const r = rig({ quietSec: 5, minIntervalSec: 60 });
  r.memory.heapBytes = 200 * MiB;
  r.run(6);
  assert.is(r.state.collected, 1);
  r.memory.heapBytes = 200 * MiB;
  r.run(50);
  assert.is(r.state.collected, 1, 'within minIntervalSec');
  r.run(10);
  assert.is(r.state.collected, 2);
  r.memory.heapBytes = 20 * MiB + MIN_GROWTH_BYTES - 1;
  r.run(120);
  assert.is(r.state.collected, 2, 'grew by less than MIN_GROWTH_BYTES');
});

test('quietSec 0 turns it off', () => {
  const r = rig({ quietSec: 0 });
  r.memory.heapBytes = 500 * MiB;
  r.run(600);
  assert.is(r.state.collected, 0);
});

test('gc() without --expose-gc frees a heap of garbage; the malloc trim answers', () => {
  assert.is((globalThis as { gc?: unknown }).gc, undefined, 'this test runs without --expose-gc');
  const gc = fullCollection();
  gc();
  const base = process.memoryUsage().heapUsed;
  let garbage: Array<{ n: number; s: string }> | null = [];
  for (let i = 0; i < 500_000; i++) garbage.push({ n: i, s: `x${i}` });
  garbage = null;
  const before = process.memoryUsage().heapUsed;
  assert.ok(before - base > 20 * MiB, `garbage made: ${before - base}`);
  gc();
  const after = process.memoryUsage().heapUsed;
  assert.ok(after - base < 4 * MiB, `heap ${before} -> ${after} (base ${base})`);
  assert.is(fullCollection(), gc, 'taken once');
  assert.is(typeof addon.trimMemory(), 'boolean');
});

test('a running pinlatch collects once quiet, and counts it on /metrics', async () => {
  const ports = await freePortRange(8);
  const address = ADDRESS;
  const config = parseConfig(`
media:
  address: ${address}
  ports: { min: ${ports.min}, max: ${ports.max} }
  shards: 1
metrics: { address: ${address}, port: ${await freeTcpPort()} }
memory: { idleCollection: { quietSec: 1, minIntervalSec: 1 } }
log: { level: silent }
`, 'idle.yaml');
  const app = new Pinlatch({ config, logger: pino({ level: 'silent' }) });
  const points = await app.start();
  try {
    const url = `http://${address}:${points.find((p) => p.service === 'metrics')!.port}`;
    await new Promise((r) => setTimeout(r, 1500));
    const base = process.memoryUsage().heapUsed;
    // Reachable while it is made (V8 cannot collect it along the way), garbage once made.
    let held: string[] | null = [];
    for (let i = 0; i < 400_000; i++) held.push(`garbage ${i} `.repeat(4));
    assert.ok(process.memoryUsage().heapUsed - base > 40 * MiB);
    held = null;
    const deadline = Date.now() + 10_000;
    let collections = 0;
    while (collections === 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 250));
      collections = valueOf(await scrapeMetrics(url), 'pinlatch_idle_collections_total') ?? 0;
    }
    assert.is(collections, 1);
    const freed = valueOf(await scrapeMetrics(url), 'pinlatch_idle_collection_freed_bytes_total', { memory: 'heap' }) ?? 0;
    assert.ok(freed > 0, 'freed bytes counted');
    const left = process.memoryUsage().heapUsed - base;
    assert.ok(left < 8 * MiB, `heap back near its level before the garbage: ${left} bytes over`);
  } finally {
    await app.stop();
  }
});

test.run();
