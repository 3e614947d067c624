/**
 * The benchmarks' charts as hand-written SVG, pure: panels stacked on one shared x axis, each
 * with its own y axis from 0, its lines (optionally with a dot per point), shaded x ranges,
 * dashed segments and a note on the right of its title. The soak chart (time on x) and the cps
 * chart (offered rate on x) are both drawn with it.
 */

export const COLOURS = ['#1f5fa8', '#c26a00', '#2e7d32', '#b00020', '#6a3d9a'];

export const esc = (text: string): string => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** The smallest 1-1.2-1.5-2-2.5-3-4-5-6-8 × 10^n at or above v (an axis end). */
export function niceMax(v: number): number {
  if (v <= 0) return 1;
  const step = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10]) if (m * step >= v) return m * step;
  return 10 * step;
}

export const label = (v: number): string => (v >= 100 || Number.isInteger(v) ? v.toFixed(0) : v.toFixed(1));

export interface Point {
  x: number;
  y: number;
}

export interface Line {
  points: Point[];
  colour: string;
  /** A dot on every point (few points, e.g. one per benchmark step). */
  dots?: boolean;
  /** stroke-dasharray, e.g. '5,3'. */
  dash?: string;
}

export interface Panel {
  title: string;
  /** Names of the lines, in the colours given (a legend after the title). */
  legend?: Array<{ name: string; colour: string }>;
  /** Text at the right end of the title line, e.g. a verdict. */
  note?: { text: string; colour: string };
  /** Shaded x ranges, drawn under everything else. */
  bands?: Array<{ from: number; to: number; fill: string }>;
  lines: Line[];
  /** Straight segments drawn over the lines (e.g. a trend). */
  segments?: Array<{ from: Point; to: Point; colour: string; dash?: string }>;
}

export interface PanelChart {
  title: string;
  subtitle: string;
  panels: Panel[];
  x: {
    from: number;
    to: number;
    /** Where the ticks go, in x units. */
    ticks: number[];
    tickLabel: (x: number) => string;
    /** The axis caption under the last panel. */
    caption: string;
  };
}

const WIDTH = 960;
const PANEL_H = 110;
const GAP = 34;
const LEFT = 70;
const RIGHT = 20;
const TOP = 50;

export function panelChartSvg(chart: PanelChart): string {
  const { panels, x: axis } = chart;
  const height = TOP + panels.length * (PANEL_H + GAP) + 20;
  const plotW = WIDTH - LEFT - RIGHT;
  const span = axis.to - axis.from || 1;
  const x = (v: number): number => LEFT + ((v - axis.from) / span) * plotW;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" ` +
      `font-family="sans-serif" font-size="11">`,
    `<rect width="${WIDTH}" height="${height}" fill="#fff"/>`,
    `<text x="${LEFT}" y="20" font-size="15" font-weight="bold">${esc(chart.title)}</text>`,
    `<text x="${LEFT}" y="38" fill="#444">${esc(chart.subtitle)}</text>`,
  ];
  panels.forEach((panel, i) => {
    const top = TOP + i * (PANEL_H + GAP) + 16;
    const bottom = top + PANEL_H;
    const values = panel.lines.flatMap((l) => l.points.map((p) => p.y)).filter(Number.isFinite);
    const yMax = niceMax(Math.max(0, ...values));
    const y = (v: number): number => bottom - (Math.max(0, v) / yMax) * PANEL_H;
    const legend = (panel.legend ?? []).map((l) => `<tspan dx="10" fill="${l.colour}" font-weight="normal">— ${esc(l.name)}</tspan>`);
    out.push(`<text x="${LEFT}" y="${top - 5}" font-weight="bold">${esc(panel.title)}${legend.join('')}</text>`);
    if (panel.note) {
      out.push(`<text x="${WIDTH - RIGHT}" y="${top - 5}" text-anchor="end" fill="${panel.note.colour}">${esc(panel.note.text)}</text>`);
    }
    for (const band of panel.bands ?? []) {
      out.push(`<rect x="${x(band.from).toFixed(1)}" y="${top}" width="${(x(band.to) - x(band.from)).toFixed(1)}" height="${PANEL_H}" fill="${band.fill}"/>`);
    }
    out.push(`<rect x="${LEFT}" y="${top}" width="${plotW}" height="${PANEL_H}" fill="none" stroke="#999"/>`);
    for (const v of [0, yMax / 2, yMax]) {
      out.push(`<text x="${LEFT - 6}" y="${(y(v) + 4).toFixed(1)}" text-anchor="end" fill="#444">${label(v)}</text>`);
      out.push(`<line x1="${LEFT}" x2="${LEFT + plotW}" y1="${y(v).toFixed(1)}" y2="${y(v).toFixed(1)}" stroke="#ddd"/>`);
    }
    for (const t of axis.ticks) {
      const xt = x(t).toFixed(1);
      out.push(`<line x1="${xt}" x2="${xt}" y1="${bottom}" y2="${bottom + 4}" stroke="#999"/>`);
      out.push(`<text x="${xt}" y="${bottom + 15}" text-anchor="middle" fill="#444">${esc(axis.tickLabel(t))}</text>`);
    }
    for (const line of panel.lines) {
      const points = line.points.filter((p) => Number.isFinite(p.y)).map((p) => `${x(p.x).toFixed(1)},${y(p.y).toFixed(1)}`);
      const dash = line.dash ? ` stroke-dasharray="${line.dash}"` : '';
      out.push(`<polyline points="${points.join(' ')}" fill="none" stroke="${line.colour}" stroke-width="1.5"${dash}/>`);
      if (line.dots) {
        for (const p of points) {
          const [cx, cy] = p.split(',');
          out.push(`<circle cx="${cx}" cy="${cy}" r="3" fill="${line.colour}"/>`);
        }
      }
    }
    for (const s of panel.segments ?? []) {
      const dash = s.dash ? ` stroke-dasharray="${s.dash}"` : '';
      out.push(`<line x1="${x(s.from.x).toFixed(1)}" y1="${y(s.from.y).toFixed(1)}" x2="${x(s.to.x).toFixed(1)}" y2="${y(s.to.y).toFixed(1)}" ` +
        `stroke="${s.colour}" stroke-width="1.5"${dash}/>`);
    }
  });
  out.push(`<text x="${LEFT + plotW / 2}" y="${height - 6}" text-anchor="middle" fill="#444">${esc(axis.caption)}</text>`);
  out.push('</svg>', '');
  return out.join('\n');
}
