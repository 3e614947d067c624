/**
 * cps: SIP calls per second with media anchored, pinlatch against Kamailio + rtpengine, in one run.
 *
 *   npx tsc -p . && node --import tsx bench/cps.ts [--rates 50,100,200,400] [--calls 1000] [--step-s S]
 *        [--hold-ms 500] [--targets pinlatch,kamailio,kamailio-alone] [--kamailio-children 1] [--max-minutes 15]
 *        [--out FILE.json] [--node-args='--cpu-prof --cpu-prof-dir=DIR'] [--fresh] [--all-rates]
 *        [--overload auto|CPS] [--modes cold,warm] [--relay-cpu 0] [--load-cpu 1] [--subnet 127.0.0]
 *        [--warm-up-rounds N] (pinlatch's sip.warmUpRounds; its default when not given)
 *        [--kamailio-shm-mb 1024] (Kamailio's shared memory, -m: at 64 MB its transactions ran out of it from
 *        500 cps in 10 s steps; its private memory, -M, is 32 MB)
 *        [--log-level warn] (pinlatch's log.level; with `info` its log says `warm-up done` where its
 *        SIP port opens: with --logs and --node-args='--trace-opt --trace-deopt', bench/tierup.ts
 *        counts what V8 compiled and threw away after that line)
 *        [--settle-ms 500] (from a target answering OPTIONS to its first step: a "cold" process is this young)
 *        [--idle-s 0] (after every step the relay idles this long; its RSS and, for pinlatch, V8 heap
 *        are reported at the end of the step and then; pinlatch runs with its metrics endpoint for it)
 *        [--pinlatch-dir DIR] (the checkout whose dist/src/cli.js is run as pinlatch: an A/B against another build)
 *        [--profile DIR] (pinlatch under --cpu-prof, its profiles in DIR; after the run, a flame graph and a
 *        self-time summary of its main thread for each of its steps, beside --out or in DIR: bench/lib/cps-profile.ts)
 *        [--logs DIR] (after each step, each target's output so far in DIR/STEP-TARGET-MODE-RATEcps.log: pinlatch's
 *        warnings, e.g. when it starts shedding with its queueing time and loop lag)
 *        [--step-s S] (every step lasts S seconds at its rate, rate × S calls, instead of --calls: the
 *        way an operator sizes a relay, 10 s per rate; a short burst of --calls is absorbed by the queue)
 *        [--sequential] (each target's whole sweep, then the next one's, the others stopped: no other
 *        relay's leftovers — retransmissions of its lost calls, its timers — share the relay's CPU)
 *
 * Sweep (the default): every rate of --rates through every target, a target's sweep ending at
 * its first step that lost calls. Overload (--overload): 1×, 2× and 4× the rate pinlatch can
 * carry — given, or `auto`: the highest rate of --rates at which pinlatch (one process, after a
 * warm-up step at the first rate, the rates going up) completed every call — through every target, `cold` (a fresh process
 * per step) and `warm` (one process, after a warm-up of --calls calls at half the rate).
 * A line per step is printed as it ends; --out writes every step as JSON with the chart (SVG,
 * bench/lib/cps-report.ts) beside it. The relays run pinned to --relay-cpu, the sipps to
 * --load-cpu (taskset; '' for no pinning), so a relay has one core as in the issue's measurement.
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
 * from Debian; `kamailio-alone` is the same Kamailio without the rtpengine module (no media). Everything is on loopback: uac <subnet>.2, relays <subnet>.1, uas <subnet>.3 (pinlatch
 * recognises trunks by source address, so each role has its own address; --subnet, default 127.0.0).
 *
 * CPU is read from /proc in clock ticks: pinlatch's main thread (/proc/PID/task/PID/stat, the
 * thread that does SIP) and its whole process; Kamailio's every process plus rtpengine's.
 * Memory is the highest RSS sampled during a step (summed over processes for the reference, which
 * counts Kamailio's shared memory once per process, so its PSS sum is given as well), the RSS per
 * 1,000 calls in progress (bench/lib/cps-memory.ts), and with --idle-s what is left after the load.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createSocket } from 'node:dgram';
import { tmpdir, cpus, release } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { Child } from '../test/control/child.ts';
import { KAMAILIO_MODULES, kamailioProxyConfig } from '../test/support/kamailio.ts';
import { REPO_DIR } from './lib/targets.ts';
import { udpDropsAt } from './lib/proc-stats.ts';
import { SHARD_THREAD_PREFIX } from '../src/media/shard-protocol.ts';
import { callOutcomes, refusedFromCounts } from './lib/call-outcomes.ts';
import { callsInProgress, metricValue, PeakCalls, type StepMemory } from './lib/cps-memory.ts';
import { cpsChartSvg, STEP_HEADER, stepRow, summaryLines, type CpsMode, type CpsStep } from './lib/cps-report.ts';
import { monotonicUs, writeStepProfiles, type ProfiledStep } from './lib/cps-profile.ts';

export class CpsUsageError extends Error {
  readonly code = 'ERR_PINLATCH_BENCH_USAGE';
}

const KAMAILIO = '/usr/sbin/kamailio';
const RTPENGINE = '/usr/bin/rtpengine';
const SIPP = '/usr/bin/sipp';
const TASKSET = '/usr/bin/taskset';

/** CPU pinning: the relay under test on one set of CPUs, the sipps on another ('' = not pinned). */
interface Pinning {
  relay: string;
  load: string;
}

/** `file args` as a Child, run through taskset (which execs it: the PID is the program's) when pinned. */
function pinned(cpus: string, file: string, args: string[], options: { cwd?: string } = {}): Child {
  return cpus === '' ? new Child(file, args, options) : new Child(TASKSET, ['-c', cpus, file, ...args], options);
}
const CLI_IN_CHECKOUT = 'dist/src/cli.js';
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
/**
 * The loopback addresses of the roles: <subnet>.1 the relays, .2 the caller, .3 the callee. The
 * ports are fixed, so two runs at once (other worktrees) need different subnets (--subnet).
 */
const ADDR = { relay: '127.0.0.1', uac: '127.0.0.2', uas: '127.0.0.3' };

function useSubnet(subnet: string): void {
  if (!/^127\.\d{1,3}\.\d{1,3}$/.test(subnet)) throw new CpsUsageError(`--subnet: three octets inside 127.0.0.0/8, got ${subnet}`);
  Object.assign(ADDR, { relay: `${subnet}.1`, uac: `${subnet}.2`, uas: `${subnet}.3` });
}
const TICK_S = 0.01; // USER_HZ = 100 on Linux

/**
 * Fixed loopback ports, all outside the ephemeral range (32768-60999) so no client socket takes them;
 * rtpengine's range shares 20000-29599 with the pps bench's and the tests' relays, which never run
 * beside this bench (and bind other loopback addresses: --subnet).
 *
 * Port budget: a call holds two RTP/RTCP pairs (leg A and leg B) from its INVITE to its BYE, and
 * pinlatch keeps released pairs out of use for its 2 s quarantine (rtpengine here runs with
 * --delete-delay=0 and no quarantine). Pairs needed ≈ cps × 2 × (call lifetime + 2 s): at 800 cps
 * with a 500 ms hold about 800 × 2 × 3 = 4800. pinlatch's 2000-14999 holds 6500 pairs (enough up
 * to about 1000 cps); rtpengine's 16600-29599 as many (it needs cps × 2 × lifetime, about 1000
 * at 800 cps, but when its calls back up — retransmissions, a slow step — they hold more: with
 * 61000-65534, about 2260 pairs, it ran out of ports at 800 cps and lost calls for that).
 */
const PORTS = {
  pinlatch: { sip: 15060, uas: 15062, uasMedia: 16000, uac: 15064, uacMedia: 16100, media: { min: 2000, max: 14999 } },
  kamailio: { sip: 15160, uas: 15162, uasMedia: 16200, uac: 15164, uacMedia: 16300, ng: 15170, media: { min: 16600, max: 29599 } },
  'kamailio-alone': { sip: 15260, uas: 15262, uasMedia: 16400, uac: 15264, uacMedia: 16500 },
} as const;
/** pinlatch's metrics endpoint (on the relay's address), read for its heap when --idle-s is given. */
const PINLATCH_METRICS_PORT = 15090;

type TargetName = keyof typeof PORTS;

interface Usage {
  /** utime + stime in seconds. */
  cpuS: number;
  /** pinlatch's main thread only; equals cpuS for the reference. */
  mainS: number;
  /** pinlatch's media shard threads (named pl-shard-N); null for the reference. */
  shardS: number | null;
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

/** utime + stime ticks of the live threads of `pid` whose name starts with `prefix`. */
function threadTicks(pid: number, prefix: string): number {
  let ticks = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      if (readFileSync(`/proc/${pid}/task/${tid}/comm`, 'utf8').startsWith(prefix)) ticks += statTicks(`/proc/${pid}/task/${tid}/stat`);
    } catch {
      // The thread ended between readdir and read.
    }
  }
  return ticks;
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
  /** CPUs the relay's processes run on (taskset -c), '' for any. */
  cpus = '';
  /** From SIGTERM to SIGKILL: a process under --cpu-prof writes its profile as it exits. */
  stopGraceMs = 2000;
  constructor(readonly name: TargetName) {}
  abstract start(dir: string): Promise<void>;
  abstract usage(): Usage;
  /** V8 heap used in bytes, for a target that reports one. */
  async heapUsedBytes(): Promise<number | null> {
    return null;
  }
  get ports() {
    return PORTS[this.name];
  }
  async stop(): Promise<void> {
    for (const child of [...this.children].reverse()) await child.stop(this.stopGraceMs);
  }
  output(): string {
    return this.children.map((c) => `--- pid ${c.pid}:\n${c.output.slice(-3000)}`).join('\n');
  }
}

class PinlatchStack extends Stack {
  pid = 0;
  /**
   * Extra node flags for the pinlatch process (e.g. --cpu-prof while looking for hot spots), and
   * its sip.warmUpRounds (null: its default) and log level.
   */
  constructor(
    private readonly cli: string,
    private readonly nodeArgs: string[],
    private readonly warmUpRounds: number | null,
    private readonly withMetrics: boolean,
    private readonly logLevel: string,
  ) {
    super('pinlatch');
  }
  async start(dir: string): Promise<void> {
    const p = PORTS.pinlatch;
    const config = join(dir, 'pinlatch-cps.yaml');
    writeFileSync(config, [
      'sip:',
      `  listen: [{ transport: udp, address: ${ADDR.relay}, port: ${p.sip} }]`,
      ...(this.warmUpRounds === null ? [] : [`  warmUpRounds: ${this.warmUpRounds}`]),
      'media:',
      `  address: ${ADDR.relay}`,
      `  ports: { min: ${p.media.min}, max: ${p.media.max} }`,
      '  shards: 1',
      'trunks:',
      `  - { name: uas, host: ${ADDR.uas}, port: ${p.uas} }`,
      'routes:',
      '  - { trunk: uas }',
      // The calling sipp stands for the upstream PBX: only it may call the trunk, and the
      // upstream is exempt from the per-source rate limit, so what is measured is the load shedding.
      `admission: { upstreamNetworks: [${ADDR.uac}] }`,
      `log: { level: ${this.logLevel} }`,
      ...(this.withMetrics ? [`metrics: { address: ${ADDR.relay}, port: ${PINLATCH_METRICS_PORT} }`] : []),
      '',
    ].join('\n'));
    const child = pinned(this.cpus, process.execPath, [...this.nodeArgs, this.cli, '--config', config]);
    this.children.push(child);
    this.pid = child.pid;
  }
  usage(): Usage {
    return {
      cpuS: statTicks(`/proc/${this.pid}/stat`) * TICK_S,
      mainS: statTicks(`/proc/${this.pid}/task/${this.pid}/stat`) * TICK_S,
      shardS: threadTicks(this.pid, SHARD_THREAD_PREFIX) * TICK_S,
      rssKiB: statusKiB(this.pid, 'VmRSS'),
      pssKiB: statusKiB(this.pid, 'Pss', 'smaps_rollup'),
    };
  }
  override async heapUsedBytes(): Promise<number | null> {
    if (!this.withMetrics) return null;
    const body = await (await fetch(`http://${ADDR.relay}:${PINLATCH_METRICS_PORT}/metrics`, { signal: AbortSignal.timeout(60_000) })).text();
    return metricValue(body, 'pinlatch_nodejs_heap_size_used_bytes');
  }
}

/**
 * The reference's configuration without its media: every line that loads, configures or calls the
 * rtpengine module is left out (each such call stands on a line of its own in
 * test/support/kamailio.ts), then the reply and failure routes, which only held such calls, and
 * the lines that armed them (Kamailio refuses an empty route block). Kamailio relays the SDP untouched.
 */
function withoutMedia(cfg: string): string {
  const kept = cfg.split('\n').filter((line) => !/rtpengine|t_on_reply|t_on_failure/.test(line)).join('\n')
    .replace(/^(onreply_route|failure_route)\[\w+\] \{\n\}\n?/gm, '');
  if (!kept.includes('record_route();') || !kept.includes('t_relay();') || /route\[\w+\] \{\n\}/.test(kept)) {
    throw new Error('kamailioProxyConfig changed: its media lines could not be left out');
  }
  return kept;
}

class KamailioStack extends Stack {
  private kamailioPid = 0;
  private rtpenginePid: number | null = null;
  /** `withMedia` false: Kamailio alone, no rtpengine (target kamailio-alone). */
  /**
   * `shmMb`: Kamailio's shared memory (-m), where tm keeps its transactions. At Debian's default
   * of 64 MB, 10 s steps from 500 cps on ran it out ("build_cell(): could not allocate shared
   * memory from shm pool", new transactions failing with 500) and calls were lost for that, not
   * for CPU; an operator sizing Kamailio for that rate gives it more.
   */
  constructor(private readonly workers: number, private readonly withMedia: boolean, private readonly shmMb: number) {
    super(withMedia ? 'kamailio' : 'kamailio-alone');
  }
  async start(dir: string): Promise<void> {
    const p = PORTS.kamailio;
    const own = this.ports;
    if (this.withMedia) {
      const rtpengine = pinned(this.cpus, RTPENGINE, ['--config-file=none', '--foreground', '--log-stderr', '--log-level=4',
        '--table=-1', `--interface=${ADDR.relay}`, `--listen-ng=${ADDR.relay}:${p.ng}`, `--port-min=${p.media.min}`,
        `--port-max=${p.media.max}`, '--delete-delay=0', '--num-threads=1']);
      this.children.push(rtpengine);
      this.rtpenginePid = rtpengine.pid;
    }
    const cfg = join(dir, `${this.name}-cps.cfg`);
    const text = kamailioProxyConfig({
      address: ADDR.relay, sipPort: own.sip, ngAddress: ADDR.relay, ngPort: p.ng,
      nextHop: { address: ADDR.uas, port: own.uas }, children: this.workers,
    });
    writeFileSync(cfg, this.withMedia ? text : withoutMedia(text));
    const runDir = mkdtempSync(join(dir, `${this.name}-run-`));
    const kamailio = pinned(this.cpus, KAMAILIO, ['-f', cfg, '-D', '-E', '-m', String(this.shmMb), '-M', '32', '-Y', runDir, '-w', runDir]);
    this.children.push(kamailio);
    this.kamailioPid = kamailio.pid;
  }
  usage(): Usage {
    let ticks = 0;
    let rss = 0;
    let pss = 0;
    for (const pid of [this.kamailioPid, ...childrenOf(this.kamailioPid), ...(this.rtpenginePid === null ? [] : [this.rtpenginePid])]) {
      try {
        ticks += statTicks(`/proc/${pid}/stat`);
        rss += statusKiB(pid, 'VmRSS');
        pss += statusKiB(pid, 'Pss', 'smaps_rollup');
      } catch {
        // A worker that just ended has nothing left to count.
      }
    }
    return { cpuS: ticks * TICK_S, mainS: ticks * TICK_S, shardS: null, rssKiB: rss, pssKiB: pss };
  }
}


/** Sends OPTIONS from the uac's address until the relay answers anything (it is then up). */
async function sipAlive(port: number, timeoutMs: number): Promise<boolean> {
  const socket = createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, ADDR.uac, () => resolve()));
  const local = socket.address().port;
  let answered = false;
  socket.on('message', (msg) => {
    if (msg.toString('latin1').startsWith('SIP/2.0 ')) answered = true;
  });
  const deadline = Date.now() + timeoutMs;
  try {
    for (let i = 1; !answered && Date.now() < deadline; i++) {
      socket.send([
        `OPTIONS sip:${ADDR.relay}:${port} SIP/2.0`,
        `Via: SIP/2.0/UDP ${ADDR.uac}:${local};branch=z9hG4bKcpsalive${i}`,
        // Max-Forwards 0: the relay answers 483 itself (RFC 3261 §16.3 step 3), nothing is forwarded.
        'Max-Forwards: 0',
        `From: <sip:probe@${ADDR.uac}:${local}>;tag=probe${i}`,
        `To: <sip:${ADDR.relay}:${port}>`,
        `Call-ID: cps-alive-${process.pid}-${i}`,
        `CSeq: ${i} OPTIONS`,
        'Content-Length: 0',
        '',
        '',
      ].join('\r\n'), port, ADDR.relay);
      await new Promise((r) => setTimeout(r, 200));
    }
    return answered;
  } finally {
    socket.close();
  }
}

/** The kinds of sipp's -trace_err lines (timeouts, unexpected messages), counted. */
function sippErrors(dir: string): string {
  const file = readdirSync(dir).find((f) => f.startsWith('cps-ng-uac_') && f.endsWith('_errors.log'));
  if (!file) return '(no error log)';
  const kinds = new Map<string, number>();
  // sipp starts every entry with a date and a tab, not always on a new line.
  for (const entry of readFileSync(join(dir, file), 'latin1').split(/\n|(?=\d{4}-\d\d-\d\d\t)/)) {
    const m = /(Aborting call.*|.*timeout.*|Unexpected .*|.*unexpected.*)/i.exec(entry);
    if (!m) continue;
    // Call-IDs and times vary; the scenario element ("caller:<index>") tells where a call stopped.
    const kind = m[1]!.replace(/Call-Id: \S+/i, '').replace(/^[0-9: .\t'-]+/, '').slice(0, 160).trim();
    kinds.set(kind, (kinds.get(kind) ?? 0) + 1);
  }
  return [...kinds].sort((a, b) => b[1] - a[1]).slice(0, 8).map(([k, n]) => `  ${n} × ${k}`).join('\n');
}

interface StepPlan {
  rate: number;
  calls: number;
  holdMs: number;
  mode: CpsMode;
  multiple: number | null;
}

async function runStep(stack: Stack, dir: string, plan: StepPlan, loadCpus: string): Promise<CpsStep> {
  const { rate, calls, holdMs } = plan;
  const p = stack.ports;
  const stepDir = mkdtempSync(join(dir, `${stack.name}-${rate}-`));
  const stf = join(stepDir, `stat.csv`);
  // Bound: the calls should take calls/rate + hold; three times that plus 30 s is a hung step.
  const boundS = Math.ceil((3 * calls) / rate + holdMs / 1000 + 30);
  const before = stack.usage();
  const dropsBefore = udpDropsAt(ADDR.relay, p.sip);
  let rss = before.rssKiB;
  let pss = before.pssKiB;
  const peak = new PeakCalls();
  const sampler = setInterval(() => {
    const u = stack.usage();
    rss = Math.max(rss, u.rssKiB);
    pss = Math.max(pss, u.pssKiB);
    if (existsSync(stf)) peak.observe(callsInProgress(readFileSync(stf, 'utf8')), u.rssKiB);
  }, 250);
  const started = performance.now();
  const uac = pinned(loadCpus, SIPP, ['-sf', join(dir, 'cps-ng-uac.xml'), '-i', ADDR.uac, '-p', String(p.uac), '-mp', String(p.uacMedia),
    '-r', String(rate), '-m', String(calls), '-l', String(Math.max(100, rate * 10)), '-d', String(holdMs),
    '-nostdin', '-timeout', `${boundS}s`, '-timeout_error', '-recv_timeout', '10000',
    '-trace_stat', '-stf', stf, '-fd', '1', '-trace_counts', '-trace_err', `${ADDR.relay}:${p.sip}`], { cwd: stepDir });
  const timer = setTimeout(() => void uac.stop(), (boundS + 10) * 1000);
  try {
    await uac.done;
  } finally {
    clearTimeout(timer);
    clearInterval(sampler);
  }
  const wallS = (performance.now() - started) / 1000;
  const after = stack.usage();
  const countsFile = readdirSync(stepDir).find((f) => f.startsWith('cps-ng-uac_') && f.endsWith('_counts.csv'));
  const refused = countsFile ? refusedFromCounts(readFileSync(join(stepDir, countsFile), 'utf8'), [REFUSED_STATUS]) : 0;
  const outcomes = callOutcomes(calls, existsSync(stf) ? readFileSync(stf, 'utf8') : null, refused);
  if (outcomes.lost > 0) console.error(`${stack.name} ${rate} cps, what the caller's sipp logged about its lost calls:\n${sippErrors(stepDir)}`);
  return {
    target: stack.name, mode: plan.mode, rate, multiple: plan.multiple, ...outcomes,
    wallS, cpuS: after.cpuS - before.cpuS, mainS: after.mainS - before.mainS,
    shardS: after.shardS === null || before.shardS === null ? null : after.shardS - before.shardS,
    rssKiB: Math.max(rss, after.rssKiB), pssKiB: Math.max(pss, after.pssKiB),
    sipDrops: udpDropsAt(ADDR.relay, p.sip) - dropsBefore,
    memory: {
      rssStartKiB: before.rssKiB, peakCalls: peak.calls, rssAtPeakKiB: peak.rssKiB,
      idleS: 0, rssEndKiB: null, rssIdleKiB: null, heapEndBytes: null, heapIdleBytes: null,
    },
  };
}

/**
 * What the relay holds right after its last call and after `idleS` seconds without calls. The
 * idle wait replaces the pause between steps; no garbage collection is forced (what V8 does by
 * itself once the allocation stops is part of what is measured).
 */
async function idleAfter(stack: Stack, idleS: number): Promise<Pick<StepMemory, 'idleS' | 'rssEndKiB' | 'rssIdleKiB' | 'heapEndBytes' | 'heapIdleBytes'>> {
  const rssEndKiB = stack.usage().rssKiB;
  const heapEndBytes = await stack.heapUsedBytes();
  await new Promise((res) => setTimeout(res, idleS * 1000));
  return { idleS, rssEndKiB, heapEndBytes, rssIdleKiB: stack.usage().rssKiB, heapIdleBytes: await stack.heapUsedBytes() };
}

/** The overload multiples of the rate pinlatch can carry (issue 9: 1×, 2× and 4×). */
const OVERLOAD_MULTIPLES = [1, 2, 4] as const;

export async function runCps(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      rates: { type: 'string', default: '50,100,200,400' },
      calls: { type: 'string', default: '1000' },
      'step-s': { type: 'string', default: '0' },
      'hold-ms': { type: 'string', default: '500' },
      targets: { type: 'string', default: 'pinlatch,kamailio' },
      'kamailio-children': { type: 'string', default: '1' },
      'max-minutes': { type: 'string', default: '15' },
      out: { type: 'string' },
      'node-args': { type: 'string', default: '' },
      fresh: { type: 'boolean', default: false },
      'all-rates': { type: 'boolean', default: false },
      sequential: { type: 'boolean', default: false },
      overload: { type: 'string' },
      modes: { type: 'string', default: 'cold,warm' },
      'relay-cpu': { type: 'string', default: '0' },
      'load-cpu': { type: 'string', default: '1' },
      subnet: { type: 'string', default: '127.0.0' },
      'warm-up-rounds': { type: 'string' },
      'settle-ms': { type: 'string', default: '500' },
      'log-level': { type: 'string', default: 'warn' },
      'kamailio-shm-mb': { type: 'string', default: '1024' },
      'idle-s': { type: 'string', default: '0' },
      'pinlatch-dir': { type: 'string', default: REPO_DIR },
      profile: { type: 'string' },
      logs: { type: 'string' },
    },
    strict: true,
  });
  useSubnet(values.subnet);
  const rates = values.rates.split(',').map(Number);
  const calls = Number(values.calls);
  const holdMs = Number(values['hold-ms']);
  const workers = Number(values['kamailio-children']);
  const maxMs = Number(values['max-minutes']) * 60_000;
  if (rates.some((r) => !Number.isInteger(r) || r <= 0)) throw new CpsUsageError(`--rates: positive integers, got ${values.rates}`);
  if (!Number.isInteger(calls) || calls <= 0 || calls > 100_000) throw new CpsUsageError(`--calls: 1..100000, got ${values.calls}`);
  // --step-s: every step lasts as long at its rate (the issue's 10 s steps), instead of a fixed number of calls.
  const stepS = Number(values['step-s']);
  if (!(stepS >= 0) || rates.some((r) => r * stepS > 100_000)) throw new CpsUsageError(`--step-s: 0 (off) or seconds with rate × seconds ≤ 100000, got ${values['step-s']}`);
  const callsAt = (rate: number): number => (stepS > 0 ? Math.max(1, Math.round(rate * stepS)) : calls);
  if (!Number.isInteger(holdMs) || holdMs < 0) throw new CpsUsageError(`--hold-ms: >= 0, got ${values['hold-ms']}`);
  if (!Number.isInteger(workers) || workers < 1 || workers > 16) throw new CpsUsageError(`--kamailio-children: 1..16`);
  const overload = values.overload === undefined ? null : values.overload === 'auto' ? 'auto' : Number(values.overload);
  if (overload !== null && overload !== 'auto' && !(Number.isInteger(overload) && overload > 0)) {
    throw new CpsUsageError(`--overload: auto or a positive integer (cps), got ${values.overload}`);
  }
  const modes = values.modes.split(',') as CpsMode[];
  if (modes.length === 0 || modes.some((m) => m !== 'cold' && m !== 'warm')) throw new CpsUsageError(`--modes: cold, warm or both, got ${values.modes}`);
  const warmUpRounds = values['warm-up-rounds'] === undefined ? null : Number(values['warm-up-rounds']);
  if (warmUpRounds !== null && !(Number.isInteger(warmUpRounds) && warmUpRounds >= 0)) throw new CpsUsageError(`--warm-up-rounds: >= 0, got ${values['warm-up-rounds']}`);
  const logLevel = values['log-level'];
  if (!['fatal', 'error', 'warn', 'info', 'debug', 'trace'].includes(logLevel)) throw new CpsUsageError(`--log-level: a pino level, got ${logLevel}`);
  const kamailioShmMb = Number(values['kamailio-shm-mb']);
  if (!Number.isInteger(kamailioShmMb) || kamailioShmMb < 64) throw new CpsUsageError(`--kamailio-shm-mb: an integer >= 64, got ${values['kamailio-shm-mb']}`);
  const settleMs = Number(values['settle-ms']);
  if (!Number.isInteger(settleMs) || settleMs < 0) throw new CpsUsageError(`--settle-ms: >= 0, got ${values['settle-ms']}`);
  const idleS = Number(values['idle-s']);
  if (!Number.isInteger(idleS) || idleS < 0 || idleS > 600) throw new CpsUsageError(`--idle-s: 0..600, got ${values['idle-s']}`);
  const cli = join(values['pinlatch-dir'], CLI_IN_CHECKOUT);
  const pinning: Pinning = { relay: values['relay-cpu'], load: values['load-cpu'] };
  for (const cpusArg of [pinning.relay, pinning.load]) {
    if (cpusArg !== '' && !/^\d+([-,]\d+)*$/.test(cpusArg)) throw new CpsUsageError(`--relay-cpu/--load-cpu: a CPU list for taskset -c, got ${cpusArg}`);
  }
  if (values.out !== undefined && !values.out.endsWith('.json')) throw new CpsUsageError(`--out: a .json file (the chart goes beside it as .svg), got ${values.out}`);
  const names = values.targets.split(',') as TargetName[];
  for (const n of names) if (!(n in PORTS)) throw new CpsUsageError(`unknown target ${n} (${Object.keys(PORTS).join(', ')})`);
  if (overload === 'auto' && !names.includes('pinlatch')) throw new CpsUsageError('--overload auto measures pinlatch: add it to --targets, or give the rate');
  const profileDir = values.profile === undefined ? null : resolve(values.profile);
  const logsDir = values.logs === undefined ? null : resolve(values.logs);
  if (logsDir !== null) mkdirSync(logsDir, { recursive: true });
  if (profileDir !== null && !names.includes('pinlatch')) throw new CpsUsageError('--profile profiles pinlatch: add it to --targets');
  if (profileDir !== null) mkdirSync(profileDir, { recursive: true });
  const nodeArgs = [...values['node-args'].split(' ').filter(Boolean), ...(profileDir === null ? [] : ['--cpu-prof', `--cpu-prof-dir=${profileDir}`])];
  const missing = [SIPP, ...(pinning.relay !== '' || pinning.load !== '' ? [TASKSET] : []),
    ...(names.includes('kamailio') ? [KAMAILIO, RTPENGINE, `${KAMAILIO_MODULES}/rtpengine.so`] : []),
    ...(names.includes('kamailio-alone') ? [KAMAILIO] : []),
    ...(names.includes('pinlatch') ? [cli] : [])].filter((f) => !existsSync(f));
  if (missing.length > 0) throw new CpsUsageError(`missing: ${missing.join(', ')} (Debian sip-tester, kamailio, rtpengine, util-linux; npx tsc -p . for dist)`);

  const dir = mkdtempSync(join(tmpdir(), 'pinlatch-cps-'));
  const stacks = new Map<TargetName, Stack>(names.map((n) => {
    const stack = n === 'pinlatch'
      ? new PinlatchStack(cli, nodeArgs, warmUpRounds, idleS > 0, logLevel)
      : new KamailioStack(workers, n === 'kamailio', kamailioShmMb);
    stack.cpus = pinning.relay;
    if (profileDir !== null) stack.stopGraceMs = 30_000;
    return [n, stack];
  }));
  const uases = new Map<Stack, Child>();
  const steps: CpsStep[] = [];
  const profiled: ProfiledStep[] = [];
  const deadline = Date.now() + maxMs;
  const scenarios = writeScenarios(dir);
  const running = new Set<Stack>();
  const startStack = async (stack: Stack): Promise<void> => {
    await stack.start(dir);
    running.add(stack);
    if (!(await sipAlive(stack.ports.sip, 15_000))) throw new Error(`${stack.name} did not answer OPTIONS:\n${stack.output()}`);
    uases.set(stack, pinned(pinning.load, SIPP, ['-sf', scenarios.uas, '-i', ADDR.uas, '-p', String(stack.ports.uas), '-mp', String(stack.ports.uasMedia),
      '-nostdin', '-timeout', `${Math.ceil(maxMs / 1000) + 60}s`], { cwd: dir }));
    await new Promise((r) => setTimeout(r, settleMs));
  };
  const stopStack = async (stack: Stack): Promise<void> => {
    await uases.get(stack)?.stop();
    uases.delete(stack);
    await stack.stop();
    stack.children.length = 0;
    running.delete(stack);
  };
  /** A fresh process for the step (cold), or the running one (started if it is not). */
  const ready = async (stack: Stack, fresh: boolean): Promise<void> => {
    if (fresh && running.has(stack)) await stopStack(stack);
    if (!running.has(stack)) await startStack(stack);
  };
  const step = async (stack: Stack, plan: StepPlan): Promise<CpsStep | null> => {
    if (Date.now() + (plan.calls / plan.rate + plan.holdMs / 1000 + 5) * 1000 > deadline) {
      console.log(`(stopping: --max-minutes ${values['max-minutes']} reached before ${stack.name} ${plan.mode} at ${plan.rate} cps)`);
      return null;
    }
    console.log(`… ${stack.name} ${plan.mode} ${plan.rate} cps${plan.multiple === null ? '' : ` (${plan.multiple}×)`}, ${plan.calls} calls`);
    const fromUs = monotonicUs();
    const r = await runStep(stack, dir, plan, pinning.load);
    if (profileDir !== null && stack instanceof PinlatchStack) profiled.push({ step: r, pid: stack.pid, window: { fromUs, toUs: monotonicUs() } });
    if (r.lost > 0) console.error(`${stack.name} output at ${plan.rate} cps (tail):\n${stack.output().slice(-1500)}`);
    if (logsDir !== null) {
      writeFileSync(join(logsDir, `${steps.length + 1}-${stack.name}-${plan.mode}-${plan.rate}cps.log`), stack.children.map((c) => `--- pid ${c.pid}\n${c.output}`).join('\n'));
    }
    // Let the last calls' transactions and quarantined ports expire before the next step.
    if (idleS > 0) Object.assign(r.memory, await idleAfter(stack, Math.max(3, idleS)));
    else await new Promise((res) => setTimeout(res, 3000));
    steps.push(r);
    console.log(stepRow(r));
    return r;
  };
  /**
   * Every rate through every target, interleaved (both see the machine at the same time; the
   * targets not stepping stay up on the same CPU), or with --sequential one target's rates after
   * the other's, alone on its CPU. A target's sweep ends at a step that lost calls (unless
   * --all-rates), or, with `untilRefused`, at one that did not complete every call.
   */
  const sweepRates = async (targets: Stack[], untilRefused: boolean): Promise<void> => {
    const done = new Set<Stack>();
    const sweep = async (stack: Stack, rate: number): Promise<void> => {
      if (done.has(stack)) return;
      const cold = values.fresh || !running.has(stack);
      await ready(stack, values.fresh);
      const r = await step(stack, { rate, calls: callsAt(rate), holdMs, mode: cold ? 'cold' : 'warm', multiple: null });
      if (r === null || (untilRefused ? r.completed < r.calls : r.lost > 0 && !values['all-rates'])) done.add(stack);
    };
    if (values.sequential) {
      for (const stack of targets) {
        for (const rate of rates) await sweep(stack, rate);
        await stopStack(stack);
      }
      return;
    }
    for (const rate of rates) for (const stack of targets) await sweep(stack, rate);
    for (const stack of targets) await stopStack(stack);
  };

  console.log(`pinning: relay on CPU ${pinning.relay || 'any'}, sipp on CPU ${pinning.load || 'any'}`);
  console.log(STEP_HEADER);
  let capacity: number | null = null;
  try {
    if (overload === null) {
      await sweepRates([...stacks.values()], false);
    } else {
      if (overload === 'auto') {
        // The capacity is a warm process's: one process, warmed up at the first rate, then the rates.
        const pinlatch = stacks.get('pinlatch')!;
        await ready(pinlatch, true);
        await step(pinlatch, { rate: rates[0]!, calls: callsAt(rates[0]!), holdMs, mode: 'warmup', multiple: null });
        await sweepRates([pinlatch], true);
        const carried = steps.filter((s) => s.target === 'pinlatch' && s.mode !== 'warmup' && s.completed === s.calls).map((s) => s.rate);
        if (carried.length === 0) throw new Error(`pinlatch completed every call at none of --rates ${values.rates}: no capacity to base the overload steps on`);
        capacity = Math.max(...carried);
        console.log(`capacity: pinlatch completed every call up to ${capacity} cps (the steps above); overload steps at ${OVERLOAD_MULTIPLES.map((m) => m * capacity!).join(', ')} cps`);
      } else {
        capacity = overload;
      }
      const base = capacity;
      for (const mode of modes) {
        if (mode === 'warm') {
          for (const stack of stacks.values()) {
            await ready(stack, true);
            await step(stack, { rate: Math.max(1, Math.round(base / 2)), calls: callsAt(Math.max(1, Math.round(base / 2))), holdMs, mode: 'warmup', multiple: null });
          }
        }
        for (const multiple of OVERLOAD_MULTIPLES) {
          for (const stack of stacks.values()) {
            await ready(stack, mode === 'cold');
            await step(stack, { rate: multiple * base, calls: callsAt(multiple * base), holdMs, mode, multiple });
          }
        }
        for (const stack of stacks.values()) await stopStack(stack);
      }
    }
  } catch (err) {
    for (const stack of stacks.values()) console.error(stack.output());
    throw err;
  } finally {
    for (const stack of running) await stopStack(stack);
    rmSync(dir, { recursive: true, force: true });
  }

  const machine = `${cpus().length} × ${cpus()[0]?.model ?? '?'}, Linux ${release()}, node ${process.version}`;
  // What the reference was given: its losses in earlier runs came from too little of these, not from CPU.
  const reference = `Kamailio -m ${kamailioShmMb} -M 32, ${workers} worker(s); rtpengine ports ${PORTS.kamailio.media.min}-${PORTS.kamailio.media.max}, 1 thread`;
  const summary = [
    `machine: ${machine}`,
    `reference: ${reference}`,
    `calls per step: ${stepS > 0 ? `${stepS} s at the step's rate` : calls}, hold: ${holdMs} ms, kamailio children: ${workers}${idleS > 0 ? `, idle after each step: ${Math.max(3, idleS)} s` : ''}`,
    `pinlatch: ${cli}`,
    ...(capacity === null ? [] : [`overload base (1×): ${capacity} cps`]),
    ...summaryLines(steps),
  ];
  console.log(summary.join('\n'));
  if (values.out) {
    const json = values.out;
    const svg = json.replace(/\.json$/, '.svg');
    const lost = steps.reduce((n, s) => n + (s.mode === 'warmup' ? 0 : s.lost), 0);
    writeFileSync(json, `${JSON.stringify({ argv, machine, reference, calls, stepS, holdMs, pinning, capacity, steps }, null, 2)}\n`);
    writeFileSync(svg, cpsChartSvg({
      steps,
      title: capacity === null
        ? `cps: ${stepS > 0 ? `${stepS} s` : `${calls} calls`} per step, ${lost} lost`
        : `cps overload: 1×, 2×, 4× of ${capacity} cps, ${stepS > 0 ? `${stepS} s` : `${calls} calls`} per step — ${lost} calls lost in all`,
      subtitle: `${[...stacks.keys()].join(' vs ')}; relay pinned to CPU ${pinning.relay || 'any'}, sipp to ${pinning.load || 'any'}; ${machine}`,
    }));
    console.log(`wrote ${json} and ${svg}`);
  }
  if (profileDir !== null) {
    const stem = values.out ? values.out.replace(/\.json$/, '') : join(profileDir, 'flame-cps');
    const subtitle = `pinlatch under --cpu-prof, relay on CPU ${pinning.relay || 'any'}; ${machine}`;
    for (const line of writeStepProfiles(profileDir, profiled, stem, subtitle)) console.log(line);
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  runCps(process.argv.slice(2)).catch((err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exitCode = 1;
  });
}
