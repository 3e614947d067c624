/**
 * What the cps benchmark reports, pure: a Markdown row per step (printed as the step ends), the
 * summary lines, and the chart (calls lost, refused and completed, and CPU per call, against the
 * offered rate; one line per target and mode).
 */
import type { CallOutcomes } from './call-outcomes.ts';
import { rssPer1000Calls, type StepMemory } from './cps-memory.ts';
import { COLOURS, panelChartSvg, type Line, type Panel } from './svg.ts';

/**
 * How the target process had run before a step: `cold` freshly started for it, `warm` after
 * earlier steps or a warm-up on the same process, `warmup` the warm-up step itself.
 */
export type CpsMode = 'cold' | 'warm' | 'warmup';

export interface CpsStep extends CallOutcomes {
  target: string;
  mode: CpsMode;
  /** Offered calls per second. */
  rate: number;
  /** rate / the capacity the overload steps are based on, when the step is one of them. */
  multiple: number | null;
  wallS: number;
  /** CPU seconds of the whole target (every thread and process) over the step. */
  cpuS: number;
  /** CPU seconds of pinlatch's main thread (SIP); the whole target for the reference. */
  mainS: number;
  /**
   * CPU seconds of pinlatch's media shard threads; null for the reference, absent in runs
   * recorded before shard threads had names. The rest of cpuS is V8's and libuv's helpers.
   */
  shardS?: number | null;
  rssKiB: number;
  pssKiB: number;
  /** Datagrams the kernel dropped at the relay's SIP socket (receive buffer full) during the step. */
  sipDrops: number;
  memory: StepMemory;
}

export const STEP_HEADER = [
  '| target | mode | cps | × | completed/calls | refused | lost | retrans | SIP drops | wall s | main CPU % | main CPU ms/call | total CPU % | total CPU ms/call | shards CPU ms/call | RSS MiB | PSS MiB | calls up (peak) | RSS MiB per 1000 calls up | RSS MiB end → idle | heap MiB end → idle |',
  '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|',
].join('\n');

/** CPU ms per offered call (comparable with the runs before calls were refused). */
export function cpuMsPerCall(cpuS: number, step: CallOutcomes): number {
  return (1000 * cpuS) / Math.max(1, step.calls);
}

const mib = (kib: number | null): string => (kib === null ? '–' : (kib / 1024).toFixed(1));

/** `end → idle (after N s)`, or a dash when the step was not followed by an idle wait. */
function endToIdle(end: number | null, idle: number | null, idleS: number): string {
  return end === null || idle === null ? '–' : `${mib(end)} → ${mib(idle)} (${idleS} s)`;
}

export function stepRow(r: CpsStep): string {
  const pct = (s: number): string => ((100 * s) / r.wallS).toFixed(1);
  const m = r.memory;
  const heapKiB = (bytes: number | null): number | null => (bytes === null ? null : bytes / 1024);
  return `| ${[
    r.target, r.mode, r.rate, r.multiple === null ? '' : `${r.multiple}×`, `${r.completed}/${r.calls}`, r.refused, r.lost, r.retransmissions, r.sipDrops,
    r.wallS.toFixed(1), pct(r.mainS), cpuMsPerCall(r.mainS, r).toFixed(2), pct(r.cpuS), cpuMsPerCall(r.cpuS, r).toFixed(2),
    r.shardS === undefined || r.shardS === null ? '–' : cpuMsPerCall(r.shardS, r).toFixed(2),
    mib(r.rssKiB), mib(r.pssKiB), m.peakCalls, mib(rssPer1000Calls(m)),
    endToIdle(m.rssEndKiB, m.rssIdleKiB, m.idleS), endToIdle(heapKiB(m.heapEndBytes), heapKiB(m.heapIdleBytes), m.idleS),
  ].join(' | ')} |`;
}

/** One line per target: the highest rate with every call completed, and the steps that lost calls. */
export function summaryLines(steps: readonly CpsStep[]): string[] {
  const targets = [...new Set(steps.map((s) => s.target))];
  return targets.flatMap((t) => {
    const mine = steps.filter((s) => s.target === t && s.mode !== 'warmup');
    const ok = mine.filter((s) => s.completed === s.calls).map((s) => s.rate);
    const lost = mine.filter((s) => s.lost > 0).map((s) => `${s.mode} ${s.rate} cps (${s.lost})`);
    return [
      `highest rate with every call completed, ${t}: ${ok.length > 0 ? `${Math.max(...ok)} cps` : 'none'}`,
      `steps with lost calls, ${t}: ${lost.join(', ') || 'none'}`,
    ];
  });
}

export interface CpsChartInput {
  steps: readonly CpsStep[];
  title: string;
  subtitle: string;
}

/** Lost, refused and completed calls (% of the calls offered) and CPU per call against the offered rate. */
export function cpsChartSvg({ steps, title, subtitle }: CpsChartInput): string {
  // In an overload run only its 1×, 2×, 4× steps are charted (not the capacity search before them).
  const overload = steps.filter((s) => s.multiple !== null);
  const measured = (overload.length > 0 ? overload : steps).filter((s) => s.mode !== 'warmup');
  const keys = [...new Set(measured.map((s) => `${s.target} ${s.mode}`))];
  const series = keys.map((key, k) => ({
    key,
    colour: COLOURS[k % COLOURS.length]!,
    steps: measured.filter((s) => `${s.target} ${s.mode}` === key).sort((a, b) => a.rate - b.rate),
  }));
  const legend = series.map((s) => ({ name: s.key, colour: s.colour }));
  const lines = (read: (s: CpsStep) => number, dash?: string): Line[] =>
    series.map((s) => ({ colour: s.colour, dots: true, ...(dash ? { dash } : {}), points: s.steps.map((st) => ({ x: st.rate, y: read(st) })) }));
  const pct = (n: number, s: CpsStep): number => (100 * n) / Math.max(1, s.calls);
  const panels: Panel[] = [
    { title: 'calls lost (% of offered)', legend, lines: lines((s) => pct(s.lost, s)) },
    { title: 'calls refused with a final response (% of offered)', legend, lines: lines((s) => pct(s.refused, s)) },
    { title: 'calls completed (% of offered)', legend, lines: lines((s) => pct(s.completed, s)) },
    { title: 'main-thread CPU per offered call (ms)', legend, lines: lines((s) => cpuMsPerCall(s.mainS, s)) },
    { title: 'whole-target CPU per offered call (ms)', legend, lines: lines((s) => cpuMsPerCall(s.cpuS, s)) },
  ];
  const rates = [...new Set(measured.map((s) => s.rate))].sort((a, b) => a - b);
  const from = 0;
  const to = Math.max(1, ...rates) * 1.05;
  return panelChartSvg({
    title,
    subtitle,
    panels,
    x: { from, to, ticks: rates, tickLabel: (r) => String(r), caption: 'offered calls per second (one dot per step)' },
  });
}
