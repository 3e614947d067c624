/**
 * One soak run: the real pinlatch CLI in a fresh process on a loopback configuration with its
 * metrics endpoint, a sipp callee behind it, the RTP peer (rtp-peer.ts) as every call's media, and
 * a sipp caller at a steady rate for the whole duration. Every interval a sample is taken (idle
 * first, then under load, then while the timers drain) and printed; at the end the samples are
 * judged (flatness.ts) and written as JSON with an SVG chart beside them.
 *
 * Addresses: <subnet>.1 pinlatch, .2 the caller (sipp and the RTP peer's caller socket), .3 the
 * callee; pinlatch recognises its trunk by source address, so each role has its own. Fixed ports
 * 17060-17299 and the media range 2000-14999 sit outside the kernel's ephemeral range and away from
 * what the other benches and the tests use; a different subnet lets two soaks run side by side.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, release, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Child } from '../../test/control/child.ts';
import { LineChild } from '../lib/line-child.ts';
import { machineCpu } from '../lib/proc-stats.ts';
import { REPO_DIR } from '../lib/targets.ts';
import type { FlatnessLimits, Judgement } from './flatness.ts';
import { readProc, readSippCounts, scrapeMetrics, type SippCounts } from './probes.ts';
import type { RtpPeerStats } from './rtp-peer.ts';
import type { SoakPhase, SoakSample } from './samples.ts';
import { uacScenario, uasScenario } from './scenarios.ts';
import { assess, judgedWindow, SETTLE_AFTER_HOLD_S } from './report.ts';

export class SoakUsageError extends Error {
  readonly code = 'ERR_PINLATCH_SOAK_USAGE';
}

const SIPP = '/usr/bin/sipp';
const PORTS = { sip: 17060, uas: 17062, uac: 17064, uasSippMedia: 17070, uacSippMedia: 17080, metrics: 17090, callerRtp: 17100, calleeRtp: 17200 };
const MEDIA_PORTS = { min: 2000, max: 14999 };
/** pinlatch keeps a released port pair out of use this long (media.quarantineMs default). */
const QUARANTINE_S = 2;
/**
 * The caller's and callee's RTP stops this long before the BYE, so that no packet races the
 * teardown even when the <exec> that starts it was late (sipp forks for it).
 */
const RTP_TAIL_MS = 2000;
const PTIME_MS = 20;
const TICK_S = 0.01; // USER_HZ = 100 on Linux
/**
 * sipp ends its run after 120 stalls of 500 ms (its watchdog); on a machine shared with other
 * work that happens within the hour without anything being wrong with the relay. Stalls still
 * show, as retransmissions and, if they last, failed calls.
 */
const SIPP_WATCHDOG = ['-watchdog_minor_maxtriggers', '1000000', '-watchdog_major_maxtriggers', '1000000'];

export interface SoakOptions {
  durationS: number;
  rate: number;
  holdS: number;
  intervalS: number;
  /** After the caller is done: long enough for Timer J/K (64·T1 = 32 s) and the dialogs' linger. */
  drainS: number;
  /** Before the first call: samples of pinlatch at rest (the fds baseline). */
  idleS: number;
  /** First three octets of the loopback addresses, e.g. 127.0.21. */
  subnet: string;
  shards: number;
  /** `built`: node dist/src/cli.js (what `pinlatch` runs); `sources`: src/cli.ts through tsx. */
  cli: 'built' | 'sources';
  limits: FlatnessLimits;
  /** JSON of the run; the SVG goes beside it (same name, .svg). */
  out: string;
  log: (line: string) => void;
  /** Ends the run early (SIGINT, SIGTERM): the children are stopped, the samples so far are kept. */
  signal?: AbortSignal;
}

export interface SoakResult {
  samples: SoakSample[];
  judgement: Judgement;
  caller: SippCounts;
  callee: SippCounts | null;
  rtp: RtpPeerStats;
  files: { json: string; svg: string };
}

export function validate(o: SoakOptions): void {
  const positive = (name: string, v: number): void => {
    if (!Number.isFinite(v) || v <= 0) throw new SoakUsageError(`--${name}: a positive number, got ${v}`);
  };
  positive('duration', o.durationS);
  positive('rate', o.rate);
  positive('interval', o.intervalS);
  if (!(o.holdS >= 3)) throw new SoakUsageError(`--hold: at least 3 s (the RTP stops ${RTP_TAIL_MS} ms before the BYE), got ${o.holdS}`);
  if (!/^127\.\d{1,3}\.\d{1,3}$/.test(o.subnet)) throw new SoakUsageError(`--subnet: three octets inside 127.0.0.0/8, got ${o.subnet}`);
  const w = judgedWindow(o.durationS, o.holdS);
  if ((w.to - w.from) / o.intervalS < 5) {
    throw new SoakUsageError(`--duration ${o.durationS}: the judged window (${w.from}-${w.to} s, after hold + ${SETTLE_AFTER_HOLD_S} s) ` +
      `must hold at least 5 samples of --interval ${o.intervalS}`);
  }
  // Two RTP/RTCP pairs per call for its life plus the quarantine, with room for bursts.
  const pairs = Math.ceil(1.5 * o.rate * 2 * (o.holdS + QUARANTINE_S + 1));
  const available = Math.floor((MEDIA_PORTS.max - MEDIA_PORTS.min + 1) / 2);
  if (pairs > available) throw new SoakUsageError(`${o.rate} cps with ${o.holdS} s holds needs about ${pairs} port pairs; the range has ${available}`);
  if (!existsSync(SIPP)) throw new SoakUsageError(`${SIPP} is missing (Debian sip-tester)`);
}

function pinlatchYaml(o: SoakOptions, relay: string, uac: string, uas: string): string {
  return [
    'sip:',
    `  listen: [{ transport: udp, address: ${relay}, port: ${PORTS.sip} }]`,
    `  advertise: ${relay}`,
    'media:',
    `  address: ${relay}`,
    `  ports: { min: ${MEDIA_PORTS.min}, max: ${MEDIA_PORTS.max} }`,
    `  shards: ${o.shards}`,
    'trunks:',
    `  - { name: callee, host: ${uas}, port: ${PORTS.uas} }`,
    'routes:',
    '  - { trunk: callee }',
    // The calling sipp stands for the upstream PBX: only it may call the trunk.
    `admission: { upstreamNetworks: [${uac}] }`,
    `metrics: { address: ${relay}, port: ${PORTS.metrics} }`,
    'log: { level: info }',
    '',
  ].join('\n');
}

/** CPU seconds of processes that may have ended (an ended one counts 0 from then on). */
function cpuOf(pids: number[]): number {
  let total = 0;
  for (const pid of pids) {
    try {
      total += readProc(pid).cpuS;
    } catch {
      // Gone: sipp's caller ends before the drain.
    }
  }
  return total;
}

/** Waits until /metrics answers (the CLI opens it last, after SIP and media). */
async function waitForMetrics(url: string, pinlatch: Child, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let exited = false;
  void pinlatch.done.then(() => (exited = true));
  for (;;) {
    try {
      await scrapeMetrics(url, 1000);
      return;
    } catch (err) {
      if (exited || Date.now() > deadline) throw new Error(`pinlatch did not come up (${String(err)}):\n${pinlatch.output.slice(-3000)}`);
    }
    await sleep(200);
  }
}

export async function runSoak(o: SoakOptions): Promise<SoakResult> {
  validate(o);
  const relay = `${o.subnet}.1`;
  const uac = `${o.subnet}.2`;
  const uas = `${o.subnet}.3`;
  const dir = mkdtempSync(join(tmpdir(), 'pinlatch-soak-'));
  const fifo = join(dir, 'rtp.fifo');
  const calls = Math.round(o.rate * o.durationS);
  const rtpMs = o.holdS * 1000 - RTP_TAIL_MS;
  const metricsUrl = `http://${relay}:${PORTS.metrics}/metrics`;
  const children: Array<{ stop(): Promise<unknown> }> = [];
  const samples: SoakSample[] = [];
  const files = { json: o.out, svg: o.out.replace(/\.json$/, '') + '.svg' };
  try {
    mkdirSync(dirname(o.out), { recursive: true });
    execFileSync('mkfifo', [fifo]);
    const scenario = { fifo, callerRtpPort: PORTS.callerRtp, calleeRtpPort: PORTS.calleeRtp, rtpMs };
    writeFileSync(join(dir, 'uac.xml'), uacScenario(scenario), 'latin1');
    writeFileSync(join(dir, 'uas.xml'), uasScenario(scenario), 'latin1');
    writeFileSync(join(dir, 'pinlatch.yaml'), pinlatchYaml(o, relay, uac, uas));

    const entry = o.cli === 'built' ? [join(REPO_DIR, 'dist/src/cli.js')] : ['--import', 'tsx', join(REPO_DIR, 'src/cli.ts')];
    if (o.cli === 'built' && !existsSync(entry[0]!)) throw new SoakUsageError(`${entry[0]} is missing: build with \`npm run build:ts\``);
    const pinlatch = new Child(process.execPath, [...entry, '--config', join(dir, 'pinlatch.yaml')], { cwd: REPO_DIR });
    children.push(pinlatch);
    await waitForMetrics(metricsUrl, pinlatch, 30_000);

    const rtp = new LineChild('rtp-peer', process.execPath, ['--import', 'tsx', join(REPO_DIR, 'bench/soak/rtp-peer.ts'),
      '--caller', `${uac}:${PORTS.callerRtp}`, '--callee', `${uas}:${PORTS.calleeRtp}`, '--fifo', fifo, '--ptime-ms', String(PTIME_MS)], REPO_DIR);
    children.push(rtp);
    await rtp.next(30_000);
    const rtpStats = async (): Promise<RtpPeerStats> => {
      rtp.send('stats');
      return rtp.next<RtpPeerStats>(10_000);
    };

    const boundS = Math.ceil(o.durationS + o.holdS + o.drainS + 120);
    const uasStats = join(dir, 'uas.csv');
    const callee = new Child(SIPP, ['-sf', join(dir, 'uas.xml'), '-i', uas, '-p', String(PORTS.uas), '-mp', String(PORTS.uasSippMedia),
      '-nostdin', ...SIPP_WATCHDOG, '-timeout', `${boundS}s`, '-trace_stat', '-stf', uasStats, '-fd', '1',
      '-trace_err', '-error_file', join(dir, 'uas-errors.log')], { cwd: dir });
    children.push(callee);

    const interval = o.intervalS * 1000;
    const started = performance.now();
    let loadStart = started + o.idleS * 1000;
    let phase: SoakPhase = 'idle';
    let caller: Child | null = null as Child | null;
    const harness = (): number[] => [rtp.pid, callee.pid, ...(caller ? [caller.pid] : [])];
    let cpuAt = performance.now();
    let cpuBefore = { pinlatch: readProc(pinlatch.pid).cpuS, harness: cpuOf(harness()), machine: machineCpu().busyTicks };
    const uacStats = join(dir, 'uac.csv');
    let callerDone = false;
    let drainEnd = Infinity;

    const sample = async (): Promise<SoakSample> => {
      const now = performance.now();
      const proc = readProc(pinlatch.pid);
      const m = await scrapeMetrics(metricsUrl);
      const r = await rtpStats();
      const c = readSippCounts(uacStats);
      const cpuNow = { pinlatch: proc.cpuS, harness: cpuOf(harness()), machine: machineCpu().busyTicks };
      const pct = (seconds: number): number => Math.round((1e7 * seconds) / Math.max(1, now - cpuAt)) / 100;
      const s: SoakSample = {
        t: Math.round(now - loadStart) / 1000,
        phase,
        rssMiB: Math.round(proc.rssMiB * 100) / 100,
        fds: proc.fds,
        cpuPct: pct(cpuNow.pinlatch - cpuBefore.pinlatch),
        harnessCpuPct: pct(Math.max(0, cpuNow.harness - cpuBefore.harness)),
        machineCpuPct: pct((cpuNow.machine - cpuBefore.machine) * TICK_S),
        ...m,
        callsStarted: c?.created ?? 0,
        callsSuccessful: c?.successful ?? 0,
        callsFailed: c?.failed ?? 0,
        rtpSent: r.sent,
        rtpDelivered: r.delivered,
      };
      cpuBefore = cpuNow;
      cpuAt = now;
      return s;
    };

    const write = (end?: { judgement: Judgement; caller: SippCounts; callee: SippCounts | null; rtp: RtpPeerStats }): void => {
      const doc = {
        command: `npm run soak -- --duration ${o.durationS} --rate ${o.rate} --hold ${o.holdS} --interval ${o.intervalS}`,
        options: { ...o, log: undefined, signal: undefined },
        machine,
        samples,
        ...end,
      };
      writeFileSync(files.json, `${JSON.stringify(doc, null, 1)}\n`);
    };

    const machine = `${cpus().length} × ${cpus()[0]?.model ?? '?'}, Linux ${release()}, node ${process.version}`;
    o.log(`pinlatch pid ${pinlatch.pid} on ${relay}:${PORTS.sip}; ${calls} calls at ${o.rate} cps, ${o.holdS} s hold, ` +
      `RTP for ${rtpMs} ms of each; a sample every ${o.intervalS} s -> ${files.json}`);
    o.log('     t  phase  RSS MiB   fds  CPU %  sessions  dialogs  trans  lag p99/max ms  calls ok/failed    RTP out/in');
    for (let n = 0; ; n++) {
      const due = started + n * interval;
      await sleep(Math.max(0, due - performance.now()), undefined, { signal: o.signal });
      if (phase === 'idle' && performance.now() >= loadStart) {
        loadStart = performance.now();
        phase = 'load';
        caller = new Child(SIPP, ['-sf', join(dir, 'uac.xml'), '-i', uac, '-p', String(PORTS.uac), '-mp', String(PORTS.uacSippMedia),
          '-r', String(o.rate), '-m', String(calls), '-l', String(Math.ceil(o.rate * (o.holdS + 10) * 2)), '-d', String(o.holdS * 1000),
          '-nostdin', ...SIPP_WATCHDOG, '-timeout', `${boundS}s`, '-timeout_error', '-recv_timeout', '32000',
          '-trace_stat', '-stf', uacStats, '-fd', '1', '-trace_err', '-error_file', join(dir, 'uac-errors.log'),
          `${relay}:${PORTS.sip}`], { cwd: dir });
        children.push(caller);
        void caller.done.then(() => (callerDone = true));
      }
      if (phase === 'load' && callerDone) {
        phase = 'drain';
        drainEnd = performance.now() + o.drainS * 1000;
      }
      const s = await sample();
      samples.push(s);
      write();
      o.log(`${s.t.toFixed(0).padStart(6)}  ${s.phase.padEnd(5)}  ${s.rssMiB.toFixed(1).padStart(7)}  ${String(s.fds).padStart(4)}  ` +
        `${s.cpuPct.toFixed(1).padStart(5)}  ${String(s.sessions).padStart(8)}  ${String(s.dialogs).padStart(7)}  ${String(s.transactions).padStart(5)}  ` +
        `${`${s.lagP99Ms.toFixed(1)}/${s.lagMaxMs.toFixed(1)}`.padStart(14)}  ${`${s.callsSuccessful}/${s.callsFailed}`.padStart(15)}  ` +
        `${`${s.rtpDelivered}/${s.rtpSent}`.padStart(13)}`);
      if (phase === 'drain' && performance.now() >= drainEnd) break;
      if (performance.now() - started > boundS * 1000) throw new Error(`soak exceeded its bound of ${boundS} s`);
    }

    const callerEnd = readSippCounts(uacStats) ?? { created: 0, successful: 0, failed: calls, current: 0 };
    const calleeEnd = readSippCounts(uasStats);
    const rtpEnd = await rtpStats();
    const { judgement, svg } = assess(samples, o, { caller: callerEnd, callee: calleeEnd, rtp: rtpEnd }, machine);
    write({ judgement, caller: callerEnd, callee: calleeEnd, rtp: rtpEnd });
    writeFileSync(files.svg, svg);
    if (!judgement.ok) {
      o.log(`pinlatch output (tail):\n${pinlatch.output.slice(-2000)}`);
      for (const name of ['uac-errors.log', 'uas-errors.log']) {
        const file = join(dir, name);
        if (existsSync(file)) o.log(`sipp ${name} (tail):\n${readFileSync(file, 'latin1').slice(-2000)}`);
      }
    }
    return { samples, judgement, caller: callerEnd, callee: calleeEnd, rtp: rtpEnd, files };
  } finally {
    for (const child of children.reverse()) await child.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
