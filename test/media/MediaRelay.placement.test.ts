/**
 * Thread placement and socket buffers of the media shards, read back from the kernel from the
 * outside: /proc/self/task/<tid>/status (Cpus_allowed_list), /proc/self/task/<tid>/stat (policy,
 * rt_priority) and `ss -m` (the receive buffer of a bound stream socket).
 */
import * as assert from 'uvu/assert';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import pino from 'pino';
import { SCHED_FIFO, hasCapSysNice, taskComm, taskScheduling, taskStatus } from '../support/proc-task.ts';
import { suite } from '../support/suite.ts';
import { MediaRelay } from '../../src/media/MediaRelay.ts';
import { MediaError } from '../../src/media/errors.ts';
import { freePortRange } from './udp-peer.ts';

const run = promisify(execFile);
const test = suite('media/MediaRelay: shard placement and socket buffers', { timeoutMs: 40_000 });

async function expectMediaError(promise: Promise<unknown>, code: string): Promise<MediaError> {
  try {
    await promise;
  } catch (err) {
    assert.instance(err, MediaError);
    assert.is((err as MediaError).code, code, (err as Error).message);
    return err as MediaError;
  }
  throw new assert.Assertion({ message: `expected ${code}`, generated: true, operator: 'rejects' });
}

test('media.cpus pins each shard thread to its CPU and leaves the other threads alone', async () => {
  const before = taskStatus(process.pid, 'Cpus_allowed_list');
  const relay = await MediaRelay.start({ address: '127.0.0.1', ports: await freePortRange(8), shards: 2, cpus: [1] });
  try {
    for (const shard of [0, 1]) {
      const placement = relay.shardPlacement(shard)!;
      assert.equal(placement.cpus, [1]);
      assert.is(taskStatus(placement.tid, 'Cpus_allowed_list'), '1', `shard ${shard} (tid ${placement.tid})`);
      assert.is(taskScheduling(placement.tid).policy, 0, 'SCHED_OTHER without media.realtime');
    }
    assert.is.not(relay.shardPlacement(0)!.tid, relay.shardPlacement(1)!.tid);
    assert.is(taskStatus(process.pid, 'Cpus_allowed_list'), before, 'the main thread keeps its affinity');
  } finally {
    await relay.close();
  }
});

test('each shard thread is named pl-shard-N, as top -H and ps -L show it; the main thread keeps its name', async () => {
  const mainName = taskComm(process.pid);
  const relay = await MediaRelay.start({ address: '127.0.0.1', ports: await freePortRange(8), shards: 2 });
  try {
    for (const shard of [0, 1]) {
      const placement = relay.shardPlacement(shard)!;
      assert.is(placement.name, `pl-shard-${shard}`);
      assert.is(taskComm(placement.tid), `pl-shard-${shard}`, `shard ${shard} (tid ${placement.tid})`);
    }
    assert.is(taskComm(process.pid), mainName);
  } finally {
    await relay.close();
  }
});

test('a shard restarted after a fault is pinned and raised again in its new worker', async () => {
  assert.ok(hasCapSysNice(), 'this test runs with CAP_SYS_NICE (as root)');
  const relay = await MediaRelay.start({ address: '127.0.0.1', ports: await freePortRange(8), shards: 1, cpus: [1], realtimePriority: 9 });
  try {
    const before = relay.shardPlacement(0)!.tid;
    await relay.terminateShard(0);
    const deadline = Date.now() + 20_000;
    while ((relay.shardPlacement(0)?.tid ?? before) === before && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    const after = relay.shardPlacement(0)!;
    assert.is.not(after.tid, before, 'a new worker thread');
    assert.is(taskStatus(after.tid, 'Cpus_allowed_list'), '1');
    assert.equal(taskScheduling(after.tid), { policy: SCHED_FIFO, rtPriority: 9 });
  } finally {
    await relay.close();
  }
});

test('a CPU the process may not use is refused with ERR_PINLATCH_AFFINITY', async () => {
  const error = await expectMediaError(
    MediaRelay.start({ address: '127.0.0.1', ports: await freePortRange(8), shards: 1, cpus: [1023] }),
    'ERR_PINLATCH_AFFINITY',
  );
  assert.match(error.message, /CPU 1023/);
  assert.is(error.syscallCode, 'EINVAL');
});

test('media.realtime runs the shard thread under SCHED_FIFO at the priority given (with CAP_SYS_NICE)', async () => {
  assert.ok(hasCapSysNice(), 'this test runs with CAP_SYS_NICE (as root); the refusal without it is the next test');
  const relay = await MediaRelay.start({ address: '127.0.0.1', ports: await freePortRange(8), shards: 1, cpus: [1], realtimePriority: 10 });
  try {
    const placement = relay.shardPlacement(0)!;
    assert.is(placement.realtimePriority, 10);
    assert.equal(taskScheduling(placement.tid), { policy: SCHED_FIFO, rtPriority: 10 });
    assert.equal(taskScheduling(process.pid), { policy: 0, rtPriority: 0 }, 'the main thread stays SCHED_OTHER');
  } finally {
    await relay.close();
  }
});

test('without CAP_SYS_NICE media.realtime is refused with a clear error naming the capability', async () => {
  const ports = await freePortRange(8);
  const child = fileURLToPath(new URL('./realtime-child.ts', import.meta.url));
  // capsh drops the capability from the bounding set, so the exec'd node (root) does not get it.
  const { stdout } = await run(
    'capsh',
    ['--drop=cap_sys_nice', '--', '-c', 'exec "$0" "$@"', process.execPath, '--import', 'tsx', child, `${ports.min}-${ports.max}`],
    { timeout: 30_000 },
  );
  const outcome = JSON.parse(stdout.trim().split('\n').at(-1)!) as { started: boolean; code?: string; message?: string; syscallCode?: string };
  assert.is(outcome.started, false);
  assert.is(outcome.code, 'ERR_PINLATCH_REALTIME');
  assert.is(outcome.syscallCode, 'EPERM');
  assert.match(outcome.message!, /CAP_SYS_NICE/);
  assert.match(outcome.message!, /media\.realtime/);
});

/** rb of a bound UDP socket as `ss -m` shows it (the kernel's doubled size, socket(7)). */
async function receiveBufferOf(port: number): Promise<number> {
  const { stdout } = await run('ss', ['-u', '-a', '-n', '-m', `sport = :${port}`]);
  return Number(/rb(\d+)/.exec(stdout)?.[1] ?? Number.NaN);
}

test('media.socketBuffers sizes every stream socket; the granted size is read back', async () => {
  const relay = await MediaRelay.start({ address: '127.0.0.1', ports: await freePortRange(8), shards: 1, receiveBufferBytes: 196_608, sendBufferBytes: 98_304 });
  try {
    assert.equal(relay.socketBuffers(), { receiveBytes: 196_608, sendBytes: 98_304, grantedReceiveBytes: 196_608, grantedSendBytes: 98_304 });
    const session = await relay.ensureSession('buffers', 1);
    for (const port of [session.streams[0]!.a.rtp, session.streams[0]!.b.rtcp]) assert.is(await receiveBufferOf(port), 2 * 196_608, `port ${port}`);
  } finally {
    await relay.close();
  }
});

test('a socket buffer beyond net.core.rmem_max is capped by the kernel: read back and logged naming the sysctl', async () => {
  const rmemMax = Number(readFileSync('/proc/sys/net/core/rmem_max', 'utf8'));
  const requested = Math.min(2 * rmemMax, 268_435_456);
  assert.ok(requested > rmemMax, 'net.core.rmem_max is below the largest accepted request');
  const logs: Array<Record<string, unknown>> = [];
  const sink = { write: (line: string) => logs.push(JSON.parse(line) as Record<string, unknown>) };
  const relay = await MediaRelay.start({
    address: '127.0.0.1', ports: await freePortRange(8), shards: 1, receiveBufferBytes: requested, logger: pino({ level: 'warn' }, sink),
  });
  try {
    assert.is(relay.socketBuffers()!.grantedReceiveBytes, rmemMax);
    const session = await relay.ensureSession('capped', 1);
    assert.is(await receiveBufferOf(session.streams[0]!.a.rtp), 2 * rmemMax);
    const warning = logs.find((l) => String(l.msg).includes('socket buffers capped'));
    assert.ok(warning, JSON.stringify(logs));
    assert.match(String(warning!.msg), `receive ${rmemMax} of ${requested} bytes (raise net.core.rmem_max)`);
  } finally {
    await relay.close();
  }
});

test.run();
