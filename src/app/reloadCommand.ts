/**
 * `pinlatch reload --pidfile FILE`: SIGHUP to the instance the pidfile names, then the outcome of
 * the reload it caused (ReloadStatus.ts). Exit codes: 0 reloaded, 1 refused (the running
 * configuration stays; the message names each key and line), 3 no instance or no answer in time.
 */
import { answersSignal, mayBePidfileOwner, readPid, readReloadOutcome } from './ReloadStatus.js';

export interface ReloadCommandOptions {
  pidfile: string;
  /** How long to wait for the outcome. */
  timeoutMs: number;
  /** How often the outcome file is read meanwhile. */
  pollMs?: number;
}

export interface ReloadCommandResult {
  code: 0 | 1 | 3;
  /** What to print: to stdout for 0, else to stderr. */
  message: string;
}

export const RELOAD_NO_INSTANCE = 3;

export async function reloadCommand(options: ReloadCommandOptions): Promise<ReloadCommandResult> {
  const { pidfile, timeoutMs, pollMs = 50 } = options;
  let pid: number;
  try {
    pid = await readPid(pidfile);
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    return { code: RELOAD_NO_INSTANCE, message: `cannot read the pidfile ${pidfile} (${reason}): is pinlatch running with --pidfile ${pidfile}?` };
  }
  if (!(await mayBePidfileOwner(pid))) {
    return { code: RELOAD_NO_INSTANCE, message: `PID ${pid} from ${pidfile} is not a pinlatch started with --pidfile (a stale pidfile?): not signalled` };
  }
  const sentAt = Date.now();
  try {
    process.kill(pid, 'SIGHUP');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ESRCH' ? 'no such process (a stale pidfile?)' : (code ?? String(err));
    return { code: RELOAD_NO_INSTANCE, message: `cannot signal PID ${pid} from ${pidfile}: ${why}` };
  }
  const deadline = sentAt + timeoutMs;
  for (;;) {
    const outcome = await readReloadOutcome(pidfile);
    if (answersSignal(outcome, pid, sentAt)) {
      return outcome.ok ? { code: 0, message: `pinlatch ${pid}: ${outcome.message}` } : { code: 1, message: `pinlatch ${pid}: ${outcome.message}` };
    }
    if (Date.now() >= deadline) {
      return { code: RELOAD_NO_INSTANCE, message: `pinlatch ${pid} did not report a reload within ${Math.round(timeoutMs / 1000)} s (see its log)` };
    }
    await new Promise((resolve) => setTimeout(resolve, pollMs));
  }
}
