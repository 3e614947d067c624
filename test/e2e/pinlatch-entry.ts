/**
 * Runs pinlatch (config → MediaRelay → SipProxy) as a child process inside the "edge" network
 * namespace of an end-to-end test: `ip netns exec <ns> node --import tsx pinlatch-entry.ts <yaml>`.
 * Prints "ready" once SIP and media listen; stops cleanly on SIGTERM.
 */
import { readFileSync } from 'node:fs';
import { pino } from 'pino';
import { parseConfig } from '../../src/config/index.ts';
import { MediaRelay } from '../../src/media/MediaRelay.ts';
import { SipProxy } from '../../src/sip/Proxy.ts';

const path = process.argv[2];
if (!path) throw new Error('usage: pinlatch-entry.ts <config.yaml>');
const config = parseConfig(readFileSync(path, 'utf8'), path);
const logger = pino({ level: process.env.PINLATCH_E2E_LOG ?? 'warn' }, pino.destination(2));
const media = await MediaRelay.start({
  address: config.media.address,
  advertise: config.media.advertise,
  ports: config.media.ports,
  shards: config.media.shards,
  timeoutMs: config.media.timeoutSec * 1000,
  quarantineMs: config.media.quarantineMs,
  logger,
});
const proxy = new SipProxy({ config, media, logger });
await proxy.start();
process.stdout.write('ready\n');

process.once('SIGTERM', () => {
  void (async () => {
    await proxy.stop();
    await media.close();
    process.exit(0);
  })();
});
