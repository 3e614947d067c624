/**
 * The pps chart as hand-written SVG, pure: for each stream count a row of two panels against
 * the offered rate — relay CPU per delivered packet (µs, = s/Mpkt) and the p99 one-way latency
 * (µs, log scale, with the 1 ms tail-latency goal dashed) — one line per target. The x axis is
 * the rate the generator really sent, which is the offered rate unless the harness could not keep
 * it up (GEN-LIMITED steps sit left of their nominal rate instead of pretending to reach it).
 * Every measured step counts once (its last attempt: superseded attempts and the latching
 * warm-up are left out); a step that did not pass (FAIL, GEN- or SINK-LIMITED) is an open circle.
 */
import type { StepRecord } from './step-runner.ts';
import type { SweepResult } from './sweep.ts';

const WIDTH = 980;
const PANEL_W = 400;
const PANEL_H = 200;
const LEFT = 70;
const MIDDLE = 90;
const ROW_GAP = 70;
/** Subtitle lines longer than this many characters are wrapped at a space (a long command line). */
const SUBTITLE_CHARS = 150;
/** The tail-latency goal drawn on the latency panels (docs/benchmarks.md). */
const GOAL_P99_US = 1000;
/** The sink's latency histogram ends at 200 ms; its last bucket means "more". */
const LATENCY_CEILING_US = 200_000;

const COLOURS = ['#1f5fa8', '#c26a00', '#2e7d32', '#b00020', '#6a3d9a', '#00838f', '#8d6e63', '#546e7a'];

const esc = (text: string): string => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

const rateLabel = (v: number): string => (v >= 1000 ? `${+(v / 1000).toFixed(1)}k` : String(v));
/** Splits `text` at newlines, then at spaces so that no line exceeds `width` characters (unless one word does). */
export function wrapText(text: string, width: number): string[] {
  const lines: string[] = [];
  for (const paragraph of text.split('\n')) {
    let line = '';
    for (const word of paragraph.split(' ')) {
      if (line !== '' && line.length + 1 + word.length > width) {
        lines.push(line);
        line = word;
      } else {
        line = line === '' ? word : `${line} ${word}`;
      }
    }
    lines.push(line);
  }
  return lines;
}

const usLabel = (v: number): string => (v >= 1000 ? `${+(v / 1000).toFixed(1)} ms` : `${+v.toFixed(1)}`);

/** A linear axis from 0: a 1/2/2.5/5 × 10^k step, about four of them up to at least `v`. */
function linearTicks(v: number): number[] {
  const raw = Math.max(v, 1e-9) / 4;
  const decade = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * decade).find((s) => s >= raw)!;
  const ticks: number[] = [];
  for (let t = 0; t < v + step - 1e-9; t += step) ticks.push(+t.toPrecision(12));
  return ticks.length < 2 ? [0, step] : ticks;
}

export interface PpsPoint {
  /** The nominal rate of the step. */
  offeredPps: number;
  /** What the generator sent per second (the x position). */
  sentPps: number;
  usPerPacket: number | null;
  p99Us: number;
  passed: boolean;
}

/** The steps of one sweep as chart points, one per offered rate (its last attempt), by rate. */
export function sweepPoints(steps: readonly StepRecord[]): PpsPoint[] {
  const byRate = new Map<number, StepRecord>();
  for (const step of steps) if (step.kind !== 'warmup' && !step.superseded) byRate.set(step.offeredPps, step);
  return [...byRate.values()]
    .sort((a, b) => a.offeredPps - b.offeredPps)
    .map((step) => ({
      offeredPps: step.offeredPps,
      sentPps: step.load.sent_pps,
      usPerPacket: step.sPerMpkt,
      p99Us: Math.min(step.load.lat_p99_us, LATENCY_CEILING_US),
      passed: step.status === 'ok',
    }));
}

interface Line {
  target: string;
  colour: string;
  points: PpsPoint[];
}

interface PanelSpec {
  title: string;
  value: (p: PpsPoint) => number | null;
  log: boolean;
  goal?: number;
}

function panel(out: string[], left: number, top: number, spec: PanelSpec, lines: Line[], xMax: number): void {
  const bottom = top + PANEL_H;
  const x = (rate: number): number => left + (rate / xMax) * PANEL_W;
  const values = lines.flatMap((l) => l.points.map(spec.value)).filter((v): v is number => v !== null && Number.isFinite(v) && v > 0);
  let y: (v: number) => number;
  let ticks: number[];
  if (spec.log) {
    const lo = 10 ** Math.floor(Math.log10(Math.min(spec.goal ?? Infinity, ...values, 100)));
    // Room above the goal, so that a line just under it does not run along the frame.
    const hi = 10 ** Math.ceil(Math.log10(Math.max(2 * (spec.goal ?? 0), ...values, lo * 10)));
    y = (v) => bottom - ((Math.log10(Math.max(v, lo)) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo))) * PANEL_H;
    ticks = [];
    for (let decade = lo; decade <= hi * 1.0001; decade *= 10) ticks.push(...(decade < hi ? [decade, 3 * decade] : [decade]));
  } else {
    ticks = linearTicks(Math.max(0, ...values));
    const yMax = ticks.at(-1)!;
    y = (v) => bottom - (Math.max(0, v) / yMax) * PANEL_H;
  }
  out.push(`<text x="${left}" y="${top - 8}" font-weight="bold">${esc(spec.title)}</text>`);
  out.push(`<rect x="${left}" y="${top}" width="${PANEL_W}" height="${PANEL_H}" fill="none" stroke="#999"/>`);
  for (const t of ticks) {
    out.push(`<line x1="${left}" x2="${left + PANEL_W}" y1="${y(t).toFixed(1)}" y2="${y(t).toFixed(1)}" stroke="#e4e4e4"/>`);
    out.push(`<text x="${left - 6}" y="${(y(t) + 4).toFixed(1)}" text-anchor="end" fill="#444">${usLabel(t)}</text>`);
  }
  for (const r of linearTicks(xMax)) {
    out.push(`<line x1="${x(r).toFixed(1)}" x2="${x(r).toFixed(1)}" y1="${bottom}" y2="${bottom + 4}" stroke="#999"/>`);
    out.push(`<text x="${x(r).toFixed(1)}" y="${bottom + 16}" text-anchor="middle" fill="#444">${rateLabel(r)}</text>`);
  }
  out.push(`<text x="${left + PANEL_W / 2}" y="${bottom + 32}" text-anchor="middle" fill="#444">packets/s sent (the offered rate, as far as the generator kept it up)</text>`);
  if (spec.goal !== undefined) {
    const gy = y(spec.goal).toFixed(1);
    out.push(`<line x1="${left}" x2="${left + PANEL_W}" y1="${gy}" y2="${gy}" stroke="#b00020" stroke-dasharray="5,3"/>`);
    out.push(`<text x="${left + PANEL_W - 4}" y="${(Number(gy) - 4).toFixed(1)}" text-anchor="end" fill="#b00020">goal ${usLabel(spec.goal)}</text>`);
  }
  for (const line of lines) {
    const pts = line.points
      .map((p) => ({ p, v: spec.value(p) }))
      .filter((e): e is { p: PpsPoint; v: number } => e.v !== null && Number.isFinite(e.v));
    if (pts.length === 0) continue;
    out.push(
      `<polyline points="${pts.map((e) => `${x(e.p.sentPps).toFixed(1)},${y(e.v).toFixed(1)}`).join(' ')}" fill="none" stroke="${line.colour}" stroke-width="1.5"/>`,
    );
    for (const e of pts) {
      out.push(
        `<circle cx="${x(e.p.sentPps).toFixed(1)}" cy="${y(e.v).toFixed(1)}" r="3" stroke="${line.colour}" fill="${e.p.passed ? line.colour : '#fff'}"/>`,
      );
    }
  }
}

export interface PpsChartInput {
  sweeps: readonly SweepResult[];
  title: string;
  subtitle: string;
}

export function ppsChartSvg({ sweeps, title, subtitle }: PpsChartInput): string {
  const targets = [...new Set(sweeps.map((s) => s.target))];
  const colourOf = (target: string): string => COLOURS[targets.indexOf(target) % COLOURS.length]!;
  const streamCounts = [...new Set(sweeps.map((s) => s.streams))].sort((a, b) => a - b);
  const subtitleLines = wrapText(subtitle, SUBTITLE_CHARS);
  const legendY = 38 + 14 * subtitleLines.length + 8;
  const TOP = legendY + 42;
  const height = TOP + Math.max(1, streamCounts.length) * (PANEL_H + ROW_GAP) + 10;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="sans-serif" font-size="11">`,
    `<rect width="${WIDTH}" height="${height}" fill="#fff"/>`,
    `<text x="${LEFT}" y="20" font-size="15" font-weight="bold">${esc(title)}</text>`,
    ...subtitleLines.map((line, i) => `<text x="${LEFT}" y="${38 + 14 * i}" fill="#444">${esc(line)}</text>`),
  ];
  const legend = targets.map((t) => `<tspan dx="14" fill="${colourOf(t)}" font-weight="bold">— ${esc(t)}</tspan>`).join('');
  out.push(`<text x="${LEFT - 14}" y="${legendY}">${legend}<tspan dx="14" fill="#444">(filled: step passed; open: FAIL or harness-limited)</tspan></text>`);
  streamCounts.forEach((streams, row) => {
    const lines: Line[] = sweeps
      .filter((s) => s.streams === streams)
      .map((s) => ({ target: s.target, colour: colourOf(s.target), points: sweepPoints(s.steps) }));
    const xMax = linearTicks(Math.max(1, ...lines.flatMap((l) => l.points.map((p) => Math.max(p.offeredPps, p.sentPps))))).at(-1)!;
    const top = TOP + row * (PANEL_H + ROW_GAP);
    panel(out, LEFT, top, { title: `S = ${streams}: relay CPU per packet (µs)`, value: (p) => p.usPerPacket, log: false }, lines, xMax);
    panel(out, LEFT + PANEL_W + MIDDLE, top, { title: `S = ${streams}: p99 one-way latency (µs, log)`, value: (p) => p.p99Us, log: true, goal: GOAL_P99_US }, lines, xMax);
  });
  out.push('</svg>', '');
  return out.join('\n');
}

/** The part of a pps results file (bench/pps.ts) the chart needs. */
export interface PpsResultsFile {
  command: string;
  machine: { cpus: number; model: string; kernel: string; backgroundBusyPctBefore: number };
  options: { targets: string[]; relayCpus: string | null; realtime?: number | null };
  sweeps: SweepResult[];
}

/** The chart of a whole run, titled with its targets and scheduling, subtitled with machine and command. */
export function ppsChartOfResults(results: PpsResultsFile): string {
  const { machine, options } = results;
  const realtime = options.realtime ?? null;
  return ppsChartSvg({
    sweeps: results.sweeps,
    title: `pps: ${options.targets.join(', ')} (${realtime === null ? 'normal scheduling' : `SCHED_FIFO ${realtime}`}, relay CPU ${options.relayCpus ?? 'any'})`,
    subtitle:
      `${machine.cpus} x ${machine.model}, kernel ${machine.kernel}, background busy ${machine.backgroundBusyPctBefore.toFixed(0)}% before the run\n` +
      results.command,
  });
}
