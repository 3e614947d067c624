#!/usr/bin/env node
// Runs every test file in its own Node process (tsx loader, so piscina workers inherit it),
// with a wall-clock limit per file, and prints one closing line `N passed, N failed`. First the
// preflight (test/preflight.mjs) installs the Debian packages the tests need, or stops the run
// with one line saying which are missing and how to install them.
// uvu prints Total/Passed but no failure count, and a throwing hook can still exit 0: a file
// fails when its exit code is non-zero, when its summary is missing, or when Passed < Total.
import { spawn } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { preflight } from './preflight.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const testDir = join(root, 'test');
const fileLimitMs = Number(process.env.PINLATCH_TEST_FILE_TIMEOUT_MS ?? 300_000);
const filters = process.argv.slice(2);

function collect(dir) {
  const out = [];
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...collect(path));
    else if (name.endsWith('.test.ts')) out.push(path);
  }
  return out;
}

function runFile(file) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', file], {
      cwd: root,
      env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d) => { output += d; process.stdout.write(d); });
    child.stderr.on('data', (d) => { output += d; process.stderr.write(d); });
    const timer = setTimeout(() => {
      output += `\n[run] ${relative(root, file)} exceeded ${fileLimitMs} ms, killed\n`;
      child.kill('SIGKILL');
    }, fileLimitMs);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const total = Number(/Total:\s+(\d+)/.exec(output)?.[1] ?? NaN);
      const passed = Number(/Passed:\s+(\d+)/.exec(output)?.[1] ?? NaN);
      resolve({ file, code, signal, total, passed });
    });
  });
}

if (!preflight()) process.exit(1);

const files = collect(testDir).filter((f) => filters.length === 0 || filters.some((p) => f.includes(p)));
let passed = 0;
let failed = 0;
const broken = [];
for (const file of files) {
  const r = await runFile(file);
  if (Number.isNaN(r.total) || Number.isNaN(r.passed)) {
    failed += 1;
    broken.push(`${relative(root, file)}: no uvu summary (exit ${r.code ?? r.signal})`);
    continue;
  }
  passed += r.passed;
  let fileFailed = r.total - r.passed;
  if (fileFailed === 0 && r.code !== 0) {
    fileFailed = 1;
    broken.push(`${relative(root, file)}: all tests passed but the process exited ${r.code ?? r.signal}`);
  } else if (fileFailed > 0) {
    broken.push(`${relative(root, file)}: ${fileFailed} failed`);
  }
  failed += fileFailed;
}
if (broken.length) console.log(`\nFailures:\n  ${broken.join('\n  ')}`);
console.log(`\n${passed} passed, ${failed} failed`);
process.exitCode = failed > 0 || files.length === 0 ? 1 : 0;
