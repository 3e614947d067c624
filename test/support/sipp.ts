/**
 * Runs sipp (Debian `sip-tester`) inside a network namespace with an XML scenario, by PID, and
 * collects its exit code, its final statistics and its message trace.
 *
 * sipp exit codes: 0 = every call succeeded, 1 = at least one failed, 97 = exit on internal
 * command, 99 = normal exit without calls processed, 255/254 = fatal error (e.g. bind failure).
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ChildProcess } from 'node:child_process';
import type { HostName, NamespaceGroup } from './netns.ts';

export const SCENARIO_DIR = fileURLToPath(new URL('../e2e/scenarios/', import.meta.url));

export interface SippOptions<H extends string = HostName> {
  host: H;
  /** Scenario file name under test/e2e/scenarios/ (or an absolute path). */
  scenario: string;
  /** Local address sipp binds and writes into Via/Contact/SDP ([local_ip]). */
  localIp: string;
  localPort: number;
  /** host:port the first request goes to (uac scenarios). */
  remote?: string;
  /** Request-URI user part (`-s`). */
  service?: string;
  /** Number of calls (`-m`); sipp exits after them. */
  calls?: number;
  /** Call rate per second (`-r`). */
  rate?: number;
  /** Maximum simultaneous calls (`-l`). */
  limit?: number;
  /** Global scenario variables (`-set name value`); those the scenario does not declare are skipped. */
  vars?: Record<string, string | number>;
  /** Length of a scenario's plain `<pause />` (`-d`), e.g. how long the call lasts. */
  durationMs?: number;
  /** Hard limit for the whole run; sipp is killed (by PID) after it. */
  timeoutMs: number;
  /** Local RTP echo port sipp itself binds (`-mp`); kept away from the test's RTP endpoints. */
  mediaPort?: number;
  extraArgs?: string[];
}

export interface SippStats {
  successful: number;
  failed: number;
}

export interface SippResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stats: SippStats | null;
  /** SIP messages sent and received (sipp -trace_msg). */
  messages: string;
  errors: string;
  output: string;
}

export class SippRun {
  readonly pid: number;
  readonly done: Promise<SippResult>;
  private readonly child: ChildProcess;
  private readonly dir: string;

  constructor(topo: NamespaceGroup<string>, options: SippOptions<string>) {
    this.dir = mkdtempSync(join(tmpdir(), 'pinlatch-sipp-'));
    const scenario = options.scenario.startsWith('/') ? options.scenario : join(SCENARIO_DIR, options.scenario);
    const args = [
      'sipp',
      '-sf', scenario,
      '-i', options.localIp,
      '-p', String(options.localPort),
      '-mi', options.localIp,
      '-mp', String(options.mediaPort ?? 46000),
      '-m', String(options.calls ?? 1),
      '-r', String(options.rate ?? 10),
      '-l', String(options.limit ?? 100),
      '-nostdin',
      '-trace_stat', '-stf', join(this.dir, 'stats.csv'), '-fd', '1',
      '-trace_msg', '-message_file', join(this.dir, 'messages.log'),
      '-trace_err', '-error_file', join(this.dir, 'errors.log'),
      '-timeout', `${Math.ceil(options.timeoutMs / 1000)}s`, '-timeout_error',
    ];
    if (options.service) args.push('-s', options.service);
    if (options.durationMs !== undefined) args.push('-d', String(options.durationMs));
    // sipp refuses -set for a variable its scenario does not declare (<Global variables="...">).
    const declared = new Set(
      (/<Global variables="([^"]*)"/.exec(readFileSync(scenario, 'utf8'))?.[1] ?? '').split(',').map((v) => v.trim()),
    );
    for (const [name, value] of Object.entries(options.vars ?? {})) {
      if (declared.has(name)) args.push('-set', name, String(value));
    }
    args.push(...(options.extraArgs ?? []));
    if (options.remote) args.push(options.remote);
    this.child = topo.spawn(options.host, args, { cwd: this.dir, stdio: ['ignore', 'pipe', 'pipe'] });
    if (this.child.pid === undefined) throw new Error('sipp did not start');
    this.pid = this.child.pid;
    let output = '';
    this.child.stdout?.on('data', (d) => (output += d));
    this.child.stderr?.on('data', (d) => (output += d));
    const killTimer = setTimeout(() => this.kill(), options.timeoutMs + 5000);
    this.done = new Promise((resolve) => {
      this.child.once('exit', (code, signal) => {
        clearTimeout(killTimer);
        resolve({
          code,
          signal,
          stats: this.readStats(),
          messages: this.read('messages.log'),
          errors: this.read('errors.log'),
          // sipp repaints its screen with escape codes; keep the tail, which holds the summary.
          output: output.slice(-6000),
        });
        rmSync(this.dir, { recursive: true, force: true });
      });
    });
  }

  kill(): void {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      try {
        process.kill(this.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }

  /** The message trace written so far (while sipp runs). */
  messagesSoFar(): string {
    return this.read('messages.log');
  }

  private read(name: string): string {
    const path = join(this.dir, name);
    return existsSync(path) ? readFileSync(path, 'utf8') : '';
  }

  /** Last line of the -trace_stat CSV: cumulative SuccessfulCall(C) and FailedCall(C). */
  private readStats(): SippStats | null {
    const lines = this.read('stats.csv').trim().split('\n');
    if (lines.length < 2) return null;
    const header = lines[0]!.split(';');
    const last = lines[lines.length - 1]!.split(';');
    const col = (name: string) => Number(last[header.indexOf(name)]);
    return { successful: col('SuccessfulCall(C)'), failed: col('FailedCall(C)') };
  }
}

export function startSipp<H extends string>(topo: NamespaceGroup<H>, options: SippOptions<H>): SippRun {
  return new SippRun(topo, options);
}
