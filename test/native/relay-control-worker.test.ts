/**
 * RelayControl on a relay in a worker thread: the worker's loop applies pushed commands with no
 * JavaScript there, and a worker terminated with commands in flight leaves no descriptor open.
 * A file of its own: its descriptor counts are the whole process's, which the other RelayControl
 * tests' sockets would move.
 */
import { once } from 'node:events';
import * as assert from 'uvu/assert';
import { suite } from '../support/suite.ts';
import { addon, type NativeError } from '../../src/native.ts';
import { UdpPeer, openControlled, policy, quiet, relayFds, rtp, thrown, until } from './rtp-peer.ts';
import { tsWorker } from './ts-worker.ts';

const test = suite('native relay control (worker)', { timeoutMs: 30_000 });

test('a worker relay terminated with commands in flight leaves no descriptor open; later pushes throw', async () => {
  const baseline = relayFds();
  const worker = tsWorker(new URL('./relay-worker.ts', import.meta.url), { workerData: { mode: 'control', streams: 0 } });
  // The worker runs until terminated: a failed assertion must not leave it keeping the process up.
  let dying: Promise<number> | null = null;
  try {
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
      // Datagrams that come before the loop applies the open wait in the sockets and are read in
      // either order; the caller's is dropped if read before the callee's latched leg B. So the
      // caller sends until the callee gets one.
      for (let seq = 0; seq < 40 && callee.received.length === 0; seq += 1) {
        await caller.send(rtp({ ssrc: 1, seq }), aPort, '127.0.0.1');
        await quiet(50);
      }
      assert.ok(callee.received.length > 0, 'the worker relay forwards the caller\'s packets');
    } finally {
      await Promise.all([caller.close(), callee.close()]);
    }
    for (let i = 0; i < 19; i += 1) openControlled(control);
    assert.ok(relayFds() >= baseline + 80);
    dying = worker.terminate();
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
  } finally {
    if (dying === null) await worker.terminate();
  }
});

test.run();
