/**
 * A child process spoken to in lines: commands on its stdin, one JSON object per line on its
 * stdout. Used for rtpload and for every relay target. Stopped by its own PID only.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createInterface } from 'node:readline';

export class ChildProtocolError extends Error {
  readonly code = 'ERR_PINLATCH_BENCH_CHILD';
}

export class LineChild {
  readonly name: string;
  readonly #child: ChildProcessWithoutNullStreams;
  readonly #lines: string[] = [];
  #waiter: ((line: string | null) => void) | null = null;
  #closed = false;
  #stderrTail = '';
  readonly exited: Promise<number | null>;

  constructor(name: string, command: string, args: string[], cwd?: string) {
    this.name = name;
    this.#child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'], cwd });
    this.exited = new Promise((resolve) => this.#child.once('exit', (code) => resolve(code)));
    const rl = createInterface({ input: this.#child.stdout });
    rl.on('line', (line) => {
      if (this.#waiter) {
        const w = this.#waiter;
        this.#waiter = null;
        w(line);
      } else {
        this.#lines.push(line);
      }
    });
    rl.on('close', () => {
      this.#closed = true;
      this.#waiter?.(null);
      this.#waiter = null;
    });
    this.#child.stderr.on('data', (chunk: Buffer) => {
      this.#stderrTail = (this.#stderrTail + chunk.toString()).slice(-4000);
    });
    this.#child.stdin.on('error', () => {});
  }

  get pid(): number {
    if (this.#child.pid === undefined) throw new ChildProtocolError(`${this.name} did not start`);
    return this.#child.pid;
  }

  /** What the child wrote to stderr lately (for error messages and logs). */
  get stderrTail(): string {
    return this.#stderrTail;
  }

  send(line: string): void {
    this.#child.stdin.write(`${line}\n`);
  }

  /** Next JSON line; rejects when the child closes its stdout or takes longer than timeoutMs. */
  async next<T>(timeoutMs: number): Promise<T> {
    const line =
      this.#lines.shift() ??
      (this.#closed
        ? null
        : await new Promise<string | null>((resolve, reject) => {
            const timer = setTimeout(() => {
              this.#waiter = null;
              reject(new ChildProtocolError(`${this.name}: no answer in ${timeoutMs} ms\n${this.#stderrTail}`));
            }, timeoutMs);
            this.#waiter = (l) => {
              clearTimeout(timer);
              resolve(l);
            };
          }));
    if (line === null) throw new ChildProtocolError(`${this.name} exited\n${this.#stderrTail}`);
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch {
      throw new ChildProtocolError(`${this.name} wrote a non-JSON line: ${line.slice(0, 200)}`);
    }
    if (parsed && typeof parsed === 'object' && 'error' in parsed) {
      throw new ChildProtocolError(`${this.name}: ${String((parsed as { error: unknown }).error)}`);
    }
    return parsed as T;
  }

  /** SIGTERM, then SIGKILL after graceMs; resolves when the child is gone. */
  async stop(graceMs = 3000): Promise<void> {
    if (this.#child.exitCode !== null || this.#child.signalCode !== null) return;
    this.#child.stdin.end();
    this.#child.kill('SIGTERM');
    const timer = setTimeout(() => this.#child.kill('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(timer);
  }
}
