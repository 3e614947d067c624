/**
 * Text output of the pps benchmark: one line per step while it runs, then a summary per
 * target and stream count with ratios against `limit` (the bare forwarder) and `js` (the naive
 * relay) measured at the same stream count in the same run.
 */
import type { StepRecord } from './step-runner.ts';
import type { SweepResult } from './sweep.ts';

function pad(text: string, width: number, left = false): string {
  return left ? text.padEnd(width) : text.padStart(width);
}

function num(v: number | null | undefined, digits = 0): string {
  return v === null || v === undefined || !Number.isFinite(v) ? '-' : v.toFixed(digits);
}

/** Latency in µs; the sink's histogram ends at 200 ms, its last bucket means "more". */
function latency(v: number | null | undefined, digits = 1): string {
  return v !== null && v !== undefined && v >= 199_999 ? '>200000' : num(v, digits);
}

function kpps(v: number): string {
  return v >= 1000 ? `${+(v / 1000).toFixed(1)}k` : String(v);
}

const STEP_COLUMNS: [string, number][] = [
  ['target', 9], ['S', 5], ['kind', 7], ['offered', 8], ['sent/s', 8], ['deliv/s', 8], ['loss%', 7],
  ['p50us', 7], ['p99us', 7], ['maxus', 7], ['cpu_s', 6], ['s/Mpkt', 7], ['load_s', 6], ['other%', 6],
  ['rdrop', 6], ['sdrop', 6], ['status', 13],
];

export function stepHeader(): string {
  return STEP_COLUMNS.map(([name, w], i) => pad(name, w, i === 0)).join(' ');
}

export function stepLine(r: StepRecord): string {
  const l = r.load;
  const cells = [
    r.target, String(r.streams), r.kind, kpps(r.offeredPps), num(l.sent_pps), num(l.received_pps), num(l.loss_pct, 3),
    latency(l.lat_p50_us), latency(l.lat_p99_us), num(l.lat_max_us, 0), num(r.relayCpuS, 3), num(r.sPerMpkt, 2),
    num(r.loadCpuS, 2), num(r.otherPct, 1), String(r.relayDrops), String(r.sinkDrops), r.failReason ? `${r.status}:${r.failReason}` : r.status,
  ];
  return cells.map((c, i) => pad(c, STEP_COLUMNS[i]![1], i === 0)).join(' ');
}

export interface SummaryRow {
  target: string;
  streams: number;
  maxPps: number;
  /** '+' when the harness, the rate list or the time budget stopped the sweep, not the relay. */
  maxQualifier: '' | '+';
  stoppedBy: string;
  costRate: number;
  perStreamPpsAtCost: number;
  sPerMpktAtCost: number | null;
  lossPctAtCost: number | null;
  p50AtCost: number | null;
  p99AtCost: number | null;
  /** p50/p99 at the cost rate minus those of `direct` (no relay) at the same S: what the relay adds. */
  addedP50AtCost: number | null;
  addedP99AtCost: number | null;
  sPerMpktAtMax: number | null;
  p99AtMax: number | null;
  /** max / max of limit (same S, same run) */
  maxVsLimit: number | null;
  /** s/Mpkt@cost / s/Mpkt@cost of limit: 1.0 = as cheap as the bare forwarder */
  costVsLimit: number | null;
  /** max / max of js */
  maxVsJs: number | null;
  /** s/Mpkt@cost of js / s/Mpkt@cost: how many times cheaper than the JS relay */
  cheaperThanJs: number | null;
}

function ratio(a: number | null | undefined, b: number | null | undefined): number | null {
  return a === null || a === undefined || b === null || b === undefined || b === 0 ? null : a / b;
}

export function summarize(results: SweepResult[], costRate: number): SummaryRow[] {
  const find = (target: string, streams: number) => results.find((r) => r.target === target && r.streams === streams);
  return results.map((r) => {
    const limit = find('limit', r.streams);
    const js = find('js', r.streams);
    const cost = r.atCost?.sPerMpkt ?? null;
    const direct = find('direct', r.streams)?.atCost?.load;
    const minus = (a: number | undefined, b: number | undefined) =>
      a === undefined || b === undefined || r.target === 'direct' ? null : a >= 199_999 ? a : Math.max(0, a - b);
    return {
      target: r.target,
      streams: r.streams,
      maxPps: r.maxPps,
      maxQualifier: r.stoppedBy === 'relay' ? '' : '+',
      stoppedBy: r.stoppedBy,
      costRate,
      perStreamPpsAtCost: costRate / r.streams,
      sPerMpktAtCost: cost,
      lossPctAtCost: r.atCost?.load.loss_pct ?? null,
      p50AtCost: r.atCost?.load.lat_p50_us ?? null,
      p99AtCost: r.atCost?.load.lat_p99_us ?? null,
      addedP50AtCost: minus(r.atCost?.load.lat_p50_us, direct?.lat_p50_us),
      addedP99AtCost: minus(r.atCost?.load.lat_p99_us, direct?.lat_p99_us),
      sPerMpktAtMax: r.atMax?.sPerMpkt ?? null,
      p99AtMax: r.atMax?.load.lat_p99_us ?? null,
      maxVsLimit: r.target === 'limit' || r.target === 'direct' || !limit ? null : ratio(r.maxPps, limit.maxPps),
      costVsLimit: r.target === 'limit' || !limit ? null : ratio(cost, limit.atCost?.sPerMpkt),
      maxVsJs: r.target === 'js' || r.target === 'direct' || !js ? null : ratio(r.maxPps, js.maxPps),
      cheaperThanJs: r.target === 'js' || !js ? null : ratio(js.atCost?.sPerMpkt, cost),
    };
  });
}

const SUMMARY_COLUMNS: [string, number][] = [
  ['target', 9], ['S', 5], ['max pps', 9], ['stop', 7], ['pps/str', 7], ['s/Mpkt@cost', 11], ['loss%@cost', 10],
  ['p50us@cost', 10], ['p99us@cost', 10], ['added p50/p99', 15], ['s/Mpkt@max', 10], ['max/limit', 9], ['cost/limit', 10],
  ['max/js', 7], ['x cheaper', 9],
];

export function summaryTable(rows: SummaryRow[]): string {
  const lines = [SUMMARY_COLUMNS.map(([n, w], i) => pad(n, w, i === 0)).join(' ')];
  for (const r of rows) {
    const cells = [
      r.target, String(r.streams), `${kpps(r.maxPps)}${r.maxQualifier}`, r.stoppedBy, num(r.perStreamPpsAtCost),
      num(r.sPerMpktAtCost, 2), num(r.lossPctAtCost, 3), latency(r.p50AtCost), latency(r.p99AtCost),
      `${latency(r.addedP50AtCost, 0)}/${latency(r.addedP99AtCost, 0)}`, num(r.sPerMpktAtMax, 2), num(r.maxVsLimit, 2), num(r.costVsLimit, 2), num(r.maxVsJs, 1), num(r.cheaperThanJs, 1),
    ];
    lines.push(cells.map((c, i) => pad(c, SUMMARY_COLUMNS[i]![1], i === 0)).join(' '));
  }
  return lines.join('\n');
}

/** The summary as a Markdown table (for docs/benchmarks.md). */
export function summaryMarkdown(rows: SummaryRow[]): string {
  const head = ['target', 'S', 'max pps', 'stopped by', 's/Mpkt @cost', 'loss % @cost', 'p50 / p99 µs @cost', 'added p50 / p99 µs', 's/Mpkt @max', 'max / limit', 'cost / limit', 'max / js', '× cheaper than js'];
  const lines = [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`];
  for (const r of rows) {
    lines.push(
      `| ${[
        r.target, String(r.streams), `${kpps(r.maxPps)}${r.maxQualifier}`, r.stoppedBy, num(r.sPerMpktAtCost, 2),
        num(r.lossPctAtCost, 3), `${latency(r.p50AtCost, 0)} / ${latency(r.p99AtCost, 0)}`,
        `${latency(r.addedP50AtCost, 0)} / ${latency(r.addedP99AtCost, 0)}`, num(r.sPerMpktAtMax, 2),
        num(r.maxVsLimit, 2), num(r.costVsLimit, 2), num(r.maxVsJs, 1), num(r.cheaperThanJs, 1),
      ].join(' | ')} |`,
    );
  }
  return lines.join('\n');
}
