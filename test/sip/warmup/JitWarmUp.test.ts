/** The JIT warm-up (src/sip/warmup/JitWarmUp.ts): a call's messages per round, in slices. */
import * as assert from 'uvu/assert';
import { suite } from '../../support/suite.ts';
import { runJitWarmUp, warmUpRound } from '../../../src/sip/warmup/JitWarmUp.ts';

const test = suite('sip/warmup/JitWarmUp');

test('a round parses, edits, anchors and answers a whole call without throwing, in both message forms', () => {
  const a = warmUpRound(1);
  const b = warmUpRound(2);
  assert.ok(a > 1000, 'every message went through (the serialized lengths add up)');
  assert.ok(b > 1000, 'an even round (one Via field per entry) as well as an odd one (joined, padded)');
  assert.is(warmUpRound(3), a, 'rounds of one form differ only in their numbers (here of one digit each)');
});

test('runs its rounds in slices, yielding to the event loop between them', async () => {
  const warmUp = runJitWarmUp(40);
  let turns = 0;
  const counter = setInterval(() => turns++, 0);
  assert.is(await warmUp, 40);
  clearInterval(counter);
  assert.ok(turns >= 1, 'timers ran while it worked');
});

test('no round begins after the deadline', async () => {
  assert.is(await runJitWarmUp(1_000_000, performance.now() - 1), 0);
});

test.run();
