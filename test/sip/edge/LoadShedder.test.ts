import * as assert from 'uvu/assert';
import { suite } from '../../support/suite.ts';
import { LoadShedder, QueueDelayProbe } from '../../../src/sip/edge/LoadShedder.ts';

const test = suite('sip/edge/LoadShedder');

test('a probe measures its round trip; one in flight counts by its age', () => {
  const probe = new QueueDelayProbe();
  assert.is(probe.delay(0), 0);
  assert.ok(probe.send(100));
  assert.not.ok(probe.send(110), 'one probe at a time');
  assert.is(probe.delay(150), 50, 'in flight for 50 ms');
  probe.received(130 + 100);
  assert.is(probe.delay(400), 130, 'the last measured delay');
  assert.ok(probe.send(400));
  probe.received(405);
  assert.is(probe.delay(500), 5);
  probe.send(600);
  probe.lost();
  assert.is(probe.delay(10_000), 5, 'a probe that could not be sent is forgotten');
  assert.ok(probe.send(20_000, 1000));
  assert.not.ok(probe.send(20_500, 1000), 'in flight, not yet lost');
  assert.ok(probe.send(21_500, 1000), 'dropped after 1 s in flight: a new one goes');
  assert.is(probe.delay(21_600), 1500, 'the dropped one\'s age stands until the new one is back');
  probe.received(21_510);
  assert.is(probe.delay(21_600), 10);
});

/** How many of `n` new requests arriving at `now` are admitted. */
function admitted(shedder: LoadShedder, n: number, queueMs: number, now: number): number {
  let count = 0;
  for (let i = 0; i < n; i++) if (shedder.admit(queueMs, now)) count++;
  return count;
}

test('a short queue admits everything; over the target a share is cut, at most once per queueing time', () => {
  const shedder = new LoadShedder({ maxQueueMs: 100, maxLagMs: 1000 });
  shedder.adjust(80, 0);
  assert.is(admitted(shedder, 100, 80, 0), 100);
  assert.not.ok(shedder.shedding);
  shedder.adjust(150, 10);
  assert.is(shedder.share, 0.75);
  assert.ok(shedder.shedding);
  assert.is(admitted(shedder, 100, 150, 10), 75, 'three in four admitted, spread evenly');
  shedder.adjust(150, 40);
  shedder.adjust(150, 150);
  assert.is(shedder.share, 0.75, 'no second cut before the queue could show the first (150 ms)');
  shedder.adjust(150, 161);
  assert.is(shedder.share, 0.5625);
  shedder.adjust(90, 400);
  assert.is(shedder.share, 0.5625, 'between half the target and the target: held');
});

test('under half the target the share grows back by steps; it never falls below its floor', () => {
  const shedder = new LoadShedder({ maxQueueMs: 100, maxLagMs: 1000 });
  for (let t = 0; t < 100_000; t += 200) shedder.adjust(190, t);
  assert.is(shedder.share, 0.05, 'the floor: some calls still get through');
  assert.is(admitted(shedder, 100, 190, 100_000), 5);
  for (let i = 1; i <= 18; i++) shedder.adjust(40, 100_000 + i);
  assert.ok(shedder.shedding && shedder.share < 1);
  shedder.adjust(40, 100_019);
  assert.is(shedder.share, 1);
  assert.not.ok(shedder.shedding);
});

test('past four times the target, or with the loop lagging over its limit, every new request is refused', () => {
  const shedder = new LoadShedder({ maxQueueMs: 100, maxLagMs: 50 });
  assert.is(admitted(shedder, 50, 400, 0), 50, 'at four times the target the share (never cut yet) still admits');
  assert.is(admitted(shedder, 50, 401, 0), 0);
  assert.is(shedder.share, 0);
  assert.ok(shedder.shedding);
  assert.is(admitted(shedder, 50, 10, 1), 50, 'the queue back under the target: admitted again (no cut was made)');
  shedder.tick(0, 10);
  shedder.tick(10, 10);
  assert.is(shedder.lag(15), 0);
  assert.is(shedder.lag(80), 60, 'the tick due at 20 has not fired by 80');
  assert.not.ok(shedder.admit(0, 80));
  shedder.tick(90, 10);
  assert.is(shedder.lag(91), 70, 'the late tick is remembered');
  assert.not.ok(shedder.admit(0, 91));
  shedder.tick(100, 10);
  assert.ok(shedder.admit(0, 101), 'back on time');
  shedder.adjust(0, 101);
  assert.not.ok(shedder.shedding, 'a control step with a short queue and no lag ends the refusals');
});

test.run();
