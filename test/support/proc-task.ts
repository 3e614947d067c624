/** Reading a thread's placement from /proc (proc(5)), for the shard placement tests. */
import { readFileSync } from 'node:fs';

export const SCHED_FIFO = 1;
const CAP_SYS_NICE = 23;

/** One field of /proc/self/task/TID/status, e.g. Cpus_allowed_list. */
export function taskStatus(tid: number, field: string): string {
  const line = readFileSync(`/proc/self/task/${tid}/status`, 'utf8').split('\n').find((l) => l.startsWith(`${field}:`));
  return line!.slice(field.length + 1).trim();
}

/** A thread's name (/proc/self/task/TID/comm). */
export function taskComm(tid: number): string {
  return readFileSync(`/proc/self/task/${tid}/comm`, 'utf8').trimEnd();
}

/** policy and rt_priority of a thread (stat fields 41 and 40; fields[0] is field 3, the state). */
export function taskScheduling(tid: number): { policy: number; rtPriority: number } {
  const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { policy: Number(fields[38]), rtPriority: Number(fields[37]) };
}

/** This process holds CAP_SYS_NICE in its effective set. */
export function hasCapSysNice(): boolean {
  const hex = readFileSync('/proc/self/status', 'utf8').match(/^CapEff:\s*([0-9a-f]+)/m)![1]!;
  return (BigInt(`0x${hex}`) & (1n << BigInt(CAP_SYS_NICE))) !== 0n;
}
