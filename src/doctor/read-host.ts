/**
 * Reads the host settings `pinlatch doctor` checks, from /proc of this process and by starting
 * the relay's io_uring data path once (the one sure test: kernels, sysctls and seccomp filters
 * all decide whether io_uring_setup works).
 */
import { readFile } from 'node:fs/promises';
import type { HostReadings, IoUringReading, PortSpan } from './readings.js';
import { CAP_NET_BIND_SERVICE_BIT } from './checks.js';

async function procText(path: string): Promise<string> {
  return (await readFile(path, 'utf8')).trim();
}

async function procNumber(path: string): Promise<number> {
  const text = await procText(path);
  const value = Number(text.split(/\s+/)[0]);
  if (!Number.isFinite(value)) throw new Error(`${path}: expected a number, read "${text}"`);
  return value;
}

/** "32768\t60999" */
export function parsePortRange(text: string): PortSpan {
  const [min, max] = text.trim().split(/\s+/).map(Number);
  if (min === undefined || max === undefined || !Number.isInteger(min) || !Number.isInteger(max)) throw new Error(`expected "min max", read "${text}"`);
  return { min, max };
}

/** "8080,9000-9100" (empty: none). */
export function parsePortList(text: string): PortSpan[] {
  return text
    .trim()
    .split(',')
    .filter((part) => part !== '')
    .map((part) => {
      const [min, max = min] = part.split('-').map(Number);
      if (!Number.isInteger(min) || !Number.isInteger(max)) throw new Error(`expected ports like 8080,9000-9100, read "${text}"`);
      return { min: min!, max: max! };
    });
}

/** The soft "Max open files" of /proc/<pid>/limits; Infinity when unlimited. */
export function parseOpenFilesLimit(limits: string): number {
  const line = limits.split('\n').find((l) => l.startsWith('Max open files'));
  const soft = line?.slice('Max open files'.length).trim().split(/\s+/)[0];
  if (soft === undefined) throw new Error('no "Max open files" line in /proc/self/limits');
  return soft === 'unlimited' ? Infinity : Number(soft);
}

/** Whether bit `bit` is set in the CapEff line of /proc/<pid>/status. */
export function hasEffectiveCapability(status: string, bit: number): boolean {
  const hex = /^CapEff:\s*([0-9a-f]+)$/m.exec(status)?.[1];
  if (hex === undefined) return false;
  return ((BigInt(`0x${hex}`) >> BigInt(bit)) & 1n) === 1n;
}

async function probeIoUring(): Promise<IoUringReading> {
  const { addon } = await import('../native.js');
  try {
    addon.createRelay({ io: 'uring' }).close();
    return { available: true };
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    return { available: false, reason: `${e.message}${e.errno ? ` (errno ${e.errno})` : ''}` };
  }
}

export async function readHost(): Promise<HostReadings> {
  return {
    openFiles: parseOpenFilesLimit(await procText('/proc/self/limits')),
    rmemMax: await procNumber('/proc/sys/net/core/rmem_max'),
    wmemMax: await procNumber('/proc/sys/net/core/wmem_max'),
    ephemeralPorts: parsePortRange(await procText('/proc/sys/net/ipv4/ip_local_port_range')),
    reservedPorts: parsePortList(await procText('/proc/sys/net/ipv4/ip_local_reserved_ports')),
    unprivilegedPortStart: await procNumber('/proc/sys/net/ipv4/ip_unprivileged_port_start'),
    capNetBindService: hasEffectiveCapability(await procText('/proc/self/status'), CAP_NET_BIND_SERVICE_BIT),
    ioUring: await probeIoUring(),
  };
}
