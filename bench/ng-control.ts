/**
 * Control-plane benchmark: offer + answer + delete cycles per second through the NG socket (UDP),
 * pinlatch vs rtpengine in the same run, sequential (1 call in flight) and with N calls in flight.
 *
 *   node --import tsx bench/ng-control.ts [--duration 5] [--inflight 1,16] [--targets pinlatch,rtpengine]
 *                                         [--json FILE]
 *
 * Each target runs as its own process on 127.0.0.1 (pinlatch: `src/cli.ts` with a media-only
 * config and 1 shard; rtpengine: the Debian daemon, userspace only, 1 thread, as in
 * ../shared/bench/README.md) and is stopped by PID at the end. Every cycle is a fresh call-id with
 * the SDP a SIP proxy would send (`received from` included, as Kamailio's module sends it).
 * Reported per target and concurrency: cycles/s, latency of one cycle (p50/p99, ms), and CPU
 * seconds of the target process per 1000 cycles (/proc/PID/stat utime+stime, all threads).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { NgClient, replyText } from '../src/control/NgClient.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

interface Target {
  name: string;
  port: number;
  proc: ChildProcess;
}

interface Result {
  target: string;
  inflight: number;
  cycles: number;
  seconds: number;
  cyclesPerSec: number;
  p50Ms: number;
  p99Ms: number;
  cpuSecPer1000: number;
  errors: number;
  firstError: string | undefined;
}

const { values } = parseArgs({
  options: {
    duration: { type: 'string', default: '5' },
    inflight: { type: 'string', default: '1,16' },
    targets: { type: 'string', default: 'pinlatch,rtpengine' },
    json: { type: 'string' },
  },
});
const durationSec = Number(values.duration);
const inflights = values.inflight.split(',').map(Number);
const targetNames = values.targets.split(',');

function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // utime and stime are fields 14 and 15 of /proc/PID/stat (1-based), in clock ticks (100/s).
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

const sdp = (port: number, id: number): string =>
  [
    'v=0',
    `o=- ${id} 1 IN IP4 127.0.0.1`,
    's=-',
    'c=IN IP4 127.0.0.1',
    't=0 0',
    `m=audio ${port} RTP/AVP 0 8 101`,
    'a=rtpmap:0 PCMU/8000',
    'a=rtpmap:8 PCMA/8000',
    'a=rtpmap:101 telephone-event/8000',
    'a=ptime:20',
    'a=sendrecv',
    '',
  ].join('\r\n');

async function startPinlatch(dir: string, port: number): Promise<Target> {
  const config = join(dir, 'pinlatch.yaml');
  writeFileSync(
    config,
    [
      'media:',
      '  address: 127.0.0.1',
      '  advertise: 127.0.0.1',
      '  ports: { min: 50000, max: 59999 }',
      // 5 s quarantine x 2 port pairs per call would need more pairs than the range has at
      // thousands of calls/s; rtpengine (--delete-delay=0) reuses ports at once.
      '  quarantineMs: 200',
      '  shards: 1',
      `ng: { address: 127.0.0.1, port: ${port} }`,
      'log: { level: error }',
      '',
    ].join('\n'),
  );
  const proc = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'src/cli.ts'), '-c', config], { stdio: ['ignore', 'ignore', 'inherit'] });
  return { name: 'pinlatch', port, proc };
}

async function startRtpengine(port: number): Promise<Target> {
  const args = [
    '--config-file=none', '--foreground', '--log-stderr', '--log-level=3', '--table=-1',
    '--interface=127.0.0.1', `--listen-ng=127.0.0.1:${port}`, '--port-min=40000', '--port-max=49999',
    '--delete-delay=0', '--num-threads=1',
  ];
  const proc = spawn('/usr/bin/rtpengine', args, { stdio: ['ignore', 'ignore', 'inherit'] });
  return { name: 'rtpengine', port, proc };
}

async function waitReady(client: NgClient): Promise<void> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    try {
      const r = await client.request({ command: 'ping' });
      if (replyText(r['result']) === 'pong') return;
    } catch (err) {
      if (Date.now() > deadline) throw err;
    }
  }
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function runLoad(target: Target, client: NgClient, inflight: number): Promise<Result> {
  let seq = 0;
  let errors = 0;
  let firstError: string | undefined;
  const latencies: number[] = [];
  const runId = `${target.name}-${inflight}-${Date.now()}`;
  const cycle = async (): Promise<void> => {
    const n = (seq += 1);
    const callId = `${runId}-${n}`;
    const t0 = performance.now();
    const common = { 'call-id': callId, 'from-tag': `ft${n}`, 'received from': ['IP4', '127.0.0.1'] };
    const offer = await client.request({ command: 'offer', ...common, sdp: sdp(30000 + (n % 10000) * 2, n), flags: ['trust address'] });
    const answer = await client.request({ command: 'answer', ...common, 'to-tag': `tt${n}`, sdp: sdp(20000 + (n % 10000) * 2, n) });
    const del = await client.request({ command: 'delete', 'call-id': callId, 'from-tag': `ft${n}` });
    for (const r of [offer, answer, del]) {
      if (replyText(r['result']) !== 'ok') {
        errors += 1;
        firstError ??= replyText(r['error-reason']);
        break;
      }
    }
    latencies.push(performance.now() - t0);
  };
  // Warm-up (JIT, allocator, rtpengine's first calls), not measured.
  const warmEnd = Date.now() + 500;
  while (Date.now() < warmEnd) await cycle();
  latencies.length = 0;
  errors = 0;

  const cpu0 = cpuSeconds(target.proc.pid!);
  const start = performance.now();
  const end = start + durationSec * 1000;
  let cycles = 0;
  await Promise.all(
    Array.from({ length: inflight }, async () => {
      while (performance.now() < end) {
        await cycle();
        cycles += 1;
      }
    }),
  );
  const seconds = (performance.now() - start) / 1000;
  const cpu = cpuSeconds(target.proc.pid!) - cpu0;
  latencies.sort((a, b) => a - b);
  return {
    target: target.name,
    inflight,
    cycles,
    seconds,
    cyclesPerSec: cycles / seconds,
    p50Ms: percentile(latencies, 50),
    p99Ms: percentile(latencies, 99),
    cpuSecPer1000: (cpu / cycles) * 1000,
    errors,
    firstError,
  };
}

async function stop(target: Target): Promise<void> {
  if (target.proc.exitCode !== null || target.proc.signalCode !== null) return;
  const gone = new Promise((r) => target.proc.once('exit', r));
  process.kill(target.proc.pid!, 'SIGTERM');
  const timer = setTimeout(() => process.kill(target.proc.pid!, 'SIGKILL'), 5000);
  await gone;
  clearTimeout(timer);
}

const dir = mkdtempSync(join(tmpdir(), 'pinlatch-ngbench-'));
const results: Result[] = [];
try {
  for (const [i, name] of targetNames.entries()) {
    const port = 22300 + i;
    const target = name === 'pinlatch' ? await startPinlatch(dir, port) : name === 'rtpengine' ? await startRtpengine(port) : undefined;
    if (target === undefined) throw new Error(`unknown target ${name} (pinlatch, rtpengine)`);
    const client = await NgClient.connect({ host: '127.0.0.1', port, timeoutMs: 2000 });
    try {
      await waitReady(client);
      for (const inflight of inflights) {
        const r = await runLoad(target, client, inflight);
        results.push(r);
        process.stderr.write(`${r.target} inflight=${r.inflight}: ${r.cyclesPerSec.toFixed(0)} cycles/s${r.firstError ? ` (first error: ${r.firstError})` : ''}\n`);
      }
    } finally {
      client.close();
      await stop(target);
    }
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}

const header = ['target', 'in flight', 'cycles/s', 'p50 ms', 'p99 ms', 'CPU s/1000 cycles', 'errors'];
const rows = results.map((r) => [
  r.target,
  String(r.inflight),
  r.cyclesPerSec.toFixed(0),
  r.p50Ms.toFixed(2),
  r.p99Ms.toFixed(2),
  r.cpuSecPer1000.toFixed(3),
  String(r.errors),
]);
const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
const line = (cells: string[]): string => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
process.stdout.write(`offer+answer+delete through NG/UDP, ${durationSec} s per row (one cycle = 3 requests)\n`);
process.stdout.write(`${line(header)}\n|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|\n${rows.map(line).join('\n')}\n`);
if (values.json !== undefined) writeFileSync(values.json, JSON.stringify(results, null, 2));
