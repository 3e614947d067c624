/**
 * Worker of thread-placement.test.ts: places its own thread as `workerData` asks and posts the
 * placement (or the error's code) back, then waits to be terminated so the thread stays alive
 * while the parent reads /proc.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { addon } from '../../src/native.ts';

try {
  parentPort!.postMessage({ placement: addon.placeThread(workerData as { cpu?: number; realtimePriority?: number; name?: string }) });
} catch (err) {
  const e = err as { code?: string; syscallCode?: string; message?: string };
  parentPort!.postMessage({ error: { code: e.code, syscallCode: e.syscallCode, message: e.message } });
}
setInterval(() => {}, 1000);
