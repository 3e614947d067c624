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
import { startLoopbackCalls } from './lib/loopback-calls.ts';

const up = process.argv.includes('--up');
const args = process.argv.slice(2).filter((a) => a !== '--up');
const calls = Number(args[0] ?? 1000);
const subnet = args[1] ?? '127.0.93';
const snapshot = args[2];

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
setFlagsFromString('--no-expose-gc');

function heapAfterGc(): number {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

const loopback = await startLoopbackCalls(subnet);
const { proxy } = loopback;

try {
  // Warm-up calls end whatever --up says: the JIT and the tables' growth, not calls, before the baseline.
  await loopback.run('warm', 100);
  const before = heapAfterGc();
  const dialogsBefore = proxy.stats().dialogs;
  const started = performance.now();
  await loopback.run('call', calls, up);
  const seconds = (performance.now() - started) / 1000;
  const after = heapAfterGc();
  const dialogs = proxy.stats().dialogs - dialogsBefore;
  console.log(`${calls} calls in ${seconds.toFixed(1)} s; dialogs held after them: ${dialogs}`);
  if (snapshot) writeHeapSnapshot(snapshot);
  console.log(`heap used after gc: ${(before / 2 ** 20).toFixed(1)} -> ${(after / 2 ** 20).toFixed(1)} MiB; per 1,000 ${up ? 'calls in progress' : 'ended calls'}: ${(((after - before) / calls) * 1000 / 2 ** 20).toFixed(2)} MiB (${((after - before) / calls / 1024).toFixed(2)} KiB a call)`);
} finally {
  await loopback.close();
}
