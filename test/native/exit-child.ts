/**
 * Child process for the teardown tests (run with `node --import tsx`). It exercises the ways an
 * environment can die with relay sockets open, and prints one line per checked step; the parent
 * asserts the exit code is 0 and nothing aborted ("uv_loop_close() while having open handles").
 *   worker-terminate: workers with open, busy sockets are terminated; fds must return to baseline;
 *   worker-exit:      a worker calls process.exit() with open sockets;
 *   main-exit:        the main thread exits with open, busy sockets;
 *   emfile [epoll|uring]: under a low descriptor limit, openStream fails cleanly with EMFILE.
 */
import { closeSync, openSync, readdirSync } from 'node:fs';
import type { Worker } from 'node:worker_threads';
import { addon } from '../../src/native.ts';
import { UdpPeer, openStream, policy, relayFds, rtp } from './rtp-peer.ts';
import { tsWorker } from './ts-worker.ts';

const scenario = process.argv[2];
const workerUrl = new URL('./relay-worker.ts', import.meta.url);
const openFds = () => readdirSync('/proc/self/fd').length;
interface Ports {
  aPort: number;
  bPort: number;
}

function startWorker(mode: 'hold' | 'exit', streams: number): Promise<{ worker: Worker; ports: Ports[] }> {
  const worker = tsWorker(workerUrl, { workerData: { mode, streams } });
  return new Promise((resolve, reject) => {
    worker.once('error', reject);
    worker.once('message', (m: { ports: Ports[] }) => resolve({ worker, ports: m.ports }));
  });
}

/** Latches both legs of every stream and keeps packets flowing until stop() is called. */
async function flood(ports: Ports[]): Promise<{ stop(): Promise<void> }> {
  const a = await UdpPeer.bind('127.0.0.1');
  const b = await UdpPeer.bind('127.0.0.1');
  let running = true;
  let seq = 0;
  const loop = (async () => {
    while (running) {
      seq += 1;
      for (const p of ports) {
        a.send(rtp({ ssrc: 1, seq }), p.aPort, '127.0.0.1').catch(() => undefined);
        b.send(rtp({ ssrc: 2, seq }), p.bPort, '127.0.0.1').catch(() => undefined);
      }
      await new Promise((r) => setImmediate(r));
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      await Promise.all([a.close(), b.close()]);
    },
  };
}

if (scenario === 'worker-terminate') {
  const baseline = relayFds();
  const started = await Promise.all([startWorker('hold', 10), startWorker('hold', 10), startWorker('hold', 10)]);
  const during = relayFds();
  const traffic = await flood(started.flatMap((s) => s.ports));
  await new Promise((r) => setTimeout(r, 100));
  const codes = await Promise.all(started.map((s) => s.worker.terminate()));
  await traffic.stop();
  // terminate() resolves when the thread is gone; closing its handles may still be finishing on a
  // loaded machine, so give the count a bounded moment to settle.
  let after = relayFds();
  for (let i = 0; i < 40 && after !== baseline; i++) {
    await new Promise((r) => setTimeout(r, 50));
    after = relayFds();
  }
  console.log(`sockets-open ${during - baseline >= 3 * 10 * 4}`);
  console.log(`terminated ${codes.join(',')}`);
  console.log(`fds-back ${after === baseline} (${baseline} -> ${during} -> ${after})`);
} else if (scenario === 'worker-exit') {
  const baseline = relayFds();
  const { worker, ports } = await startWorker('exit', 5);
  const traffic = await flood(ports);
  const exited = new Promise<number>((resolve) => worker.once('exit', resolve));
  worker.postMessage('exit');
  const code = await exited;
  await traffic.stop();
  console.log(`worker-exit-code ${code}`);
  console.log(`fds-back ${relayFds() === baseline}`);
} else if (scenario === 'main-exit') {
  const relay = addon.createRelay();
  const ports: Ports[] = [];
  for (let i = 0; i < 10; i += 1) {
    const { id, aPort, bPort } = openStream(relay, '127.0.0.1');
    relay.setLeg(id, 'a', policy({ mode: 'any', address: undefined }));
    relay.setLeg(id, 'b', policy({ mode: 'any', address: undefined }));
    ports.push({ aPort, bPort });
  }
  // A worker holding sockets as well, still alive when the process exits.
  await startWorker('hold', 5);
  await flood(ports);
  await new Promise((r) => setTimeout(r, 100));
  console.log(`main-exit-with-open ${relay.size}`);
  process.exit(0);
} else if (scenario === 'emfile') {
  // Run under a low `ulimit -n`: streams are opened until descriptors run out. One descriptor is
  // held in reserve and released only while counting, so the count itself never fails at the
  // limit, whatever number of descriptors the relay holds of its own (the io_uring path: one).
  // The relay's unbound spare sockets are not counted: a failed open closes those it took, and
  // the loop makes others when descriptors allow.
  const relay = addon.createRelay({ io: process.argv[3] === 'uring' ? 'uring' : 'epoll' });
  let reserve = openSync('/dev/null', 'r');
  const countFds = () => {
    closeSync(reserve);
    const n = openFds() - relay.spareSockets;
    reserve = openSync('/dev/null', 'r');
    return n;
  };
  for (;;) {
    const before = countFds();
    try {
      openStream(relay, '127.0.0.1');
    } catch (err) {
      const e = err as { code?: string; syscallCode?: string };
      console.log(`failed ${e.code} ${e.syscallCode} after ${relay.size} streams (${relay.engine})`);
      console.log(`no-half-open ${countFds() === before}`);
      break;
    }
  }
  relay.close();
} else {
  console.error(`unknown scenario ${scenario}`);
  process.exit(2);
}
