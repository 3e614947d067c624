import * as assert from 'uvu/assert';
import { suite } from '../../support/suite.ts';
import { LogBudget } from '../../../src/sip/edge/LogBudget.ts';

const test = suite('sip/edge/LogBudget');

test('one line per interval, each saying how many were left out before it', () => {
  const budget = new LogBudget(1000);
  const logged: Array<[number, number]> = [];
  for (let t = 0; t < 2500; t += 100) {
    const skipped = budget.take(t);
    if (skipped !== null) logged.push([t, skipped]);
  }
  assert.equal(logged, [[0, 0], [1000, 9], [2000, 9]]);
});

test.run();
