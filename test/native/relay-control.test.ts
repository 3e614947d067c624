/**
 * RelayControl (addon.connect): the main thread binds a stream's sockets itself and drives a relay
 * through its native control channel, with no JavaScript on the relay's thread. Bind errors come
 * back synchronously with their errno; commands apply in push order before any later method of the
 * relay; a closed or dead relay refuses pushes and no descriptor is left behind.
 */
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from '../support/suite.ts';
import { addon, type NativeRelay } from '../../src/native.ts';
import { UdpPeer, counters, ioPaths, openControlled, policy, relayFds, rtp, thrown, until } from './rtp-peer.ts';

const test = suite('native relay control', { timeoutMs: 30_000 });
const IO_PATHS = ioPaths();

for (const io of IO_PATHS) {
  test(`${io}: opens bind on the calling thread; the relay applies opens, legs and closes in order`, async () => {
    const caller = await UdpPeer.bind('127.0.0.1');
    const callee = await UdpPeer.bind('127.0.0.1');
    const baseline = relayFds();
    const relay: NativeRelay = addon.createRelay({ io });
    const own = relayFds() - baseline;
    const control = addon.connect(relay.controlToken);
    try {
      const { id, aPort, bPort } = openControlled(control);
      assert.is(relayFds() - relay.spareSockets, baseline + own + 4, 'the four sockets are bound when openStreams returns');
      control.setLegs([
        { id, leg: 'a', policy: policy() },
        { id, leg: 'b', policy: policy() },
      ]);
      // Any method of the relay applies what was pushed before it.
      assert.is(relay.size, 1);
      await callee.send(rtp({ ssrc: 2, seq: 0 }), bPort, '127.0.0.1');
      await until('B latched', () => counters(relay, id).b.rtpPeer !== null);
      for (let seq = 1; seq <= 5; seq += 1) await caller.send(rtp({ ssrc: 1, seq }), aPort, '127.0.0.1');
      await until('the callee got the caller\'s 5 packets', () => callee.received.length === 5);
      assert.is(counters(relay, id).a.packetsIn, 5);

      control.closeStreams([id]);
      assert.is(relay.size, 0);
      assert.is(relayFds() - relay.spareSockets, baseline + own);
      assert.is(relay.totals().streamsOpened, 1);
      assert.is(relay.totals().commandErrors, 0);
      // Ids come from one counter whichever thread opens: the relay's own opens never collide.
      const second = openControlled(control);
      assert.ok(second.id > id);
      control.closeStreams([second.id]);
    } finally {
      relay.close();
    }
    assert.is(relayFds(), baseline);
    await Promise.all([caller.close(), callee.close()]);
  });
}

test('a bind error is thrown synchronously with its errno and the spec that failed; the batch leaves nothing bound', async () => {
  const relay = addon.createRelay();
  const control = addon.connect(relay.controlToken);
  const squatter = await UdpPeer.bind('127.0.0.1');
  try {
    const baseline = relayFds();
    const free = openControlled(control);
    control.closeStreams([free.id]);
    assert.is(relay.size, 0);
    const error = thrown(() =>
      control.openStreams([
        { address: '127.0.0.1', aPort: free.aPort, bPort: free.bPort },
        { address: '127.0.0.1', aPort: squatter.port - (squatter.port % 2), bPort: free.aPort + 8 },
      ]),
    );
    assert.is(error.code, 'ERR_PINLATCH_BIND');
    assert.is(error.syscallCode, 'EADDRINUSE');
    assert.is(error.index, 1);
    assert.is(relayFds() - relay.spareSockets, baseline, 'the first spec\'s sockets were closed again');
    assert.is(relay.size, 0);
    // Argument errors are synchronous too, and push nothing.
    assert.is(thrown(() => control.setLegs([{ id: 12345, leg: 'a', policy: policy() }])).code, 'ERR_PINLATCH_ARG');
    const { id } = openControlled(control);
    const bad = thrown(() => control.setLegs([{ id, leg: 'a', policy: policy() }, { id, leg: 'b', policy: policy({ address: '::1' }) }]));
    assert.is(bad.code, 'ERR_PINLATCH_ARG');
    assert.is(counters(relay, id).a.rtpPeer, null);
    control.closeStreams([id]);
  } finally {
    relay.close();
    await squatter.close();
  }
});

test('the relay\'s loop makes unbound spare sockets for the opens, at most 64, taken by openStreams and closed with the relay', () => {
  const baseline = relayFds();
  const relay = addon.createRelay();
  const own = relayFds() - baseline;
  const control = addon.connect(relay.controlToken);
  try {
    assert.is(relay.spareSockets, 0, 'none before a family was asked for');
    const first = openControlled(control);
    // Each iteration of the relay's loop (here: a method of the relay) tops up by at most 16.
    assert.is(relay.size, 1);
    assert.is(relay.spareSockets, 16);
    for (let i = 0; i < 10; i++) void relay.size;
    assert.is(relay.spareSockets, 64, 'bounded');
    assert.is(relayFds(), baseline + own + 4 + 64);
    const second = openControlled(control);
    assert.is(relay.spareSockets, 60, 'the open took four spares and bound them');
    assert.is(relayFds(), baseline + own + 8 + 60);
    control.closeStreams([first.id, second.id]);
    assert.is(relay.size, 0);
  } finally {
    relay.close();
  }
  assert.is(relay.spareSockets, 0);
  assert.is(relayFds(), baseline, 'the spares closed with the relay');
});

test('one top-up makes at most 16 spares of all families together, up to 64 of each', () => {
  const relay = addon.createRelay();
  const control = addon.connect(relay.controlToken);
  try {
    const v4 = openControlled(control);
    const v6 = openControlled(control, '::1');
    assert.is(relay.size, 2);
    assert.is(relay.spareSockets, 16, 'one loop iteration: 16 in all, not 16 a family');
    for (let i = 0; i < 20; i++) void relay.size;
    assert.is(relay.spareSockets, 128, '64 of each family');
    control.closeStreams([v4.id, v6.id]);
  } finally {
    relay.close();
  }
});

test('out of descriptors, the loop tries a spare once and then waits a second, not once per iteration', () => {
  // The child (spare-backoff-child.ts) lowers its own open files limit to what it has open, then
  // runs its relay's loop about 400 times in 400 ms; strace counts its socket() calls that fail.
  const dir = mkdtempSync(join(tmpdir(), 'pinlatch-spares-'));
  try {
    const trace = join(dir, 'trace');
    const child = new URL('./spare-backoff-child.ts', import.meta.url).pathname;
    const run = spawnSync('strace', ['-f', '-qq', '-e', 'trace=socket', '-o', trace, process.execPath, '--import', 'tsx', child], { encoding: 'utf8', timeout: 20_000 });
    assert.match(run.stdout, /^done \d+/m, run.stderr);
    const iterations = Number(/^done (\d+)/m.exec(run.stdout)![1]);
    assert.ok(iterations >= 100, `${iterations} iterations of the relay's loop`);
    const failed = readFileSync(trace, 'utf8').split('\n').filter((line) => line.includes('socket(') && line.includes('EMFILE')).length;
    assert.ok(failed >= 1, 'the top-up met the limit');
    assert.ok(failed <= 2, `${failed} failed socket() calls in ${iterations} iterations`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a closed relay refuses pushes with ERR_PINLATCH_CLOSED and keeps none of their sockets; its token is gone', () => {
  const baseline = relayFds();
  const relay = addon.createRelay();
  const control = addon.connect(relay.controlToken);
  const token = relay.controlToken;
  const { id } = openControlled(control);
  // Pushed, never applied: closing the relay closes the queued command's sockets.
  openControlled(control);
  relay.close();
  assert.is(relayFds(), baseline, 'queued opens were closed with the relay');
  const refused = thrown(() => control.openStreams([{ address: '127.0.0.1', aPort: 40000, bPort: 40002 }]));
  assert.is(refused.code, 'ERR_PINLATCH_CLOSED');
  assert.is(thrown(() => control.closeStreams([id])).code, 'ERR_PINLATCH_CLOSED');
  assert.is(relayFds(), baseline, 'what the refused push bound was closed');
  assert.is(thrown(() => addon.connect(token)).code, 'ERR_PINLATCH_CLOSED');
});

test.run();
