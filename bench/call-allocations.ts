/**
 * Bytes the proxy allocates per call, and where: the young generation's collections run once per
 * so many megabytes allocated and copy what is still alive each time, so allocation per call is
 * what sets how often they interrupt the SIP thread under load (bench/cps.ts with
 * `--node-args=--trace-gc`). A SipProxy in this process on loopback, `calls` calls (INVITE with SDP,
 * 200 with SDP, ACK, BYE, 200) from a UDP caller to a UDP gateway, 20 at a time, after `calls`
 * calls of warm-up; V8's sampling heap profiler runs over them with the objects later collected
 * included (HeapProfiler.startSampling, every `interval` bytes on average), and each sample is
 * charged to the innermost function of the proxy on its stack (bench/lib/allocation-sites.ts).
 *
 *   node --import tsx bench/call-allocations.ts [--calls 2000] [--top 30] [--interval 256]
 *        [--subnet 127.0.93] [--json FILE]
 *
 * The proxy is the compiled one (dist/, `npx tsc -p .` first), as the CLI runs it; the caller and
 * gateway are the tests' SIP peers, loaded from src/ through tsx, so their own allocations are
 * told apart by script URL and left out. Sampling is statistical: compare builds by the total per
 * call over a few runs, not by a single site's bytes.
 */
import { writeFileSync } from 'node:fs';
import { Session, type HeapProfiler } from 'node:inspector/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { startLoopbackCalls } from './lib/loopback-calls.ts';
import { allocationSites, type SamplingNode } from './lib/allocation-sites.ts';

const DIST = '/dist/src/';

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      calls: { type: 'string', default: '2000' },
      top: { type: 'string', default: '30' },
      interval: { type: 'string', default: '256' },
      subnet: { type: 'string', default: '127.0.93' },
      json: { type: 'string' },
    },
    strict: true,
  });
  const calls = Number(values.calls);
  const top = Number(values.top);
  const interval = Number(values.interval);
  if (!(Number.isInteger(calls) && calls >= 20 && calls <= 100_000)) throw new RangeError(`--calls: 20..100000, got ${values.calls}`);
  if (!(Number.isInteger(top) && top >= 1 && top <= 1000)) throw new RangeError(`--top: 1..1000, got ${values.top}`);
  if (!(Number.isInteger(interval) && interval >= 16 && interval <= 1 << 20)) throw new RangeError(`--interval: 16..1048576, got ${values.interval}`);
  const loopback = await startLoopbackCalls(values.subnet);

  const session = new Session();
  session.connect();
  try {
    await loopback.run('warm', calls);
    // The two include flags are V8's (Chrome DevTools protocol); @types/node does not list them.
    const sampling: HeapProfiler.StartSamplingParameterType & Record<string, unknown> = {
      samplingInterval: interval,
      includeObjectsCollectedByMajorGC: true,
      includeObjectsCollectedByMinorGC: true,
    };
    await session.post('HeapProfiler.startSampling', sampling);
    await loopback.run('call', calls);
    const { profile } = await session.post('HeapProfiler.stopSampling');
    const summary = allocationSites(profile.head as SamplingNode, (url) => url.includes(DIST), DIST);
    const perCall = (bytes: number): number => bytes / calls;
    console.log(`${calls} calls; allocated per call: ${(perCall(summary.ownedBytes) / 1024).toFixed(1)} KiB by the proxy (${(perCall(summary.totalBytes) / 1024).toFixed(1)} KiB with the peers')`);
    console.log('| bytes per call | innermost function of the proxy (dist/src/) |\n|---|---|');
    for (const { site, bytes } of summary.sites.slice(0, top)) console.log(`| ${perCall(bytes).toFixed(0)} | ${site} |`);
    if (values.json) {
      writeFileSync(values.json, `${JSON.stringify({ calls, interval, proxyBytesPerCall: perCall(summary.ownedBytes), sites: summary.sites.map((s) => ({ site: s.site, bytesPerCall: perCall(s.bytes) })) }, null, 2)}\n`);
    }
  } finally {
    session.disconnect();
    await loopback.close();
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await main();
