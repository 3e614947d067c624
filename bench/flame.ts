/**
 * flame: a V8 CPU profile (`node --cpu-prof`) as a self-contained SVG flame graph (icicle: callers
 * above callees, widths by sample time, colours by category, a tooltip per frame).
 *
 *   node --import tsx bench/flame.ts PROFILE.cpuprofile|DIR... --out FILE.svg [--focus main]
 *        [--title TEXT] [--min-px 1] [--width 1200] [--from-us N] [--to-us N]
 *
 * Several profiles (or a directory: its main-thread profiles) are merged into one graph.
 * `--focus main` leaves (idle) out: the graph is the thread's busy time. `--from-us/--to-us` keep
 * the samples of a window on V8's monotonic clock (µs, what process.hrtime.bigint() / 1000n reads
 * in any process on the machine). Frames narrower than --min-px are left out with their callees.
 * bench/profile-summary.ts prints the same tree's self time as tables; bench/cps.ts --profile DIR
 * writes both for every step of pinlatch it profiled.
 */
import { writeFileSync } from 'node:fs';
import { basename } from 'node:path';
import { parseArgs } from 'node:util';
import { ProfileError, callTree, withoutIdle, type CpuProfile, type Frame, type Window } from './lib/cpuprofile.ts';
import { flameSvg, type FlameStats } from './lib/flame-svg.ts';
import { WINDOW_OPTIONS, loadProfiles, windowOf } from './lib/profile-args.ts';

export interface FlameRequest {
  title: string;
  /** Shown under the title, after the sampled and busy time. */
  subtitle?: string;
  window?: Window;
  /** Leave (idle) out. */
  focusMain?: boolean;
  minPx?: number;
  width?: number;
}

const ms = (us: number): string => (us / 1000).toFixed(0);

/** The merged tree of the profiles and its flame graph. */
export function flameOf(profiles: CpuProfile[], request: FlameRequest): { tree: Frame; svg: string; stats: FlameStats } {
  const tree = callTree(profiles, { window: request.window });
  const idleUs = tree.children.filter((c) => c.category === 'idle').reduce((s, c) => s + c.totalUs, 0);
  const shown = request.focusMain ? withoutIdle(tree) : tree;
  const subtitle = [
    `${ms(tree.totalUs - idleUs)} ms busy of ${ms(tree.totalUs)} ms sampled${request.focusMain ? ', (idle) left out' : ''}`,
    ...(request.subtitle ? [request.subtitle] : []),
  ].join('; ');
  const { svg, stats } = flameSvg(shown, { title: request.title, subtitle, minPx: request.minPx, width: request.width });
  return { tree, svg, stats };
}

export function runFlame(argv: string[]): void {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      out: { type: 'string' },
      focus: { type: 'string' },
      title: { type: 'string' },
      'min-px': { type: 'string', default: '1' },
      width: { type: 'string', default: '1200' },
      ...WINDOW_OPTIONS,
    },
    strict: true,
  });
  if (values.out === undefined || !values.out.endsWith('.svg')) throw new ProfileError('--out FILE.svg is required');
  if (values.focus !== undefined && values.focus !== 'main') throw new ProfileError(`--focus: main (the busy time, (idle) left out), got ${values.focus}`);
  const minPx = Number(values['min-px']);
  const width = Number(values.width);
  if (!(minPx >= 0 && minPx <= 100)) throw new ProfileError(`--min-px: 0..100, got ${values['min-px']}`);
  if (!(Number.isInteger(width) && width >= 200 && width <= 10_000)) throw new ProfileError(`--width: 200..10000, got ${values.width}`);
  const { paths, profiles } = loadProfiles(positionals);
  const names = paths.map((p) => basename(p));
  const { svg, stats } = flameOf(profiles, {
    title: values.title ?? `CPU profile: ${names.length === 1 ? names[0] : `${names.length} profiles merged`}`,
    window: windowOf(values),
    focusMain: values.focus === 'main',
    minPx,
    width,
  });
  writeFileSync(values.out, svg);
  console.log(`wrote ${values.out}: ${stats.drawn} frames, ${stats.dropped} narrower than ${minPx} px left out, ${stats.depth} rows`);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  try {
    runFlame(process.argv.slice(2));
  } catch (err) {
    console.error(err instanceof Error ? err.message : err);
    process.exitCode = 1;
  }
}
