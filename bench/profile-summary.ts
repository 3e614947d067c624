/**
 * profile-summary: where a V8 CPU profile's (`node --cpu-prof`) time went, as tables of self time
 * by category (pinlatch src/, node internals, node_modules, native, GC, (program)), by module
 * (src/sip/wire/*, node:dgram, postMessage, GC…) and the top functions, every share of the busy
 * (non-idle) time.
 *
 *   node --import tsx bench/profile-summary.ts PROFILE.cpuprofile|DIR... [--top 20] [--modules 25]
 *        [--json FILE] [--from-us N] [--to-us N]
 *
 * Several profiles (or a directory: its main-thread profiles) are summed. --json writes the whole
 * summary (every module) for the docs. The window options are bench/flame.ts's.
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { ProfileError, callTree, summarize, summaryTables, type ProfileSummary, type Window } from './lib/cpuprofile.ts';
import { WINDOW_OPTIONS, loadProfiles, windowOf } from './lib/profile-args.ts';

/** The summary as written by --json: what was summed, then the tables. */
export interface SummaryDocument extends ProfileSummary {
  profiles: string[];
  window: Window | null;
}

export function runProfileSummary(argv: string[]): void {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      top: { type: 'string', default: '20' },
      modules: { type: 'string', default: '25' },
      json: { type: 'string' },
      ...WINDOW_OPTIONS,
    },
    strict: true,
  });
  const top = Number(values.top);
  const modules = Number(values.modules);
  if (!(Number.isInteger(top) && top >= 1 && top <= 1000)) throw new ProfileError(`--top: 1..1000, got ${values.top}`);
  if (!(Number.isInteger(modules) && modules >= 1 && modules <= 1000)) throw new ProfileError(`--modules: 1..1000, got ${values.modules}`);
  const window = windowOf(values);
  const { paths, profiles } = loadProfiles(positionals);
  const summary = summarize(callTree(profiles, { window }), top);
  console.log(summaryTables(summary, modules));
  if (values.json !== undefined) {
    const doc: SummaryDocument = { profiles: paths, window: window ?? null, ...summary };
    writeFileSync(values.json, `${JSON.stringify(doc, null, 2)}\n`);
    console.log(`wrote ${values.json}`);
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  try {
    runProfileSummary(process.argv.slice(2));
  } catch (err) {
    console.error(err instanceof Error ? err.message : err);
    process.exitCode = 1;
  }
}
