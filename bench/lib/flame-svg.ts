/**
 * A merged call tree (bench/lib/cpuprofile.ts) as a self-contained SVG flame graph, icicle style:
 * the whole sampled time on top, each row the callees of the row above, a frame's width its total
 * time. Siblings are ordered largest first; a frame narrower than `minPx` is left out with its
 * callees (its time stays in its parent's width, so every width is exact). Colours by category;
 * every frame has a <title> tooltip with its function, place, self and total time. Pure.
 */
import { CATEGORY_LABELS, type Category, type Frame } from './cpuprofile.ts';
import { esc } from './svg.ts';

export interface FlameOptions {
  title: string;
  subtitle: string;
  /** Pixels (default 1200, a documentation page's width). */
  width?: number;
  /** Frames narrower than this many pixels are left out, with their callees (default 1). */
  minPx?: number;
}

const LEFT = 10;
const RIGHT = 10;
const TOP = 70;
const ROW = 16;
const FRAME_H = 15;
const FONT_PX = 11;
/** The advance of one character of an 11 px monospace font (DejaVu Sans Mono: 6.62 px), rounded up. */
const CHAR_PX = 6.7;

/** Hue range, saturation and lightness range of a category's frames. */
const PALETTE: Record<Category, { hue: [number, number]; sat: number; light: [number, number] }> = {
  src: { hue: [12, 36], sat: 85, light: [55, 66] },
  node: { hue: [90, 130], sat: 45, light: [52, 64] },
  deps: { hue: [200, 225], sat: 60, light: [62, 74] },
  native: { hue: [46, 56], sat: 80, light: [52, 64] },
  gc: { hue: [285, 300], sat: 45, light: [58, 64] },
  program: { hue: [0, 0], sat: 0, light: [68, 72] },
  idle: { hue: [0, 0], sat: 0, light: [84, 86] },
  other: { hue: [168, 182], sat: 40, light: [58, 68] },
};

function hslHex(h: number, s: number, l: number): string {
  const sat = s / 100;
  const light = l / 100;
  const a = sat * Math.min(light, 1 - light);
  const f = (n: number): string => {
    const k = (n + h / 30) % 12;
    const v = light - a * Math.max(-1, Math.min(k - 3, 9 - k, 1));
    return Math.round(255 * v).toString(16).padStart(2, '0');
  };
  return `#${f(0)}${f(8)}${f(4)}`;
}

/** FNV-1a of the name to [0, 1): the same function gets the same shade in every graph. */
function unitHash(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193) >>> 0;
  return h / 2 ** 32;
}

export function frameColour(category: Category, name: string): string {
  const p = PALETTE[category];
  const u = unitHash(name);
  const v = unitHash(`${name}\u0001`);
  return hslHex(p.hue[0] + u * (p.hue[1] - p.hue[0]), p.sat, p.light[0] + v * (p.light[1] - p.light[0]));
}

export const categoryColour = (category: Category): string => {
  const p = PALETTE[category];
  return hslHex((p.hue[0] + p.hue[1]) / 2, p.sat, (p.light[0] + p.light[1]) / 2);
};

/**
 * Text as XML character data: the characters XML 1.0 does not allow (C0 controls but tab, line
 * feed and carriage return; lone surrogates; U+FFFE/U+FFFF) replaced, then &, < and > escaped.
 */
export const xmlText = (text: string): string =>
  esc(text.replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, '\ufffd'));

const fmtMs = (us: number): string => {
  const ms = us / 1000;
  return ms >= 100 ? ms.toFixed(0) : ms >= 1 ? ms.toFixed(1) : ms.toFixed(2);
};
const fmtPct = (part: number, whole: number): string => (whole > 0 ? ((100 * part) / whole).toFixed(1) : '0.0');

/** The label that fits `px` pixels: the whole name, or its start and an ellipsis, or nothing. */
function fit(name: string, px: number): string {
  const chars = Math.floor((px - 6) / CHAR_PX);
  if (chars >= name.length) return name;
  return chars >= 3 ? `${name.slice(0, chars - 1)}…` : '';
}

export interface FlameStats {
  drawn: number;
  /** Frames left out for being narrower than minPx (their callees not counted). */
  dropped: number;
  depth: number;
}

export function flameSvg(root: Frame, options: FlameOptions): { svg: string; stats: FlameStats } {
  const width = options.width ?? 1200;
  const minPx = options.minPx ?? 1;
  const plotW = width - LEFT - RIGHT;
  const scale = root.totalUs > 0 ? plotW / root.totalUs : 0;
  const rows: string[] = [];
  const stats: FlameStats = { drawn: 0, dropped: 0, depth: 0 };
  const shares = new Map<Category, number>();
  const stack: Array<{ frame: Frame; x: number; depth: number }> = [{ frame: root, x: LEFT, depth: 0 }];
  while (stack.length > 0) {
    const { frame, x, depth } = stack.pop()!;
    const w = depth === 0 ? plotW : frame.totalUs * scale;
    const y = TOP + depth * ROW;
    const name = depth === 0 ? `all: ${fmtMs(root.totalUs)} ms` : frame.name;
    const tip = [
      depth === 0 ? name : frame.name,
      depth === 0 ? options.subtitle : frame.where || CATEGORY_LABELS[frame.category],
      `self ${fmtMs(frame.selfUs)} ms (${fmtPct(frame.selfUs, root.totalUs)} %), total ${fmtMs(frame.totalUs)} ms (${fmtPct(frame.totalUs, root.totalUs)} %)`,
    ].join('\n');
    const fill = depth === 0 ? '#d8d8d8' : frameColour(frame.category, frame.name);
    const label = fit(name, w);
    rows.push(`<g><title>${xmlText(tip)}</title><rect x="${x.toFixed(1)}" y="${y}" width="${w.toFixed(1)}" height="${FRAME_H}" fill="${fill}"/>` +
      (label === '' ? '' : `<text x="${(x + 3).toFixed(1)}" y="${y + 11}">${xmlText(label)}</text>`) + '</g>');
    stats.drawn += 1;
    stats.depth = Math.max(stats.depth, depth + 1);
    if (frame.selfUs > 0) shares.set(frame.category, (shares.get(frame.category) ?? 0) + frame.selfUs);
    let cx = x;
    const placed: Array<{ frame: Frame; x: number; depth: number }> = [];
    for (const c of frame.children) {
      const cw = c.totalUs * scale;
      if (cw >= minPx) placed.push({ frame: c, x: cx, depth: depth + 1 });
      else {
        stats.dropped += 1;
        addShares(c, shares);
      }
      cx += cw;
    }
    for (let i = placed.length - 1; i >= 0; i--) stack.push(placed[i]!);
  }
  const height = TOP + stats.depth * ROW + 24;
  const legend: string[] = [];
  let lx = LEFT;
  for (const [category, us] of [...shares].sort((a, b) => b[1] - a[1])) {
    const text = `${CATEGORY_LABELS[category]} ${fmtPct(us, root.totalUs)} %`;
    legend.push(`<rect x="${lx.toFixed(1)}" y="49" width="12" height="12" fill="${categoryColour(category)}"/>` +
      `<text x="${(lx + 16).toFixed(1)}" y="59">${xmlText(text)}</text>`);
    lx += 16 + text.length * CHAR_PX + 14;
  }
  const svg = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="monospace" font-size="${FONT_PX}">`,
    `<rect width="${width}" height="${height}" fill="#fff"/>`,
    `<text x="${LEFT}" y="20" font-family="sans-serif" font-size="15" font-weight="bold">${xmlText(options.title)}</text>`,
    `<text x="${LEFT}" y="38" font-family="sans-serif" fill="#444">${xmlText(options.subtitle)}</text>`,
    ...legend,
    ...rows,
    `<text x="${LEFT}" y="${height - 8}" font-family="sans-serif" fill="#666">${xmlText(
      `width: total time (self + callees); callers above callees; legend: self time by category; ` +
      `${stats.dropped} frames narrower than ${minPx} px left out with their callees; hover a frame for its numbers`)}</text>`,
    '</svg>',
    '',
  ].join('\n');
  return { svg, stats };
}

/** Self time of a subtree by category (a frame too narrow to draw still counts in the legend). */
function addShares(frame: Frame, shares: Map<Category, number>): void {
  const stack = [frame];
  while (stack.length > 0) {
    const f = stack.pop()!;
    if (f.selfUs > 0) shares.set(f.category, (shares.get(f.category) ?? 0) + f.selfUs);
    stack.push(...f.children);
  }
}
