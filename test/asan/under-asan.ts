/**
 * Runs one test file of test/native/ in a child node with the ASan/UBSan build of the addon
 * (native/fuzz/build-asan-addon.sh, built here when missing or stale): the ASan runtime preloaded
 * (node itself is not instrumented), leak detection off (node does not free everything at exit,
 * which is not the addon's doing), UBSan fatal, wait limits scaled by 4 (PINLATCH_TEST_TIME_SCALE).
 * The test passes when every test of the file passes and no sanitizer reported anything.
 */
import { execFileSync, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import * as assert from 'uvu/assert';
import { suite } from '../support/suite.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));
const SANITIZER_REPORT = /ERROR: AddressSanitizer|runtime error:|SUMMARY: (Address|UndefinedBehavior)Sanitizer/;

function run(command: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<{ code: number | null; signal: string | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    child.on('close', (code, signal) => resolve({ code, signal, output }));
  });
}

export function underAsan(nativeTest: string): void {
  // A cold build of the addon under load is the slow part; the tests then take a few times their usual time.
  const test = suite(`ASan/UBSan: test/native/${nativeTest}`, { timeoutMs: 290_000 });
  test(`test/native/${nativeTest} passes with the sanitized addon and no sanitizer report`, async () => {
    const build = await run('bash', ['native/fuzz/build-asan-addon.sh']);
    assert.is(build.code, 0, build.output);
    const runtime = execFileSync('clang', ['-print-file-name=libclang_rt.asan-x86_64.so'], { encoding: 'utf8' }).trim();
    const { code, signal, output } = await run(process.execPath, ['--import', 'tsx', `test/native/${nativeTest}`], {
      ...process.env,
      LD_PRELOAD: runtime,
      ASAN_OPTIONS: 'detect_leaks=0:abort_on_error=1',
      UBSAN_OPTIONS: 'halt_on_error=1:print_stacktrace=1',
      PINLATCH_ADDON: 'build/asan/pinlatch.node',
      PINLATCH_TEST_TIME_SCALE: '4',
      NO_COLOR: '1',
    });
    const total = Number(/Total:\s+(\d+)/.exec(output)?.[1] ?? NaN);
    const passed = Number(/Passed:\s+(\d+)/.exec(output)?.[1] ?? NaN);
    console.log(`test/native/${nativeTest} under ASan/UBSan: ${passed}/${total} passed, exit ${code ?? signal}`);
    const report = SANITIZER_REPORT.exec(output);
    assert.ok(report === null, `sanitizer report:\n${output.slice(Math.max(0, (report?.index ?? 0) - 500), (report?.index ?? 0) + 4000)}`);
    assert.is(code, 0, output.slice(-4000));
    assert.ok(total > 0 && passed === total, output.slice(-4000));
  });
  test.run();
}
