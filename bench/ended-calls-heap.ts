/**
 * Heap per call that ended less than 32 s ago: what the proxy keeps of a finished call so that
 * retransmissions still find their way (its dialog for Timer J, its transactions for Timer J/K/M,
 * RFC 3261 §17, RFC 6026 §7.1). A SipProxy in this process on loopback; `calls` calls (INVITE with
 * SDP, 200 with SDP, ACK, BYE, 200) from a UDP caller to a UDP gateway, 20 at a time; the heap
 * used after a full collection before and after them, over the calls. The default T1 (500 ms)
 * keeps all of them within Timer J.
 *
 *   node --import tsx bench/ended-calls-heap.ts [--up] [calls=1000] [subnet=127.0.93] [snapshot.heapsnapshot]
 *
 * With a third argument, a heap snapshot is written there after the calls (for DevTools' Memory
 * tab). `--up`: the calls are not ended (no BYE): heap per call in progress, its dialog, media
 * session entry and INVITE transactions.
 *
 * The proxy is the compiled one (dist/, `npx tsc -p .` first), as the CLI runs it: under tsx,
 * esbuild's keepNames gives every closure an own `name` property (a property array of its own,
 * about 250 bytes), which would count several KiB a call that production does not hold. The
 * caller and gateway are the tests' SIP peers. For an A/B, copy this file into the other
 * checkout's bench/ and run it there the same way.
 */
import { setFlagsFromString, writeHeapSnapshot } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { createResponse } from '../src/sip/wire/message.ts';
import { SipPeer, answer, freeSipPort, isRequest, isResponse, request, sdp } from '../test/support/sip-peer.ts';
import { parseConfig } from '../dist/src/config/index.js';
import { mediaRelayOptions } from '../dist/src/app/Pinlatch.js';
import { MediaRelay } from '../dist/src/media/MediaRelay.js';
import { SipProxy } from '../dist/src/sip/proxy/Proxy.js';

let up = process.argv.includes('--up');
const args = process.argv.slice(2).filter((a) => a !== '--up');
const calls = Number(args[0] ?? 1000);
const subnet = args[1] ?? '127.0.93';
const snapshot = args[2];
const PROXY = `${subnet}.1`;
const CALLER = `${subnet}.2`;
const GATEWAY = `${subnet}.3`;

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
setFlagsFromString('--no-expose-gc');

function heapAfterGc(): number {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

const port = await freeSipPort();
const gateway = await SipPeer.udp(GATEWAY, PROXY);
const caller = await SipPeer.udp(CALLER, PROXY);
const config = parseConfig(`
sip:
  listen: [{ transport: udp, address: ${PROXY}, port: ${port} }]
  advertise: ${PROXY}
media:
  address: ${PROXY}
  ports: { min: 20000, max: 29999 }
  shards: 1
trunks:
  - { name: gateway, host: ${GATEWAY}, port: ${gateway.port} }
routes:
  - { trunk: gateway }
admission: { upstreamNetworks: [${CALLER}] }
limits: { overload: { maxQueueMs: 10000, maxLagMs: 10000 }, sourceRate: { requestsPerSec: 1000000, burst: 1000000 } }
log: { level: silent }
`);
const relay = await MediaRelay.start(mediaRelayOptions(config.media));
const proxy = new SipProxy({ config, media: relay });
await proxy.start();

async function call(id: string): Promise<void> {
  caller.send(request({ user: '4930123', peer: caller, proxyPort: port, callId: id, body: sdp(CALLER, 40000) }), port);
  const invite = await gateway.waitFor(isRequest('INVITE', id));
  gateway.sendMessage(answer(invite, 200, gateway, sdp(GATEWAY, 42000)), port);
  const ok = await caller.waitFor(isResponse(id));
  const routes = ok.getAll('record-route').reverse();
  const uri = `sip:gw@${GATEWAY}:${gateway.port}`;
  caller.send(request({ method: 'ACK', user: '4930123', peer: caller, proxyPort: port, callId: id, toTag: 'gw1', uri, routes }), port);
  await gateway.waitFor(isRequest('ACK', id));
  if (up) return;
  caller.send(request({ method: 'BYE', user: '4930123', peer: caller, proxyPort: port, callId: id, toTag: 'gw1', cseq: 2, uri, routes }), port);
  const bye = await gateway.waitFor(isRequest('BYE', id));
  gateway.sendMessage(createResponse(bye, 200), port);
  await caller.waitFor(isResponse(id, 'BYE'));
}

async function run(prefix: string, n: number): Promise<void> {
  for (let i = 0; i < n; i += 20) {
    await Promise.all(Array.from({ length: Math.min(20, n - i) }, (_, j) => call(`${prefix}${i + j}`)));
    // The peers' own record of what they received is not the proxy's: dropped as it goes.
    caller.received.length = 0;
    gateway.received.length = 0;
  }
}

try {
  // Warm-up calls end whatever --up says: the JIT and the tables' growth, not calls, before the baseline.
  const keepUp = up;
  up = false;
  await run('warm', 100);
  up = keepUp;
  const before = heapAfterGc();
  const dialogsBefore = proxy.stats().dialogs;
  const started = performance.now();
  await run('call', calls);
  const seconds = (performance.now() - started) / 1000;
  const after = heapAfterGc();
  const dialogs = proxy.stats().dialogs - dialogsBefore;
  console.log(`${calls} calls in ${seconds.toFixed(1)} s; dialogs held after them: ${dialogs}`);
  if (snapshot) writeHeapSnapshot(snapshot);
  console.log(`heap used after gc: ${(before / 2 ** 20).toFixed(1)} -> ${(after / 2 ** 20).toFixed(1)} MiB; per 1,000 ${up ? 'calls in progress' : 'ended calls'}: ${(((after - before) / calls) * 1000 / 2 ** 20).toFixed(2)} MiB (${((after - before) / calls / 1024).toFixed(2)} KiB a call)`);
} finally {
  caller.close();
  gateway.close();
  await proxy.stop();
  await relay.close();
}
