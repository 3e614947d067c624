/** bench/tierup.ts: V8's tier-up traces counted before and after a relay's warm-up. */
import * as assert from 'uvu/assert';
import { suite } from '../support/suite.ts';
import { tierUp } from '../../bench/tierup.ts';

const test = suite('bench/tierup');

const compiled = (name: string, ms: string) =>
  `[completed compiling 0x3e5b40214c41 <JSFunction ${name} (sfi = 0x20a993ae5671)> (target TURBOFAN) - took 0.012, ${ms}, 0.406 ms]`;
const deopt = (name: string, reason: string) =>
  `[bailout (kind: deopt-eager, reason: ${reason}): begin. deoptimizing 0x22e13de6e841 <JSFunction ${name} (sfi = 0x20a993ae6a31)>, 0x37dd4eb8b3d9 <Code TURBOFAN>, opt id 143, bytecode offset 16]`;

test('counts compilations and deoptimisations on each side of the warm-up done line', () => {
  const log = [
    compiled('parseMessage', '10.000'),
    deopt('parseMessage', 'wrong map'),
    '{"level":30,"time":1,"msg":"warm-up done","calls":1000}',
    compiled('forwardRequest', '20.000'),
    compiled('settle', '5.000'),
    deopt('settle', 'wrong call target'),
    deopt('settle', 'wrong call target'),
    deopt('normalizedIp', 'Insufficient type feedback for call'),
  ].join('\n');
  const t = tierUp(log);
  assert.ok(t.marked);
  assert.is(t.before.compiles, 1);
  assert.ok(Math.abs(t.before.compileMs - 10.418) < 1e-9, 'the three phases of a compilation add up');
  assert.is(t.before.deopts, 1);
  assert.is(t.after.compiles, 2);
  assert.ok(Math.abs(t.after.compileMs - 25.836) < 1e-9);
  assert.is(t.after.deopts, 3);
  assert.equal([...t.deoptsAfter], [['settle (wrong call target)', 2], ['normalizedIp (Insufficient type feedback for call)', 1]]);
});

test('without the line everything counts as the warm-up', () => {
  const t = tierUp([compiled('a', '1.000'), deopt('a', 'wrong map')].join('\n'));
  assert.not.ok(t.marked);
  assert.is(t.before.compiles, 1);
  assert.is(t.after.deopts, 0);
});

test.run();
