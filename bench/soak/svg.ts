/**
 * The soak chart as hand-written SVG, pure: one panel per series stacked on a shared time axis
 * (minutes since the load started), the judged window shaded blue with its regression line
 * dashed red, the drain shaded grey.
 */
import type { Judgement } from './flatness.ts';
import { SERIES, type Series, type SoakSample } from './samples.ts';

const WIDTH = 960;
const PANEL_H = 110;
const GAP = 34;
const LEFT = 70;
const RIGHT = 20;
const TOP = 50;

interface Panel {
  series: Series[];
  title: string;
  /** Names of the series in their colours, when there is more than one. */
  legend?: string[];
  trendKey?: string;
}

/** Calls per second and RTP packets per second, from the cumulative counters of two samples. */
function rate(samples: readonly SoakSample[], read: (s: SoakSample) => number): Series['read'] {
  const byT = new Map(samples.map((s, i) => [s, i]));
  return (s) => {
    const i = byT.get(s) ?? 0;
    const prev = samples[i - 1];
    if (prev === undefined || s.t === prev.t) return 0;
    return Math.max(0, (read(s) - read(prev)) / (s.t - prev.t));
  };
}

const esc = (text: string): string => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

function niceMax(v: number): number {
  if (v <= 0) return 1;
  const step = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10]) if (m * step >= v) return m * step;
  return 10 * step;
}

const label = (v: number): string => (v >= 100 || Number.isInteger(v) ? v.toFixed(0) : v.toFixed(1));

const COLOURS = ['#1f5fa8', '#c26a00', '#2e7d32'];

export interface ChartInput {
  samples: readonly SoakSample[];
  judgement: Judgement;
  title: string;
  subtitle: string;
}

export function soakSvg({ samples, judgement, title, subtitle }: ChartInput): string {
  const panels: Panel[] = [
    { title: 'RSS (MiB)', series: [SERIES.rss], trendKey: 'rss' },
    { title: 'open file descriptors', series: [SERIES.fds], trendKey: 'fds' },
    { title: 'media sessions', series: [SERIES.sessions], trendKey: 'sessions' },
    { title: 'SIP dialogs', series: [SERIES.dialogs], trendKey: 'dialogs' },
    { title: 'SIP transactions (server + client)', series: [SERIES.transactions], trendKey: 'transactions' },
    { title: 'event-loop lag (ms)', legend: ['p99', 'max'], series: [SERIES.lagP99, SERIES.lagMax], trendKey: 'lagP99' },
    {
      title: 'CPU (% of one core)',
      legend: ['pinlatch', 'sipp + RTP peer', 'whole machine'],
      series: [SERIES.cpu, SERIES.harnessCpu, SERIES.machineCpu],
    },
    {
      title: 'calls/s',
      legend: ['successful', 'failed'],
      series: [
        { key: 'ok', label: 'successful', unit: '/s', read: rate(samples, (s) => s.callsSuccessful) },
        { key: 'failed', label: 'failed', unit: '/s', read: rate(samples, (s) => s.callsFailed) },
      ],
    },
    {
      title: 'RTP packets/s',
      legend: ['into pinlatch', 'out of it'],
      series: [
        { key: 'sent', label: 'in', unit: '/s', read: rate(samples, (s) => s.rtpSent) },
        { key: 'delivered', label: 'out', unit: '/s', read: rate(samples, (s) => s.rtpDelivered) },
      ],
    },
  ];
  const height = TOP + panels.length * (PANEL_H + GAP) + 20;
  const plotW = WIDTH - LEFT - RIGHT;
  const t0 = Math.min(0, ...samples.map((s) => s.t));
  const t1 = Math.max(t0 + 1, ...samples.map((s) => s.t));
  const x = (t: number): number => LEFT + ((t - t0) / (t1 - t0)) * plotW;
  const minutes = (t1 - t0) / 60;
  const tickStepMin = niceMax(minutes / 8);
  const drainFrom = samples.find((s) => s.phase === 'drain')?.t;

  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" ` +
      `font-family="sans-serif" font-size="11">`,
    `<rect width="${WIDTH}" height="${height}" fill="#fff"/>`,
    `<text x="${LEFT}" y="20" font-size="15" font-weight="bold">${esc(title)}</text>`,
    `<text x="${LEFT}" y="38" fill="#444">${esc(subtitle)}</text>`,
  ];
  panels.forEach((panel, i) => {
    const top = TOP + i * (PANEL_H + GAP) + 16;
    const bottom = top + PANEL_H;
    const values = samples.flatMap((s) => panel.series.map((se) => se.read(s))).filter(Number.isFinite);
    const yMax = niceMax(Math.max(0, ...values));
    const y = (v: number): number => bottom - (Math.max(0, v) / yMax) * PANEL_H;
    const verdict = panel.trendKey ? judgement.verdicts.find((v) => v.check === `flat ${panel.trendKey}`) : undefined;
    const legend = (panel.legend ?? []).map((name, k) => `<tspan dx="10" fill="${COLOURS[k % COLOURS.length]}" font-weight="normal">— ${esc(name)}</tspan>`);
    out.push(`<text x="${LEFT}" y="${top - 5}" font-weight="bold">${esc(panel.title)}${legend.join('')}</text>`);
    if (verdict) {
      out.push(`<text x="${WIDTH - RIGHT}" y="${top - 5}" text-anchor="end" fill="${verdict.ok ? '#2e7d32' : '#b00020'}">${esc(verdict.line)}</text>`);
    }
    out.push(`<rect x="${x(judgement.window.from).toFixed(1)}" y="${top}" width="${(x(judgement.window.to) - x(judgement.window.from)).toFixed(1)}" height="${PANEL_H}" fill="#e8f0fb"/>`);
    if (drainFrom !== undefined) {
      out.push(`<rect x="${x(drainFrom).toFixed(1)}" y="${top}" width="${(x(t1) - x(drainFrom)).toFixed(1)}" height="${PANEL_H}" fill="#eeeeee"/>`);
    }
    out.push(`<rect x="${LEFT}" y="${top}" width="${plotW}" height="${PANEL_H}" fill="none" stroke="#999"/>`);
    for (const v of [0, yMax / 2, yMax]) {
      out.push(`<text x="${LEFT - 6}" y="${(y(v) + 4).toFixed(1)}" text-anchor="end" fill="#444">${label(v)}</text>`);
      out.push(`<line x1="${LEFT}" x2="${LEFT + plotW}" y1="${y(v).toFixed(1)}" y2="${y(v).toFixed(1)}" stroke="#ddd"/>`);
    }
    for (let m = Math.ceil(t0 / 60 / tickStepMin) * tickStepMin; m <= t1 / 60 + 1e-9; m += tickStepMin) {
      const xm = x(m * 60).toFixed(1);
      out.push(`<line x1="${xm}" x2="${xm}" y1="${bottom}" y2="${bottom + 4}" stroke="#999"/>`);
      out.push(`<text x="${xm}" y="${bottom + 15}" text-anchor="middle" fill="#444">${label(m)}</text>`);
    }
    panel.series.forEach((se, k) => {
      const points = samples.map((s) => `${x(s.t).toFixed(1)},${y(se.read(s)).toFixed(1)}`).join(' ');
      out.push(`<polyline points="${points}" fill="none" stroke="${COLOURS[k % COLOURS.length]}" stroke-width="1.5"/>`);
    });
    const tr = panel.trendKey ? judgement.trends[panel.trendKey] : undefined;
    if (tr) {
      const at = (t: number): number => tr.mean + tr.slope * (t - tr.meanT);
      out.push(`<line x1="${x(judgement.window.from).toFixed(1)}" y1="${y(at(judgement.window.from)).toFixed(1)}" ` +
        `x2="${x(judgement.window.to).toFixed(1)}" y2="${y(at(judgement.window.to)).toFixed(1)}" stroke="#b00020" stroke-width="1.5" stroke-dasharray="5,3"/>`);
    }
  });
  out.push(`<text x="${LEFT + plotW / 2}" y="${height - 6}" text-anchor="middle" fill="#444">minutes since the load started ` +
    `(blue: judged window, grey: drain after the load)</text>`);
  out.push('</svg>', '');
  return out.join('\n');
}
