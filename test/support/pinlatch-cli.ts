/**
 * The real `pinlatch` CLI as a child process on loopback, with sipp peers on loopback too, for
 * tests of what happens around the process: signals, drain, restart.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { NatTopology } from './netns.ts';
import { startSipp, type SippOptions, type SippRun } from './sipp.ts';
import { freePortRange } from '../media/udp-peer.ts';
import { freeUdpPort } from '../control/child.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export class PinlatchProcess {
  output = '';
  readonly exited: Promise<number | null>;

  private constructor(readonly child: ChildProcess) {
    child.stdout!.on('data', (d) => (this.output += d));
    child.stderr!.on('data', (d) => (this.output += d));
    this.exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
  }

  /** Starts `pinlatch --config file [...extraArgs]` and resolves once it logged that it runs. */
  static async start(configFile: string, extraArgs: string[] = []): Promise<PinlatchProcess> {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', '--config', configFile, ...extraArgs], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const run = new PinlatchProcess(child);
    await run.waitFor('"msg":"pinlatch running"', 30_000);
    return run;
  }

  /** Resolves once the output contains `text`; throws if the process exits or time runs out. */
  async waitFor(text: string, timeoutMs = 20_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.output.includes(text)) {
      if (this.child.exitCode !== null || this.child.signalCode !== null) throw new Error(`pinlatch exited ${this.child.exitCode ?? this.child.signalCode} before "${text}":\n${this.output}`);
      if (Date.now() > deadline) throw new Error(`pinlatch did not log "${text}":\n${this.output.slice(-4000)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** The JSON log lines whose msg is `msg`. */
  logs(msg: string): Array<Record<string, unknown>> {
    return this.output
      .split('\n')
      .filter((line) => line.startsWith('{') && line.includes(`"msg":"${msg}"`))
      .map((line) => JSON.parse(line) as Record<string, unknown>);
  }

  signal(signal: NodeJS.Signals): void {
    if (this.child.exitCode !== null || this.child.signalCode !== null || this.child.pid === undefined) return;
    try {
      process.kill(this.child.pid, signal);
    } catch {
      // exited in between
    }
  }

  /** SIGKILL by PID if it still runs (cleanup). */
  kill(): void {
    this.signal('SIGKILL');
  }
}

/** Runs `pinlatch ...args` to its end (the CLI's short commands, e.g. `reload`), killed by PID after `timeoutMs`. */
export async function runCli(args: string[], timeoutMs = 60_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d) => (stdout += d));
  child.stderr!.on('data', (d) => (stderr += d));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const [code] = (await once(child, 'close')) as [number | null];
  clearTimeout(timer);
  return { code, stdout, stderr };
}

/** Runs processes on this host: sipp on loopback instead of inside a namespace. */
const LOOPBACK = {
  spawn: (_host: string, argv: string[], options: Parameters<typeof spawn>[2]) => spawn(argv[0]!, argv.slice(1), options ?? {}),
} as unknown as NatTopology;

/** sipp on a loopback address (the `host` option is ignored). */
export function loopbackSipp(options: Omit<SippOptions, 'host'>): SippRun {
  return startSipp(LOOPBACK, { ...options, host: 'edge' });
}

/** How many requests of `method` a sipp trace shows. */
export function countRequests(trace: string, method: string): number {
  return trace.match(new RegExp(`^${method} sip:`, 'gm'))?.length ?? 0;
}

/**
 * Sends one INVITE from a fresh loopback socket to `port` and resolves with the final response's
 * status line and headers (provisional responses are skipped).
 */
export async function inviteOnce(port: number, timeoutMs = 10_000): Promise<{ status: number; text: string }> {
  const socket = createSocket('udp4');
  socket.bind(0, '127.0.0.1');
  await once(socket, 'listening');
  const local = socket.address().port;
  const branch = `z9hG4bK-probe-${process.pid}-${Date.now()}`;
  const request = [
    `INVITE sip:probe@127.0.0.1:${port} SIP/2.0`,
    `Via: SIP/2.0/UDP 127.0.0.1:${local};branch=${branch};rport`,
    `From: <sip:probe@127.0.0.1:${local}>;tag=probe${local}`,
    `To: <sip:probe@127.0.0.1:${port}>`,
    `Call-ID: probe-${branch}`,
    'CSeq: 1 INVITE',
    `Contact: <sip:probe@127.0.0.1:${local}>`,
    'Max-Forwards: 70',
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');
  try {
    return await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no final response to the probe INVITE')), timeoutMs);
      socket.on('message', (data) => {
        const text = data.toString('latin1');
        const status = Number(/^SIP\/2\.0 (\d{3})/.exec(text)?.[1] ?? 0);
        if (status >= 200) {
          clearTimeout(timer);
          resolve({ status, text });
        }
      });
      socket.send(request, port, '127.0.0.1');
    });
  } finally {
    socket.close();
  }
}

/**
 * An edge on loopback: SIP on 127.0.0.1, one trunk (the callee) on 127.0.0.2 — pinlatch tells
 * the caller from the trunk by source address — and every call routed to it.
 */
export interface EdgeSetup {
  file: string;
  sipPort: number;
  calleePort: number;
}

export async function writeEdgeConfig(file: string, options: { drainSec: number; mediaPorts: number }): Promise<EdgeSetup> {
  const sipPort = await freeUdpPort();
  const calleePort = await freeUdpPort();
  const media = await freePortRange(options.mediaPorts);
  writeFileSync(
    file,
    [
      'sip:',
      `  listen: [{ transport: udp, address: 127.0.0.1, port: ${sipPort} }]`,
      `  drainSec: ${options.drainSec}`,
      'media:',
      '  address: 127.0.0.1',
      `  ports: { min: ${media.min}, max: ${media.max} }`,
      '  shards: 1',
      '  timeoutSec: 3600',
      'trunks:',
      `  - { name: callee, host: 127.0.0.2, port: ${calleePort} }`,
      'routes:',
      '  - { trunk: callee }',
      // The caller (127.0.0.1) is the upstream PBX: admitted to the routes where admission is closed by default.
      'upstream: "sip:127.0.0.1:5060"',
      '',
    ].join('\n'),
  );
  return { file, sipPort, calleePort };
}

export interface CallPair {
  caller: SippRun;
  callee: SippRun;
}

/**
 * `calls` calls from a sipp caller (`callerScenario`) through the edge to a sipp callee that
 * holds each call until a BYE; resolves once the callee has seen every ACK (all calls up).
 */
export async function startCalls(
  edge: EdgeSetup,
  calls: number,
  callerScenario: string,
  callerDurationMs?: number,
  describe: () => string = () => '',
): Promise<CallPair> {
  const callee = loopbackSipp({
    scenario: 'hold-uas.xml',
    localIp: '127.0.0.2',
    localPort: edge.calleePort,
    calls,
    timeoutMs: 90_000,
    mediaPort: (await freePortRange(10)).min,
  });
  const caller = loopbackSipp({
    scenario: callerScenario,
    localIp: '127.0.0.1',
    localPort: await freeUdpPort(),
    remote: `127.0.0.1:${edge.sipPort}`,
    service: 'edge',
    calls,
    rate: 50,
    limit: calls,
    timeoutMs: 90_000,
    mediaPort: (await freePortRange(10)).min,
    ...(callerDurationMs === undefined ? {} : { durationMs: callerDurationMs }),
  });
  const deadline = Date.now() + 40_000;
  while (countRequests(callee.messagesSoFar(), 'ACK') < calls) {
    if (Date.now() > deadline) {
      caller.kill();
      callee.kill();
      throw new Error(`only ${countRequests(callee.messagesSoFar(), 'ACK')} of ${calls} calls answered:\n${describe()}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { caller, callee };
}
