/** media.cpus, media.realtime and media.socketBuffers: shapes, ranges, defaults, and what reaches the relay. */
import * as assert from 'uvu/assert';
import { suite } from '../support/suite.ts';
import { ConfigError, parseConfig, type ConfigIssue } from '../../src/config/index.ts';
import { mediaRelayOptions } from '../../src/app/Pinlatch.ts';

const MEDIA = 'media:\n  address: 127.0.0.1\n';

function issuesOf(text: string): ConfigIssue[] {
  try {
    parseConfig(text, 'test.yaml');
  } catch (err) {
    assert.instance(err, ConfigError);
    return [...(err as ConfigError).issues];
  }
  throw new Error('expected a ConfigError');
}

function expectIssue(text: string, path: string, messagePart: string): void {
  const hit = issuesOf(text).find((i) => i.path === path);
  assert.ok(hit, `no issue at ${path}`);
  assert.ok(hit!.message.includes(messagePart), `"${hit!.message}" should contain "${messagePart}"`);
}

const test = suite('config: media data plane (cpus, realtime, socketBuffers)');

test('defaults: no pinning, normal scheduling, 256 KiB socket buffers', () => {
  const c = parseConfig(MEDIA);
  assert.is(c.media.cpus, undefined);
  assert.is(c.media.realtime, undefined);
  assert.equal(c.media.socketBuffers, { receiveBytes: 262_144, sendBytes: 262_144 });
  const options = mediaRelayOptions(c.media);
  assert.is(options.cpus, undefined);
  assert.is(options.realtimePriority, undefined);
  assert.is(options.receiveBufferBytes, 262_144);
  assert.is(options.sendBufferBytes, 262_144);
});

test('given values reach the media relay options', () => {
  const c = parseConfig(`${MEDIA}  shards: 2\n  cpus: [2, 3]\n  realtime: 20\n  socketBuffers: { receiveBytes: 4194304, sendBytes: 1048576 }\n`);
  const options = mediaRelayOptions(c.media);
  assert.equal(options.cpus, [2, 3]);
  assert.is(options.realtimePriority, 20);
  assert.is(options.receiveBufferBytes, 4_194_304);
  assert.is(options.sendBufferBytes, 1_048_576);
});

test('bad values are refused with a clear message', () => {
  expectIssue(`${MEDIA}  cpus: []\n`, 'media.cpus', 'at least one CPU');
  expectIssue(`${MEDIA}  cpus: [1, 1]\n`, 'media.cpus', 'each CPU once');
  expectIssue(`${MEDIA}  cpus: [1024]\n`, 'media.cpus[0]', '0..1023');
  expectIssue(`${MEDIA}  cpus: 1\n`, 'media.cpus', 'list of CPU numbers');
  expectIssue(`${MEDIA}  realtime: 0\n`, 'media.realtime', '1..99');
  expectIssue(`${MEDIA}  realtime: true\n`, 'media.realtime', '1..99');
  expectIssue(`${MEDIA}  socketBuffers: { receiveBytes: 1024 }\n`, 'media.socketBuffers.receiveBytes', '4096..268435456');
  expectIssue(`${MEDIA}  socketBuffers: { sendBytes: 536870912 }\n`, 'media.socketBuffers.sendBytes', '4096..268435456');
  expectIssue(`${MEDIA}  socketBuffers: { rcvbuf: 65536 }\n`, 'media.socketBuffers.rcvbuf', 'unknown key');
});

test.run();
