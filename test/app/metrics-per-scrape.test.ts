/**
 * One read of each source per scrape (src/app/metrics/from.ts perScrape): every metric fed by the
 * SIP proxy's stats, its calls and the media shards' totals is collected from a single read of
 * each, and the next scrape reads again.
 */
import * as assert from 'uvu/assert';
import { suite } from '../support/suite.ts';
import { freePortRange } from '../media/udp-peer.ts';
import { MediaRelay } from '../../src/media/MediaRelay.ts';
import { MetricsServer } from '../../src/app/MetricsServer.ts';
import { PROXY, freeSipPort, startProxy, stopProxy, type ProxyUnderTest } from '../support/sip-peer.ts';

const test = suite<Partial<ProxyUnderTest>>('app/metrics one read per scrape', { timeoutMs: 30_000 });

test.before(async (ctx) => {
  const port = await freeSipPort();
  const ports = await freePortRange(8);
  Object.assign(ctx, await startProxy(`
sip:
  listen: [{ transport: udp, address: ${PROXY}, port: ${port} }]
media:
  address: ${PROXY}
  ports: { min: ${ports.min}, max: ${ports.max} }
  shards: 2
log: { level: silent }
`));
});

test.after(async (ctx) => {
  await stopProxy(ctx);
});

test('two scrapes: two reads of the SIP stats, the calls and the shard totals', async (ctx) => {
  const proxy = ctx.proxy!;
  const relay = ctx.relay! as MediaRelay;
  const reads = { stats: 0, calls: 0, totals: 0 };
  const sip = {
    stats: () => (reads.stats++, proxy.stats()),
    calls: () => (reads.calls++, proxy.calls()),
    counters: proxy.counters,
    gate: proxy.gate,
    get draining() { return proxy.draining; },
  };
  const shardTotals = relay.shardTotals.bind(relay);
  // An own property in front of the prototype's method: the relay stays the relay.
  relay.shardTotals = () => (reads.totals++, shardTotals());
  const metrics = new MetricsServer({ media: relay, sip });
  const port = await metrics.listen(PROXY, 0);
  try {
    for (let scrape = 1; scrape <= 2; scrape++) {
      const text = await (await fetch(`http://${PROXY}:${port}/metrics`)).text();
      assert.match(text, /^pinlatch_media_shard_up\{shard="1"\} 1$/m);
      assert.equal(reads, { stats: scrape, calls: scrape, totals: scrape });
    }
  } finally {
    delete (relay as Partial<MediaRelay>).shardTotals;
    await metrics.close();
  }
});

test.run();
