/**
 * The shipped entry point as a user runs it: `pinlatch` with no file (built-in loopback default),
 * `--config` with the shipped examples, `--check-config`, errors that name key and line, and a
 * clean stop on SIGTERM.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as assert from 'uvu/assert';
import { suite } from './support/suite.ts';
import { NgClient, replyText } from '../src/control/NgClient.ts';
import { freePortRange } from './media/udp-peer.ts';
import { freeUdpPort } from './control/child.ts';

const test = suite('cli', { timeoutMs: 30_000 });
const CLI = ['--import', 'tsx', 'src/cli.ts'];
const dir = mkdtempSync(join(tmpdir(), 'pinlatch-cli-'));

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [...CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** Starts the relay and resolves once it logged that it runs. */
async function start(args: string[]): Promise<{ child: ChildProcess; output: () => string }> {
  const child = spawn(process.execPath, [...CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (d) => (output += d));
  child.stderr!.on('data', (d) => (output += d));
  const deadline = Date.now() + 20_000;
  while (!output.includes('"msg":"pinlatch running"')) {
    if (child.exitCode !== null) throw new Error(`pinlatch exited ${child.exitCode}:\n${output}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`pinlatch did not start:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return { child, output: () => output };
}

async function stop(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null) return child.exitCode;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  const [code] = (await exited) as [number | null];
  clearTimeout(timer);
  return code;
}

test('--check-config accepts every shipped example', async () => {
  for (const file of ['examples/pinlatch.yaml', 'examples/media-only.yaml', 'examples/phones.yaml']) {
    const r = await run(['--check-config', '--config', file]);
    assert.is(r.code, 0, r.stderr);
    assert.match(r.stdout, 'configuration is valid');
    assert.not.match(r.stdout, 'warning', `${file} is no open relay`);
  }
});

test('--check-config warns about a route open to the whole Internet, and still accepts it', async () => {
  const file = join(dir, 'open.yaml');
  writeFileSync(
    file,
    [
      'sip: { listen: [{ address: 127.0.0.1, port: 5099 }] }',
      'media: { address: 127.0.0.1 }',
      'trunks: [{ name: gateway, host: 127.0.0.9 }]',
      'routes: [{ match: { user: ".*" }, trunk: gateway, from: [0.0.0.0/0] }]',
      '',
    ].join('\n'),
  );
  const r = await run(['--check-config', '--config', file]);
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stdout, /warning: routes\[0\]\.from: 0\.0\.0\.0\/0 .*open relay/);
  assert.match(r.stdout, 'configuration is valid (1 warning)');
});

test('a bad configuration names the key and the line, and exits 1 without starting', async () => {
  const file = join(dir, 'bad.yaml');
  writeFileSync(file, 'media:\n  address: 127.0.0.1\n  ports: { min: 30000, max: 70000 }\n');
  const r = await run(['--config', file]);
  assert.is(r.code, 1);
  assert.match(r.stderr, /media\.ports\.max: .*\(line 3\)/);
  assert.not.match(r.stdout, 'pinlatch running');
});

test('unknown options print the usage and exit 2', async () => {
  const r = await run(['--no-such-flag']);
  assert.is(r.code, 2);
  assert.match(r.stderr, 'Usage: pinlatch');
});

test('no --config: the built-in loopback default runs, prints where it listens, stops on SIGTERM', async () => {
  const { child, output } = await start([]);
  try {
    assert.match(output(), 'built-in loopback configuration');
    assert.match(output(), 'sip     udp 127.0.0.1:5060');
    assert.match(output(), 'ng      udp 127.0.0.1:2223');
    const ng = await NgClient.connect({ host: '127.0.0.1', port: 2223 });
    try {
      const reply = await ng.request({ command: 'ping' });
      assert.is(replyText(reply.result), 'pong');
    } finally {
      ng.close();
    }
  } finally {
    assert.is(await stop(child), 0, output());
  }
});

test('a media-only configuration runs as an NG relay (the rtpengine drop-in)', async () => {
  const file = join(dir, 'media-only.yaml');
  const ports = await freePortRange(100);
  const ngPort = await freeUdpPort();
  writeFileSync(
    file,
    `media:\n  address: 127.0.0.1\n  advertise: 127.0.0.1\n  ports: { min: ${ports.min}, max: ${ports.max} }\n  shards: 1\nng: { address: 127.0.0.1, port: ${ngPort} }\n`,
  );
  const { child, output } = await start(['--config', file]);
  try {
    assert.not.match(output(), 'sip ');
    const ng = await NgClient.connect({ host: '127.0.0.1', port: ngPort });
    try {
      const sdp = 'v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 7000 RTP/AVP 0\r\n';
      const reply = await ng.request({ command: 'offer', 'call-id': 'cli-1', 'from-tag': 'f1', sdp });
      assert.is(replyText(reply.result), 'ok');
      const port = Number(/m=audio (\d+) RTP\/AVP 0/.exec(replyText(reply.sdp) ?? '')?.[1]);
      assert.ok(port >= ports.min && port <= ports.max, `port ${port} in ${ports.min}-${ports.max}`);
    } finally {
      ng.close();
    }
  } finally {
    assert.is(await stop(child), 0, output());
  }
});

test.after(() => rmSync(dir, { recursive: true, force: true }));
test.run();
