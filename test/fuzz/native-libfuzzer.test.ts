/**
 * Short libFuzzer runs of the native targets (native/fuzz/*_fuzzer.cc) under ASan and UBSan:
 * build with clang if needed, replay the committed corpus, then FUZZ_TEST_SECONDS (default 3) of
 * fuzzing each. Any crash, sanitizer report, leak or timeout fails the test; the input is in
 * native/fuzz/findings/<name>/.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import * as assert from 'uvu/assert';
import { suite } from '../support/suite.ts';
import { SHORT_RUN_SECONDS } from './short-run.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));
const TARGETS = ['rtp_check', 'latch_state'];

function run(command: string, args: string[]): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    child.on('close', (code) => resolve({ code, output }));
  });
}

// A cold build of both targets under load takes a while; the runs themselves are bounded.
const test = suite('fuzz: native libFuzzer targets', { timeoutMs: 240_000 });

test('the targets build with clang -fsanitize=fuzzer,address,undefined', async () => {
  const { code, output } = await run('bash', ['native/fuzz/build.sh', ...TARGETS]);
  assert.is(code, 0, output);
});

for (const name of TARGETS) {
  test(`${name}: corpus replay and ${SHORT_RUN_SECONDS} s of fuzzing without a finding`, async () => {
    const { code, output } = await run('bash', ['native/fuzz/run.sh', name, String(SHORT_RUN_SECONDS)]);
    const done = /Done (\d+) runs in (\d+) second/.exec(output);
    console.log(`${name}: ${done ? `${done[1]} runs in ${done[2]} s` : 'no summary'}`);
    assert.is(code, 0, output.slice(-4000));
    assert.ok(done && Number(done[1]) > 0, output.slice(-2000));
  });
}

test.run();
