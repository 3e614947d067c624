#!/usr/bin/env node
/**
 * `pinlatch [--config FILE] [--check-config] [--log-level LEVEL] [--pidfile FILE]`
 * `pinlatch reload --pidfile FILE [--timeout SEC]`
 * `pinlatch doctor [--config FILE]` checks the host against the configuration (src/doctor/).
 *
 * With no --config the relay runs on the built-in loopback default (printed at start). SIGTERM and
 * SIGINT stop it cleanly: new calls are refused, running calls may finish until `sip.drainSec`,
 * then are ended with BYE both ways (a second signal ends them at once); then listeners close,
 * shards stop, every media socket is closed, and the exit code is 0. SIGHUP reloads the
 * configuration file (app/Reloader.ts); `pinlatch reload` sends it and reports the outcome.
 */
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { ConfigError, defaultConfig, loadConfigFile, openRelayWarnings, type LogLevel, type PinlatchConfig } from './config/index.js';
import { logLevels } from './config/schema.js';
import { Pinlatch } from './app/Pinlatch.js';
import { Reloader } from './app/Reloader.js';
import { reloadCommand } from './app/reloadCommand.js';
import { removePidfile, writePidfile } from './app/ReloadStatus.js';
import { VERSION } from './version.js';
import { doctor } from './doctor/command.js';
import { readHost } from './doctor/read-host.js';

const USAGE = `Usage: pinlatch [options]
       pinlatch reload --pidfile FILE [--timeout SEC]
       pinlatch doctor [-c FILE]   check this host's limits and sysctls against the configuration

  -c, --config FILE     configuration file (YAML); default: built-in loopback configuration
      --check-config    validate the configuration and exit (0 = valid)
      --log-level LEVEL override log.level, also across reloads (trace, debug, info, warn, error, fatal)
      --pidfile FILE    write the PID to FILE once running (and reload outcomes to FILE.reload.json)
  -v, --version         print the version
  -h, --help            this text

Reload: SIGHUP (systemctl reload) or \`pinlatch reload --pidfile FILE\` reads the --config file
again. Trunks, routes, upstream, admission lists, limits and the log level apply to new calls;
calls in progress keep their trunk, route pin and media. A file with errors, or one that changes
a key fixed at start (listen sockets, media ports and shards, ...: docs/configuration.md), is
refused with its keys and lines and the running configuration stays. \`pinlatch reload\` waits
up to --timeout seconds (default 10) for the outcome and exits 0 (reloaded), 1 (refused: the
errors on stderr) or 3 (no running instance, or no answer).

Examples: examples/pinlatch.yaml (SIP edge for a gateway behind NAT),
          examples/media-only.yaml (NG media relay, a drop-in for rtpengine).`;

function usageError(message: string): number {
  process.stderr.write(`pinlatch: ${message}\n\n${USAGE}\n`);
  return 2;
}

function isLogLevel(value: string): value is LogLevel {
  return (logLevels as readonly string[]).includes(value);
}

async function main(): Promise<number> {
  if (process.argv[2] === 'doctor') {
    return doctor(process.argv.slice(3), {
      out: (text) => process.stdout.write(text),
      err: (text) => process.stderr.write(text),
      readHost,
    });
  }
  let parsed;
  try {
    parsed = parseArgs({
      options: {
        config: { type: 'string', short: 'c' },
        'check-config': { type: 'boolean' },
        'log-level': { type: 'string' },
        pidfile: { type: 'string' },
        timeout: { type: 'string' },
        version: { type: 'boolean', short: 'v' },
        help: { type: 'boolean', short: 'h' },
      },
      allowPositionals: true,
      strict: true,
    });
  } catch (err) {
    return usageError((err as Error).message);
  }
  const args = parsed.values;
  const [command, ...extra] = parsed.positionals;
  if (command !== undefined && command !== 'reload') return usageError(`unknown command "${command}"`);
  if (extra.length > 0) return usageError(`unexpected argument "${extra[0]}"`);
  if (args.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (command === 'reload') {
    if (args.pidfile === undefined) return usageError('reload needs --pidfile FILE (the one pinlatch was started with)');
    const others = (['config', 'check-config', 'log-level'] as const).filter((k) => args[k] !== undefined);
    if (others.length > 0) return usageError(`reload takes --pidfile and --timeout only, not --${others[0]}`);
    const timeoutSec = Number(args.timeout ?? 10);
    if (!Number.isFinite(timeoutSec) || timeoutSec <= 0) return usageError(`--timeout: expected a number of seconds > 0 (got "${args.timeout}")`);
    const result = await reloadCommand({ pidfile: args.pidfile, timeoutMs: timeoutSec * 1000 });
    (result.code === 0 ? process.stdout : process.stderr).write(`${result.message}\n`);
    return result.code;
  }
  if (args.timeout !== undefined) return usageError('--timeout belongs to `pinlatch reload`');
  const logLevel = args['log-level'];
  if (logLevel !== undefined && !isLogLevel(logLevel)) return usageError(`--log-level: expected one of ${logLevels.join(', ')}`);
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

  const logger = pino({ name: 'pinlatch', level: logLevel ?? config.log.level });
  for (const w of warnings) logger.warn({ key: w.path }, w.message);
  const app = new Pinlatch({ config, logger, ...(logLevel === undefined ? {} : { logLevel }) });
  const reloader = new Reloader({ app, configFile: args.config ?? null, logger, pidfile: args.pidfile });
  // SIGHUP's default action ends the process: from here on it reloads, once start is done.
  let started = false;
  let reloadWanted = false;
  process.on('SIGHUP', () => {
    if (started) void reloader.request();
    else reloadWanted = true;
  });
  let points;
  try {
    points = await app.start();
  } catch (err) {
    logger.fatal({ err }, 'start failed');
    return 1;
  }
  if (args.pidfile !== undefined) {
    try {
      await writePidfile(args.pidfile);
    } catch (err) {
      logger.fatal({ err, pidfile: args.pidfile }, 'pidfile not written');
      await app.stop();
      return 1;
    }
  }
  logger.info({ version: VERSION, config: config.source, listen: points, pid: process.pid }, 'pinlatch running');
  started = true;
  if (reloadWanted) void reloader.request();
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
        logger.info({ signal, drainSec: app.config.sip?.drainSec ?? 0 }, 'stopping: draining calls');
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
  if (args.pidfile !== undefined) await removePidfile(args.pidfile).catch((err: unknown) => logger.warn({ err }, 'pidfile not removed'));
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
