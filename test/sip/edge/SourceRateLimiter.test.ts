import * as assert from 'uvu/assert';
import { suite } from '../../support/suite.ts';
import { SourceRateLimiter } from '../../../src/sip/edge/SourceRateLimiter.ts';

const test = suite('sip/edge/SourceRateLimiter');

test('a source within its burst passes; the first request over it is refused, the rest dropped for the ban', () => {
  const limiter = new SourceRateLimiter({ requestsPerSec: 10, burst: 5, banSec: 30, sources: 100 });
  const verdicts = Array.from({ length: 8 }, () => limiter.take('192.0.2.1', 1000));
  assert.equal(verdicts, ['pass', 'pass', 'pass', 'pass', 'pass', 'refuse', 'drop', 'drop']);
  assert.ok(limiter.isBanned('192.0.2.1', 1000));
  assert.is(limiter.take('192.0.2.2', 1000), 'pass', 'another source is not affected');
  assert.is(limiter.take('192.0.2.1', 30_999), 'drop', 'still banned just before the end');
  assert.is(limiter.take('192.0.2.1', 31_000), 'pass', 'the ban ends with a full bucket');
  const s = limiter.snapshot(31_000);
  assert.equal([s.refused, s.dropped, s.bans, s.banned], [1, 3, 1, 0]);
});

test('the bucket refills at the sustained rate', () => {
  const limiter = new SourceRateLimiter({ requestsPerSec: 10, burst: 2, banSec: 0, sources: 100 });
  assert.is(limiter.take('a', 0), 'pass');
  assert.is(limiter.take('a', 0), 'pass');
  assert.is(limiter.take('a', 50), 'refuse', 'half a token after 50 ms');
  assert.is(limiter.take('a', 150), 'pass', 'banSec 0: refused without a ban, passes once a token is back');
  // A steady 10/s never runs out.
  for (let t = 1000; t < 3000; t += 100) assert.is(limiter.take('a', t), 'pass');
});

test('the table is bounded: idle sources go first, banned ones stay', () => {
  const limiter = new SourceRateLimiter({ requestsPerSec: 1, burst: 1, banSec: 60, sources: 16 });
  limiter.take('bad', 0);
  assert.is(limiter.take('bad', 0), 'refuse');
  for (let i = 0; i < 100; i++) limiter.take(`s${i}`, 10 + i);
  const s = limiter.snapshot(200);
  assert.ok(s.sources <= 16, `at most 16 sources, got ${s.sources}`);
  assert.ok(s.evicted >= 85);
  assert.ok(limiter.isBanned('bad', 200), 'a banned source is not evicted while others can be');
  assert.is(limiter.take('bad', 200), 'drop');
});

test('a table of bans only: the oldest ban ends early, the newer ones stay', () => {
  const limiter = new SourceRateLimiter({ requestsPerSec: 1, burst: 1, banSec: 60, sources: 16 });
  for (let i = 0; i < 16; i++) {
    limiter.take(`b${i}`, i);
    assert.is(limiter.take(`b${i}`, i), 'refuse');
  }
  // Within the sweep's second, so that only the eviction order decides.
  assert.is(limiter.take('new', 100), 'pass');
  assert.not.ok(limiter.isBanned('b0', 100), 'the oldest ban went to make room');
  for (let i = 1; i < 16; i++) assert.ok(limiter.isBanned(`b${i}`, 100), `b${i} is still banned`);
  assert.is(limiter.snapshot(100).evicted, 1);
});

test('an expired ban goes before sources still in use; a source unbanned is queued again as new', () => {
  // burst 5 at 1/s: a source is idle (swept) only 5 s after its last request.
  const limiter = new SourceRateLimiter({ requestsPerSec: 1, burst: 5, banSec: 1, sources: 4 });
  const sixAt = (source: string, now: number) => Array.from({ length: 6 }, () => limiter.take(source, now)).at(-1);
  assert.is(sixAt('old', 0), 'refuse', 'old banned until 1000');
  assert.is(sixAt('back', 0), 'refuse', 'back banned until 1000');
  assert.is(limiter.take('back', 1500), 'pass', 'its ban is over: back in use, 4 tokens left');
  limiter.take('a', 1500);
  limiter.take('b', 1500);
  // Full (old, back, a, b): 'old', its ban over and untouched since, goes first; not 'back',
  // though it came into the table before 'a' and 'b'.
  assert.is(limiter.take('c', 1600), 'pass');
  assert.equal([limiter.snapshot(1600).sources, limiter.snapshot(1600).evicted], [4, 1]);
  assert.equal(Array.from({ length: 5 }, () => limiter.take('back', 1600)), ['pass', 'pass', 'pass', 'pass', 'refuse'], 'back kept its bucket');
});

test('reconfigure: bans and buckets stay, the new rate applies from the next request, a smaller table sheds at once', () => {
  const limiter = new SourceRateLimiter({ requestsPerSec: 1, burst: 1, banSec: 60, sources: 64 });
  limiter.take('bad', 0);
  assert.is(limiter.take('bad', 0), 'refuse');
  for (let i = 0; i < 40; i++) limiter.take(`s${i}`, 10);
  limiter.reconfigure({ requestsPerSec: 1000, burst: 3, banSec: 60, sources: 16 }, 20);
  assert.ok(limiter.snapshot(20).sources <= 16, 'the table fits the new bound');
  assert.ok(limiter.isBanned('bad', 20), 'a running ban is kept');
  assert.is(limiter.take('bad', 20), 'drop');
  assert.equal(Array.from({ length: 4 }, () => limiter.take('new', 30)), ['pass', 'pass', 'pass', 'refuse'], 'burst 3');
  assert.is(limiter.snapshot(30).refused, 2, 'the counters go on');
  assert.throws(() => limiter.reconfigure({ requestsPerSec: 0, burst: 1, banSec: 0, sources: 16 }, 40), /positive/);
});

test.run();
