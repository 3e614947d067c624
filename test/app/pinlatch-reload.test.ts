/**
 * Pinlatch.reload on a running relay (media only): the log level follows `log.level` unless
 * `--log-level` fixed it; a refused reload keeps the configuration in force; none after stop.
 */
import { pino, type Logger } from 'pino';
import * as assert from 'uvu/assert';
import { suite } from '../support/suite.ts';
import { freePortRange } from '../media/udp-peer.ts';
import { ConfigError, parseConfig } from '../../src/config/index.ts';
import { Pinlatch } from '../../src/app/Pinlatch.ts';

const test = suite('app: Pinlatch.reload', { timeoutMs: 30_000 });

async function mediaOnly(logLevel?: 'warn'): Promise<{ app: Pinlatch; logger: Logger; yaml: (extra: string) => string }> {
  const ports = await freePortRange(8);
  const yaml = (extra: string) => `media:\n  address: 127.0.0.1\n  ports: { min: ${ports.min}, max: ${ports.max} }\n  shards: 1\n${extra}`;
  const logger = pino({ level: logLevel ?? 'info' }, { write: () => undefined });
  const app = new Pinlatch({ config: parseConfig(yaml(''), 'a.yaml'), logger, ...(logLevel ? { logLevel } : {}) });
  await app.start();
  return { app, logger, yaml };
}

test('log.level changes the root logger and its children; --log-level stays in force', async () => {
  const plain = await mediaOnly();
  try {
    const child = plain.logger.child({ component: 'sip' });
    const changed = await plain.app.reload(parseConfig(plain.yaml('log: { level: debug }\n'), 'a.yaml'));
    assert.equal(changed, ['log.level']);
    assert.is(plain.app.config.log.level, 'debug');
    assert.is(plain.logger.level, 'debug');
    assert.ok(child.isLevelEnabled('debug'), 'a child made before the reload follows');
  } finally {
    await plain.app.stop();
  }
  const fixed = await mediaOnly('warn');
  try {
    await fixed.app.reload(parseConfig(fixed.yaml('log: { level: debug }\n'), 'a.yaml'));
    assert.is(fixed.app.config.log.level, 'debug', 'the configuration is in force');
    assert.is(fixed.logger.level, 'warn', 'the --log-level override stays');
  } finally {
    await fixed.app.stop();
  }
});

test('a refused reload keeps the configuration in force; after stop there is no reload', async () => {
  const { app, yaml } = await mediaOnly();
  const before = app.config;
  try {
    try {
      await app.reload(parseConfig(yaml('log: { level: debug }\n').replace('shards: 1', 'shards: 2'), 'b.yaml'));
      assert.unreachable('media.shards cannot change');
    } catch (err) {
      assert.instance(err, ConfigError);
      assert.equal((err as ConfigError).issues.map((i) => i.path), ['media.shards']);
    }
    assert.is(app.config, before);
  } finally {
    await app.stop();
  }
  try {
    await app.reload(before);
    assert.unreachable('stopped');
  } catch (err) {
    assert.match((err as Error).message, 'pinlatch is stopping');
  }
});

test.run();
