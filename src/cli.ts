#!/usr/bin/env node
/**
 * `pinlatch [--config FILE] [--check-config] [--log-level LEVEL]`
 * `pinlatch doctor [--config FILE]` checks the host against the configuration (src/doctor/).
 *
 * With no --config the relay runs on the built-in loopback default (printed at start). SIGTERM and
 * SIGINT stop it cleanly: new calls are refused, running calls may finish until `sip.drainSec`,
 * then are ended with BYE both ways (a second signal ends them at once); then listeners close,
 * shards stop, every media socket is closed, and the exit code is 0.
 */
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { ConfigError, defaultConfig, loadConfigFile, openRelayWarnings, type PinlatchConfig } from './config/index.js';
import { Pinlatch } from './app/Pinlatch.js';
import { VERSION } from './version.js';
import { doctor } from './doctor/command.js';
import { readHost } from './doctor/read-host.js';

const USAGE = `Usage: pinlatch [options]
       pinlatch doctor [-c FILE]   check this host's limits and sysctls against the configuration

  -c, --config FILE     configuration file (YAML); default: built-in loopback configuration
      --check-config    validate the configuration and exit (0 = valid)
      --log-level LEVEL override log.level (trace, debug, info, warn, error, fatal)
  -v, --version         print the version
  -h, --help            this text

Examples: examples/pinlatch.yaml (SIP edge for a gateway behind NAT),
          examples/media-only.yaml (NG media relay, a drop-in for rtpengine).`;

async function main(): Promise<number> {
  if (process.argv[2] === 'doctor') {
    return doctor(process.argv.slice(3), {
      out: (text) => process.stdout.write(text),
      err: (text) => process.stderr.write(text),
      readHost,
    });
  }
  let args;
  try {
    args = parseArgs({
      options: {
        config: { type: 'string', short: 'c' },
        'check-config': { type: 'boolean' },
        'log-level': { type: 'string' },
        version: { type: 'boolean', short: 'v' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    }).values;
  } catch (err) {
    process.stderr.write(`pinlatch: ${(err as Error).message}\n\n${USAGE}\n`);
    return 2;
  }
  if (args.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (args.version) {
    process.stdout.write(`pinlatch ${VERSION}\n`);
    return 0;
  }

  let config: PinlatchConfig;
  try {
    config = args.config === undefined ? defaultConfig() : await loadConfigFile(args.config);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      return 1;
    }
    throw err;
  }
  const warnings = openRelayWarnings(config);
  if (args['check-config']) {
    for (const w of warnings) process.stdout.write(`${config.source}: warning: ${w.path}: ${w.message}\n`);
    process.stdout.write(`${config.source}: configuration is valid${warnings.length > 0 ? ` (${warnings.length} warning${warnings.length === 1 ? '' : 's'})` : ''}\n`);
    return 0;
  }

  const logger = pino({ name: 'pinlatch', level: args['log-level'] ?? config.log.level });
  for (const w of warnings) logger.warn({ key: w.path }, w.message);
  const app = new Pinlatch({ config, logger });
  let points;
  try {
    points = await app.start();
  } catch (err) {
    logger.fatal({ err }, 'start failed');
    return 1;
  }
  logger.info({ version: VERSION, config: config.source, listen: points }, 'pinlatch running');
  if (config.source === '<default>') {
    process.stderr.write(
      `pinlatch ${VERSION} running on the built-in loopback configuration:\n` +
        points.map((p) => `  ${p.service.padEnd(7)} ${p.transport} ${p.address}:${p.port}\n`).join('') +
        'Stop with Ctrl-C. Real use: pinlatch --config FILE (see examples/).\n',
    );
  }

  // First SIGTERM/SIGINT: drain (no new calls; running ones may finish until sip.drainSec, then
  // get BYE both ways). Another one during the drain ends the calls at once.
  await new Promise<void>((resolve) => {
    let signals = 0;
    const onSignal = (signal: NodeJS.Signals) => {
      signals += 1;
      if (signals === 1) {
        logger.info({ signal, drainSec: config.sip?.drainSec ?? 0 }, 'stopping: draining calls');
        void app.drain().then(resolve, (err: unknown) => {
          logger.error({ err }, 'drain failed');
          resolve();
        });
      } else {
        logger.info({ signal }, 'stopping: ending the calls now');
        void app.drain(0);
      }
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });
  await app.stop();
  logger.info('stopped');
  return 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`pinlatch: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  },
);
