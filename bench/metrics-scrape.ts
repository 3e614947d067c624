/**
 * What one scrape of /metrics costs with many media sessions open: a real MediaRelay with
 * `--shards` shards and `--sessions` sessions (one stream each, no media), the metrics endpoint on
 * loopback, `--scrapes` scrapes in a row; prints the median and worst scrape time. The shard
 * totals are summed in C++ over the open streams, so the cost grows with the sessions.
 *
 *   node --import tsx bench/metrics-scrape.ts [--sessions 2000] [--shards 2] [--scrapes 30] [--ports 40000]
 * The relay takes 8 ports per session from --ports up (4 per session are used; the rest leaves
 * room for ports other processes hold).
 */
import { parseArgs } from 'node:util';
import { MediaRelay } from '../src/media/MediaRelay.ts';
import { MetricsServer } from '../src/app/MetricsServer.ts';

const { values } = parseArgs({
  options: { sessions: { type: 'string', default: '2000' }, shards: { type: 'string', default: '2' }, scrapes: { type: 'string', default: '30' }, ports: { type: 'string', default: '40000' } },
});
const sessions = Number(values.sessions);
const scrapes = Number(values.scrapes);
const min = Number(values.ports);
const relay = await MediaRelay.start({ address: '127.0.0.1', ports: { min, max: min + sessions * 8 + 200 }, shards: Number(values.shards) });
const metrics = new MetricsServer({ media: relay });
try {
  for (let i = 0; i < sessions; i++) await relay.ensureSession(`bench-${i}`, 1);
  const port = await metrics.listen('127.0.0.1', 0);
  const times: number[] = [];
  let bytes = 0;
  for (let i = 0; i < scrapes; i++) {
    const start = performance.now();
    const body = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    times.push(performance.now() - start);
    bytes = body.length;
  }
  times.sort((a, b) => a - b);
  const median = times[Math.floor(times.length / 2)]!;
  process.stdout.write(`${sessions} sessions on ${relay.shards} shards, ${scrapes} scrapes of ${bytes} B: median ${median.toFixed(2)} ms, max ${times.at(-1)!.toFixed(2)} ms\n`);
} finally {
  await metrics.close();
  await relay.close();
}
