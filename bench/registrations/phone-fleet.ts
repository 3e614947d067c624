/**
 * N NATed phones as a few sipp processes (bench/registrations/nat-phone.xml): process i sends from
 * its own loopback address, one UDP socket per phone (`-t un`), so every phone has a source port of
 * its own, as the NAT mapping of a phone in its own home would. Phones start at the given rate and
 * then refresh for ever; pinlatch's keepalive OPTIONS are answered by sipp's automatic answer
 * (`-aa`), and a late duplicate answer does not end a phone (`-abortunexp` off). A sipp process holds at most `perProcess` phones (each one a file descriptor, under
 * RLIMIT_NOFILE).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Child } from '../../test/control/child.ts';

export const SIPP = '/usr/bin/sipp';
const SCENARIO = fileURLToPath(new URL('./nat-phone.xml', import.meta.url));

export interface FleetOptions {
  phones: number;
  perProcess: number;
  /** Registrations per second, all processes together. */
  rate: number;
  /** pinlatch's SIP address and port. */
  target: string;
  /** First three octets of the phones' loopback addresses (fleetAddress). */
  subnet: string;
  /** Seconds between a phone's 200 and its next REGISTER. */
  refreshSec: number;
  /** The expiry the phones ask for. */
  expiresSec: number;
  /** Where sipp writes its statistics files. */
  dir: string;
  /** The command line that runs sipp with `argv` (CPU pinning, priority). */
  command: (argv: readonly string[]) => string[];
}

/** sipp's counters at the end (its -trace_stat file, cumulative columns). */
export interface FleetCounts {
  /** Phones whose registration loop ended in an error (an unexpected answer, a timeout). */
  failed: number;
  /** Phones still running. */
  running: number;
  /** Requests sipp retransmitted (an answer came late or not at all). */
  retransmissions: number;
  /** Messages no phone expected (pinlatch's OPTIONS, answered by -aa, are among them). */
  outOfCall: number;
}

/** Loopback address of sipp process i: <subnet>.100, .101, ... */
export const fleetAddress = (subnet: string, i: number): string => `${subnet}.${100 + i}`;

export class PhoneFleet {
  private readonly children: Child[] = [];
  private readonly statFiles: string[] = [];
  private readonly ended: string[] = [];

  private constructor(readonly options: FleetOptions) {}

  static start(o: FleetOptions): PhoneFleet {
    const fleet = new PhoneFleet(o);
    const processes = Math.ceil(o.phones / o.perProcess);
    for (let i = 0; i < processes; i++) {
      const count = Math.min(o.perProcess, o.phones - i * o.perProcess);
      const rate = Math.max(1, Math.round((o.rate * count) / o.phones));
      const stat = join(o.dir, `phones-${i}.csv`);
      fleet.statFiles.push(stat);
      const args = [
        o.target, '-sf', SCENARIO, '-t', 'un', '-i', fleetAddress(o.subnet, i), '-aa', '-default_behaviors', 'all,-abortunexp', '-nostdin',
        '-max_socket', String(count + 64), '-m', String(count), '-l', String(count), '-r', String(rate), '-rp', '1000',
        '-d', String(o.refreshSec * 1000), '-set', 'user', `p${i}u`, '-set', 'domain', 'pbx.test', '-set', 'expires', String(o.expiresSec),
        '-trace_stat', '-stf', stat, '-fd', '2', '-trace_err', '-error_file', join(o.dir, `errors-${i}.log`), '-max_log_size', '5000000',
      ];
      const [file, ...rest] = o.command([SIPP, ...args]);
      const child = new Child(file!, rest, { cwd: o.dir });
      void child.done.then((r) => fleet.ended.push(`sipp ${fleetAddress(o.subnet, i)} exited ${r.code ?? r.signal}: ${r.output.slice(-1500)}`));
      fleet.children.push(child);
    }
    return fleet;
  }

  get pids(): number[] {
    return this.children.map((c) => c.pid);
  }

  /** sipp processes that exited already (a bad argument, too many sockets): their output. */
  exited(): readonly string[] {
    return this.ended;
  }

  counts(): FleetCounts {
    const total: FleetCounts = { failed: 0, running: 0, retransmissions: 0, outOfCall: 0 };
    for (const file of this.statFiles) {
      const row = lastStatRow(file);
      total.failed += row['FailedCall(C)'] ?? 0;
      total.running += row['CurrentCall'] ?? 0;
      total.retransmissions += row['Retransmissions(C)'] ?? 0;
      total.outOfCall += row['OutOfCallMsgs(C)'] ?? 0;
    }
    return total;
  }

  async stop(): Promise<void> {
    await Promise.all(this.children.map((c) => c.stop()));
  }
}

/** The last row of a sipp -trace_stat file (';'-separated, first line the column names). */
export function lastStatRow(file: string): Record<string, number> {
  if (!existsSync(file)) return {};
  const lines = readFileSync(file, 'latin1').split('\n').filter((l) => l.trim() !== '');
  if (lines.length < 2) return {};
  const names = lines[0]!.split(';');
  const values = lines[lines.length - 1]!.split(';');
  const row: Record<string, number> = {};
  names.forEach((name, i) => {
    const v = Number(values[i]);
    if (name !== '' && Number.isFinite(v)) row[name] = v;
  });
  return row;
}
