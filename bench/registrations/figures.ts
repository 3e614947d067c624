/**
 * The figures of one registrations-benchmark run, computed from samples taken while it ran (pure:
 * no I/O), and the table that sets the throttling-off and throttling-on runs side by side.
 */

/** One reading of pinlatch (/proc and its metrics) and of the registrar. */
export interface Sample {
  /** ms, monotonic. */
  at: number;
  /** ns on CPU: pinlatch's main thread (SIP), and all its threads. */
  mainNs: number;
  processNs: number;
  /** ns the main thread was runnable but waited for its CPU (taken by other processes). */
  mainWaitNs: number;
  rssKiB: number;
  bindings: number;
  /** Cumulative counters. */
  phoneRegisters: number;
  answeredLocally: number;
  keepalivesSent: number;
  keepalivesMissed: number;
  /** Requests pinlatch answered 503 because its SIP thread was behind (limits.overload). */
  shed: number;
  /** REGISTERs the registrar received (Kamailio core:rcv_requests_register). */
  registrarRegisters: number;
}

/** What pinlatch holds after a forced full garbage collection, and the state it holds then. */
export interface MemoryReading {
  /** The main thread's V8 heap used, and the process's RSS. */
  heapKiB: number;
  rssKiB: number;
  bindings: number;
  serverTransactions: number;
  clientTransactions: number;
}

export interface RunFigures {
  mode: 'off' | 'on';
  /** The pinlatch build (--builds NAME). */
  build: string;
  phones: number;
  /** Bindings pinlatch held at the end of the ramp. */
  registered: number;
  rampSec: number;
  offeredRate: number;
  registrationsPerSec: number;
  rampMainCpuPct: number;
  steadySec: number;
  /** Main thread's share of one core over the steady phase (mean, highest sample interval). */
  mainCpuPct: number;
  mainCpuPctMax: number;
  /** Share of the steady phase the main thread waited for its CPU while it had work (a busy machine). */
  mainWaitPct: number;
  /** Every other thread of pinlatch (media worker, libuv, V8 GC) over the steady phase. */
  otherCpuPct: number;
  /** Main thread's share of one core before the first phone (timers, probes, metrics scrapes). */
  idleMainCpuPct: number;
  /**
   * Main-thread CPU the phones add (steady minus idle), per 1,000 registered phones per minute
   * (ms), and that share of a core scaled to 50,000 phones, idle included.
   */
  mainCpuMsPer1000PerMin: number;
  projected50kPct: number;
  /**
   * Main-thread CPU above idle per phone transaction of the steady phase (a REGISTER from a phone
   * or a keepalive OPTIONS to one), µs: the cost per unit of work, which runs can compare when the
   * phones' refreshes and pings came at somewhat different rates.
   */
  mainCpuUsPerTransaction: number;
  rssBaseMiB: number;
  rssMiB: number;
  rssKiBPer1000Bindings: number;
  /** After a full GC, before the phones and at the end of the steady phase. */
  memoryBase: MemoryReading;
  memorySteady: MemoryReading;
  /** Growth after GC from before the phones to the steady phase, per 1,000 bindings held then. */
  heapKiBPer1000BindingsAfterGc: number;
  rssKiBPer1000BindingsAfterGc: number;
  /** Per minute of the steady phase. */
  phoneRegistersPerMin: number;
  answeredLocallyPerMin: number;
  registrarRegistersPerMin: number;
  keepalivesPerMin: number;
  keepalivesMissed: number;
  /** Of the whole run. */
  registrarRegistersTotal: number;
  /** 503s for load shedding (pinlatch_sip_shed_total), whole run. */
  shed: number;
  phonesFailed: number;
  retransmissions: number;
}

export interface RunInput {
  mode: 'off' | 'on';
  build: string;
  memoryBase: MemoryReading;
  memorySteady: MemoryReading;
  phones: number;
  offeredRate: number;
  /** Before the first phone (idle: `base` and `idle` a few seconds apart), when the ramp ended, and the steady-phase samples (first to last). */
  base: Sample;
  idle: Sample;
  rampStart: Sample;
  rampEnd: Sample;
  steady: readonly Sample[];
  phonesFailed: number;
  retransmissions: number;
}

const pct = (ns: number, ms: number): number => (ms > 0 ? (100 * ns) / 1e6 / ms : 0);

export function runFigures(r: RunInput): RunFigures {
  const first = r.steady[0]!;
  const last = r.steady[r.steady.length - 1]!;
  const steadyMs = last.at - first.at;
  const minutes = steadyMs / 60_000;
  const perMin = (key: keyof Sample): number => (minutes > 0 ? (last[key] - first[key]) / minutes : 0);
  const rampMs = r.rampEnd.at - r.rampStart.at;
  let maxPct = 0;
  for (let i = 1; i < r.steady.length; i++) {
    const a = r.steady[i - 1]!;
    const b = r.steady[i]!;
    maxPct = Math.max(maxPct, pct(b.mainNs - a.mainNs, b.at - a.at));
  }
  const mainCpuPct = pct(last.mainNs - first.mainNs, steadyMs);
  const idleMainCpuPct = pct(r.idle.mainNs - r.base.mainNs, r.idle.at - r.base.at);
  const thousands = last.bindings / 1000;
  const gcThousands = r.memorySteady.bindings / 1000;
  const transactionsPerMin = perMin('phoneRegisters') + perMin('keepalivesSent');
  // % of a core = ms per minute / 600.
  const mainCpuMsPer1000PerMin = thousands > 0 ? Math.max(0, mainCpuPct - idleMainCpuPct) * 600 / thousands : 0;
  return {
    mode: r.mode,
    build: r.build,
    phones: r.phones,
    registered: r.rampEnd.bindings,
    rampSec: rampMs / 1000,
    offeredRate: r.offeredRate,
    registrationsPerSec: rampMs > 0 ? (r.rampEnd.bindings - r.rampStart.bindings) / (rampMs / 1000) : 0,
    rampMainCpuPct: pct(r.rampEnd.mainNs - r.rampStart.mainNs, rampMs),
    steadySec: steadyMs / 1000,
    mainCpuPct,
    mainCpuPctMax: maxPct,
    mainWaitPct: pct(last.mainWaitNs - first.mainWaitNs, steadyMs),
    otherCpuPct: pct(last.processNs - first.processNs - (last.mainNs - first.mainNs), steadyMs),
    idleMainCpuPct,
    mainCpuMsPer1000PerMin,
    projected50kPct: idleMainCpuPct + (mainCpuMsPer1000PerMin * 50) / 600,
    mainCpuUsPerTransaction: transactionsPerMin > 0 ? (Math.max(0, mainCpuPct - idleMainCpuPct) * 600_000) / transactionsPerMin : 0,
    rssBaseMiB: r.base.rssKiB / 1024,
    rssMiB: last.rssKiB / 1024,
    rssKiBPer1000Bindings: thousands > 0 ? (last.rssKiB - r.base.rssKiB) / thousands : 0,
    memoryBase: r.memoryBase,
    memorySteady: r.memorySteady,
    heapKiBPer1000BindingsAfterGc: gcThousands > 0 ? (r.memorySteady.heapKiB - r.memoryBase.heapKiB) / gcThousands : 0,
    rssKiBPer1000BindingsAfterGc: gcThousands > 0 ? (r.memorySteady.rssKiB - r.memoryBase.rssKiB) / gcThousands : 0,
    phoneRegistersPerMin: perMin('phoneRegisters'),
    answeredLocallyPerMin: perMin('answeredLocally'),
    registrarRegistersPerMin: perMin('registrarRegisters'),
    keepalivesPerMin: perMin('keepalivesSent'),
    keepalivesMissed: last.keepalivesMissed,
    registrarRegistersTotal: last.registrarRegisters - r.base.registrarRegisters,
    shed: last.shed,
    phonesFailed: r.phonesFailed,
    retransmissions: r.retransmissions,
  };
}

const f = (v: number, digits = 0): string => (Number.isFinite(v) ? v.toFixed(digits) : '-');

/** Rows of the side-by-side table: [label, value per run...]. */
function rows(runs: readonly RunFigures[]): [string, ...string[]][] {
  const row = (label: string, value: (r: RunFigures) => string): [string, ...string[]] => [label, ...runs.map(value)];
  return [
    row('throttling', (r) => r.mode),
    row('build', (r) => r.build),
    row('phones registered / asked', (r) => `${r.registered} / ${r.phones}`),
    row('registrations/s (ramp; offered)', (r) => `${f(r.registrationsPerSec)} (${f(r.offeredRate)})`),
    row('main-thread CPU % during the ramp', (r) => f(r.rampMainCpuPct, 1)),
    row('steady phase, s', (r) => f(r.steadySec)),
    row('main-thread CPU %, steady (mean / max)', (r) => `${f(r.mainCpuPct, 1)} / ${f(r.mainCpuPctMax, 1)}`),
    row('main thread waiting for its CPU, % of steady', (r) => f(r.mainWaitPct, 1)),
    row('other threads CPU %, steady', (r) => f(r.otherCpuPct, 1)),
    row('main-thread CPU % idle (before the phones)', (r) => f(r.idleMainCpuPct, 1)),
    row('main-thread CPU ms per 1,000 phones per minute (above idle)', (r) => f(r.mainCpuMsPer1000PerMin, 1)),
    row('main-thread CPU % for 50,000 phones (scaled, idle included)', (r) => f(r.projected50kPct, 1)),
    row('main-thread CPU µs per phone transaction (REGISTER or keepalive)', (r) => f(r.mainCpuUsPerTransaction, 1)),
    row('RSS MiB (before phones → steady)', (r) => `${f(r.rssBaseMiB)} → ${f(r.rssMiB)}`),
    row('RSS KiB per 1,000 bindings (no GC)', (r) => f(r.rssKiBPer1000Bindings)),
    row('after full GC: heap used MiB (before phones → steady)', (r) => `${f(r.memoryBase.heapKiB / 1024, 1)} → ${f(r.memorySteady.heapKiB / 1024, 1)}`),
    row('after full GC: RSS MiB (before phones → steady)', (r) => `${f(r.memoryBase.rssKiB / 1024)} → ${f(r.memorySteady.rssKiB / 1024)}`),
    row('after full GC: bindings / server tx / client tx held', (r) => `${r.memorySteady.bindings} / ${r.memorySteady.serverTransactions} / ${r.memorySteady.clientTransactions}`),
    row('after full GC: heap / RSS KiB per 1,000 bindings', (r) => `${f(r.heapKiBPer1000BindingsAfterGc)} / ${f(r.rssKiBPer1000BindingsAfterGc)}`),
    row('REGISTERs/min from phones', (r) => f(r.phoneRegistersPerMin)),
    row('REGISTERs/min answered by pinlatch', (r) => f(r.answeredLocallyPerMin)),
    row('REGISTERs/min seen by the registrar', (r) => f(r.registrarRegistersPerMin)),
    row('keepalive OPTIONS/min (missed in all)', (r) => `${f(r.keepalivesPerMin)} (${r.keepalivesMissed})`),
    row('REGISTERs the registrar saw, whole run', (r) => String(r.registrarRegistersTotal)),
    row('503 while shedding load (phones retried), whole run', (r) => String(r.shed)),
    row('phones failed (sipp) / retransmissions', (r) => `${r.phonesFailed} / ${r.retransmissions}`),
  ];
}

/** Registrar REGISTERs per minute without throttling over those with it (Infinity when none reached it). */
export function registrarReduction(runs: readonly RunFigures[]): number | null {
  const off = runs.find((r) => r.mode === 'off');
  const on = runs.find((r) => r.mode === 'on');
  if (!off || !on) return null;
  return on.registrarRegistersPerMin === 0 ? Infinity : off.registrarRegistersPerMin / on.registrarRegistersPerMin;
}

export function table(runs: readonly RunFigures[]): string {
  const all = rows(runs);
  const widths = all[0]!.map((_, i) => Math.max(...all.map((r) => r[i]!.length)));
  return all.map((r) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ')).join('\n');
}

export function markdown(runs: readonly RunFigures[]): string {
  const all = rows(runs);
  const [head, ...body] = all;
  return [`| ${head!.join(' | ')} |`, `|---|${runs.map(() => '---:').join('|')}|`, ...body.map((r) => `| ${r.join(' | ')} |`)].join('\n');
}
