/**
 * How `pinlatch reload` finds the running instance and learns what became of its reload. The
 * instance started with `--pidfile FILE` writes its PID there once it runs, and the outcome of
 * every reload to `FILE.reload.json`; the command sends SIGHUP to that PID and waits for the
 * outcome of a reload that began at or after the moment it sent the signal (a reload that began
 * then read the file as the operator left it). Both files are replaced atomically (rename), so a
 * reader never sees half a file.
 */
import { readFile, rename, rm, writeFile } from 'node:fs/promises';

export interface ReloadOutcome {
  /** PID of the instance that reloaded. */
  readonly pid: number;
  /** When the reload began reading the file, and when it was done (ms since the epoch). */
  readonly startedAt: number;
  readonly finishedAt: number;
  readonly ok: boolean;
  /** The configuration file. */
  readonly source: string;
  /** `configuration FILE reloaded`, or the error with every key and line. */
  readonly message: string;
}

export function outcomeFileOf(pidfile: string): string {
  return `${pidfile}.reload.json`;
}

async function replaceFile(path: string, text: string): Promise<void> {
  const temporary = `${path}.${process.pid}.tmp`;
  await writeFile(temporary, text, { mode: 0o644 });
  await rename(temporary, path);
}

export function writePidfile(pidfile: string, pid = process.pid): Promise<void> {
  return replaceFile(pidfile, `${pid}\n`);
}

/** Removes the pidfile and the outcome file if the pidfile still names `pid` (another instance may have taken it over). */
export async function removePidfile(pidfile: string, pid = process.pid): Promise<void> {
  if ((await readPid(pidfile).catch(() => null)) !== pid) return;
  await Promise.all([rm(pidfile, { force: true }), rm(outcomeFileOf(pidfile), { force: true })]);
}

/** The PID the pidfile names; throws the read error, or a RangeError for content that is not a PID. */
export async function readPid(pidfile: string): Promise<number> {
  const text = (await readFile(pidfile, 'utf8')).trim();
  const pid = Number(text);
  if (!/^[1-9][0-9]{0,9}$/.test(text) || !Number.isSafeInteger(pid)) throw new RangeError(`${pidfile} does not hold a PID`);
  return pid;
}

export function writeReloadOutcome(pidfile: string, outcome: ReloadOutcome): Promise<void> {
  return replaceFile(outcomeFileOf(pidfile), `${JSON.stringify(outcome)}\n`);
}

/** The last outcome written, or null when there is none (or it cannot be read). */
export async function readReloadOutcome(pidfile: string): Promise<ReloadOutcome | null> {
  try {
    const value = JSON.parse(await readFile(outcomeFileOf(pidfile), 'utf8')) as Partial<ReloadOutcome>;
    if (typeof value.pid !== 'number' || typeof value.startedAt !== 'number' || typeof value.ok !== 'boolean' || typeof value.message !== 'string') return null;
    return value as ReloadOutcome;
  } catch {
    return null;
  }
}

/** Whether `outcome` answers a SIGHUP sent to `pid` at `sentAt` (ms since the epoch). */
export function answersSignal(outcome: ReloadOutcome | null, pid: number, sentAt: number): outcome is ReloadOutcome {
  return outcome !== null && outcome.pid === pid && outcome.startedAt >= sentAt;
}

/**
 * Whether process `pid` may be a pinlatch started with --pidfile: false when its command line
 * (Linux /proc) has no --pidfile, as when a stale pidfile names a PID reused by another program
 * that SIGHUP would end. True where /proc cannot tell (another OS, a process of another user).
 */
export async function mayBePidfileOwner(pid: number): Promise<boolean> {
  let cmdline: string;
  try {
    cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') return true;
    // With /proc there, the process is gone; without, there is nothing to tell by.
    return readFile('/proc/self/cmdline').then(
      () => false,
      () => true,
    );
  }
  return cmdline.split('\0').some((arg) => arg === '--pidfile' || arg.startsWith('--pidfile='));
}
