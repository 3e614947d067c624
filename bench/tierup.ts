/**
 * What V8 still compiled and threw away after a relay's warm-up: reads pinlatch logs written by
 * bench/cps.ts with V8's tier-up traces and counts, before and after the `warm-up done` line (the
 * moment its SIP port opens), the TurboFan compilations (and the milliseconds they took, on
 * compiler threads that share the relay's one CPU) and the deoptimisations, the latter by function
 * and reason. Work of this kind after the port opens is what a fresh process pays under its first
 * load, beside the calls.
 *
 *   node --import tsx bench/cps.ts --rates 800 --step-s 10 --targets pinlatch --fresh --log-level info \
 *     --logs DIR --node-args='--trace-opt --trace-deopt'
 *   node --import tsx bench/tierup.ts DIR/*.log
 */
import { readFileSync } from 'node:fs';

export interface TierUp {
  /** Whether the log has the `warm-up done` line (without it, everything counts as before). */
  marked: boolean;
  before: { compiles: number; compileMs: number; deopts: number };
  after: { compiles: number; compileMs: number; deopts: number };
  /** The deoptimisations after the mark: `function (reason)` → how many. */
  deoptsAfter: Map<string, number>;
}

const COMPILED = /completed compiling .*took ([0-9.]+), ([0-9.]+), ([0-9.]+) ms/;
const DEOPT = /bailout \(kind: deopt[^,]*, reason: ([^)]*)\).*?<JSFunction ([^ >]*)/;

export function tierUp(log: string): TierUp {
  const lines = log.split('\n');
  const mark = lines.findIndex((line) => line.includes('"msg":"warm-up done"'));
  const result: TierUp = {
    marked: mark !== -1,
    before: { compiles: 0, compileMs: 0, deopts: 0 },
    after: { compiles: 0, compileMs: 0, deopts: 0 },
    deoptsAfter: new Map(),
  };
  lines.forEach((line, i) => {
    const side = mark !== -1 && i > mark ? result.after : result.before;
    const compiled = COMPILED.exec(line);
    if (compiled) {
      side.compiles += 1;
      side.compileMs += Number(compiled[1]) + Number(compiled[2]) + Number(compiled[3]);
      return;
    }
    const deopt = DEOPT.exec(line);
    if (deopt) {
      side.deopts += 1;
      if (side === result.after) {
        const key = `${deopt[2]} (${deopt[1]})`;
        result.deoptsAfter.set(key, (result.deoptsAfter.get(key) ?? 0) + 1);
      }
    }
  });
  return result;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const files = process.argv.slice(2);
  if (files.length === 0) {
    console.error('usage: node --import tsx bench/tierup.ts LOG...');
    process.exit(2);
  }
  for (const file of files) {
    const t = tierUp(readFileSync(file, 'utf8'));
    if (!t.marked) console.log(`${file}: no "warm-up done" line (run bench/cps.ts with --log-level info)`);
    console.log(`${file}
  warm-up:          ${t.before.compiles} compilations (${Math.round(t.before.compileMs)} ms), ${t.before.deopts} deoptimisations
  after the warm-up: ${t.after.compiles} compilations (${Math.round(t.after.compileMs)} ms), ${t.after.deopts} deoptimisations`);
    for (const [what, count] of [...t.deoptsAfter].sort((a, b) => b[1] - a[1])) console.log(`    ${count} × ${what}`);
  }
}
