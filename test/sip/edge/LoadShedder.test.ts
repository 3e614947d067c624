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

test('sheds above the queue threshold, stops below half of it', () => {
  const shedder = new LoadShedder({ maxQueueMs: 100, maxLagMs: 100 });
  assert.not.ok(shedder.shouldShed(80, 0));
  assert.ok(shedder.shouldShed(120, 0));
  assert.ok(shedder.shouldShed(60, 0), 'still above half');
  assert.not.ok(shedder.shouldShed(40, 0));
  assert.not.ok(shedder.shouldShed(90, 0), 'below the threshold again');
});

test('event-loop lag: a late tick, or an overdue one, sheds', () => {
  const shedder = new LoadShedder({ maxQueueMs: 100, maxLagMs: 50 });
  shedder.tick(0, 10);
  shedder.tick(10, 10);
  assert.is(shedder.lag(15), 0);
  assert.not.ok(shedder.shouldShed(0, 15));
  assert.is(shedder.lag(80), 60, 'the tick due at 20 has not fired by 80');
  assert.ok(shedder.shouldShed(0, 80));
  shedder.tick(90, 10);
  assert.is(shedder.lag(91), 70, 'the late tick is remembered');
  shedder.tick(100, 10);
  assert.not.ok(shedder.shouldShed(0, 101), 'back on time');
});

test.run();
