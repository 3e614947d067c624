/**
 * Teardown of the native data plane: every socket is closed by closeStream/close/finalization, the
 * addon works in several worker threads at once (one instance per environment), and a worker or a
 * process that dies with open, busy sockets leaves nothing behind and does not abort.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import v8 from 'node:v8';
import vm from 'node:vm';
import * as assert from 'uvu/assert';
import { scaled, suite } from '../support/suite.ts';
import { addon, type StreamCounters } from '../../src/native.ts';
import { ioPaths, openStream, relayFds, until } from './rtp-peer.ts';
import { tsWorker } from './ts-worker.ts';

const test = suite('native teardown', { timeoutMs: 30_000 });
const IO_PATHS = ioPaths();
const root = fileURLToPath(new URL('../..', import.meta.url));
const exitChild = fileURLToPath(new URL('./exit-child.ts', import.meta.url));

for (const io of IO_PATHS) {
  test(`${io}: closeStream and close() close every socket`, () => {
    const baseline = relayFds();
    const relay = addon.createRelay({ io });
    // The io_uring path holds one descriptor of its own (the ring); the epoll path none.
    const own = relayFds() - baseline;
    assert.is(own, io === 'uring' ? 1 : 0);
    const ids = Array.from({ length: 20 }, () => openStream(relay, '127.0.0.1').id);
    assert.is(relay.size, 20);
    // Beside the streams, the spare sockets the relay's loop makes ahead (SpareSockets).
    assert.ok(relay.spareSockets > 0);
    assert.is(relayFds(), baseline + own + 80 + relay.spareSockets);
    for (const id of ids.slice(0, 10)) relay.closeStream(id);
    assert.is(relay.size, 10);
    assert.is(relayFds(), baseline + own + 40 + relay.spareSockets);
    relay.close();
    assert.is(relay.spareSockets, 0);
    assert.is(relayFds(), baseline);
  });

  test(`${io}: a relay that is garbage collected without close() closes its sockets`, async () => {
    v8.setFlagsFromString('--expose-gc');
    const gc = vm.runInNewContext('gc') as () => void;
    const baseline = relayFds();
    let own = 0;
    let spares = 0;
    (() => {
      const relay = addon.createRelay({ io });
      own = relayFds() - baseline;
      for (let i = 0; i < 5; i += 1) openStream(relay, '::1');
      spares = relay.spareSockets;
    })();
    assert.ok(spares > 0);
    assert.is(relayFds(), baseline + own + 20 + spares);
    await until('finalizer closed the sockets', () => {
      gc();
      return relayFds() === baseline;
    }, 5000);
  });
}

test('the addon runs in several worker threads at once, each relaying its own call', async () => {
  const workerUrl = new URL('./relay-worker.ts', import.meta.url);
  const baseline = relayFds();
  const runs = Array.from({ length: 4 }, () => {
    const worker = tsWorker(workerUrl, { workerData: { mode: 'exchange', streams: 1 } });
    return new Promise<{ stats: StreamCounters; code: number }>((resolve, reject) => {
      let stats: StreamCounters | undefined;
      worker.on('message', (m: { stats: StreamCounters }) => (stats = m.stats));
      worker.on('error', reject);
      worker.on('exit', (code) => (stats ? resolve({ stats, code }) : reject(new Error(`worker exited ${code}`))));
    });
  });
  const results = await Promise.all(runs);
  for (const { stats, code } of results) {
    assert.is(code, 0);
    assert.is(stats.a.packetsIn, 20);
    assert.is(stats.b.packetsOut, 20);
    assert.is(stats.b.packetsIn, 21);
    assert.is(stats.a.packetsOut, 20);
  }
  // Each worker had its own stream ids: environments share nothing.
  assert.ok(results.every((r) => r.stats.id === 1));
  await until('worker fds released', () => relayFds() === baseline);
});

function runChild(
  scenario: string,
  maxOpenFiles?: number,
  extra: string[] = [],
): Promise<{ code: number | null; signal: string | null; out: string }> {
  const node = [process.execPath, '--import', 'tsx', exitChild, scenario, ...extra];
  // `ulimit -n` in a shell that then execs node: the limit applies to the child only.
  const [command, ...args] =
    maxOpenFiles === undefined ? node : ['/bin/sh', '-c', `ulimit -n ${maxOpenFiles} && exec "$@"`, 'sh', ...node];
  return new Promise((resolve) => {
    const child = spawn(command!, args, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), scaled(25_000));
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, out });
    });
  });
}

test('workers terminated with open, busy sockets release them and the process stays healthy', async () => {
  const r = await runChild('worker-terminate');
  assert.is(r.code, 0, r.out);
  assert.match(r.out, /sockets-open true/);
  assert.match(r.out, /fds-back true/, r.out);
  assert.not.match(r.out, /uv_loop_close|Assertion|Aborted|Segmentation/);
});

test('a worker calling process.exit() with open sockets leaves the process healthy', async () => {
  const r = await runChild('worker-exit');
  assert.is(r.code, 0, r.out);
  assert.match(r.out, /worker-exit-code 3/);
  assert.match(r.out, /fds-back true/, r.out);
  assert.not.match(r.out, /uv_loop_close|Assertion|Aborted|Segmentation/);
});

test('a process exiting with open sockets (main thread and a worker) exits cleanly', async () => {
  const r = await runChild('main-exit');
  assert.is(r.code, 0, r.out);
  assert.match(r.out, /main-exit-with-open 10/);
  assert.not.match(r.out, /uv_loop_close|Assertion|Aborted|Segmentation/);
});

for (const io of IO_PATHS) {
  test(`${io}: running out of descriptors gives ERR_PINLATCH_SOCKET/EMFILE and leaves no half-open stream`, async () => {
    const r = await runChild('emfile', 80, [io]);
    assert.is(r.code, 0, r.out);
    assert.match(r.out, new RegExp(`failed ERR_PINLATCH_SOCKET EMFILE after \\d+ streams \\(${io}\\)`));
    assert.match(r.out, /no-half-open true/);
  });
}

test.run();
