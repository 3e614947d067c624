/**
 * Starts a worker thread whose entry is a .ts module. On Node 20, tsx registers its loader only on
 * the main thread (module.register hooks do not reach workers there), so the worker registers
 * tsx itself before importing its entry.
 */
import { Worker, type WorkerOptions } from 'node:worker_threads';

const tsxApi = import.meta.resolve('tsx/esm/api');

export function tsWorker(entry: URL, options: WorkerOptions = {}): Worker {
  const code =
    `import(${JSON.stringify(tsxApi)})` +
    `.then((tsx) => { tsx.register(); return import(${JSON.stringify(entry.href)}); })`;
  return new Worker(code, { ...options, eval: true });
}
