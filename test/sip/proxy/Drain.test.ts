/**
 * Drain, the deadline logic of a stopping proxy, with fake calls: it ends when the calls end by
 * themselves, ends the rest at the deadline, can only be brought forward, and waits for the
 * ending requests' answers for settleMs at most. Timings are generous: only the order matters.
 */
import * as assert from 'uvu/assert';
import { suite } from '../../support/suite.ts';
import { Drain, type DrainCalls } from '../../../src/sip/proxy/Drain.ts';

const test = suite('sip/proxy/Drain', { timeoutMs: 20_000 });

function fakeCalls(up: number): DrainCalls & { up: number; endAllCalls: number; pending: boolean } {
  const calls = {
    up,
    endAllCalls: 0,
    pending: false,
    count: () => calls.up,
    endAll: async () => {
      calls.endAllCalls += 1;
      const ended = calls.up;
      calls.up = 0;
      return ended;
    },
    settling: () => calls.pending,
  };
  return calls;
}

test('no call up: done at once, nothing ended', async () => {
  const calls = fakeCalls(0);
  const drain = new Drain(calls, 600_000, { settleMs: 1000, pollMs: 10 });
  assert.equal(await drain.done, { atStart: 0, drained: 0, ended: 0 });
});

test('calls that end by themselves end the drain before its deadline', async () => {
  const calls = fakeCalls(3);
  const drain = new Drain(calls, 600_000, { settleMs: 1000, pollMs: 10 });
  assert.is(drain.atStart, 3);
  setTimeout(() => (calls.up = 1), 50);
  setTimeout(() => (calls.up = 0), 100);
  assert.equal(await drain.done, { atStart: 3, drained: 3, ended: 0 });
});

test('at the deadline the calls still up are ended, once', async () => {
  const calls = fakeCalls(4);
  setTimeout(() => (calls.up = 2), 20);
  const drain = new Drain(calls, 300, { settleMs: 1000, pollMs: 10 });
  assert.equal(await drain.done, { atStart: 4, drained: 2, ended: 2 });
  assert.is(calls.endAllCalls, 1);
});

test('shorten brings the deadline forward, never back', async () => {
  const calls = fakeCalls(1);
  const drain = new Drain(calls, 600_000, { settleMs: 1000, pollMs: 10 });
  const first = drain.deadline;
  drain.shorten(900_000);
  assert.is(drain.deadline, first, 'a later deadline changes nothing');
  drain.shorten(0);
  assert.ok(drain.deadline < first);
  assert.equal(await drain.done, { atStart: 1, drained: 0, ended: 1 });
});

test('the answers are awaited while settling, for settleMs at most', async () => {
  const calls = fakeCalls(1);
  calls.pending = true;
  let settled = false;
  const drain = new Drain(calls, 0, { settleMs: 10_000, pollMs: 10 });
  void drain.done.then(() => (settled = true));
  await new Promise((r) => setTimeout(r, 200));
  assert.not.ok(settled, 'waits while requests await answers');
  calls.pending = false;
  await drain.done;

  const stuck = fakeCalls(1);
  stuck.pending = true;
  const bounded = new Drain(stuck, 0, { settleMs: 200, pollMs: 10 });
  assert.equal(await bounded.done, { atStart: 1, drained: 0, ended: 1 }, 'gives up after settleMs');
});

test.run();
