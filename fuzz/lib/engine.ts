/**
 * Runs one fuzz target for a time budget in a worker thread and reports what it found.
 *
 * The worker first replays every corpus file (the regression part: each one once, in name order),
 * then lets fast-check generate inputs until the budget is spent. Before each input it copies the
 * bytes into shared memory and bumps a counter there, so the main thread can tell a hang (the
 * counter stops moving for `hangMs`) from a slow run, stop the worker, and still report the input
 * that hung. An input that returns but took longer than `slowMs` is a finding too.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';

export const FUZZ_DIR = fileURLToPath(new URL('..', import.meta.url));
export const CORPUS_DIR = join(FUZZ_DIR, 'corpus');
export const FINDINGS_DIR = join(FUZZ_DIR, 'findings');
/** Largest input the shared slot holds; larger inputs are reported truncated if they hang. */
export const SLOT_BYTES = 1 << 20;

export interface RunOptions {
  /** Time for generated inputs, after the corpus replay. */
  seconds: number;
  /** fast-check seed (random when omitted; printed so that a run can be repeated). */
  seed?: number;
  /** No progress for this long is a hang (default 15 s: generous on a loaded machine). */
  hangMs?: number;
  /** One input that takes longer than this is a finding (default 2 s). */
  slowMs?: number;
  /** Where a failing input is written (default fuzz/findings/<target>/); null writes nothing. */
  findingsDir?: string | null;
}

export interface Failure {
  kind: 'corpus' | 'generated' | 'hang';
  message: string;
  input: Buffer;
  /** The corpus file that failed (kind 'corpus'). */
  corpusFile?: string;
  /** Where the input was written. */
  savedAs?: string;
}

export interface RunResult {
  target: string;
  seed: number;
  corpusFiles: number;
  /** Generated inputs checked. */
  runs: number;
  elapsedMs: number;
  failure?: Failure;
}

/** Messages from the worker. */
export type WorkerReport =
  | { type: 'done'; corpusFiles: number; runs: number; failure?: Omit<Failure, 'input'> & { input: Uint8Array } }
  | { type: 'error'; message: string };

export function corpusOf(target: string): Array<{ file: string; data: Buffer }> {
  const dir = join(CORPUS_DIR, target);
  let names: string[];
  try {
    names = readdirSync(dir).sort();
  } catch {
    return [];
  }
  return names.map((file) => ({ file, data: readFileSync(join(dir, file)) }));
}

export function contentName(data: Buffer): string {
  return createHash('sha1').update(data).digest('hex').slice(0, 16);
}

const tsxApi = import.meta.resolve('tsx/esm/api');
const workerEntry = new URL('./worker.ts', import.meta.url).href;

export function runTarget(target: string, options: RunOptions): Promise<RunResult> {
  const seed = options.seed ?? Math.floor(Math.random() * 0x7fffffff);
  const hangMs = options.hangMs ?? 15_000;
  const shared = new SharedArrayBuffer(8 + SLOT_BYTES);
  const progress = new Int32Array(shared, 0, 2);
  const started = Date.now();
  // Node 20 does not carry module.register hooks into workers: the worker registers tsx itself.
  const code = `import(${JSON.stringify(tsxApi)}).then((tsx) => { tsx.register(); return import(${JSON.stringify(workerEntry)}); })`;
  const worker = new Worker(code, {
    eval: true,
    workerData: { target, seconds: options.seconds, seed, slowMs: options.slowMs ?? 2_000, shared },
    resourceLimits: { maxOldGenerationSizeMb: 1024, stackSizeMb: 4 },
  });

  return new Promise<RunResult>((resolve, reject) => {
    let lastCount = -1;
    let lastChange = Date.now();
    let settled = false;
    const finish = (result: Omit<RunResult, 'target' | 'seed' | 'elapsedMs'>): void => {
      if (settled) return;
      settled = true;
      clearInterval(watch);
      if (result.failure && options.findingsDir !== null) {
        const dir = options.findingsDir ?? join(FINDINGS_DIR, target);
        mkdirSync(dir, { recursive: true });
        const path = join(dir, `${result.failure.kind}-${contentName(result.failure.input)}`);
        writeFileSync(path, result.failure.input);
        result.failure.savedAs = path;
      }
      resolve({ target, seed, elapsedMs: Date.now() - started, ...result });
    };
    const watch = setInterval(() => {
      const count = Atomics.load(progress, 0);
      if (count !== lastCount) {
        lastCount = count;
        lastChange = Date.now();
        return;
      }
      if (Date.now() - lastChange < hangMs) return;
      const length = Math.min(Atomics.load(progress, 1), SLOT_BYTES);
      const input = Buffer.from(new Uint8Array(shared, 8, length));
      void worker.terminate();
      finish({
        corpusFiles: 0,
        runs: count,
        failure: { kind: 'hang', message: `no progress for ${hangMs} ms on one input (${length} bytes)`, input },
      });
    }, 250);
    worker.on('message', (report: WorkerReport) => {
      if (report.type === 'error') {
        settled = true;
        clearInterval(watch);
        reject(new Error(`fuzz worker for ${target}: ${report.message}`));
        return;
      }
      const failure = report.failure ? { ...report.failure, input: Buffer.from(report.failure.input) } : undefined;
      finish({ corpusFiles: report.corpusFiles, runs: report.runs, failure });
    });
    worker.on('error', (error) => {
      const length = Math.min(Atomics.load(progress, 1), SLOT_BYTES);
      finish({
        corpusFiles: 0,
        runs: Atomics.load(progress, 0),
        failure: { kind: 'hang', message: `worker died: ${error.message}`, input: Buffer.from(new Uint8Array(shared, 8, length)) },
      });
    });
    worker.on('exit', (code) => {
      if (!settled) finish({ corpusFiles: 0, runs: Atomics.load(progress, 0), failure: { kind: 'hang', message: `worker exited ${code} without a report`, input: Buffer.alloc(0) } });
    });
  });
}

/** One line per run, for logs and test output. */
export function describeResult(r: RunResult): string {
  const head = `${r.target}: ${r.corpusFiles} corpus files, ${r.runs} generated inputs in ${(r.elapsedMs / 1000).toFixed(1)} s (seed ${r.seed})`;
  if (!r.failure) return `${head}, no finding`;
  const where = r.failure.corpusFile ? ` [corpus ${r.failure.corpusFile}]` : '';
  const saved = r.failure.savedAs ? `\n  input saved as ${r.failure.savedAs}` : '';
  return `${head}\n  FINDING (${r.failure.kind})${where}: ${r.failure.message}${saved}`;
}
