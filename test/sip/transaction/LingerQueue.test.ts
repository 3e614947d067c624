/** LingerQueue (src/sip/transaction/LingerQueue.ts): the end of lingering transactions, one timer for all. */
import * as assert from 'uvu/assert';
import { suite } from '../../support/suite.ts';
import { LingerQueue, type Lingering } from '../../../src/sip/transaction/LingerQueue.ts';

const test = suite('sip/transaction/LingerQueue', { timeoutMs: 5_000 });

/** An item that records when it was ended, by the queue's clock. */
function item(ended: Array<[string, number]>, name: string, clock: { now: number }): Lingering {
  return { terminate: () => void ended.push([name, clock.now]) };
}

test('each item is ended once its own duration has passed, in due order across durations', () => {
  const clock = { now: 0 };
  const queue = new LingerQueue(() => clock.now);
  const ended: Array<[string, number]> = [];
  queue.add(item(ended, 'j', clock), 32_000);
  clock.now = 10;
  queue.add(item(ended, 'k', clock), 5_000);
  queue.add(item(ended, 'j2', clock), 32_000);
  queue.add(item(ended, 'reliable', clock), 0);
  assert.is(queue.size, 4);
  assert.is(queue.expire(10), 1, 'a zero linger is due at once');
  assert.is(queue.expire(5_009), 0, 'nothing before its time');
  clock.now = 5_010;
  assert.is(queue.expire(5_010), 1);
  clock.now = 32_010;
  assert.is(queue.expire(32_010), 2, 'both 32 s items are due by then');
  assert.equal(ended.map(([name]) => name), ['reliable', 'k', 'j', 'j2']);
  assert.is(queue.size, 0);
});

test('a long queue is read in order past its compaction', () => {
  const clock = { now: 0 };
  const queue = new LingerQueue(() => clock.now);
  const ended: Array<[string, number]> = [];
  for (let i = 0; i < 5_000; i++) {
    clock.now = i;
    queue.add(item(ended, String(i), clock), 100);
  }
  for (let t = 100; t < 5_100; t += 7) queue.expire(t);
  queue.expire(5_100);
  assert.is(ended.length, 5_000);
  assert.ok(ended.every(([name], i) => name === String(i)), 'first in, first out');
  assert.is(queue.size, 0);
});

test('its timer ends items on time without a caller, and clear forgets them without ending them', async () => {
  const queue = new LingerQueue();
  const ended: string[] = [];
  const started = performance.now();
  queue.add({ terminate: () => void ended.push('late') }, 60);
  queue.add({ terminate: () => void ended.push('early') }, 20);
  for (let i = 0; i < 100 && ended.length < 2; i++) await new Promise((r) => setTimeout(r, 10));
  assert.equal(ended, ['early', 'late']);
  assert.ok(performance.now() - started >= 60, 'not before its time');
  queue.add({ terminate: () => void ended.push('forgotten') }, 20);
  queue.clear();
  assert.is(queue.size, 0);
  await new Promise((r) => setTimeout(r, 60));
  assert.equal(ended, ['early', 'late']);
});

test('an item that throws does not stop the others, nor the timer for later ones', async () => {
  const queue = new LingerQueue();
  const ended: string[] = [];
  queue.add({ terminate: () => { throw new Error('boom'); } }, 10);
  queue.add({ terminate: () => void ended.push('later') }, 40);
  const errors: unknown[] = [];
  const onError = (err: unknown) => void errors.push(err);
  process.on('uncaughtException', onError);
  try {
    for (let i = 0; i < 100 && ended.length < 1; i++) await new Promise((r) => setTimeout(r, 10));
  } finally {
    process.off('uncaughtException', onError);
  }
  assert.equal(ended, ['later']);
  assert.is(errors.length, 1);
});

test.run();
