/**
 * addon.placeThread and the relay's socket buffer options, at the addon's own surface: a worker
 * thread pins and raises itself, the parent reads the result from /proc/self/task/<tid>; the
 * sizes a relay's sockets get are read with `ss -m`.
 */
import * as assert from 'uvu/assert';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import type { Worker } from 'node:worker_threads';
import { SCHED_FIFO, hasCapSysNice, taskComm, taskScheduling, taskStatus } from '../support/proc-task.ts';
import { suite } from '../support/suite.ts';
import { addon, type ThreadPlacement } from '../../src/native.ts';
import { tsWorker } from './ts-worker.ts';
import { freePortRange } from '../media/udp-peer.ts';

const run = promisify(execFile);
const test = suite('native: thread placement and socket buffers', { timeoutMs: 30_000 });

type Reply = { placement: ThreadPlacement } | { error: { code: string; syscallCode?: string; message: string } };

async function placedWorker(options: { cpu?: number; realtimePriority?: number; name?: string }): Promise<{ worker: Worker; reply: Reply }> {
  const worker = tsWorker(new URL('./placement-worker.ts', import.meta.url), { workerData: options });
  const reply = await new Promise<Reply>((resolve, reject) => {
    worker.once('error', reject);
    worker.once('message', resolve);
  });
  return { worker, reply };
}

/** "0-1,3" -> [0, 1, 3] (the Cpus_allowed_list format). */
function cpuList(text: string): number[] {
  return text.split(',').flatMap((part) => {
    const [from, to = from] = part.split('-').map(Number) as [number, number?];
    return Array.from({ length: to! - from + 1 }, (_, i) => from + i);
  });
}

function expectCode(fn: () => unknown, code: string): void {
  try {
    fn();
  } catch (err) {
    assert.is((err as { code?: string }).code, code, (err as Error).message);
    return;
  }
  throw new assert.Assertion({ message: `expected ${code}`, generated: true, operator: 'throws' });
}

test('placeThread() without options reads the calling thread as the kernel has it', () => {
  const placement = addon.placeThread();
  assert.is(placement.tid, process.pid, 'the main thread');
  assert.equal(placement.cpus, cpuList(taskStatus(placement.tid, 'Cpus_allowed_list')));
  assert.ok(placement.cpus.length >= 1);
  assert.is(placement.realtimePriority, 0);
  assert.is(placement.name, taskComm(process.pid));
});

test('a worker thread names itself; the kernel shows the name for that thread alone', async () => {
  const mainName = taskComm(process.pid);
  const { worker, reply } = await placedWorker({ name: 'pl-test-15chars' });
  try {
    assert.ok('placement' in reply, JSON.stringify(reply));
    if (!('placement' in reply)) return;
    assert.is(reply.placement.name, 'pl-test-15chars');
    assert.is(taskComm(reply.placement.tid), 'pl-test-15chars');
    assert.is(taskComm(process.pid), mainName);
  } finally {
    await worker.terminate();
  }
});

test('a name the kernel cannot take is refused before anything is applied', async () => {
  for (const name of ['', 'pl-test-16-chars', 'two words', 'caf\u00e9', 'tab\there']) {
    const { worker, reply } = await placedWorker({ cpu: 0, name });
    try {
      assert.ok('error' in reply, `${JSON.stringify(name)}: ${JSON.stringify(reply)}`);
      if ('error' in reply) assert.is(reply.error.code, 'ERR_PINLATCH_ARG');
    } finally {
      await worker.terminate();
    }
  }
  const before = taskStatus(process.pid, 'Cpus_allowed_list');
  expectCode(() => addon.placeThread({ cpu: 0, name: 'x'.repeat(16) }), 'ERR_PINLATCH_ARG');
  expectCode(() => addon.placeThread({ name: 7 as never }), 'ERR_PINLATCH_ARG');
  assert.is(taskStatus(process.pid, 'Cpus_allowed_list'), before, 'the refused call pinned nothing');
});

test('a worker thread pins itself to CPU 1 and raises itself to SCHED_FIFO; only that thread changes', async () => {
  const capable = hasCapSysNice();
  const mainBefore = taskStatus(process.pid, 'Cpus_allowed_list');
  const { worker, reply } = await placedWorker({ cpu: 1, realtimePriority: 7 });
  try {
    if (!capable) {
      assert.ok('error' in reply);
      if ('error' in reply) assert.equal([reply.error.code, reply.error.syscallCode], ['ERR_PINLATCH_REALTIME', 'EPERM']);
      return;
    }
    assert.ok('placement' in reply, JSON.stringify(reply));
    if (!('placement' in reply)) return;
    const { tid, cpus, realtimePriority } = reply.placement;
    assert.is.not(tid, process.pid);
    assert.equal(cpus, [1]);
    assert.is(realtimePriority, 7);
    assert.is(taskStatus(tid, 'Cpus_allowed_list'), '1');
    assert.equal(taskScheduling(tid), { policy: SCHED_FIFO, rtPriority: 7 });
    assert.is(taskStatus(process.pid, 'Cpus_allowed_list'), mainBefore);
    assert.equal(taskScheduling(process.pid), { policy: 0, rtPriority: 0 });
  } finally {
    await worker.terminate();
  }
});

test('an absent CPU is EINVAL (ERR_PINLATCH_AFFINITY); out-of-range arguments are ERR_PINLATCH_ARG', async () => {
  const { worker, reply } = await placedWorker({ cpu: 1023 });
  await worker.terminate();
  assert.ok('error' in reply);
  if ('error' in reply) {
    assert.equal([reply.error.code, reply.error.syscallCode], ['ERR_PINLATCH_AFFINITY', 'EINVAL']);
    assert.match(reply.error.message, /CPU 1023/);
  }
  expectCode(() => addon.placeThread({ cpu: -1 }), 'ERR_PINLATCH_ARG');
  expectCode(() => addon.placeThread({ cpu: 1.5 }), 'ERR_PINLATCH_ARG');
  expectCode(() => addon.placeThread({ realtimePriority: 0 }), 'ERR_PINLATCH_ARG');
  expectCode(() => addon.placeThread({ realtimePriority: 100 }), 'ERR_PINLATCH_ARG');
  expectCode(() => addon.placeThread('cpu 1' as never), 'ERR_PINLATCH_ARG');
  assert.is(addon.placeThread().realtimePriority, 0, 'nothing was applied by the refused calls');
});

async function receiveBufferOf(port: number): Promise<number> {
  const { stdout } = await run('ss', ['-u', '-a', '-n', '-m', `sport = :${port}`]);
  return Number(/rb(\d+)/.exec(stdout)?.[1] ?? Number.NaN);
}

test('a relay sizes its sockets as asked and reports what the kernel granted', async () => {
  const rmemMax = Number(readFileSync('/proc/sys/net/core/rmem_max', 'utf8'));
  const defaults = addon.createRelay({ io: 'epoll' });
  assert.equal(defaults.socketBuffers, { receiveBytes: 262_144, sendBytes: 262_144, grantedReceiveBytes: Math.min(262_144, rmemMax), grantedSendBytes: defaults.socketBuffers.grantedSendBytes });
  defaults.close();
  const relay = addon.createRelay({ receiveBufferBytes: 131_072, sendBufferBytes: 65_536 });
  try {
    assert.equal(relay.socketBuffers, { receiveBytes: 131_072, sendBytes: 65_536, grantedReceiveBytes: 131_072, grantedSendBytes: 65_536 });
    const { min } = await freePortRange(4);
    relay.openStream({ address: '127.0.0.1', aPort: min, bPort: min + 2 });
    for (const port of [min, min + 1, min + 2, min + 3]) assert.is(await receiveBufferOf(port), 2 * 131_072, `port ${port}`);
  } finally {
    relay.close();
  }
  expectCode(() => addon.createRelay({ receiveBufferBytes: 4095 }), 'ERR_PINLATCH_ARG');
  expectCode(() => addon.createRelay({ sendBufferBytes: 268_435_457 }), 'ERR_PINLATCH_ARG');
  expectCode(() => addon.createRelay({ receiveBufferBytes: '1M' as never }), 'ERR_PINLATCH_ARG');
});

test.run();
