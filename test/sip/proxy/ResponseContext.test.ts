import * as assert from 'uvu/assert';
import { suite } from '../../support/suite.ts';
import { betterOutcome, failsOver, upstreamStatus, type BranchOutcome } from '../../../src/sip/proxy/ResponseContext.ts';

const test = suite('sip/ResponseContext');

const received = (status: number): BranchOutcome<string> => ({ status, response: `r${status}` });
const generated = (status: number): BranchOutcome<string> => ({ status, response: null });

/** The outcome a sequence of branch results ends with. */
function best(...outcomes: BranchOutcome<string>[]): BranchOutcome<string> | null {
  let kept: BranchOutcome<string> | null = null;
  for (const o of outcomes) if (betterOutcome(kept, o)) kept = o;
  return kept;
}

test('6xx beats every other class, whatever the order (§16.7 step 6)', () => {
  assert.is(best(received(486), received(603), received(404))?.status, 603);
  assert.is(best(received(603), received(404))?.status, 603);
  assert.is(best(received(600), received(603))?.status, 600, 'the first 6xx stays');
});

test('otherwise the lowest class wins; in a class the first stays, challenges beat other 4xx', () => {
  assert.is(best(received(503), received(486))?.status, 486);
  assert.is(best(received(486), received(503))?.status, 486);
  assert.is(best(received(302), received(486))?.status, 302);
  assert.is(best(received(404), received(486))?.status, 404);
  assert.is(best(received(404), received(407), received(486))?.status, 407);
  assert.is(best(generated(408), received(408))?.response, 'r408', 'a received response beats a generated one');
  assert.is(best(received(500), generated(503))?.status, 500);
});

test('a 503 from downstream goes up as 500; the proxy\'s own 503 stays', () => {
  assert.is(upstreamStatus(received(503)), 500);
  assert.is(upstreamStatus(generated(503)), 503);
  assert.is(upstreamStatus(received(486)), 486);
});

test('serial failover on no answer and 5xx only', () => {
  for (const s of [408, 500, 502, 503, 504]) assert.ok(failsOver(s), String(s));
  for (const s of [404, 486, 487, 480, 603, 302]) assert.not.ok(failsOver(s), String(s));
});

test.run();
