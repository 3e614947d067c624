/**
 * `pinlatch doctor [--config FILE]`: reads the host (read-host.ts), checks it against the
 * configuration the relay would run with (checks.ts), prints one line per check and the fix of
 * each problem. Exit code 0 when every check passes, 1 when one does not, 2 on a usage error.
 */
import { parseArgs } from 'node:util';
import { ConfigError, defaultConfig, loadConfigFile, type PinlatchConfig } from '../config/index.js';
import { runChecks } from './checks.js';
import type { HostReadings } from './readings.js';

export const DOCTOR_USAGE = `Usage: pinlatch doctor [-c FILE]

Checks this host against the configuration (default: the built-in loopback one): open files
limit vs media ports and TCP connections, net.core.rmem_max/wmem_max, ip_local_port_range vs the
media ports, io_uring, CAP_NET_BIND_SERVICE for ports below 1024. Run it as the service's user.
Exit code: 0 all good, 1 something to fix (printed with the fix).`;

export interface DoctorIo {
  out(text: string): void;
  err(text: string): void;
  readHost(): Promise<HostReadings>;
}

export async function doctor(argv: string[], io: DoctorIo): Promise<number> {
  let args;
  try {
    args = parseArgs({ args: argv, options: { config: { type: 'string', short: 'c' }, help: { type: 'boolean', short: 'h' } }, strict: true }).values;
  } catch (err) {
    io.err(`pinlatch doctor: ${(err as Error).message}\n\n${DOCTOR_USAGE}\n`);
    return 2;
  }
  if (args.help) {
    io.out(`${DOCTOR_USAGE}\n`);
    return 0;
  }
  let config: PinlatchConfig;
  try {
    config = args.config === undefined ? defaultConfig() : await loadConfigFile(args.config);
  } catch (err) {
    if (err instanceof ConfigError) {
      io.err(`${err.message}\n`);
      return 1;
    }
    throw err;
  }
  const results = runChecks(config, await io.readHost());
  for (const r of results) {
    io.out(`${r.ok ? 'ok  ' : 'FAIL'} ${r.check}: ${r.detail}\n`);
    if (!r.ok) io.out(`     fix: ${r.fix}\n`);
  }
  const problems = results.filter((r) => !r.ok).length;
  io.out(`pinlatch doctor (${config.source}): ${problems === 0 ? 'no problems' : `${problems} problem${problems === 1 ? '' : 's'}`}\n`);
  return problems === 0 ? 0 : 1;
}
