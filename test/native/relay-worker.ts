/**
 * Worker-thread body for the native teardown tests: loads the addon in its own environment, opens
 * streams and then, depending on `workerData.mode`:
 *  - 'exchange': relays a short call between two local peers, reports the counters, closes, ends;
 *  - 'hold':     reports its ports and keeps the sockets open until it is terminated;
 *  - 'exit':     reports its ports, then calls process.exit(3) with the sockets still open;
 *  - 'control':  opens nothing itself: reports its relay's controlToken (the main thread drives the
 *                relay through addon.connect) and keeps running until it is terminated.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { addon } from '../../src/native.ts';
import { UdpPeer, counters, openStream, policy, rtp, until } from './rtp-peer.ts';

interface Task {
  mode: 'exchange' | 'hold' | 'exit' | 'control';
  streams: number;
}

const task = workerData as Task;
const port = parentPort!;
const relay = addon.createRelay();

if (task.mode === 'control') {
  port.postMessage({ token: relay.controlToken });
  // No JavaScript runs here for the main thread's commands; the interval only keeps the thread up.
  setInterval(() => undefined, 1000);
} else if (task.mode === 'exchange') {
  const { id, aPort, bPort } = openStream(relay, '127.0.0.1');
  relay.setLeg(id, 'a', policy());
  relay.setLeg(id, 'b', policy());
  const caller = await UdpPeer.bind('127.0.0.1');
  const callee = await UdpPeer.bind('127.0.0.1');
  await callee.send(rtp({ ssrc: 2, seq: 0 }), bPort, '127.0.0.1');
  await until('B latched', () => counters(relay, id).b.rtpPeer !== null);
  for (let seq = 1; seq <= 20; seq += 1) {
    await caller.send(rtp({ ssrc: 1, seq }), aPort, '127.0.0.1');
    await callee.send(rtp({ ssrc: 2, seq }), bPort, '127.0.0.1');
  }
  await until('both sides got 20', () => caller.received.length === 20 && callee.received.length === 20);
  port.postMessage({ stats: counters(relay, id) });
  relay.close();
  await Promise.all([caller.close(), callee.close()]);
} else {
  const ports: Array<{ aPort: number; bPort: number }> = [];
  for (let i = 0; i < task.streams; i += 1) {
    const { id, aPort, bPort } = openStream(relay, '127.0.0.1');
    const weak = policy({ mode: 'any', address: undefined });
    relay.setLeg(id, 'a', weak);
    relay.setLeg(id, 'b', weak);
    ports.push({ aPort, bPort });
  }
  port.postMessage({ ports });
  if (task.mode === 'exit') {
    // Let the main thread start sending first, so the poll handles are busy when the env dies.
    port.once('message', () => process.exit(3));
  }
}
