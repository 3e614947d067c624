/**
 * RelayControl on a relay in a worker thread: the worker's loop applies pushed commands with no
 * JavaScript there, and a worker terminated with commands in flight leaves no descriptor open.
 * (In one process with the tests of relay-control.test.ts, this one kept the process from exiting
 * after the last test; not understood yet, so it runs in its own file.)
 */
import { once } from 'node:events';
import * as assert from 'uvu/assert';
import { suite } from '../support/suite.ts';
import { addon, type NativeError } from '../../src/native.ts';
import { UdpPeer, openControlled, policy, relayFds, rtp, thrown, until } from './rtp-peer.ts';
import { tsWorker } from './ts-worker.ts';

const test = suite('native relay control (worker)', { timeoutMs: 30_000 });

test('a worker relay terminated with commands in flight leaves no descriptor open; later pushes throw', async () => {
  const baseline = relayFds();
  const worker = tsWorker(new URL('./relay-worker.ts', import.meta.url), { workerData: { mode: 'control', streams: 0 } });
  const [{ token }] = (await once(worker, 'message')) as [{ token: number }];
  const control = addon.connect(token);
  // The worker's loop applies what was pushed once woken: no JavaScript runs there for it.
  const { id, aPort, bPort } = openControlled(control);
  const weak = policy({ mode: 'any', address: undefined });
  control.setLegs([{ id, leg: 'a', policy: weak }, { id, leg: 'b', policy: weak }]);
  control.wake();
  const caller = await UdpPeer.bind('127.0.0.1');
  const callee = await UdpPeer.bind('127.0.0.1');
  try {
    await callee.send(rtp({ ssrc: 2, seq: 0 }), bPort, '127.0.0.1');
    await caller.send(rtp({ ssrc: 1, seq: 0 }), aPort, '127.0.0.1');
    await until('the worker relay forwards the caller\'s packet', () => callee.received.length === 1);
  } finally {
    await Promise.all([caller.close(), callee.close()]);
  }
  for (let i = 0; i < 19; i += 1) openControlled(control);
  assert.ok(relayFds() >= baseline + 80);
  const dying = worker.terminate();
  let pushed = 0;
  let refused = 0;
  // Keeps pushing while the worker's environment tears down: every push either lands in a queue
  // the relay closes or is refused; none may leave a socket behind.
  for (let i = 0; i < 200; i += 1) {
    try {
      control.closeStreams([1]);
      openControlled(control);
      control.wake();
      pushed += 1;
    } catch (err) {
      assert.is((err as NativeError).code, 'ERR_PINLATCH_CLOSED');
      refused += 1;
    }
    if (i % 10 === 0) await new Promise((resolve) => setImmediate(resolve));
  }
  await dying;
  assert.is(thrown(() => openControlled(control)).code, 'ERR_PINLATCH_CLOSED');
  await until('every socket of the dead relay and of the pushes is closed', () => relayFds() === baseline, 5000);
  assert.ok(pushed + refused === 200);
});

test.run();
