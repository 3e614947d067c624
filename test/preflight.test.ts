/**
 * The preflight of `npm test` (test/preflight.mjs): which Debian packages are missing, and the
 * decision between running, installing (root with apt-get) and stopping with one line. The
 * machine is probed through an injected probe, so nothing is uninstalled; the package map itself
 * is checked against dpkg on this machine (each probed command belongs to the package named).
 */
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { suite } from './support/suite.ts';
// @ts-expect-error plain JavaScript module shared with test/run.mjs, no declarations
import { PACKAGES, decide, installCommand, missingPackages, preflight, systemProbe } from './preflight.mjs';

interface Probe {
  hasCommand(name: string): boolean;
  hasFile(path: string): boolean;
  clangRuntime(): { major: string; present: boolean } | null;
  isRoot(): boolean;
}
interface Entry {
  package: string;
  commands: string[];
  files: string[];
}

const test = suite('preflight of npm test');

/** A machine with every package, minus the commands and files in `absent`. */
function fakeProbe(absent: Set<string>, options: { root?: boolean; apt?: boolean; clang?: string; clangRuntime?: boolean } = {}): Probe {
  return {
    hasCommand: (name) => (name === 'apt-get' ? (options.apt ?? true) : !absent.has(name)),
    hasFile: (path) => !absent.has(path),
    clangRuntime: () => (absent.has('clang') ? null : { major: options.clang ?? '14', present: options.clangRuntime ?? true }),
    isRoot: () => options.root ?? true,
  };
}

const decideOn = (probe: Probe) => decide({ missing: missingPackages(probe), isRoot: probe.isRoot(), hasApt: probe.hasCommand('apt-get') });

test('everything present: the tests run', () => {
  assert.equal(missingPackages(fakeProbe(new Set())), []);
  assert.equal(decideOn(fakeProbe(new Set())), { action: 'run' });
});

test('each probed command and file maps to its Debian package', () => {
  const expected: Record<string, string> = {
    sipp: 'sip-tester', ip: 'iproute2', nft: 'nftables', conntrack: 'conntrack', kamailio: 'kamailio',
    baresip: 'baresip-core', rtpengine: 'rtpengine-daemon', dnsmasq: 'dnsmasq-base', 'systemd-analyze': 'systemd',
  };
  for (const [command, pkg] of Object.entries(expected)) {
    assert.equal(missingPackages(fakeProbe(new Set([command]))), [pkg], command);
  }
  assert.equal(missingPackages(fakeProbe(new Set(['/usr/lib/x86_64-linux-gnu/kamailio/modules/rtpengine.so']))), ['kamailio']);
});

test('the clang runtimes: the package of the installed clang version, or the default with clang', () => {
  assert.equal(missingPackages(fakeProbe(new Set(), { clang: '16', clangRuntime: false })), ['libclang-rt-16-dev']);
  assert.equal(missingPackages(fakeProbe(new Set(['clang']))), ['clang', 'libclang-rt-dev']);
});

test('root with apt-get: install the missing packages, announced in one line', () => {
  const d = decideOn(fakeProbe(new Set(['sipp', 'rtpengine'])));
  assert.equal(d, {
    action: 'install',
    packages: ['sip-tester', 'rtpengine-daemon'],
    line: 'preflight: installing missing Debian packages: sip-tester rtpengine-daemon',
  });
});

test('no apt-get: refuse with one line naming the packages and the command', () => {
  const d = decideOn(fakeProbe(new Set(['sipp', 'nft']), { apt: false }));
  assert.is(d.action, 'refuse');
  assert.not.match(d.line, /\n/);
  assert.match(d.line, 'sip-tester nftables');
  assert.match(d.line, 'apt-get update && apt-get install -y --no-install-recommends sip-tester nftables');
});

test('not root: refuse with one line, naming missing packages too', () => {
  const none = decideOn(fakeProbe(new Set(), { root: false }));
  assert.is(none.action, 'refuse');
  assert.match(none.line, 'need root');
  const some = decideOn(fakeProbe(new Set(['kamailio']), { root: false }));
  assert.is(some.action, 'refuse');
  assert.not.match(some.line, /\n/);
  assert.match(some.line, installCommand(['kamailio']));
});

test('preflight(): installs through apt-get once, then runs the tests', () => {
  const absent = new Set(['sipp', 'dnsmasq']);
  const lines: string[] = [];
  const calls: string[][] = [];
  const ok = preflight(fakeProbe(absent), (l: string) => lines.push(l), (args: string[]) => {
    calls.push(args);
    if (args[0] === 'install') for (const c of ['sipp', 'dnsmasq']) absent.delete(c);
    return true;
  });
  assert.is(ok, true);
  assert.equal(lines, ['preflight: installing missing Debian packages: sip-tester dnsmasq-base']);
  assert.equal(calls, [['update', '-qq'], ['install', '-y', '-qq', '--no-install-recommends', 'sip-tester', 'dnsmasq-base']]);
});

test('preflight(): an install that does not deliver stops the run with the command to retry', () => {
  const lines: string[] = [];
  const ok = preflight(fakeProbe(new Set(['kamailio'])), (l: string) => lines.push(l), () => true);
  assert.is(ok, false);
  assert.is(lines.length, 2);
  assert.match(lines[1]!, 'apt-get could not install kamailio; install them with: apt-get update && apt-get install -y --no-install-recommends kamailio');
});

test('preflight(): nothing missing: no line, no apt-get', () => {
  const lines: string[] = [];
  assert.is(preflight(fakeProbe(new Set()), (l: string) => lines.push(l), () => assert.unreachable('apt-get ran')), true);
  assert.equal(lines, []);
});

test('this machine: the package map agrees with dpkg, and nothing is missing', () => {
  const probe = systemProbe() as Probe;
  const dirs = [...(process.env.PATH ?? '').split(':'), '/usr/sbin', '/sbin'];
  for (const entry of PACKAGES as Entry[]) {
    for (const command of entry.commands) {
      const path = dirs.map((d) => `${d}/${command}`).find((p) => existsSync(p));
      assert.ok(path, `${command} not found`);
      // usrmerge: dpkg may know /usr/bin/x as /bin/x.
      const owners = [path!, path!.replace(/^\/usr/, '')].map((p) => {
        try {
          return execFileSync('dpkg', ['-S', p], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
        } catch {
          return '';
        }
      }).join('');
      assert.match(owners, new RegExp(`^${entry.package}(:amd64)?: `, 'm'), `${path} belongs to ${entry.package}: ${owners}`);
    }
    for (const file of entry.files) assert.match(execFileSync('dpkg', ['-S', file], { encoding: 'utf8' }), `${entry.package}: `);
  }
  const runtime = probe.clangRuntime();
  assert.ok(runtime?.present, 'clang runtime present');
  assert.match(execFileSync('dpkg', ['-S', execFileSync('clang', ['-print-file-name=libclang_rt.fuzzer-x86_64.a'], { encoding: 'utf8' }).trim()], { encoding: 'utf8' }), `libclang-rt-${runtime!.major}-dev`);
  assert.equal(missingPackages(probe), []);
});

test.run();
