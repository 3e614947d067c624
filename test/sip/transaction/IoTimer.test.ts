/**
 * IoTimer against a real UDP socket: when the event loop was blocked past the timer's expiry with
 * a datagram waiting, the datagram is handled first and can still stop the timer.
 */
import dgram from 'node:dgram';
import * as assert from 'uvu/assert';
import { suite } from '../../support/suite.ts';
import { IoTimer } from '../../../src/sip/transaction/IoTimer.ts';

const test = suite('sip/IoTimer');

function block(ms: number): void {
  const until = Date.now() + ms;
  while (Date.now() < until);
}

async function pair(): Promise<{ rx: dgram.Socket; tx: dgram.Socket; port: number }> {
  const rx = dgram.createSocket('udp4');
  const tx = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => rx.bind(0, '127.0.0.1', resolve));
  await new Promise<void>((resolve) => tx.bind(0, '127.0.0.1', resolve));
  return { rx, tx, port: rx.address().port };
}

/**
 * Runs `arm` from the check phase (as the proxy arms its timers from I/O callbacks, not from a
 * timer), then blocks the loop past `ms` and queues one datagram at rx right after (dgram sends on
 * the next tick): when the loop goes on to its next iteration, the expired timer and the datagram
 * are both waiting.
 */
function armBlockQueue(arm: () => void, tx: dgram.Socket, port: number, ms: number): void {
  setImmediate(() => {
    arm();
    tx.send('x', port, '127.0.0.1');
    block(ms);
  });
}

async function withPair(body: (p: { rx: dgram.Socket; tx: dgram.Socket; port: number }) => Promise<void>): Promise<void> {
  const p = await pair();
  try {
    await body(p);
  } finally {
    p.rx.close();
    p.tx.close();
  }
}

test('a plain timer fires before the waiting datagram is read (why IoTimer exists)', () =>
  withPair(async ({ rx, tx, port }) => {
    const order: string[] = [];
    const done = new Promise<void>((resolve) => rx.on('message', () => (order.push('io'), resolve())));
    armBlockQueue(() => setTimeout(() => order.push('timer'), 10), tx, port, 60);
    await done;
    assert.equal(order, ['timer', 'io']);
  }));

test('IoTimer fires after the waiting datagram is read', () =>
  withPair(async ({ rx, tx, port }) => {
    const order: string[] = [];
    rx.on('message', () => order.push('io'));
    const timer = new IoTimer();
    const fired = new Promise<void>((resolve) => armBlockQueue(() => timer.start(10, () => (order.push('timer'), resolve())), tx, port, 60));
    await fired;
    assert.equal(order, ['io', 'timer']);
  }));

test('the waiting datagram can still stop it: the callback never runs', () =>
  withPair(async ({ rx, tx, port }) => {
    const timer = new IoTimer();
    let fired = false;
    const read = new Promise<void>((resolve) => rx.on('message', () => (timer.stop(), resolve())));
    armBlockQueue(() => timer.start(10, () => (fired = true)), tx, port, 60);
    await read;
    await new Promise((r) => setTimeout(r, 50));
    assert.not.ok(fired);
  }));

test('start() again replaces the pending expiry; stop() before expiry cancels it', async () => {
  const timer = new IoTimer();
  const calls: string[] = [];
  timer.start(10, () => calls.push('first'));
  timer.start(30, () => calls.push('second'));
  await new Promise((r) => setTimeout(r, 80));
  assert.equal(calls, ['second']);
  timer.start(10, () => calls.push('third'));
  timer.stop();
  await new Promise((r) => setTimeout(r, 40));
  assert.equal(calls, ['second']);
});

test.run();
