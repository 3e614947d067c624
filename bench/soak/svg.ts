/**
 * The soak chart, pure: one panel per series stacked on a shared time axis (minutes since the
 * load started), the judged window shaded blue with its regression line dashed red, the drain
 * shaded grey. Drawn with bench/lib/svg.ts.
 */
import { COLOURS, niceMax, label, panelChartSvg, type Panel as ChartPanel } from '../lib/svg.ts';
import type { Judgement } from './flatness.ts';
import { SERIES, type Series, type SoakSample } from './samples.ts';

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

const colour = (k: number): string => COLOURS[k % 3]!;

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
  const t0 = Math.min(0, ...samples.map((s) => s.t));
  const t1 = Math.max(t0 + 1, ...samples.map((s) => s.t));
  const tickStepMin = niceMax((t1 - t0) / 60 / 8);
  const ticks: number[] = [];
  for (let m = Math.ceil(t0 / 60 / tickStepMin) * tickStepMin; m <= t1 / 60 + 1e-9; m += tickStepMin) ticks.push(m * 60);
  const drainFrom = samples.find((s) => s.phase === 'drain')?.t;
  const { window } = judgement;

  const chartPanels = panels.map((panel): ChartPanel => {
    const verdict = panel.trendKey ? judgement.verdicts.find((v) => v.check === `flat ${panel.trendKey}`) : undefined;
    const tr = panel.trendKey ? judgement.trends[panel.trendKey] : undefined;
    const at = (t: number): number => (tr ? tr.mean + tr.slope * (t - tr.meanT) : 0);
    return {
      title: panel.title,
      legend: (panel.legend ?? []).map((name, k) => ({ name, colour: colour(k) })),
      ...(verdict ? { note: { text: verdict.line, colour: verdict.ok ? '#2e7d32' : '#b00020' } } : {}),
      bands: [
        { from: window.from, to: window.to, fill: '#e8f0fb' },
        ...(drainFrom === undefined ? [] : [{ from: drainFrom, to: t1, fill: '#eeeeee' }]),
      ],
      lines: panel.series.map((se, k) => ({ colour: colour(k), points: samples.map((s) => ({ x: s.t, y: se.read(s) })) })),
      segments: tr ? [{ from: { x: window.from, y: at(window.from) }, to: { x: window.to, y: at(window.to) }, colour: '#b00020', dash: '5,3' }] : [],
    };
  });
  return panelChartSvg({
    title,
    subtitle,
    panels: chartPanels,
    x: {
      from: t0,
      to: t1,
      ticks,
      tickLabel: (t) => label(t / 60),
      caption: 'minutes since the load started (blue: judged window, grey: drain after the load)',
    },
  });
}
