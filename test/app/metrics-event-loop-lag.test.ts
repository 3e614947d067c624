/**
 * pinlatch_event_loop_lag_seconds: the main thread's event-loop delay since the previous scrape,
 * without the sampling timer's own interval (an idle loop reads near 0, a blocked one its block).
 */
import * as assert from 'uvu/assert';
import { suite } from '../support/suite.ts';
import { freePortRange } from '../media/udp-peer.ts';
import { MetricsServer } from '../../src/app/MetricsServer.ts';
import { mediaRelayOptions } from '../../src/app/Pinlatch.ts';
import { parseConfig } from '../../src/config/index.ts';
import { MediaRelay } from '../../src/media/MediaRelay.ts';

interface Context {
  relay: MediaRelay;
  metrics: MetricsServer;
  port: number;
}

const test = suite<Context>('app/metrics-event-loop-lag', { timeoutMs: 20_000 });

test.before(async (ctx) => {
  const ports = await freePortRange(4);
  const config = parseConfig(`media: { address: 127.0.0.1, ports: { min: ${ports.min}, max: ${ports.max} }, shards: 1 }\n`);
  ctx.relay = await MediaRelay.start(mediaRelayOptions(config.media));
  ctx.metrics = new MetricsServer({ media: ctx.relay });
  ctx.port = await ctx.metrics.listen('127.0.0.1', 0);
});

test.after(async (ctx) => {
  await ctx.metrics?.close();
  await ctx.relay?.close();
});

async function lag(ctx: Context): Promise<{ p99: number; max: number }> {
  const text = await (await fetch(`http://127.0.0.1:${ctx.port}/metrics`)).text();
  const read = (stat: string): number => {
    const line = text.split('\n').find((l) => l.startsWith(`pinlatch_event_loop_lag_seconds{stat="${stat}"} `));
    assert.ok(line, `stat ${stat} is exposed`);
    return Number(line.split(' ')[1]);
  };
  return { p99: read('p99'), max: read('max') };
}

test('a loop blocked for 300 ms reads about 300 ms of max lag at the next scrape, and not at the one after', async (ctx) => {
  await lag(ctx);
  await new Promise((r) => setTimeout(r, 100));
  const until = performance.now() + 300;
  while (performance.now() < until) {
    // Busy: the loop cannot run its timers.
  }
  await new Promise((r) => setTimeout(r, 50));
  const blocked = await lag(ctx);
  assert.ok(blocked.max >= 0.25 && blocked.max < 2, `max ${blocked.max} s after a 300 ms block`);

  await new Promise((r) => setTimeout(r, 500));
  const after = await lag(ctx);
  // The sampling timer's 10 ms is not counted: only a busy machine delays an idle loop further.
  assert.ok(after.max < 0.2, `max ${after.max} s once the block is in an earlier scrape`);
  assert.ok(after.p99 <= after.max, 'p99 <= max');
});

test.run();
