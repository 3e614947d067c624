/**
 * Forking over two trunks end to end (RFC 3261 §16.6–16.7, docs/routing.md "Forking"): the built
 * CLI (`node dist/src/cli.js --config FILE`, what the published `pinlatch` bin runs; `npx tsc`
 * builds it) in the NAT topology of test/support/netns.ts, a sipp caller on the PBX, and two sipp
 * gateways behind the NAT router as trunk a (port 5060) and trunk b (port 5080), both pinned.
 * Serial failover on 503 and on silence (`failoverAfterMs`), a parallel fork that B wins while A
 * rings (A gets CANCEL, answers 487), a 200 that A sends all the same (pinlatch ACKs it and ends it
 * with BYE), and a parallel fork nobody answers (486 beats 503).
 */
import * as assert from 'uvu/assert';
import type { ChildProcess } from 'node:child_process';
import { suite } from '../support/suite.ts';
import { createNatTopology, type NatTopology } from '../support/netns.ts';
import type { SippOptions, SippResult, SippRun } from '../support/sipp.ts';
import { E2eRun, type RtpResult } from './harness.ts';

/** Router ports forwarded to the gateway host: trunk a, the silent trunk, trunk b. */
const PORT_A = 5060;
const PORT_SILENT = 5070;
const PORT_B = 5080;
const SIPP_TIMEOUT_MS = 20_000;
/**
 * The trunks sit behind a NAT router that lets no new flow in: until a trunk's first RTP packet
 * has opened the router's mapping (and latched pinlatch's leg toward it), media toward it is lost.
 * The trunks' RTP starts 300 ms after the ACK; the caller's a good while later, so that the
 * count measures the relay rather than how fast two node processes start on a busy machine.
 */
const CALLER_RTP_DELAY_MS = 1000;

const test = suite<{ topo?: NatTopology }>('e2e/forking', { timeoutMs: 60_000 });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test.before(async (ctx) => {
  ctx.topo = await createNatTopology({ forwards: [{ port: PORT_A }, { port: PORT_SILENT }, { port: PORT_B }] });
});
test.after(async (ctx) => {
  await ctx.topo?.destroy();
});

interface ForkRoute {
  fork: 'serial' | 'parallel';
  /** Router port trunk a is reached on (PORT_SILENT: nothing there answers). */
  portA: number;
  failoverAfterMs?: number;
}

function forkingYaml(topo: NatTopology, route: ForkRoute): string {
  const edge = topo.addr.edge;
  const failover = route.failoverAfterMs === undefined ? '' : `, failoverAfterMs: ${route.failoverAfterMs}`;
  return `sip:
  listen: [{ transport: udp, address: ${edge}, port: 5060 }]
  advertise: ${edge}
  timers: { t1Ms: 250, t2Ms: 2000, t4Ms: 2500, inviteTimeoutMs: 30000 }
media:
  address: ${edge}
  advertise: ${edge}
  ports: { min: 30000, max: 30999 }
  shards: 1
  timeoutSec: 60
trunks:
  - { name: a, host: ${topo.addr.natPublic}, port: ${route.portA}, pinRoute: true }
  - { name: b, host: ${topo.addr.natPublic}, port: ${PORT_B}, pinRoute: true }
routes:
  - { match: { user: ".*" }, trunks: [a, b], fork: ${route.fork}${failover} }
upstream: sip:${topo.addr.pbx}:5060
log: { level: ${process.env.PINLATCH_E2E_LOG ?? 'info'} }
`;
}

/** One SIP message of a sipp -trace_msg log. */
interface TracedMessage {
  direction: 'sent' | 'received';
  /** Request method or response status ("INVITE", "503"). */
  kind: string;
  branch: string | undefined;
  toTag: string | undefined;
  cseq: string | undefined;
  text: string;
}

function header(text: string, name: string): string | undefined {
  return new RegExp(`^${name}:[ \\t]*(.*)$`, 'im').exec(text)?.[1]?.trim();
}

/** sipp writes each message after a "UDP message received [n] bytes :" or "UDP message sent (n bytes):" line. */
function traced(result: SippResult): TracedMessage[] {
  const out: TracedMessage[] = [];
  const parts = result.messages.split(/^UDP message (sent|received) [[(]\d+\]? bytes\)? ?:\s*$/m);
  for (let i = 1; i + 1 < parts.length; i += 2) {
    const text = parts[i + 1]!.replace(/^-{10,}.*$/m, '').trim();
    const first = text.split(/\r?\n/, 1)[0] ?? '';
    const kind = first.startsWith('SIP/2.0 ') ? first.split(' ')[1]! : first.split(' ')[0]!;
    out.push({
      direction: parts[i] as 'sent' | 'received',
      kind,
      branch: /;branch=([^;,\s]+)/.exec(header(text, 'Via') ?? '')?.[1],
      toTag: /;tag=([^;,\s]+)/.exec(header(text, 'To') ?? '')?.[1],
      cseq: header(text, 'CSeq'),
      text,
    });
  }
  return out;
}

const received = (result: SippResult, kind: string) =>
  traced(result).filter((m) => m.direction === 'received' && m.kind === kind);
const sent = (result: SippResult, kind: string) =>
  traced(result).filter((m) => m.direction === 'sent' && m.kind === kind);
const uniq = <T>(values: T[]) => [...new Set(values)];

/**
 * A trunk where nothing answers: a UDP socket in the gateway's namespace that reads and never
 * replies, and reports each datagram's first line and Via branch as a JSON line.
 */
class SilentTrunk {
  readonly datagrams: Array<{ line: string; branch: string | null }> = [];
  private readonly child: ChildProcess;
  private readonly ready: Promise<void>;

  constructor(topo: NatTopology, address: string, port: number) {
    const script = `
      const socket = require('node:dgram').createSocket('udp4');
      socket.on('message', (msg) => {
        const text = msg.toString('latin1');
        const branch = /;branch=([^;,\\s]+)/.exec(text);
        process.stdout.write(JSON.stringify({ line: text.split('\\r\\n', 1)[0], branch: branch ? branch[1] : null }) + '\\n');
      });
      socket.bind(${port}, '${address}', () => process.stdout.write('listening\\n'));
    `;
    this.child = topo.spawn('gw', [process.execPath, '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    let buffered = '';
    this.ready = new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('silent trunk did not bind')), 10_000);
      this.child.once('exit', (code) => reject(new Error(`silent trunk exited ${code}`)));
      this.child.stdout!.on('data', (d) => {
        buffered += d;
        let nl: number;
        while ((nl = buffered.indexOf('\n')) >= 0) {
          const line = buffered.slice(0, nl);
          buffered = buffered.slice(nl + 1);
          if (line === 'listening') {
            clearTimeout(timer);
            resolve();
          } else this.datagrams.push(JSON.parse(line));
        }
      });
    });
  }

  listening(): Promise<void> {
    return this.ready;
  }

  stop(): void {
    if (this.child.pid && this.child.exitCode === null && this.child.signalCode === null) {
      process.kill(this.child.pid, 'SIGKILL');
    }
  }
}

/**
 * The trunk's non-2xx final response was ACKed hop by hop on its INVITE's branch with its To tag
 * (§17.1.1.3): at least once, and once more at most for each retransmission of that response.
 */
function assertAckedOnBranch(trunk: SippResult, status: string): void {
  const invite = received(trunk, 'INVITE')[0]!;
  const finals = sent(trunk, status);
  const acks = received(trunk, 'ACK');
  assert.ok(acks.length >= 1 && acks.length <= finals.length, `${acks.length} ACKs for ${finals.length} × ${status}`);
  assert.equal(uniq(acks.map((m) => m.branch)), [invite.branch]);
  assert.equal(uniq(acks.map((m) => m.toTag)), [finals[0]!.toTag]);
}

function assertSucceeded(name: string, result: SippResult, e2e: E2eRun): void {
  assert.is(result.code, 0, `${name} failed (exit ${result.code}):\n${result.errors}\n${result.messages.slice(-3000)}\n${e2e.pinlatchLog}`);
}

async function assertMedia(run: E2eRun, caller: string, gw: string, topo: NatTopology): Promise<void> {
  const c: RtpResult | null = await run.rtpResult(caller, 'caller');
  const g: RtpResult | null = await run.rtpResult(gw, 'gw');
  assert.ok(c && g, 'RTP endpoints reported');
  assert.ok(c!.received >= 0.95 * g!.sent, `trunk→caller ${c!.received}/${g!.sent}`);
  assert.ok(g!.received >= 0.95 * c!.sent, `caller→trunk ${g!.received}/${c!.sent}`);
  // Both sides got their media from pinlatch, never from each other.
  assert.equal(uniq(c!.sources.map((s) => s.split(':')[0])), [topo.addr.edge]);
  assert.equal(uniq(g!.sources.map((s) => s.split(':')[0])), [topo.addr.edge]);
}

function callerRtp(run: ForkingRun, label: string): Record<string, string | number> {
  return { ...run.e2e.rtpVars(20000, label), rtpDelayMs: CALLER_RTP_DELAY_MS };
}

/**
 * One test's pinlatch, sipp peers and scratch directory (E2eRun's), torn down whatever happens:
 * sipp runs still going after a failure are killed so the next test finds its ports free.
 */
class ForkingRun {
  readonly e2e: E2eRun;
  private readonly sipps: SippRun[] = [];

  constructor(readonly topo: NatTopology) {
    this.e2e = new E2eRun(topo);
  }

  /** A trunk: sipp uas on the gateway host, on the port the router forwards for it. */
  trunk(scenario: string, port: number, extra: Partial<SippOptions> = {}): SippRun {
    // sipp binds its own media port (-mp) at start: two in one namespace need two.
    const run = this.e2e.gateway(scenario, { localPort: port, mediaPort: 46000 + port - PORT_A, timeoutMs: SIPP_TIMEOUT_MS, ...extra });
    this.sipps.push(run);
    return run;
  }

  caller(scenario: string, extra: Partial<SippOptions> = {}): SippRun {
    const run = this.e2e.caller(scenario, { timeoutMs: SIPP_TIMEOUT_MS, ...extra });
    this.sipps.push(run);
    return run;
  }

  async close(): Promise<void> {
    for (const sipp of this.sipps) sipp.kill();
    await this.e2e.close();
  }
}

async function withPinlatch(topo: NatTopology, route: ForkRoute, body: (run: ForkingRun) => Promise<void>): Promise<void> {
  const run = new ForkingRun(topo);
  try {
    await run.e2e.startPinlatch(forkingYaml(topo, route), 'built');
    await body(run);
  } finally {
    await run.close();
  }
}

test('serial: trunk a answers 503, the call completes through trunk b; media both ways', async ({ topo }) => {
  await withPinlatch(topo!, { fork: 'serial', portA: PORT_A }, async (run) => {
    const { e2e } = run;
    const a = run.trunk('forking-uas-unavailable.xml', PORT_A);
    const b = run.trunk('uas.xml', PORT_B, { vars: run.e2e.rtpVars(16000, 'gw-serial') });
    await sleep(300);
    const caller = run.caller('forking-uac.xml', { vars: callerRtp(run, 'pbx-serial') });
    const [c, ra, rb] = await Promise.all([caller.done, a.done, b.done]);
    assertSucceeded('caller', c, e2e);
    assertSucceeded('trunk a', ra, e2e);
    assertSucceeded('trunk b', rb, e2e);

    // Trunk a: one INVITE transaction (a retransmission keeps its branch) and the hop-by-hop ACK
    // of its 503 on that same branch (§17.1.1.3), nothing else.
    const invitesA = received(ra, 'INVITE');
    assert.equal(uniq(invitesA.map((m) => m.branch)).length, 1, 'one INVITE transaction at trunk a');
    assertAckedOnBranch(ra, '503');
    assert.equal(uniq(traced(ra).filter((m) => m.direction === 'received').map((m) => m.kind)), ['INVITE', 'ACK']);

    // Trunk b got the second branch; the caller's call is b's dialog and never saw the 503.
    const inviteB = received(rb, 'INVITE')[0]!;
    assert.is.not(inviteB.branch, invitesA[0]!.branch);
    const answer = received(c, '200').find((m) => m.cseq === '1 INVITE')!;
    assert.is(answer.toTag, sent(rb, '200').find((m) => m.cseq?.endsWith('INVITE'))!.toTag);
    assert.is(received(c, '503').length + received(c, '500').length, 0, 'the 503 stays with pinlatch');
    assert.ok(received(rb, 'BYE').length >= 1, 'the caller’s BYE reached trunk b');
    await assertMedia(run.e2e, 'pbx-serial', 'gw-serial', topo!);
  });
});

test('serial: trunk a never answers, failoverAfterMs gives it up and trunk b takes the call', async ({ topo }) => {
  await withPinlatch(topo!, { fork: 'serial', portA: PORT_SILENT, failoverAfterMs: 500 }, async (run) => {
    const { e2e } = run;
    const silent = new SilentTrunk(topo!, topo!.addr.gw, PORT_SILENT);
    try {
      await silent.listening();
      const b = run.trunk('uas.xml', PORT_B, { vars: run.e2e.rtpVars(16000, 'gw-silent') });
      await sleep(300);
      const caller = run.caller('forking-uac.xml', { vars: callerRtp(run, 'pbx-silent') });
      const [c, rb] = await Promise.all([caller.done, b.done]);
      assertSucceeded('caller', c, e2e);
      assertSucceeded('trunk b', rb, e2e);
      await assertMedia(run.e2e, 'pbx-silent', 'gw-silent', topo!);

      // The silent trunk saw the INVITE (and at most its early retransmissions), all of one
      // transaction, and no CANCEL: a branch without any provisional response is not cancelled
      // (§9.1), its client transaction just ends. It kept listening for the whole call (seconds),
      // so INVITE retransmissions that went on (Timer A, §17.1.1.2) would show here.
      const methods = silent.datagrams.map((d) => d.line.split(' ')[0]);
      assert.ok(methods.length >= 1, 'the silent trunk got the INVITE');
      assert.equal(uniq(methods), ['INVITE'], silent.datagrams.map((d) => d.line).join('\n'));
      assert.equal(uniq(silent.datagrams.map((d) => d.branch)).length, 1);
      assert.ok(methods.length <= 3, `INVITE retransmissions stopped at the failover (${methods.length} sent)`);
      assert.is.not(received(rb, 'INVITE')[0]!.branch, silent.datagrams[0]!.branch);
    } finally {
      silent.stop();
    }
  });
});

test('parallel: both trunks ring, b answers, a is CANCELled and answers 487; media both ways', async ({ topo }) => {
  await withPinlatch(topo!, { fork: 'parallel', portA: PORT_A }, async (run) => {
    const { e2e } = run;
    const a = run.trunk('uas-ring.xml', PORT_A);
    // b rings 1.5 s before it answers, so a's 180 reaches the caller first whatever the scheduling.
    const b = run.trunk('forking-uas-ring-answer.xml', PORT_B, { durationMs: 1500, vars: run.e2e.rtpVars(16000, 'gw-parallel') });
    await sleep(300);
    const caller = run.caller('forking-uac-two-early.xml', { vars: callerRtp(run, 'pbx-parallel') });
    const [c, ra, rb] = await Promise.all([caller.done, a.done, b.done]);
    assertSucceeded('caller', c, e2e);
    assertSucceeded('trunk a', ra, e2e);
    assertSucceeded('trunk b', rb, e2e);

    // The caller saw both early dialogs (each trunk's own To tag), then b's answer.
    const tagA = sent(ra, '180')[0]!.toTag;
    const tagB = sent(rb, '180')[0]!.toTag;
    assert.ok(tagA && tagB && tagA !== tagB, 'two trunk tags');
    assert.equal(received(c, '180').map((m) => m.toTag).sort(), [tagA, tagB].sort());
    assert.is(received(c, '200').find((m) => m.cseq === '1 INVITE')!.toTag, tagB);
    assert.is(received(c, '487').length, 0, 'a’s 487 stays with pinlatch');

    // a's CANCEL names its INVITE's branch (§9.1); the 487 was ACKed on that branch (§17.1.1.3).
    const inviteA = received(ra, 'INVITE')[0]!;
    const cancels = received(ra, 'CANCEL');
    assert.ok(cancels.length >= 1, 'trunk a got a CANCEL');
    assert.equal(uniq(cancels.map((m) => m.branch)), [inviteA.branch]);
    assertAckedOnBranch(ra, '487');
    assert.is.not(received(rb, 'INVITE')[0]!.branch, inviteA.branch);
    await assertMedia(run.e2e, 'pbx-parallel', 'gw-parallel', topo!);
  });
});

test('parallel: a 200 from the cancelled trunk is ACKed and ended with BYE by pinlatch; the caller keeps b', async ({ topo }) => {
  await withPinlatch(topo!, { fork: 'parallel', portA: PORT_A }, async (run) => {
    const { e2e } = run;
    const a = run.trunk('forking-uas-answer-late.xml', PORT_A);
    const b = run.trunk('forking-uas-ring-answer.xml', PORT_B, { durationMs: 1500, vars: run.e2e.rtpVars(16000, 'gw-late') });
    await sleep(300);
    const caller = run.caller('forking-uac-two-early.xml', { vars: callerRtp(run, 'pbx-late') });
    const [c, ra, rb] = await Promise.all([caller.done, a.done, b.done]);
    assertSucceeded('caller', c, e2e);
    assertSucceeded('trunk a', ra, e2e);
    assertSucceeded('trunk b', rb, e2e);

    // Only b's answer reached the caller (a 2xx retransmission keeps b's tag).
    const tagA = sent(ra, '200').find((m) => m.cseq?.endsWith('INVITE'))!.toTag;
    const tagB = sent(rb, '200').find((m) => m.cseq?.endsWith('INVITE'))!.toTag;
    assert.equal(uniq(received(c, '200').filter((m) => m.cseq === '1 INVITE').map((m) => m.toTag)), [tagB]);
    assert.is.not(tagA, tagB);

    // a's dialog was confirmed (ACK to a's Contact on a's tag, §13.2.2.4; the same ACK again for a
    // retransmitted 200) and ended by pinlatch with one BYE that gives the Reason.
    const ackA = received(ra, 'ACK');
    assert.ok(ackA.length >= 1 && ackA.length <= sent(ra, '200').filter((m) => m.cseq?.endsWith('INVITE')).length);
    assert.equal(uniq(ackA.map((m) => m.toTag)), [tagA]);
    assert.match(ackA[0]!.text, /^ACK sip:gw@192\.168\.50\.20:5060 SIP\/2\.0/);
    const byeA = received(ra, 'BYE');
    assert.is(byeA.length, 1);
    assert.is(byeA[0]!.toTag, tagA);
    assert.match(byeA[0]!.text, /^Reason:.*cause=200;text="Call completed elsewhere"/im);
    // The call's one media session stayed with the first answer.
    await assertMedia(run.e2e, 'pbx-late', 'gw-late', topo!);
  });
});

test('parallel: a 486 and b 503, the caller gets 486 (4xx before 5xx, §16.7 step 6)', async ({ topo }) => {
  await withPinlatch(topo!, { fork: 'parallel', portA: PORT_A }, async (run) => {
    const { e2e } = run;
    const a = run.trunk('uas-busy.xml', PORT_A);
    const b = run.trunk('forking-uas-unavailable.xml', PORT_B);
    await sleep(300);
    const caller = run.caller('uac-reject.xml');
    const [c, ra, rb] = await Promise.all([caller.done, a.done, b.done]);
    assertSucceeded('caller', c, e2e);
    assertSucceeded('trunk a', ra, e2e);
    assertSucceeded('trunk b', rb, e2e);
    const finals = traced(c).filter((m) => m.direction === 'received' && /^[2-6]\d\d$/.test(m.kind));
    assert.equal(uniq(finals.map((m) => m.kind)), ['486'], finals.map((m) => m.kind).join(','));
    // It is a's answer (its To tag) that the caller got, and each trunk's final response was ACKed.
    assert.is(finals[0]!.toTag, sent(ra, '486')[0]!.toTag);
    assertAckedOnBranch(ra, '486');
    assertAckedOnBranch(rb, '503');
  });
});

test.run();
