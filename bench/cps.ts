/**
 * cps: SIP calls per second with media anchored, pinlatch against Kamailio + rtpengine, in one run.
 *
 *   npx tsc -p . && node --import tsx bench/cps.ts [--rates 50,100,200,400] [--calls 1000]
 *        [--hold-ms 500] [--targets pinlatch,kamailio] [--kamailio-children 1] [--max-minutes 15]
 *        [--out FILE] [--node-args='--cpu-prof --cpu-prof-dir=DIR'] [--fresh] [--all-rates]
 *        [--confine] [--idle-s 60] [--no-shedding]
 *
 * Every call ends one of three ways: completed (answered, ACKed, ended with BYE), refused (the
 * relay answered the INVITE with a final error, e.g. 503 with Retry-After when it sheds load; the
 * caller ACKs it and the call is over, cleanly), or lost (neither: a timeout, an unexpected
 * message, an aborted call). `--fresh` starts every target anew for every step (a cold process
 * at every rate); `--all-rates` keeps driving a target at higher rates after a step lost calls.
 *
 * Both relays run side by side for the whole run; for every rate, the same sipp built-in `uac`
 * scenario (INVITE with SDP, ACK, pause, BYE) is driven through each of them to a sipp built-in
 * `uas` (answers with SDP). pinlatch runs as its real CLI (dist/src/cli.js) with a sip section;
 * the reference is Kamailio (tm, rr, rtpengine module) with a real rtpengine on its NG socket, both
 * from Debian. Everything is on loopback: uac 127.0.0.2, relays 127.0.0.1, uas 127.0.0.3 (pinlatch
 * recognises trunks by source address, so each role has its own address).
 *
 * CPU is read from /proc in clock ticks: pinlatch's main thread (/proc/PID/task/PID/stat, the
 * thread that does SIP) and its whole process; Kamailio's every process plus rtpengine's.
 * Memory is the highest RSS sampled during a step (summed over processes for the reference, which
 * counts Kamailio's shared memory once per process, so its PSS sum is given as well).
 *
 * `--confine` pins each relay with every thread and process it starts (pinlatch's main thread and
 * media shards; Kamailio's workers and rtpengine) to CPU 0 with taskset, and every sipp to CPU 1:
 * the relay then has one CPU, as a small edge box gives it, and does not compete with its load
 * generator. `--idle-s N` waits N seconds after each step with no calls and reads the relay's RSS
 * again: whether memory returns towards where the step started once the load stops.
 * `--no-shedding` raises pinlatch's load-shedding thresholds (limits.overload) to 60 s: on a
 * machine shared with other work, a fresh pinlatch refuses calls while other processes hold its
 * CPU, and the CPU per call of the calls it refused says nothing; this measures every call.
 */
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createSocket } from 'node:dgram';
import { tmpdir, cpus, release } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { Child } from '../test/control/child.ts';
import { KAMAILIO_MODULES, kamailioProxyConfig } from '../test/support/kamailio.ts';
import { REPO_DIR } from './lib/targets.ts';

export class CpsUsageError extends Error {
  readonly code = 'ERR_PINLATCH_BENCH_USAGE';
}

const KAMAILIO = '/usr/sbin/kamailio';
const RTPENGINE = '/usr/bin/rtpengine';
const SIPP = '/usr/bin/sipp';
const TASKSET = '/usr/bin/taskset';
/** CPU of the relays and CPU of the sipps under --confine. */
const RELAY_CPU = '0';
const SIPP_CPU = '1';

/**
 * `file args` as a Child, under `taskset -c cpu` when `cpu` is given. taskset execs the program
 * in its own process, so the pid is the program's and the affinity covers every thread and child.
 */
function spawnOn(cpu: string | null, file: string, args: string[], options: { cwd?: string } = {}): Child {
  return cpu === null ? new Child(file, args, options) : new Child(TASKSET, ['-c', cpu, file, ...args], options);
}
const CLI = join(REPO_DIR, 'dist/src/cli.js');
const SCENARIOS = fileURLToPath(new URL('../test/control/scenarios/', import.meta.url));

/**
 * The caller and callee of test/control/kamailio-interop.test.ts, with the hold taken from -d and
 * sipp's own media port in the SDP. sipp's built-in uac cannot be used: its ACK and BYE ignore the
 * Record-Route set (RFC 3261 §12.2.1.1) and go to the proxy's address without Route headers.
 * The caller also takes a 503 for its INVITE: it ACKs it (§17.1.1.3, the Via of the response,
 * so the branch of the INVITE) and the call ends there, counted as refused (-trace_counts).
 */
function writeScenarios(dir: string): { uac: string; uas: string } {
  const adapt = (name: string): string => {
    let text = readFileSync(join(SCENARIOS, name), 'latin1')
      .replace('<Global variables="rtpPort" />', '')
      .replaceAll('[$rtpPort]', '[media_port]')
      .replace(/<pause milliseconds="\d+" \/>/, '<pause />');
    if (name === 'ng-uac.xml') {
      text = text
        .replace('<recv response="100" optional="true" />', `<recv response="100" optional="true" />\n  <recv response="${REFUSED_STATUS}" optional="true" next="refused" />`)
        .replace('<recv response="180" optional="true" />', `<recv response="180" optional="true" />\n  <recv response="${REFUSED_STATUS}" optional="true" next="refused" />`)
        .replace('<recv response="200" crlf="true" />\n</scenario>', [
          '<recv response="200" crlf="true" next="done" />',
          '  <label id="refused" />',
          '  <send>',
          '    <![CDATA[',
          '      ACK sip:callee@[remote_ip]:[remote_port] SIP/2.0',
          '      [last_Via:]',
          '      From: <sip:caller@[local_ip]:[local_port]>;tag=[pid]caller[call_number]',
          '      [last_To:]',
          '      Call-ID: [call_id]',
          '      CSeq: 1 ACK',
          '      Max-Forwards: 70',
          '      Content-Length: 0',
          '',
          '    ]]>',
          '  </send>',
          '  <label id="done" />',
          '</scenario>',
        ].join('\n'));
      if (!text.includes('<label id="refused" />')) throw new Error('ng-uac.xml changed: the refused path could not be added');
    }
    const file = join(dir, `cps-${name}`);
    writeFileSync(file, text, 'latin1');
    return file;
  };
  return { uac: adapt('ng-uac.xml'), uas: adapt('ng-uas.xml') };
}

/** The final response a relay refuses a call with when it sheds load or hits a bound. */
const REFUSED_STATUS = 503;
const RELAY = '127.0.0.1';
const UAC = '127.0.0.2';
const UAS = '127.0.0.3';
const TICK_S = 0.01; // USER_HZ = 100 on Linux

/**
 * Fixed loopback ports, all outside the ephemeral range (32768-60999) so no client socket takes them,
 * and off 20000-31999 where the pps bench and tests put their relays.
 *
 * Port budget: a call holds two RTP/RTCP pairs (leg A and leg B) from its INVITE to its BYE, and
 * pinlatch keeps released pairs out of use for its 2 s quarantine (rtpengine here runs with
 * --delete-delay=0 and no quarantine). Pairs needed ≈ cps × 2 × (call lifetime + 2 s): at 800 cps
 * with a 500 ms hold about 800 × 2 × 3 = 4800. pinlatch's 2000-14999 holds 6500 pairs (enough up
 * to about 1000 cps); rtpengine's 61000-65534 holds about 2260 (rtpengine needs
 * cps × 2 × lifetime, about 1000 at 800 cps).
 */
const PORTS = {
  pinlatch: { sip: 15060, uas: 15062, uasMedia: 16000, uac: 15064, uacMedia: 16100, media: { min: 2000, max: 14999 } },
  kamailio: { sip: 15160, uas: 15162, uasMedia: 16200, uac: 15164, uacMedia: 16300, ng: 15170, media: { min: 61000, max: 65534 } },
} as const;

type TargetName = keyof typeof PORTS;

interface Usage {
  /** utime + stime in seconds. */
  cpuS: number;
  /** pinlatch's main thread only; equals cpuS for the reference. */
  mainS: number;
  rssKiB: number;
  pssKiB: number;
}

function statTicks(path: string): number {
  const stat = readFileSync(path, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]);
}

function statusKiB(pid: number, key: string, file = 'status'): number {
  const m = new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/${file}`, 'utf8'));
  return m ? Number(m[1]) : 0;
}

/** The PIDs whose parent is `pid` (Kamailio's forked workers). */
function childrenOf(pid: number): number[] {
  const found: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) found.push(Number(entry));
    } catch {
      // The process ended between readdir and read.
    }
  }
  return found;
}

abstract class Stack {
  readonly children: Child[] = [];
  constructor(readonly name: TargetName) {}
  abstract start(dir: string): Promise<void>;
  abstract usage(): Usage;
  get ports() {
    return PORTS[this.name];
  }
  async stop(): Promise<void> {
    for (const child of [...this.children].reverse()) await child.stop();
  }
  output(): string {
    return this.children.map((c) => `--- pid ${c.pid}:\n${c.output.slice(-3000)}`).join('\n');
  }
}

class PinlatchStack extends Stack {
  private pid = 0;
  /** Extra node flags for the pinlatch process (e.g. --cpu-prof while looking for hot spots). */
  constructor(private readonly nodeArgs: string[], private readonly cpu: string | null, private readonly shedding: boolean) {
    super('pinlatch');
  }
  async start(dir: string): Promise<void> {
    const p = PORTS.pinlatch;
    const config = join(dir, 'pinlatch-cps.yaml');
    writeFileSync(config, [
      'sip:',
      `  listen: [{ transport: udp, address: ${RELAY}, port: ${p.sip} }]`,
      'media:',
      `  address: ${RELAY}`,
      `  ports: { min: ${p.media.min}, max: ${p.media.max} }`,
      '  shards: 1',
      'trunks:',
      `  - { name: uas, host: ${UAS}, port: ${p.uas} }`,
      'routes:',
      '  - { trunk: uas }',
      // The calling sipp stands for the upstream PBX: only it may call the trunk, and the
      // upstream is exempt from the per-source rate limit, so what is measured is the load shedding.
      `admission: { upstreamNetworks: [${UAC}] }`,
      ...(this.shedding ? [] : ['limits: { overload: { maxQueueMs: 60000, maxLagMs: 60000 } }']),
      'log: { level: warn }',
      '',
    ].join('\n'));
    const child = spawnOn(this.cpu, process.execPath, [...this.nodeArgs, CLI, '--config', config]);
    this.children.push(child);
    this.pid = child.pid;
  }
  usage(): Usage {
    return {
      cpuS: statTicks(`/proc/${this.pid}/stat`) * TICK_S,
      mainS: statTicks(`/proc/${this.pid}/task/${this.pid}/stat`) * TICK_S,
      rssKiB: statusKiB(this.pid, 'VmRSS'),
      pssKiB: statusKiB(this.pid, 'Pss', 'smaps_rollup'),
    };
  }
}

class KamailioStack extends Stack {
  private kamailioPid = 0;
  private rtpenginePid = 0;
  constructor(private readonly workers: number, private readonly cpu: string | null) {
    super('kamailio');
  }
  async start(dir: string): Promise<void> {
    const p = PORTS.kamailio;
    const rtpengine = spawnOn(this.cpu, RTPENGINE, ['--config-file=none', '--foreground', '--log-stderr', '--log-level=4',
      '--table=-1', `--interface=${RELAY}`, `--listen-ng=${RELAY}:${p.ng}`, `--port-min=${p.media.min}`,
      `--port-max=${p.media.max}`, '--delete-delay=0', '--num-threads=1']);
    this.children.push(rtpengine);
    this.rtpenginePid = rtpengine.pid;
    const cfg = join(dir, 'kamailio-cps.cfg');
    writeFileSync(cfg, kamailioProxyConfig({
      address: RELAY, sipPort: p.sip, ngAddress: RELAY, ngPort: p.ng,
      nextHop: { address: UAS, port: p.uas }, children: this.workers,
    }));
    const kamailio = spawnOn(this.cpu, KAMAILIO, ['-f', cfg, '-D', '-E', '-m', '64', '-M', '8', '-Y', dir, '-w', dir]);
    this.children.push(kamailio);
    this.kamailioPid = kamailio.pid;
  }
  usage(): Usage {
    let ticks = 0;
    let rss = 0;
    let pss = 0;
    for (const pid of [this.kamailioPid, ...childrenOf(this.kamailioPid), this.rtpenginePid]) {
      try {
        ticks += statTicks(`/proc/${pid}/stat`);
        rss += statusKiB(pid, 'VmRSS');
        pss += statusKiB(pid, 'Pss', 'smaps_rollup');
      } catch {
        // A worker that just ended has nothing left to count.
      }
    }
    return { cpuS: ticks * TICK_S, mainS: ticks * TICK_S, rssKiB: rss, pssKiB: pss };
  }
}


/** Sends OPTIONS from the uac's address until the relay answers anything (it is then up). */
async function sipAlive(port: number, timeoutMs: number): Promise<boolean> {
  const socket = createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, UAC, () => resolve()));
  const local = socket.address().port;
  let answered = false;
  socket.on('message', (msg) => {
    if (msg.toString('latin1').startsWith('SIP/2.0 ')) answered = true;
  });
  const deadline = Date.now() + timeoutMs;
  try {
    for (let i = 1; !answered && Date.now() < deadline; i++) {
      socket.send([
        `OPTIONS sip:${RELAY}:${port} SIP/2.0`,
        `Via: SIP/2.0/UDP ${UAC}:${local};branch=z9hG4bKcpsalive${i}`,
        // Max-Forwards 0: the relay answers 483 itself (RFC 3261 §16.3 step 3), nothing is forwarded.
        'Max-Forwards: 0',
        `From: <sip:probe@${UAC}:${local}>;tag=probe${i}`,
        `To: <sip:${RELAY}:${port}>`,
        `Call-ID: cps-alive-${process.pid}-${i}`,
        `CSeq: ${i} OPTIONS`,
        'Content-Length: 0',
        '',
        '',
      ].join('\r\n'), port, RELAY);
      await new Promise((r) => setTimeout(r, 200));
    }
    return answered;
  } finally {
    socket.close();
  }
}

interface SippCounts {
  successful: number;
  failed: number;
  retransmissions: number;
}

/**
 * Calls refused: the 503s the caller received, from sipp's -trace_counts CSV (one column per
 * scenario element and outcome; the refused path's 503 receptions are named `<n>_503_Recv`).
 */
function sippRefused(dir: string): number {
  const file = readdirSync(dir).find((f) => f.startsWith('cps-ng-uac_') && f.endsWith('_counts.csv'));
  if (!file) return 0;
  const lines = readFileSync(join(dir, file), 'utf8').trim().split('\n');
  const header = lines[0]!.split(';');
  const last = lines[lines.length - 1]!.split(';');
  let refused = 0;
  header.forEach((name, i) => {
    if (new RegExp(`^\\d+_${REFUSED_STATUS}_Recv$`).test(name)) refused += Number(last[i] ?? 0);
  });
  return refused;
}

/** The cumulative counters of the last line of sipp's -trace_stat CSV. */
function sippCounts(file: string): SippCounts {
  const lines = readFileSync(file, 'utf8').trim().split('\n');
  const header = lines[0]!.split(';');
  const last = lines[lines.length - 1]!.split(';');
  const col = (name: string): number => Number(last[header.indexOf(name)] ?? NaN);
  return { successful: col('SuccessfulCall(C)'), failed: col('FailedCall(C)'), retransmissions: col('Retransmissions(C)') };
}

/** The kinds of sipp's -trace_err lines (timeouts, unexpected messages), counted. */
function sippErrors(dir: string): string {
  const file = readdirSync(dir).find((f) => f.startsWith('cps-ng-uac_') && f.endsWith('_errors.log'));
  if (!file) return '(no error log)';
  const kinds = new Map<string, number>();
  for (const line of readFileSync(join(dir, file), 'latin1').split('\n')) {
    const m = /(Aborting call.*|.*timeout.*|Unexpected .*|.*unexpected.*)/i.exec(line);
    if (!m) continue;
    // Call-IDs and times vary; the scenario element ("caller:<index>") tells where a call stopped.
    const kind = m[1]!.replace(/Call-Id: \S+/i, '').replace(/^[0-9: .\t-]+/, '').slice(0, 160);
    kinds.set(kind, (kinds.get(kind) ?? 0) + 1);
  }
  return [...kinds].sort((a, b) => b[1] - a[1]).slice(0, 8).map(([k, n]) => `  ${n} × ${k}`).join('\n');
}

interface StepResult {
  target: TargetName;
  rate: number;
  calls: number;
  successful: number;
  failed: number;
  /** Completed calls (successful in sipp's count minus the refused ones, which end cleanly too). */
  completed: number;
  /** Calls answered with a final 503. */
  refused: number;
  /** Calls neither completed nor refused. */
  lost: number;
  retransmissions: number;
  wallS: number;
  cpuS: number;
  mainS: number;
  rssKiB: number;
  pssKiB: number;
  /** RSS when the step began. */
  startRssKiB: number;
}

async function runStep(stack: Stack, dir: string, rate: number, calls: number, holdMs: number, sippCpu: string | null): Promise<StepResult> {
  const p = stack.ports;
  const stepDir = mkdtempSync(join(dir, `${stack.name}-${rate}-`));
  const stf = join(dir, `${stack.name}-${rate}-${Date.now()}.csv`);
  // Bound: the calls should take calls/rate + hold; three times that plus 30 s is a hung step.
  const boundS = Math.ceil((3 * calls) / rate + holdMs / 1000 + 30);
  const before = stack.usage();
  let rss = before.rssKiB;
  let pss = before.pssKiB;
  const sampler = setInterval(() => {
    const u = stack.usage();
    rss = Math.max(rss, u.rssKiB);
    pss = Math.max(pss, u.pssKiB);
  }, 250);
  const started = performance.now();
  const uac = spawnOn(sippCpu, SIPP, ['-sf', join(dir, 'cps-ng-uac.xml'), '-i', UAC, '-p', String(p.uac), '-mp', String(p.uacMedia),
    '-r', String(rate), '-m', String(calls), '-l', String(Math.max(100, rate * 10)), '-d', String(holdMs),
    '-nostdin', '-timeout', `${boundS}s`, '-timeout_error', '-recv_timeout', '10000',
    '-trace_stat', '-stf', stf, '-fd', '1', '-trace_counts', '-trace_err', `${RELAY}:${p.sip}`], { cwd: stepDir });
  const timer = setTimeout(() => void uac.stop(), (boundS + 10) * 1000);
  try {
    await uac.done;
  } finally {
    clearTimeout(timer);
    clearInterval(sampler);
  }
  const wallS = (performance.now() - started) / 1000;
  const after = stack.usage();
  const counts = existsSync(stf) ? sippCounts(stf) : { successful: 0, failed: calls, retransmissions: NaN };
  const refused = sippRefused(stepDir);
  if (calls - counts.successful > 0) console.error(`${stack.name} ${rate} cps, what the caller's sipp logged about its failed calls:\n${sippErrors(stepDir)}`);
  const completed = Math.max(0, counts.successful - refused);
  return {
    target: stack.name, rate, calls, ...counts,
    failed: calls - completed, completed, refused, lost: calls - completed - refused,
    wallS, cpuS: after.cpuS - before.cpuS, mainS: after.mainS - before.mainS,
    rssKiB: Math.max(rss, after.rssKiB), pssKiB: Math.max(pss, after.pssKiB), startRssKiB: before.rssKiB,
  };
}

function line(r: StepResult): string {
  const pct = (s: number): string => `${((100 * s) / r.wallS).toFixed(1)}`;
  const perCall = (s: number): string => ((1000 * s) / Math.max(1, r.calls)).toFixed(2);
  return `| ${r.target} | ${r.rate} | ${r.completed}/${r.calls} | ${r.refused} | ${r.lost} | ${r.retransmissions} | ${r.wallS.toFixed(1)} | ` +
    `${pct(r.mainS)} | ${perCall(r.mainS)} | ${pct(r.cpuS)} | ${perCall(r.cpuS)} | ${(r.rssKiB / 1024).toFixed(1)} | ${(r.pssKiB / 1024).toFixed(1)} |`;
}

const HEADER = [
  '| target | cps | completed/calls | refused | lost | retrans | wall s | main CPU % | main CPU ms/call | total CPU % | total CPU ms/call | RSS MiB | PSS MiB |',
  '|---|---|---|---|---|---|---|---|---|---|---|---|---|',
];

export async function runCps(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      rates: { type: 'string', default: '50,100,200,400' },
      calls: { type: 'string', default: '1000' },
      'hold-ms': { type: 'string', default: '500' },
      targets: { type: 'string', default: 'pinlatch,kamailio' },
      'kamailio-children': { type: 'string', default: '1' },
      'max-minutes': { type: 'string', default: '15' },
      out: { type: 'string' },
      'node-args': { type: 'string', default: '' },
      fresh: { type: 'boolean', default: false },
      'all-rates': { type: 'boolean', default: false },
      confine: { type: 'boolean', default: false },
      'idle-s': { type: 'string', default: '0' },
      'no-shedding': { type: 'boolean', default: false },
    },
    strict: true,
  });
  const rates = values.rates.split(',').map(Number);
  const calls = Number(values.calls);
  const holdMs = Number(values['hold-ms']);
  const workers = Number(values['kamailio-children']);
  const maxMs = Number(values['max-minutes']) * 60_000;
  if (rates.some((r) => !Number.isInteger(r) || r <= 0)) throw new CpsUsageError(`--rates: positive integers, got ${values.rates}`);
  if (!Number.isInteger(calls) || calls <= 0 || calls > 100_000) throw new CpsUsageError(`--calls: 1..100000, got ${values.calls}`);
  if (!Number.isInteger(holdMs) || holdMs < 0) throw new CpsUsageError(`--hold-ms: >= 0, got ${values['hold-ms']}`);
  if (!Number.isInteger(workers) || workers < 1 || workers > 16) throw new CpsUsageError(`--kamailio-children: 1..16`);
  const idleS = Number(values['idle-s']);
  if (!Number.isInteger(idleS) || idleS < 0 || idleS > 600) throw new CpsUsageError(`--idle-s: 0..600, got ${values['idle-s']}`);
  const relayCpu = values.confine ? RELAY_CPU : null;
  const sippCpu = values.confine ? SIPP_CPU : null;
  if (values.confine && cpus().length < 2) throw new CpsUsageError('--confine needs two CPUs (relay on 0, sipp on 1)');
  const names = values.targets.split(',') as TargetName[];
  for (const n of names) if (!(n in PORTS)) throw new CpsUsageError(`unknown target ${n} (pinlatch, kamailio)`);
  const missing = [SIPP, ...(values.confine ? [TASKSET] : []), ...(names.includes('kamailio') ? [KAMAILIO, RTPENGINE, `${KAMAILIO_MODULES}/rtpengine.so`] : []),
    ...(names.includes('pinlatch') ? [CLI] : [])].filter((f) => !existsSync(f));
  if (missing.length > 0) throw new CpsUsageError(`missing: ${missing.join(', ')} (Debian sip-tester, kamailio, rtpengine; npx tsc -p . for dist)`);

  const dir = mkdtempSync(join(tmpdir(), 'pinlatch-cps-'));
  const stacks: Stack[] = names.map((n) =>
    n === 'pinlatch' ? new PinlatchStack(values['node-args'].split(' ').filter(Boolean), relayCpu, !values['no-shedding']) : new KamailioStack(workers, relayCpu));
  const uases = new Map<Stack, Child>();
  const results: StepResult[] = [];
  const idleLines: string[] = [];
  const deadline = Date.now() + maxMs;
  const scenarios = writeScenarios(dir);
  const startStack = async (stack: Stack): Promise<void> => {
    await stack.start(dir);
    if (!(await sipAlive(stack.ports.sip, 15_000))) throw new Error(`${stack.name} did not answer OPTIONS:\n${stack.output()}`);
    uases.set(stack, spawnOn(sippCpu, SIPP, ['-sf', scenarios.uas, '-i', UAS, '-p', String(stack.ports.uas), '-mp', String(stack.ports.uasMedia),
      '-nostdin', '-timeout', `${Math.ceil(maxMs / 1000) + 60}s`], { cwd: dir }));
  };
  const stopStack = async (stack: Stack): Promise<void> => {
    await uases.get(stack)?.stop();
    uases.delete(stack);
    await stack.stop();
    stack.children.length = 0;
  };
  try {
    for (const stack of stacks) await startStack(stack);
    await new Promise((r) => setTimeout(r, 500));
    console.log(HEADER.join('\n'));
    const failedAt = new Set<TargetName>();
    for (const rate of rates) {
      for (const stack of stacks) {
        if (failedAt.has(stack.name)) continue;
        if (Date.now() + ((calls / rate) + holdMs / 1000 + 5) * 1000 > deadline) {
          console.log(`(stopping: --max-minutes ${values['max-minutes']} reached before ${stack.name} at ${rate} cps)`);
          continue;
        }
        if (values.fresh && results.some((r) => r.target === stack.name)) {
          await stopStack(stack);
          await startStack(stack);
          await new Promise((r) => setTimeout(r, 500));
        }
        const r = await runStep(stack, dir, rate, calls, holdMs, sippCpu);
        results.push(r);
        console.log(line(r));
        if (idleS > 0) {
          await new Promise((res) => setTimeout(res, idleS * 1000));
          const idle = stack.usage().rssKiB;
          const mib = (kib: number): string => (kib / 1024).toFixed(1);
          idleLines.push(`${stack.name} ${rate} cps: RSS ${mib(r.startRssKiB)} MiB at the start of the step, ` +
            `${mib(r.rssKiB)} at its peak, ${mib(idle)} after ${idleS} s without calls`);
          console.log(`(${idleLines.at(-1)})`);
        }
        // A rate that loses calls ends that target's sweep (higher rates would only lose more),
        // unless every rate is asked for.
        if (r.lost > 0) {
          if (!values['all-rates']) failedAt.add(stack.name);
          console.error(`${stack.name} output at ${rate} cps (tail):\n${stack.output().slice(-1500)}`);
        }
        // Let the last calls' transactions and quarantined ports expire before the next step.
        await new Promise((res) => setTimeout(res, 3000));
      }
    }
  } catch (err) {
    for (const stack of stacks) console.error(stack.output());
    throw err;
  } finally {
    for (const stack of stacks) await stopStack(stack);
    rmSync(dir, { recursive: true, force: true });
  }

  const best = (t: TargetName): string => {
    const ok = results.filter((r) => r.target === t && r.lost === 0 && r.refused === 0).map((r) => r.rate);
    return ok.length > 0 ? String(Math.max(...ok)) : 'none';
  };
  const summary = [
    `machine: ${cpus().length} × ${cpus()[0]?.model ?? '?'}, Linux ${release()}, node ${process.version}`,
    `calls per step: ${calls}, hold: ${holdMs} ms, kamailio children: ${workers}, ` +
      (values.confine ? `relays on CPU ${RELAY_CPU} (taskset, every thread), sipp on CPU ${SIPP_CPU}` : 'unconfined') +
      (values['no-shedding'] ? ', pinlatch load shedding off' : ''),
    ...idleLines,
    ...names.map((t) => `highest rate with every call completed, ${t}: ${best(t)} cps`),
    ...names.map((t) => `steps with lost calls, ${t}: ${results.filter((r) => r.target === t && r.lost > 0).map((r) => `${r.rate} cps (${r.lost})`).join(', ') || 'none'}`),
  ].join('\n');
  console.log(summary);
  if (values.out) writeFileSync(values.out, [...HEADER, ...results.map(line), '', summary, ''].join('\n'));
}

if (import.meta.url === `file://${process.argv[1]}`) {
  runCps(process.argv.slice(2)).catch((err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exitCode = 1;
  });
}
