// The set-up step of `npm test` (test/run.mjs calls it before any test file): the tests use real
// peers and real network namespaces, so they need root and a set of Debian packages. A missing
// package is installed (as root with apt-get, announced in one line) or the run stops before any
// test with one line naming the packages and the command that installs them, so no test is
// skipped or fails for want of a tool.
//
// The decision is pure over a probe (which commands and files exist, who we are), so
// test/preflight.test.ts checks it without uninstalling anything.
import { execFileSync, spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync } from 'node:fs';
import { delimiter, join } from 'node:path';

/** The Kamailio module the NG interop and scale-out tests load (Debian `kamailio` ships it). */
export const KAMAILIO_RTPENGINE_MODULE = '/usr/lib/x86_64-linux-gnu/kamailio/modules/rtpengine.so';

/**
 * What the tests run, by Debian package: each entry is present when every command it lists is
 * found (on PATH or in the sbin directories) and every file exists.
 */
export const PACKAGES = [
  { package: 'sip-tester', commands: ['sipp'], files: [] },
  { package: 'iproute2', commands: ['ip'], files: [] },
  { package: 'nftables', commands: ['nft'], files: [] },
  { package: 'conntrack', commands: ['conntrack'], files: [] },
  { package: 'kamailio', commands: ['kamailio'], files: [KAMAILIO_RTPENGINE_MODULE] },
  { package: 'baresip-core', commands: ['baresip'], files: [] },
  { package: 'rtpengine-daemon', commands: ['rtpengine'], files: [] },
  { package: 'dnsmasq-base', commands: ['dnsmasq'], files: [] },
  { package: 'systemd', commands: ['systemd-analyze'], files: [] },
  { package: 'clang', commands: ['clang'], files: [] },
  { package: 'strace', commands: ['strace'], files: [] },
];

/**
 * The Debian packages missing on the probed machine, in PACKAGES order. clang's libFuzzer and
 * sanitizer runtimes (native fuzz targets, the ASan addon) come in a package per clang version:
 * `libclang-rt-N-dev` for the installed clang N, or Debian's default `libclang-rt-dev` together
 * with a clang that is itself still to be installed.
 */
export function missingPackages(probe) {
  const missing = PACKAGES.filter(
    (p) => !p.commands.every((c) => probe.hasCommand(c)) || !p.files.every((f) => probe.hasFile(f)),
  ).map((p) => p.package);
  const runtime = probe.clangRuntime();
  if (runtime === null) missing.push('libclang-rt-dev');
  else if (!runtime.present) missing.push(`libclang-rt-${runtime.major}-dev`);
  return missing;
}

export function installCommand(packages) {
  return `apt-get update && apt-get install -y --no-install-recommends ${packages.join(' ')}`;
}

/**
 * What to do before the tests: `run` (everything is there), `install` (root with apt-get: the
 * packages and the line announcing them) or `refuse` (the one line that stops the run).
 */
export function decide({ missing, isRoot, hasApt }) {
  if (!isRoot) {
    const also = missing.length > 0 ? `; also missing: ${missing.join(' ')} (as root: ${installCommand(missing)})` : '';
    return { action: 'refuse', line: `preflight: the tests need root (network namespaces, veth links, nftables): run npm test as root${also}` };
  }
  if (missing.length === 0) return { action: 'run' };
  if (!hasApt) {
    return {
      action: 'refuse',
      line: `preflight: missing Debian packages ${missing.join(' ')} and no apt-get here to install them; install them with: ${installCommand(missing)}`,
    };
  }
  return { action: 'install', packages: missing, line: `preflight: installing missing Debian packages: ${missing.join(' ')}` };
}

const SBIN = ['/usr/local/sbin', '/usr/sbin', '/sbin'];

function isExecutable(path) {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The probe of this machine. */
export function systemProbe() {
  const dirs = [...(process.env.PATH ?? '').split(delimiter).filter(Boolean), ...SBIN];
  const hasCommand = (name) => dirs.some((d) => isExecutable(join(d, name)));
  return {
    hasCommand,
    hasFile: (path) => existsSync(path),
    clangRuntime: () => {
      if (!hasCommand('clang')) return null;
      const clang = (args) => execFileSync('clang', args, { encoding: 'utf8' }).trim();
      const major = clang(['-dumpversion']).split('.')[0];
      // Without the runtime clang prints the bare name back instead of a path.
      const fuzzer = clang(['-print-file-name=libclang_rt.fuzzer-x86_64.a']);
      return { major, present: fuzzer.startsWith('/') && existsSync(fuzzer) };
    },
    isRoot: () => process.getuid?.() === 0,
  };
}

function apt(args) {
  const r = spawnSync('apt-get', args, {
    stdio: ['ignore', 'ignore', 'inherit'],
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  });
  return r.status === 0;
}

/**
 * Runs the preflight on this machine. Returns true when the tests may run; otherwise it has
 * printed the one line saying why not.
 */
export function preflight(probe = systemProbe(), log = (line) => console.log(line), install = apt) {
  const missing = missingPackages(probe);
  const decision = decide({ missing, isRoot: probe.isRoot(), hasApt: probe.hasCommand('apt-get') });
  if (decision.action === 'run') return true;
  if (decision.action === 'refuse') {
    log(decision.line);
    return false;
  }
  log(decision.line);
  const installed = install(['update', '-qq']) && install(['install', '-y', '-qq', '--no-install-recommends', ...decision.packages]);
  const still = missingPackages(probe);
  if (!installed || still.length > 0) {
    log(`preflight: apt-get could not install ${(still.length > 0 ? still : decision.packages).join(' ')}; install them with: ${installCommand(still.length > 0 ? still : decision.packages)}`);
    return false;
  }
  return true;
}
