/** The worker side of engine.ts: corpus replay, then fast-check until the time budget is spent. */
import fc from 'fast-check';
import { parentPort, workerData } from 'node:worker_threads';
import { corpusOf, SLOT_BYTES, type WorkerReport } from './engine.ts';
import { Finding, type FuzzTarget } from './target.ts';

interface Task {
  target: string;
  seconds: number;
  seed: number;
  slowMs: number;
  shared: SharedArrayBuffer;
}

const task = workerData as Task;
const progress = new Int32Array(task.shared, 0, 2);
const slot = new Uint8Array(task.shared, 8, SLOT_BYTES);
let count = 0;

function describe(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = error.cause instanceof Error ? `\n  caused by ${error.cause.stack ?? error.cause.message}` : '';
  return `${error.stack ?? error.message}${cause}`;
}

/** Publishes the input, runs the oracle, and turns a slow return into a Finding. */
function checkOne(target: FuzzTarget, input: Buffer): void {
  const n = Math.min(input.length, SLOT_BYTES);
  slot.set(input.subarray(0, n));
  Atomics.store(progress, 1, n);
  Atomics.store(progress, 0, ++count);
  const started = performance.now();
  target.check(input);
  const took = performance.now() - started;
  const limit = target.slowMs ?? task.slowMs;
  if (took > limit) throw new Finding(`slow input: ${took.toFixed(0)} ms for ${input.length} bytes (limit ${limit} ms)`);
}

function send(report: WorkerReport): void {
  parentPort!.postMessage(report);
}

try {
  const { target } = (await import(`../targets/${task.target}.ts`)) as { target: FuzzTarget };
  const corpus = corpusOf(task.target);
  let failed = false;
  for (const { file, data } of corpus) {
    try {
      checkOne(target, data);
    } catch (error) {
      send({ type: 'done', corpusFiles: corpus.length, runs: 0, failure: { kind: 'corpus', corpusFile: file, message: describe(error), input: data } });
      failed = true;
      break;
    }
  }
  if (!failed) {
    const seeds = corpus.map((c) => c.data);
    const started = count;
    let lastError: unknown;
    const result = fc.check(
      fc.property(target.inputs(seeds), (input) => {
        try {
          checkOne(target, input);
        } catch (error) {
          lastError = error;
          throw error;
        }
      }),
      {
        seed: task.seed,
        numRuns: Number.MAX_SAFE_INTEGER,
        interruptAfterTimeLimit: task.seconds * 1000,
        markInterruptAsFailure: false,
      },
    );
    const runs = count - started;
    if (result.failed && result.counterexample) {
      const [input] = result.counterexample as [Buffer];
      // The shrunk input's own error (the last one thrown may belong to a shrinking step).
      let message = describe(lastError ?? result.errorInstance);
      try {
        checkOne(target, input);
      } catch (error) {
        message = describe(error);
      }
      send({ type: 'done', corpusFiles: corpus.length, runs, failure: { kind: 'generated', message, input } });
    } else if (result.failed) {
      send({ type: 'error', message: `fast-check failed without a counterexample: ${describe(result.errorInstance)}` });
    } else {
      send({ type: 'done', corpusFiles: corpus.length, runs });
    }
  }
} catch (error) {
  send({ type: 'error', message: describe(error) });
}
