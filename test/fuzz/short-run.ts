/**
 * The short fuzz runs `npm test` makes: each JS target replays its whole corpus, then gets a few
 * seconds of generated inputs (FUZZ_TEST_SECONDS, default 3). The seed is fixed (FUZZ_SEED,
 * default 1) so that a failure in CI is the same failure on a developer's machine; `npm run fuzz`
 * runs longer with random seeds. A finding fails the test with its message and the path of the
 * saved input (fuzz/findings/<target>/).
 */
import * as assert from 'uvu/assert';
import { describeResult, runTarget } from '../../fuzz/lib/engine.ts';
import { suite } from '../support/suite.ts';

export const SHORT_RUN_SECONDS = Number(process.env.FUZZ_TEST_SECONDS ?? 3);
const SEED = Number(process.env.FUZZ_SEED ?? 1);

export function shortRun(target: string): void {
  // Corpus replay, worker start-up (tsx) and a loaded machine on top of the fuzzing budget.
  const test = suite(`fuzz: ${target}`, { timeoutMs: SHORT_RUN_SECONDS * 1000 + 90_000 });
  test(`${target}: corpus replay and ${SHORT_RUN_SECONDS} s of generated inputs without a finding`, async () => {
    const result = await runTarget(target, { seconds: SHORT_RUN_SECONDS, seed: SEED, hangMs: 30_000 });
    console.log(describeResult(result));
    assert.ok(result.failure === undefined, describeResult(result));
    assert.ok(result.corpusFiles > 0, `${target}: empty corpus`);
    assert.ok(result.runs > 0, `${target}: no generated input ran`);
  });
  test.run();
}
