import * as assert from 'uvu/assert';
import { suite } from '../support/suite.ts';
import { KeyQueue } from '../../src/collections/KeyQueue.ts';

const test = suite('collections/KeyQueue');

/** An owner's table: key → stamp of its current place. */
function owner() {
  const table = new Map<string, number>();
  let stamp = 0;
  const queue = new KeyQueue();
  const current = (key: string, s: number) => table.get(key) === s;
  const put = (key: string) => {
    table.set(key, ++stamp);
    queue.push(key, stamp);
  };
  return { table, queue, current, put };
}

test('keys come out oldest first; a key queued again moves to the end, one gone is skipped', () => {
  const { table, queue, current, put } = owner();
  for (const key of ['a', 'b', 'c', 'd']) put(key);
  put('a');
  table.delete('c');
  assert.is(queue.peek(current), 'b', 'a moved behind d');
  assert.is(queue.shift(current), 'b');
  table.delete('b');
  assert.is(queue.shift(current), 'd', 'c is gone');
  table.delete('d');
  assert.is(queue.shift(current), 'a');
  table.delete('a');
  assert.is(queue.shift(current), undefined);
  assert.is(queue.length, 0);
});

test('an owner that only peeks, its front never due, does not keep the stale places it skipped', () => {
  const { table, queue, current, put } = owner();
  // Each round leaves a stale place (a key gone) and queues 'front' again behind it (its older
  // place goes stale too); peek skips both and finds 'front', which the owner never takes out.
  for (let i = 0; i < 100_000; i++) {
    put(`k${i}`);
    table.delete(`k${i}`);
    put('front');
    assert.is(queue.peek(current), 'front');
  }
  assert.ok(queue.held < 5000, `${queue.held} places held`);
});

test('compact keeps the current places in order; many reads keep the arrays small', () => {
  const { table, queue, current, put } = owner();
  for (let i = 0; i < 10; i++) put(`k${i}`);
  for (let i = 0; i < 10; i += 2) put(`k${i}`);
  assert.is(queue.length, 15);
  queue.compact(current);
  assert.is(queue.length, 10);
  const order: string[] = [];
  for (let key = queue.shift(current); key !== undefined; key = queue.shift(current)) {
    order.push(key);
    table.delete(key);
  }
  assert.equal(order, ['k1', 'k3', 'k5', 'k7', 'k9', 'k0', 'k2', 'k4', 'k6', 'k8']);
  // A sliding window of 100 keys over 100,000, every tenth key queued again 10 rounds later (it
  // moves to the end): the places read are dropped from the arrays again and again, and each key
  // still comes out in its turn, as a plain list of the window says.
  const model: string[] = [];
  for (let i = 0; i < 100_000; i++) {
    put(`w${i}`);
    model.push(`w${i}`);
    const again = `w${i - 10}`;
    if (i % 10 === 0 && table.has(again)) {
      put(again);
      model.splice(model.indexOf(again), 1);
      model.push(again);
    }
    if (table.size > 100) {
      const oldest = queue.shift(current)!;
      assert.is(oldest, model.shift(), `round ${i}`);
      table.delete(oldest);
    }
  }
  assert.is(table.size, 100);
});

test.run();
