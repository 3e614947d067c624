/**
 * Reloads on SIGHUP: reads the configuration file again and puts it in force (Pinlatch.reload).
 * One reload runs at a time; a signal during one asks for another right after it, so the last
 * edit of the file is always read. Each outcome is logged and, with a pidfile, written for
 * `pinlatch reload` (ReloadStatus.ts). A file that does not load, or that changes a key that
 * cannot change at run time, leaves the running configuration in force.
 */
import type { Logger } from 'pino';
import { ConfigError, formatIssue, loadLocatedConfigFile } from '../config/index.js';
import type { Pinlatch } from './Pinlatch.js';
import { writeReloadOutcome, type ReloadOutcome } from './ReloadStatus.js';

export interface ReloaderOptions {
  app: Pinlatch;
  /** The file given with --config, or null: started on the built-in configuration, nothing to reload. */
  configFile: string | null;
  logger: Logger;
  pidfile?: string | undefined;
}

export class Reloader {
  readonly #options: ReloaderOptions;
  #running: Promise<void> | null = null;
  #again = false;

  constructor(options: ReloaderOptions) {
    this.#options = options;
  }

  /** Asks for a reload; resolves when no reload is pending any more. */
  request(): Promise<void> {
    if (this.#running) {
      this.#again = true;
      return this.#running;
    }
    this.#running = (async () => {
      do {
        this.#again = false;
        await this.#reloadOnce();
      } while (this.#again);
      this.#running = null;
    })();
    return this.#running;
  }

  async #reloadOnce(): Promise<void> {
    const { app, configFile, logger, pidfile } = this.#options;
    const startedAt = Date.now();
    let ok = false;
    let message: string;
    if (configFile === null) {
      message = 'pinlatch runs on the built-in configuration (no --config): nothing to reload';
      logger.error(message);
    } else {
      try {
        const { config, locate } = await loadLocatedConfigFile(configFile);
        const changed = await app.reload(config, locate);
        ok = true;
        message = `configuration ${configFile} reloaded${changed.length === 0 ? ' (nothing changed)' : `: ${changed.join(', ')}`}`;
        logger.info({ config: configFile, changed, logLevel: logger.level }, 'configuration reloaded');
      } catch (err) {
        if (err instanceof ConfigError) {
          message = `${err.message}\nthe running configuration stays`;
          logger.error({ config: configFile, errors: err.issues.map(formatIssue) }, 'configuration not reloaded: the running one stays');
        } else {
          message = `configuration ${configFile} not reloaded: ${err instanceof Error ? err.message : String(err)}`;
          logger.error({ config: configFile, err }, 'configuration not reloaded: the running one stays');
        }
      }
    }
    if (pidfile === undefined) return;
    const outcome: ReloadOutcome = { pid: process.pid, startedAt, finishedAt: Date.now(), ok, source: configFile ?? '<default>', message };
    await writeReloadOutcome(pidfile, outcome).catch((err: unknown) => logger.error({ err, pidfile }, 'reload outcome not written'));
  }
}
