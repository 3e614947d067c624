/**
 * `npm run fuzz`: runs the JS fuzz targets (fast-check over corpus-seeded mutations and grammar
 * inputs, see docs/fuzzing.md) and then the native libFuzzer targets, each for a time budget.
 *
 *   npm run fuzz                         every target, FUZZ_SECONDS (default 60) each
 *   npm run fuzz -- --seconds 300 sip-message native:rtp_check
 *   npm run fuzz -- --seed 1234 sdp-anchor    repeat a JS run exactly
 *   npm run fuzz -- --replay sip-message fuzz/findings/sip-message/generated-...
 *
 * A finding is written to fuzz/findings/<target>/ (JS) or native/fuzz/findings/<target>/
 * (libFuzzer) and the exit code is 1. Native targets are named `native:<name>`.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { describeResult, runTarget } from './lib/engine.ts';
import type { FuzzTarget } from './lib/target.ts';

export const JS_TARGETS = ['sip-message', 'sdp-anchor', 'ng-codec', 'config-loader'] as const;
export const NATIVE_TARGETS = ['rtp_check', 'latch_state'] as const;

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    seconds: { type: 'string', default: process.env.FUZZ_SECONDS ?? '60' },
    seed: { type: 'string' },
    replay: { type: 'boolean', default: false },
  },
});
const seconds = Number(values.seconds);
if (!Number.isFinite(seconds) || seconds <= 0) throw new Error(`--seconds: not a positive number: ${values.seconds}`);

if (values.replay) {
  const [name, file] = positionals;
  if (!name || !file) throw new Error('--replay needs a target and a file');
  const { target } = (await import(`./targets/${name}.ts`)) as { target: FuzzTarget };
  target.check(readFileSync(file));
  console.log(`${name}: ${file} passes`);
} else {
  const wanted = positionals.length > 0 ? positionals : [...JS_TARGETS, ...NATIVE_TARGETS.map((t) => `native:${t}`)];
  let failed = 0;
  for (const name of wanted) {
    if (name.startsWith('native:')) {
      const r = spawnSync('bash', [new URL('../native/fuzz/run.sh', import.meta.url).pathname, name.slice('native:'.length), String(seconds)], { stdio: 'inherit' });
      if (r.status !== 0) failed += 1;
      continue;
    }
    if (!(JS_TARGETS as readonly string[]).includes(name)) throw new Error(`unknown target ${name}; known: ${JS_TARGETS.join(', ')}, native:<name>`);
    const result = await runTarget(name, { seconds, seed: values.seed === undefined ? undefined : Number(values.seed) });
    console.log(describeResult(result));
    if (result.failure) failed += 1;
  }
  process.exitCode = failed > 0 ? 1 : 0;
}
