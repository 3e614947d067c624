/**
 * examples/pinlatch.service: `systemd-analyze verify` accepts it without a word (Debian package
 * `systemd`, installed by the preflight of npm test; missing, the test fails), and its settings
 * do what docs/operations.md promises: restart on failure, no root, only CAP_NET_BIND_SERVICE, a
 * read-only system, an open files limit that fits the example configurations, a stop timeout
 * longer than their drain.
 */
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { suite } from '../support/suite.ts';
import { loadConfigFile } from '../../src/config/index.ts';
import { checkOpenFiles } from '../../src/doctor/checks.ts';
import type { HostReadings } from '../../src/doctor/readings.ts';

const test = suite('examples/pinlatch.service', { timeoutMs: 60_000 });
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const UNIT = join(ROOT, 'examples/pinlatch.service');

function verify(file: string): { code: number | null; output: string } {
  const r = spawnSync('systemd-analyze', ['verify', file], { encoding: 'utf8', timeout: 30_000 });
  if (r.error) throw new Error(`systemd-analyze (Debian package systemd) could not run: ${r.error.message}`);
  return { code: r.status, output: `${r.stdout}${r.stderr}` };
}

/** Every `Key=value` of a unit by section; a key may repeat. */
function parseUnit(text: string): Map<string, string[]> {
  const keys = new Map<string, string[]>();
  let section = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const header = /^\[(\w+)\]$/.exec(line);
    if (header) {
      section = header[1]!;
      continue;
    }
    const eq = line.indexOf('=');
    assert.ok(eq > 0, `not a Key=value line: ${line}`);
    const key = `${section}.${line.slice(0, eq)}`;
    keys.set(key, [...(keys.get(key) ?? []), line.slice(eq + 1)]);
  }
  return keys;
}

const unit = parseUnit(readFileSync(UNIT, 'utf8'));
const one = (key: string): string => {
  const values = unit.get(key);
  assert.ok(values?.length === 1, `${key}: ${JSON.stringify(values)}`);
  return values![0]!;
};

test('systemd-analyze verify accepts it with no warning', () => {
  const r = verify(UNIT);
  assert.is(r.code, 0, r.output);
  assert.is(r.output.trim(), '');
});

test('a misspelt key is caught by the same check (verify warns on it)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pinlatch-unit-'));
  try {
    const bad = join(dir, 'pinlatch.service');
    writeFileSync(bad, readFileSync(UNIT, 'utf8').replace('LimitNOFILE=', 'LimitNOFLE='));
    assert.match(verify(bad).output, "Unknown key 'LimitNOFLE'");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('restart on failure, no root, only CAP_NET_BIND_SERVICE, read-only system', () => {
  assert.is(one('Service.Restart'), 'on-failure');
  assert.is(one('Service.User'), 'pinlatch');
  assert.is(one('Service.Group'), 'pinlatch');
  assert.is(one('Service.CapabilityBoundingSet'), 'CAP_NET_BIND_SERVICE');
  assert.is(one('Service.AmbientCapabilities'), 'CAP_NET_BIND_SERVICE');
  assert.is(one('Service.NoNewPrivileges'), 'yes');
  assert.is(one('Service.ProtectSystem'), 'strict');
  assert.is(unit.get('Service.ReadWritePaths'), undefined);
  assert.is(one('Service.KillSignal'), 'SIGTERM');
  assert.match(one('Service.ExecStart'), /^\/usr\/bin\/node \/opt\/pinlatch\/dist\/src\/cli\.js --config \/etc\/pinlatch\/pinlatch\.yaml --pidfile \/run\/pinlatch\/pinlatch\.pid$/);
  // systemctl reload goes through `pinlatch reload` on the same pidfile, in the unit's own runtime directory.
  assert.is(one('Service.ExecReload'), '/usr/bin/node /opt/pinlatch/dist/src/cli.js reload --pidfile /run/pinlatch/pinlatch.pid');
  assert.is(one('Service.RuntimeDirectory'), 'pinlatch');
});

test('LimitNOFILE fits the example configurations, the stop timeout outlasts their drain', async () => {
  const limit = Number(one('Service.LimitNOFILE'));
  const stopSec = Number(one('Service.TimeoutStopSec'));
  for (const example of ['pinlatch.yaml', 'phones.yaml', 'media-only.yaml']) {
    const config = await loadConfigFile(join(ROOT, 'examples', example));
    const r = checkOpenFiles(config, { openFiles: limit } as HostReadings);
    assert.ok(r.ok, `${example}: ${r.detail}`);
    assert.ok(stopSec > (config.sip?.drainSec ?? 0), `${example}: TimeoutStopSec ${stopSec} <= drainSec ${config.sip?.drainSec}`);
  }
});

test.run();
