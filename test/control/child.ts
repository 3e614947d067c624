/**
 * Child processes of the NG interop tests (kamailio, sipp, rtpengine): started with their output
 * collected, stopped by PID only (SIGTERM, then SIGKILL), always awaited.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { terminate } from '../support/child.ts';

export interface ChildResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  output: string;
}

export class Child {
  readonly pid: number;
  readonly done: Promise<ChildResult>;
  output = '';
  private readonly proc: ChildProcess;
  private exited = false;

  constructor(file: string, args: string[], options: { cwd?: string } = {}) {
    this.proc = spawn(file, args, { cwd: options.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    if (this.proc.pid === undefined) throw new Error(`could not start ${file}`);
    this.pid = this.proc.pid;
    const collect = (d: Buffer): void => {
      // Keep the tail only: a chatty child must not grow the test's memory without bound.
      this.output = (this.output + d.toString()).slice(-200_000);
    };
    this.proc.stdout!.on('data', collect);
    this.proc.stderr!.on('data', collect);
    this.done = new Promise((resolve) => {
      this.proc.on('error', (err) => {
        this.output += `\n[spawn error] ${err.message}`;
      });
      this.proc.on('close', (code, signal) => {
        this.exited = true;
        resolve({ code, signal, output: this.output });
      });
    });
  }

  /** Stops the process by PID: SIGTERM, then SIGKILL after `graceMs`; resolves when it is gone. */
  async stop(graceMs = 2000): Promise<ChildResult> {
    if (!this.exited) await terminate(this.proc, graceMs);
    return this.done;
  }
}

/** A UDP port on 127.0.0.1 that was free a moment ago (bind 0, read, close). */
export async function freeUdpPort(): Promise<number> {
  const s = createSocket('udp4');
  await new Promise<void>((resolve, reject) => {
    s.once('error', reject);
    s.bind(0, '127.0.0.1', () => resolve());
  });
  const port = s.address().port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}
