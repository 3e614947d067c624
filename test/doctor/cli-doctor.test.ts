/**
 * `pinlatch doctor` run for real as a child on this machine: what it prints agrees with the pure
 * checks over this host's readings (read in this process), the exit code follows the problems,
 * and a host made worse for the child alone — a lower open files limit (prlimit), no root and no
 * capabilities (setpriv) — is reported with the fix.
 */
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { suite } from '../support/suite.ts';
import { loadConfigFile } from '../../src/config/index.ts';
import { runChecks } from '../../src/doctor/checks.ts';
import { readHost } from '../../src/doctor/read-host.ts';

const test = suite('pinlatch doctor (the real command)', { timeoutMs: 60_000 });
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'pinlatch-doctor-'));
// The setpriv run reads its configuration as nobody.
chmodSync(dir, 0o755);

function run(prefix: string[], args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const argv = [...prefix, process.execPath, '--import', 'tsx', 'src/cli.ts', 'doctor', ...args];
    const child = spawn(argv[0]!, argv.slice(1), { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

function config(name: string, media: { min: number; max: number }, sipPort = 5070): string {
  const file = join(dir, name);
  writeFileSync(file, [
    'sip:',
    `  listen: [{ transport: udp, address: 127.0.0.1, port: ${sipPort} }]`,
    'media:',
    '  address: 127.0.0.1',
    `  ports: { min: ${media.min}, max: ${media.max} }`,
    '',
  ].join('\n'));
  return file;
}

/** The lines the child must print for `file` on this host, from the checks run here. */
async function expectedLines(file: string): Promise<{ lines: string[]; problems: number }> {
  const results = runChecks(await loadConfigFile(file), await readHost());
  return {
    lines: results.map((r) => `${r.ok ? 'ok  ' : 'FAIL'} ${r.check}: ${r.detail}`),
    problems: results.filter((r) => !r.ok).length,
  };
}

test('media ports inside ip_local_port_range: reported with the sysctl that reserves them, exit 1', async () => {
  const { ephemeralPorts } = await readHost();
  const file = config('overlap.yaml', { min: ephemeralPorts.min + (ephemeralPorts.min % 2), max: ephemeralPorts.min + (ephemeralPorts.min % 2) + 99 });
  const r = await run([], ['--config', file]);
  const expected = await expectedLines(file);
  for (const line of expected.lines) assert.ok(r.stdout.includes(`${line}\n`), `missing "${line}" in:\n${r.stdout}`);
  assert.match(r.stdout, /^FAIL ephemeral-ports: /m);
  assert.match(r.stdout, /^ {5}fix: sysctl -w net\.ipv4\.ip_local_reserved_ports=/m);
  assert.match(r.stdout, new RegExp(`pinlatch doctor \\(${file}\\): ${expected.problems} problems?\\n$`));
  assert.is(r.code, 1, r.stdout + r.stderr);
});

test('media ports outside ip_local_port_range: the printed checks match this host, exit code follows them', async () => {
  const { ephemeralPorts } = await readHost();
  const media = ephemeralPorts.max < 64_000 ? { min: 64_000, max: 64_999 } : { min: 2000, max: 2999 };
  const file = config('clear.yaml', media);
  const r = await run([], ['--config', file]);
  const expected = await expectedLines(file);
  assert.match(r.stdout, /^ok {3}ephemeral-ports: /m);
  for (const line of expected.lines) assert.ok(r.stdout.includes(`${line}\n`), `missing "${line}" in:\n${r.stdout}`);
  assert.is(r.code, expected.problems === 0 ? 0 : 1, r.stdout + r.stderr);
});

test('a lower open files limit (prlimit on the child): reported with LimitNOFILE, exit 1', async () => {
  const file = config('fds.yaml', { min: 64_000, max: 64_999 });
  const r = await run(['prlimit', '--nofile=1024:1024'], ['--config', file]);
  // 1000 media ports, each shard's spare sockets, the reserve.
  const needed = /^FAIL open-files: open files limit 1024 < (\d+) needed \(1000 media ports \+ 0 SIP TCP connections \(limits.tcp.connections\) \+ (\d+) spare sockets/m.exec(r.stdout);
  assert.ok(needed, r.stdout);
  assert.is(Number(needed[1]), 1000 + Number(needed[2]) + 256);
  assert.match(r.stdout, `LimitNOFILE=${needed[1]}`);
  assert.is(r.code, 1);
});

test('a SIP port below 1024 without root or capabilities (setpriv): CAP_NET_BIND_SERVICE is the fix', async () => {
  const { unprivilegedPortStart } = await readHost();
  const file = config('low.yaml', { min: 64_000, max: 64_999 }, 506);
  const asRoot = await run([], ['--config', file]);
  assert.match(asRoot.stdout, /^ok {3}privileged-ports: sip\.listen udp 506 below \d+: CAP_NET_BIND_SERVICE is effective/m);
  const noCaps = ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', '--inh-caps=-all', '--ambient-caps=-all', '--bounding-set=-all'];
  const r = await run(noCaps, ['--config', file]);
  assert.ok(r.stdout.length > 0, r.stderr);
  assert.match(r.stdout, new RegExp(`^FAIL privileged-ports: sip\\.listen udp 506 below net\\.ipv4\\.ip_unprivileged_port_start ${unprivilegedPortStart} and no CAP_NET_BIND_SERVICE`, 'm'));
  assert.match(r.stdout, 'AmbientCapabilities=CAP_NET_BIND_SERVICE');
  assert.is(r.code, 1);
});

test('bad input: a broken configuration exits 1 naming the key, an unknown option exits 2', async () => {
  const file = join(dir, 'broken.yaml');
  writeFileSync(file, 'media: { address: 127.0.0.1, ports: { min: 70000, max: 70001 } }\n');
  const broken = await run([], ['--config', file]);
  assert.is(broken.code, 1);
  assert.match(broken.stderr, 'media.ports.min');
  const unknown = await run([], ['--frobnicate']);
  assert.is(unknown.code, 2);
  assert.match(unknown.stderr, 'Usage: pinlatch doctor');
});

test.after(() => rmSync(dir, { recursive: true, force: true }));

test.run();
