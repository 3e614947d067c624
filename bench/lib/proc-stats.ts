/**
 * CPU and socket figures from /proc (Linux).
 *
 * Process CPU: the sum over /proc/PID/task/* /schedstat of the first field (ns on CPU), which
 * covers every thread (piscina workers included) with ns resolution; utime+stime of
 * /proc/PID/stat (10 ms ticks, also every thread) is kept as a cross-check.
 */
import { readFileSync, readdirSync } from 'node:fs';

const TICK_S = 0.01; // USER_HZ = 100 on Linux

export interface ProcessCpu {
  /** ns on CPU of the live threads (schedstat). */
  schedNs: number;
  /** utime + stime in seconds (clock ticks). */
  tickSeconds: number;
  threads: number;
}

export function processCpu(pid: number): ProcessCpu {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name in parentheses; utime/stime are fields 14/15 (1-based).
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const tickSeconds = (Number(fields[11]) + Number(fields[12])) * TICK_S;
  let schedNs = 0;
  let threads = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      schedNs += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
      threads++;
    } catch {
      // The thread ended between readdir and read.
    }
  }
  return { schedNs, tickSeconds, threads };
}

export interface MachineCpu {
  busyTicks: number;
  totalTicks: number;
}

export function machineCpu(): MachineCpu {
  const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!;
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal (guest fields are inside user/nice already)
  const idle = (v[3] ?? 0) + (v[4] ?? 0);
  const total = v.slice(0, 8).reduce((a, b) => a + b, 0);
  return { busyTicks: total - idle, totalTicks: total };
}

/**
 * Receive-buffer drops of the IPv4 UDP socket bound to `address:port` (the `drops` column of
 * /proc/net/udp, whose local address is the IPv4 address in hex, in host byte order).
 */
export function udpDropsAt(address: string, port: number): number {
  const hex = Buffer.from(address.split('.').map(Number)).readUInt32LE(0).toString(16).toUpperCase().padStart(8, '0');
  const local = `${hex}:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  let drops = 0;
  for (const line of readFileSync('/proc/net/udp', 'utf8').split('\n').slice(1)) {
    const cols = line.trim().split(/\s+/);
    if (cols[1] === local) drops += Number(cols[cols.length - 1]) || 0;
  }
  return drops;
}

/** Receive-queue drops per local UDP port (the `drops` column of /proc/net/udp and udp6). */
export function udpDropsByPort(): Map<number, number> {
  const drops = new Map<number, number>();
  for (const file of ['/proc/net/udp', '/proc/net/udp6']) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    const lines = text.split('\n');
    for (let i = 1; i < lines.length; i++) {
      const cols = lines[i]!.trim().split(/\s+/);
      if (cols.length < 13) continue;
      const port = parseInt(cols[1]!.split(':')[1]!, 16);
      drops.set(port, (drops.get(port) ?? 0) + Number(cols[cols.length - 1]));
    }
  }
  return drops;
}

/**
 * First block of `count` consecutive UDP ports inside [min, max] where nothing is bound right
 * now, or null. Keeps a relay's port range clear of other processes (another bench run, tests).
 */
export function freeUdpPortBlock(count: number, min: number, max: number): { min: number; max: number } | null {
  const used = udpDropsByPort();
  let start = min % 2 === 0 ? min : min + 1;
  for (let port = start; port <= max; port++) {
    if (used.has(port)) {
      start = port % 2 === 0 ? port + 2 : port + 1;
      continue;
    }
    if (port - start + 1 >= count) return { min: start, max: port };
  }
  return null;
}

export function sumDrops(before: Map<number, number>, after: Map<number, number>, ports: Iterable<number>): number {
  let total = 0;
  for (const p of ports) total += (after.get(p) ?? 0) - (before.get(p) ?? 0);
  return total;
}

/**
 * Waits until the machine is quiet: busy time over a 500 ms window below `busyPct` % of all
 * CPUs. Meant for moments when the bench's own processes are idle (between steps), so what is
 * busy is someone else. Returns the last busy share seen (it gives up after maxWaitMs).
 */
export async function waitForQuiet(busyPct: number, maxWaitMs: number): Promise<number> {
  const end = performance.now() + maxWaitMs;
  for (;;) {
    const a = machineCpu();
    await new Promise((r) => setTimeout(r, 500));
    const b = machineCpu();
    const pct = (100 * (b.busyTicks - a.busyTicks)) / Math.max(1, b.totalTicks - a.totalTicks);
    if (pct < busyPct || performance.now() >= end) return pct;
  }
}

/**
 * One thread's schedstat (the main thread's tid is the pid): ns on CPU, and ns it was runnable but
 * waiting for a CPU (what other processes on its CPU cost it).
 */
export function threadSched(pid: number, tid = pid): { runNs: number; waitNs: number } {
  const [run, wait] = readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ');
  return { runNs: Number(run), waitNs: Number(wait) };
}

/** Resident set size of a process, KiB (VmRSS of /proc/PID/status). */
export function rssKiB(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : 0;
}
