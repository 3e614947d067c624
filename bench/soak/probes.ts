/**
 * The readings a soak sample is made of: pinlatch's memory, descriptors and CPU from /proc, its
 * own gauges from /metrics, and sipp's cumulative call counters from the tail of its -trace_stat
 * file.
 */
import { closeSync, fstatSync, openSync, readFileSync, readSync, readdirSync } from 'node:fs';

const TICK_S = 0.01; // USER_HZ = 100 on Linux

export interface ProcReading {
  rssMiB: number;
  fds: number;
  /** utime + stime of every thread, seconds. */
  cpuS: number;
}

export function readProc(pid: number): ProcReading {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const rssKiB = Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1] ?? NaN);
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return {
    rssMiB: rssKiB / 1024,
    fds: readdirSync(`/proc/${pid}/fd`).length,
    cpuS: (Number(fields[11]) + Number(fields[12])) * TICK_S,
  };
}

/**
 * The samples of a Prometheus text exposition: each under its name with its labels as written
 * (`pinlatch_event_loop_lag_seconds{stat="p99"}`), and under its bare name summed over its labels
 * (`x{kind="a"} 3` and `x{kind="b"} 2` give `x` 5).
 */
export function parseExposition(text: string): Map<string, number> {
  const values = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([A-Za-z_:][A-Za-z0-9_:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const value = Number(m[3]);
    if (!Number.isFinite(value)) continue;
    if (m[2]) values.set(`${m[1]}${m[2]}`, value);
    values.set(m[1]!, (values.get(m[1]!) ?? 0) + value);
  }
  return values;
}

export interface MetricsReading {
  sessions: number;
  dialogs: number;
  transactions: number;
  lagP99Ms: number;
  lagMaxMs: number;
}

/** The gauges the soak needs; a missing one is an error (an old build without the SIP gauges). */
export function metricsReading(sums: Map<string, number>): MetricsReading {
  const get = (name: string): number => {
    const v = sums.get(name);
    if (v === undefined) throw new Error(`/metrics has no ${name} (is dist/ built from this tree?)`);
    return v;
  };
  return {
    sessions: get('pinlatch_media_sessions'),
    dialogs: get('pinlatch_sip_dialogs'),
    transactions: get('pinlatch_sip_server_transactions') + get('pinlatch_sip_client_transactions'),
    lagP99Ms: 1000 * get('pinlatch_event_loop_lag_seconds{stat="p99"}'),
    lagMaxMs: 1000 * get('pinlatch_event_loop_lag_seconds{stat="max"}'),
  };
}

export async function scrapeMetrics(url: string, timeoutMs = 5000): Promise<MetricsReading> {
  const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`);
  return metricsReading(parseExposition(await res.text()));
}

export interface SippCounts {
  created: number;
  successful: number;
  failed: number;
  current: number;
}

/** The columns of sipp's -trace_stat CSV (header line and one data line, `;`-separated). */
export function sippCountsOf(header: string, last: string): SippCounts {
  const names = header.split(';');
  const cells = last.split(';');
  const col = (name: string): number => {
    const i = names.indexOf(name);
    return i < 0 ? NaN : Number(cells[i]);
  };
  return {
    created: col('TotalCallCreated'),
    successful: col('SuccessfulCall(C)'),
    failed: col('FailedCall(C)'),
    current: col('CurrentCall'),
  };
}

/** The last line of sipp's statistics file, read from its tail (an hour of lines is megabytes). */
export function readSippCounts(file: string): SippCounts | null {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch {
    return null;
  }
  try {
    const size = fstatSync(fd).size;
    const head = Buffer.alloc(Math.min(size, 16_384));
    readSync(fd, head, 0, head.length, 0);
    const header = head.toString('latin1').split('\n', 1)[0]!;
    const tail = Buffer.alloc(Math.min(size, 16_384));
    readSync(fd, tail, 0, tail.length, size - tail.length);
    const lines = tail.toString('latin1').trim().split('\n');
    const last = lines.at(-1)!;
    return lines.length < 2 && last === header ? null : sippCountsOf(header, last);
  } finally {
    closeSync(fd);
  }
}
