/**
 * registrations: N NATed phones registering, refreshing and answering keepalives through pinlatch,
 * against Kamailio as the registrar; two runs side by side, registration throttling off and on.
 *
 *   npm run bench:registrations -- [--phones 50000] [--rate 500] [--steady-sec 180] [--settle-sec 60]
 *        [--refresh-sec 50] [--expires-sec 60] [--keepalive-sec 30] [--registrar-expires-sec 3600]
 *        [--modes off,on] [--per-sipp 10000] [--pinlatch-cpu 1] [--load-cpus 0] [--sample-sec 10]
 *        [--nice 0] [--subnet 127.0.0] [--builds NAME=DIR,NAME=DIR] [--out FILE.json] [--markdown] [--keep]
 *        [--node-args='--cpu-prof --cpu-prof-dir=DIR']
 *
 * Everything is on loopback: pinlatch <subnet>.1 (its real CLI, DIR/dist/src/cli.js, pinned to one
 * CPU with taskset), Kamailio <subnet>.31 (registrar, usrloc in memory, Path stored: test/support/
 * kamailio-registrar.ts, without digest authentication), the phones <subnet>.100, .101, ... (sipp,
 * bench/registrations/phone-fleet.ts: one socket per phone, a private Contact, refreshes every
 * --refresh-sec, pinlatch's keepalive OPTIONS answered). Kamailio and sipp run on --load-cpus.
 * --builds compares pinlatch builds (each DIR a checkout with dist/ and build/ made): every mode
 * runs once per build, the builds one after the other within each mode, side by side in the table.
 *
 * Each run: pinlatch and Kamailio start fresh; once pinlatch's main thread is quiet (its JIT
 * warm-up over), its idle CPU is measured; the phones register at --rate (the ramp, until
 * pinlatch holds a binding for every phone); --settle-sec pass (every phone refreshes and is
 * pinged once); then the steady phase is sampled every --sample-sec: pinlatch's main-thread CPU
 * (/proc/PID/task/PID/schedstat) apart from its other threads, its RSS, its pinlatch_phones_*
 * metrics, and the REGISTERs Kamailio received (kamcmd stats). Throttling on, phones are told
 * --expires-sec and the registrar is asked --registrar-expires-sec. Memory is read after a full
 * garbage collection (forced over pinlatch's inspector, bench/registrations/heap-after-gc.mjs)
 * before the phones and at the end of the steady phase: V8 heap used and RSS.
 */
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { cpus, release, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { freeUdpPort } from '../test/control/child.ts';
import { terminate } from '../test/support/child.ts';
import { KAMAILIO, KamailioRegistrar } from '../test/support/kamailio-registrar.ts';
import { freeUdpPortBlock, processCpu, rssKiB, threadSched } from './lib/proc-stats.ts';
import { REPO_DIR } from './lib/targets.ts';
import { markdown, registrarReduction, runFigures, table, type MemoryReading, type RunFigures, type Sample } from './registrations/figures.ts';
import { PhoneFleet, SIPP } from './registrations/phone-fleet.ts';
import { pinlatchConfig } from './registrations/pinlatch-config.ts';

export class RegistrationsUsageError extends Error {
  readonly code = 'ERR_PINLATCH_BENCH_USAGE';
}

const cliOf = (dir: string): string => join(dir, 'dist/src/cli.js');
const HEAP_AFTER_GC = join(REPO_DIR, 'bench/registrations/heap-after-gc.mjs');

/** A pinlatch checkout to run: its name in the table and its directory. */
interface Build {
  name: string;
  dir: string;
}

interface Options {
  phones: number;
  rate: number;
  steadySec: number;
  settleSec: number;
  refreshSec: number;
  expiresSec: number;
  keepaliveSec: number;
  registrarExpiresSec: number;
  modes: ('off' | 'on')[];
  perSipp: number;
  pinlatchCpu: string | null;
  loadCpus: string | null;
  sampleSec: number;
  nodeArgs: string[];
  /** Scheduling priority (nice) of pinlatch, Kamailio and sipp; 0: as inherited. */
  nice: number;
  /** Keep each run's directory (configuration, sipp statistics and errors) instead of removing it. */
  keep: boolean;
  /** First three octets of the loopback addresses: <subnet>.1 pinlatch, .31 Kamailio, .100+ phones. */
  subnet: string;
  builds: Build[];
}

async function freeTcpPort(address: string): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, address, () => resolve());
  });
  const bound = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (typeof bound !== 'object' || bound === null) throw new Error('no TCP port');
  return bound.port;
}

/** Stops of what the current run started, for a bench interrupted by a signal. */
const stops = new Set<() => Promise<void>>();

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The value of each unlabelled sample line of a Prometheus text exposition. */
async function scrape(address: string, port: number): Promise<Map<string, number>> {
  const text = await (await fetch(`http://${address}:${port}/metrics`, { signal: AbortSignal.timeout(10_000) })).text();
  const values = new Map<string, number>();
  for (const line of text.split('\n')) {
    const m = /^([a-z_]+) ([0-9.e+-]+)$/.exec(line);
    if (m) values.set(m[1]!, Number(m[2]));
  }
  return values;
}

async function registrarRegisters(pbx: KamailioRegistrar): Promise<number> {
  const out = await pbx.kamcmd(['stats.get_statistics', 'rcv_requests_register']);
  const m = /rcv_requests_register = (\d+)/.exec(out);
  if (!m) throw new Error(`kamcmd stats: no rcv_requests_register in ${out}`);
  return Number(m[1]);
}

/**
 * `argv` run on `cpus` (taskset -c) at priority `nice`. taskset and nice exec the command: the PID
 * is the command's own (pinlatch's main thread's TID too).
 */
export function pinned(cpus: string | null, nice: number, argv: readonly string[]): string[] {
  const niced = nice === 0 ? [...argv] : ['nice', '-n', String(nice), ...argv];
  return cpus ? ['taskset', '-c', cpus, ...niced] : niced;
}

/**
 * pinlatch's own process, its log in a file: a log written to a pipe the bench reads late (the
 * machine is busy) would block pinlatch's main thread in write() and count as its CPU.
 */
class PinlatchProcess {
  readonly pid: number;
  readonly done: Promise<void>;

  constructor(
    private readonly child: ChildProcess,
    readonly logFile: string,
  ) {
    if (child.pid === undefined) throw new Error('pinlatch did not start');
    this.pid = child.pid;
    this.done = new Promise((resolve) => child.once('exit', () => resolve()));
  }

  static start(argv: readonly string[], logFile: string, cwd: string): PinlatchProcess {
    const fd = openSync(logFile, 'w');
    try {
      return new PinlatchProcess(spawn(argv[0]!, argv.slice(1), { cwd, stdio: ['ignore', fd, fd] }), logFile);
    } finally {
      closeSync(fd);
    }
  }

  output(): string {
    return existsSync(this.logFile) ? readFileSync(this.logFile, 'utf8').slice(-3000) : '';
  }

  stop(): Promise<void> {
    return terminate(this.child);
  }
}

/** The main thread's V8 heap after a forced full collection (pinlatch runs with --inspect on `inspect`). */
async function heapAfterGc(inspect: string): Promise<number> {
  const child = spawn(process.execPath, ['--no-warnings', '--experimental-websocket', HEAP_AFTER_GC, inspect], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  const reading = code === 0 ? (JSON.parse(out.trim().split('\n').at(-1)!) as { usedBytes: number }) : null;
  if (!reading) throw new Error(`heap-after-gc.mjs ${inspect} exited ${code}: ${out}`);
  return reading.usedBytes;
}

/** Main-thread share of a core (%) under which pinlatch counts as quiet, and how long to wait for it. */
const QUIET_PCT = 1;
const QUIET_BOUND_MS = 60_000;
/** The idle window before the phones: the main thread's CPU without them. */
const IDLE_MS = 10_000;

class Run {
  private constructor(
    readonly pinlatch: PinlatchProcess,
    readonly pbx: KamailioRegistrar,
    readonly address: string,
    readonly metricsPort: number,
    readonly inspect: string,
  ) {}

  static async start(o: Options, mode: 'off' | 'on', build: Build, dir: string): Promise<{ run: Run; sipPort: number }> {
    const address = `${o.subnet}.1`;
    const registrarAddress = `${o.subnet}.31`;
    const registrarPort = await freeUdpPort();
    const spawner = {
      spawn: (_host: string, argv: string[], options: SpawnOptions) => {
        const [file, ...args] = pinned(o.loadCpus, o.nice, argv);
        return spawn(file!, args, options);
      },
    };
    const pbx = await KamailioRegistrar.start(spawner, 'registrar', {
      address: registrarAddress,
      port: registrarPort,
      users: [],
      auth: false,
      events: false,
      maxExpires: Math.max(o.registrarExpiresSec, o.expiresSec),
      children: 4,
      sharedMemoryMb: Math.max(64, Math.ceil(o.phones / 200)),
    });
    try {
      const sipPort = await freeUdpPort();
      const metricsPort = await freeTcpPort(address);
      const inspect = `${address}:${await freeTcpPort(address)}`;
      const media = freeUdpPortBlock(8, 40_000, 60_000);
      if (!media) throw new Error('no free UDP port block for pinlatch media');
      const config = join(dir, `pinlatch-${mode}.yaml`);
      writeFileSync(
        config,
        pinlatchConfig({
          address,
          sipPort,
          metricsPort,
          media,
          registrar: { address: registrarAddress, port: registrarPort },
          phones: o.phones,
          keepaliveSec: o.keepaliveSec,
          throttle: mode === 'on' ? { phoneExpiresSec: o.expiresSec, registrarExpiresSec: o.registrarExpiresSec } : null,
        }),
      );
      const argv = [process.execPath, `--inspect=${inspect}`, ...o.nodeArgs, cliOf(build.dir), '--config', config];
      const pinlatch = PinlatchProcess.start(pinned(o.pinlatchCpu, o.nice, argv), join(dir, `pinlatch-${mode}-${build.name}.log`), dir);
      const run = new Run(pinlatch, pbx, address, metricsPort, inspect);
      const deadline = Date.now() + 30_000;
      for (;;) {
        try {
          await scrape(address, metricsPort);
          break;
        } catch {
          if (Date.now() > deadline) {
            await run.stop();
            throw new Error(`pinlatch did not serve metrics:\n${pinlatch.output()}`);
          }
          await sleep(200);
        }
      }
      return { run, sipPort };
    } catch (err) {
      await pbx.stop();
      throw err;
    }
  }

  async sample(): Promise<Sample> {
    const pid = this.pinlatch.pid;
    const at = performance.now();
    const main = threadSched(pid);
    const processNs = processCpu(pid).schedNs;
    const rss = rssKiB(pid);
    const m = await scrape(this.address, this.metricsPort);
    const v = (name: string): number => m.get(name) ?? 0;
    return {
      at,
      mainNs: main.runNs,
      mainWaitNs: main.waitNs,
      processNs,
      rssKiB: rss,
      bindings: v('pinlatch_phones_bindings'),
      phoneRegisters: v('pinlatch_phones_registers_total'),
      answeredLocally: v('pinlatch_phones_registers_answered_locally_total'),
      keepalivesSent: v('pinlatch_phones_keepalives_sent_total'),
      keepalivesMissed: v('pinlatch_phones_keepalives_missed_total'),
      shed: v('pinlatch_sip_shed_total'),
      registrarRegisters: await registrarRegisters(this.pbx),
    };
  }

  /**
   * Waits until pinlatch's main thread is quiet: under QUIET_PCT of a core over two consecutive
   * seconds (bounded: QUIET_BOUND_MS). A fresh pinlatch runs its JIT warm-up (sip.warmUpRounds,
   * seconds of CPU) while idle; measured as idle, it would be subtracted from the phones' cost.
   */
  async quiet(): Promise<void> {
    const deadline = performance.now() + QUIET_BOUND_MS;
    let calm = 0;
    let last = threadSched(this.pinlatch.pid).runNs;
    while (calm < 2) {
      await sleep(1000);
      const now = threadSched(this.pinlatch.pid).runNs;
      calm = (now - last) / 1e7 < QUIET_PCT ? calm + 1 : 0;
      last = now;
      if (performance.now() > deadline) {
        console.log(`  pinlatch's main thread not quiet after ${QUIET_BOUND_MS / 1000} s; measuring idle anyway`);
        return;
      }
    }
  }

  /** Heap and RSS after a full collection, with the state pinlatch holds at that moment. */
  async memory(): Promise<MemoryReading> {
    const heapBytes = await heapAfterGc(this.inspect);
    const rss = rssKiB(this.pinlatch.pid);
    const m = await scrape(this.address, this.metricsPort);
    const v = (name: string): number => m.get(name) ?? 0;
    return {
      heapKiB: heapBytes / 1024,
      rssKiB: rss,
      bindings: v('pinlatch_phones_bindings'),
      serverTransactions: v('pinlatch_sip_server_transactions'),
      clientTransactions: v('pinlatch_sip_client_transactions'),
    };
  }

  async stop(): Promise<void> {
    // SIGINT: pinlatch's clean stop, which writes a --cpu-prof profile when asked for one.
    try {
      process.kill(this.pinlatch.pid, 'SIGINT');
    } catch {
      // already gone
    }
    await Promise.race([this.pinlatch.done, sleep(10_000)]);
    await this.pinlatch.stop();
    await this.pbx.stop();
  }
}

const line = (s: Sample, t0: number): string =>
  `  t=${((s.at - t0) / 1000).toFixed(0)}s bindings=${s.bindings} registers=${s.phoneRegisters} local=${s.answeredLocally} ` +
  `registrar=${s.registrarRegisters} keepalives=${s.keepalivesSent}/${s.keepalivesMissed} missed shed=${s.shed} rss=${(s.rssKiB / 1024).toFixed(0)}MiB`;

async function runMode(o: Options, mode: 'off' | 'on', build: Build): Promise<RunFigures> {
  const dir = mkdtempSync(join(tmpdir(), `pinlatch-regbench-${mode}-`));
  const { run, sipPort } = await Run.start(o, mode, build, dir);
  let fleet: PhoneFleet | null = null;
  const stop = async (): Promise<void> => {
    await fleet?.stop();
    await run.stop();
  };
  stops.add(stop);
  try {
    console.log(`throttling ${mode}, build ${build.name} (${build.dir}): pinlatch pid ${run.pinlatch.pid}, kamailio pid ${run.pbx.pid}`);
    await run.quiet();
    const memoryBase = await run.memory();
    await sleep(500);
    const base = await run.sample();
    await sleep(IDLE_MS);
    const idle = await run.sample();
    fleet = PhoneFleet.start({
      phones: o.phones,
      perProcess: o.perSipp,
      rate: o.rate,
      target: `${run.address}:${sipPort}`,
      subnet: o.subnet,
      refreshSec: o.refreshSec,
      expiresSec: o.expiresSec,
      dir,
      command: (argv) => pinned(o.loadCpus, o.nice, argv),
    });
    const rampStart = await run.sample();
    // Bounded: three times the time the offered rate needs, and a minute more.
    const rampDeadline = rampStart.at + ((3 * o.phones) / o.rate + 60) * 1000;
    let rampEnd = rampStart;
    let lastPrint = rampStart.at;
    for (;;) {
      // Once a second: each sample scrapes pinlatch's metrics, which costs its main thread too.
      await sleep(1000);
      rampEnd = await run.sample();
      if (fleet.exited().length > 0) throw new Error(`phones stopped:\n${fleet.exited().join('\n')}`);
      if (rampEnd.bindings >= o.phones) break;
      if (rampEnd.at > rampDeadline) {
        console.log(`  ramp ended by its time bound with ${rampEnd.bindings} of ${o.phones} phones registered`);
        break;
      }
      if (rampEnd.at - lastPrint >= 10_000) {
        console.log(line(rampEnd, rampStart.at));
        lastPrint = rampEnd.at;
      }
    }
    console.log(line(rampEnd, rampStart.at));
    await sleep(o.settleSec * 1000);
    const steady: Sample[] = [await run.sample()];
    const steadyEnd = steady[0]!.at + o.steadySec * 1000;
    while (performance.now() < steadyEnd) {
      await sleep(Math.min(o.sampleSec * 1000, Math.max(0, steadyEnd - performance.now())));
      steady.push(await run.sample());
      console.log(line(steady[steady.length - 1]!, rampStart.at));
      if (fleet.exited().length > 0) throw new Error(`phones stopped:\n${fleet.exited().join('\n')}`);
    }
    const memorySteady = await run.memory();
    const counts = fleet.counts();
    return runFigures({
      mode,
      build: build.name,
      memoryBase,
      memorySteady,
      phones: o.phones,
      offeredRate: o.rate,
      base,
      idle,
      rampStart,
      rampEnd,
      steady,
      phonesFailed: counts.failed,
      retransmissions: counts.retransmissions,
    });
  } catch (err) {
    console.error(`pinlatch output (tail):\n${run.pinlatch.output()}`);
    throw err;
  } finally {
    stops.delete(stop);
    await stop();
    if (o.keep) console.log(`  kept ${dir} (pinlatch config and log, sipp statistics and error logs)`);
    else rmSync(dir, { recursive: true, force: true });
  }
}

function positive(name: string, text: string, max: number): number {
  const v = Number(text);
  if (!Number.isInteger(v) || v < 1 || v > max) throw new RegistrationsUsageError(`--${name}: an integer 1..${max}, got ${text}`);
  return v;
}

export function parseOptions(argv: string[]): Options & { out: string | undefined; markdown: boolean } {
  const cores = cpus().length;
  const { values } = parseArgs({
    args: argv,
    options: {
      phones: { type: 'string', default: '50000' },
      rate: { type: 'string', default: '500' },
      'steady-sec': { type: 'string', default: '180' },
      'settle-sec': { type: 'string', default: '60' },
      'refresh-sec': { type: 'string', default: '50' },
      'expires-sec': { type: 'string', default: '60' },
      'keepalive-sec': { type: 'string', default: '30' },
      'registrar-expires-sec': { type: 'string', default: '3600' },
      modes: { type: 'string', default: 'off,on' },
      'per-sipp': { type: 'string', default: '10000' },
      'pinlatch-cpu': { type: 'string', default: cores > 1 ? String(cores - 1) : '' },
      'load-cpus': { type: 'string', default: cores > 1 ? `0-${cores - 2}` : '' },
      'sample-sec': { type: 'string', default: '10' },
      'node-args': { type: 'string', default: '' },
      out: { type: 'string' },
      markdown: { type: 'boolean', default: false },
      keep: { type: 'boolean', default: false },
      nice: { type: 'string', default: '0' },
      subnet: { type: 'string', default: '127.0.0' },
      builds: { type: 'string', default: `this=${REPO_DIR}` },
    },
    strict: true,
  });
  const modes = values.modes.split(',');
  if (modes.length === 0 || modes.some((m) => m !== 'off' && m !== 'on')) throw new RegistrationsUsageError(`--modes: off, on or off,on; got ${values.modes}`);
  const o = {
    phones: positive('phones', values.phones, 1_000_000),
    rate: positive('rate', values.rate, 100_000),
    steadySec: positive('steady-sec', values['steady-sec'], 86_400),
    settleSec: Number(values['settle-sec']),
    refreshSec: positive('refresh-sec', values['refresh-sec'], 86_400),
    expiresSec: positive('expires-sec', values['expires-sec'], 86_400),
    keepaliveSec: positive('keepalive-sec', values['keepalive-sec'], 3600),
    registrarExpiresSec: positive('registrar-expires-sec', values['registrar-expires-sec'], 604_800),
    modes: modes as ('off' | 'on')[],
    perSipp: positive('per-sipp', values['per-sipp'], 15_000),
    pinlatchCpu: values['pinlatch-cpu'] || null,
    loadCpus: values['load-cpus'] || null,
    sampleSec: positive('sample-sec', values['sample-sec'], 3600),
    nodeArgs: values['node-args'].split(' ').filter(Boolean),
    out: values.out,
    markdown: values.markdown,
    keep: values.keep,
    nice: Number(values.nice),
    subnet: values.subnet,
    builds: values.builds.split(',').map((b) => {
      const at = b.indexOf('=');
      if (at < 1) throw new RegistrationsUsageError(`--builds: NAME=DIR[,NAME=DIR...], got ${b}`);
      return { name: b.slice(0, at), dir: b.slice(at + 1) };
    }),
  };
  if (!/^127\.\d{1,3}\.\d{1,3}$/.test(o.subnet)) throw new RegistrationsUsageError(`--subnet: three octets inside 127.0.0.0/8, got ${o.subnet}`);
  if (!Number.isInteger(o.nice) || o.nice < -20 || o.nice > 19) throw new RegistrationsUsageError(`--nice: an integer -20..19, got ${values.nice}`);
  if (!Number.isInteger(o.settleSec) || o.settleSec < 0) throw new RegistrationsUsageError(`--settle-sec: an integer >= 0, got ${values['settle-sec']}`);
  if (o.refreshSec >= o.expiresSec) throw new RegistrationsUsageError(`--refresh-sec (${o.refreshSec}) must be below --expires-sec (${o.expiresSec}): phones refresh before their registration ends`);
  return o;
}

export async function runRegistrations(argv: string[]): Promise<RunFigures[]> {
  const o = parseOptions(argv);
  const missing = [SIPP, KAMAILIO, ...o.builds.map((b) => cliOf(b.dir))].filter((f) => !existsSync(f));
  if (missing.length > 0) throw new RegistrationsUsageError(`missing: ${missing.join(', ')} (Debian sip-tester, kamailio; npx tsc -p . for dist)`);
  const runs: RunFigures[] = [];
  for (const mode of o.modes) for (const build of o.builds) runs.push(await runMode(o, mode, build));
  const reduction = registrarReduction(runs);
  const summary = [
    `machine: ${cpus().length} × ${cpus()[0]?.model ?? '?'}, Linux ${release()}, node ${process.version}`,
    `phones ${o.phones} (sipp, ${o.perSipp} per process), offered ${o.rate} registrations/s, refresh every ${o.refreshSec} s (expires ${o.expiresSec}), ` +
      `keepalive after ${o.keepaliveSec} s of silence, throttling: registrar asked ${o.registrarExpiresSec} s; pinlatch on CPU ${o.pinlatchCpu ?? 'any'}, load on ${o.loadCpus ?? 'any'}, nice ${o.nice}, subnet ${o.subnet}`,
    `builds: ${o.builds.map((b) => `${b.name}=${b.dir}`).join(', ')}`,
    o.markdown ? markdown(runs) : table(runs),
    reduction === null ? '' : `registrar REGISTERs per minute, throttling off / on: ${reduction === Infinity ? 'none reached it with throttling on' : `${reduction.toFixed(1)}x fewer`}`,
  ].join('\n');
  console.log(summary);
  if (o.out) writeFileSync(o.out, JSON.stringify({ options: o, runs, reduction: reduction === Infinity ? 'infinite' : reduction }, null, 2));
  return runs;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      console.error(`${signal}: stopping the phones, pinlatch and Kamailio`);
      void Promise.all([...stops].map((stop) => stop())).finally(() => process.exit(130));
    });
  }
  runRegistrations(process.argv.slice(2)).catch((err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exitCode = 1;
  });
}
