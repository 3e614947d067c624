/**
 * bench/cps.ts --profile: the flame graph and self-time summary of pinlatch's main thread for each
 * step it profiled. The process runs with `--cpu-prof --cpu-prof-dir=DIR` and writes its profiles
 * when it stops; the step's window (monotonic µs, taken by the bench around the step) cuts the
 * step out of the process's whole life (start-up, warm-up, earlier steps, shutdown left out).
 */
import { writeFileSync } from 'node:fs';
import { basename } from 'node:path';
import { flameOf } from '../flame.ts';
import { ProfileError, mainThreadProfiles, readProfile, summarize, type ProfileSummary, type Window } from './cpuprofile.ts';
import type { CpsStep } from './cps-report.ts';

/** The clock of V8's profiles (CLOCK_MONOTONIC) in µs, read in this process. */
export const monotonicUs = (): number => Number(process.hrtime.bigint() / 1000n);

export interface ProfiledStep {
  step: CpsStep;
  /** The profiled process (its profiles are named after it). */
  pid: number;
  window: Window;
}

/** What is written beside each step's flame graph as STEM-LABEL.summary.json. */
export interface StepProfileDocument extends ProfileSummary {
  step: Pick<CpsStep, 'target' | 'mode' | 'rate' | 'calls' | 'completed' | 'refused' | 'lost' | 'wallS' | 'mainS'>;
  profile: string;
  window: Window;
  /** The main thread's busy time in the profile per offered call (wall time of the samples). */
  busyMsPerCall: number;
}

/**
 * The name of each step's files: its mode (`fresh` for the first step of a new process, cps's
 * `cold`), with the rate when several steps share a mode, and a counter when those coincide too.
 */
export function stepLabels(steps: CpsStep[]): string[] {
  const mode = (s: CpsStep): string => (s.mode === 'cold' ? 'fresh' : s.mode);
  const byMode = new Map<string, number>();
  for (const s of steps) byMode.set(mode(s), (byMode.get(mode(s)) ?? 0) + 1);
  const labels = steps.map((s) => (byMode.get(mode(s))! > 1 ? `${mode(s)}-${s.rate}cps` : mode(s)));
  const seen = new Map<string, number>();
  return labels.map((l) => {
    const n = (seen.get(l) ?? 0) + 1;
    seen.set(l, n);
    return labels.filter((x) => x === l).length > 1 ? `${l}-${n}` : l;
  });
}

/**
 * Writes STEM-LABEL.svg (flame graph of the step, (idle) left out) and STEM-LABEL.summary.json for
 * every profiled step; returns the lines to print (files and the top categories).
 */
export function writeStepProfiles(profileDir: string, profiled: ProfiledStep[], stem: string, subtitle: string): string[] {
  const labels = stepLabels(profiled.map((p) => p.step));
  const lines: string[] = [];
  for (const [i, { step, pid, window }] of profiled.entries()) {
    const paths = mainThreadProfiles(profileDir, pid);
    if (paths.length !== 1) throw new ProfileError(`${profileDir}: ${paths.length} main-thread profiles of pid ${pid}, expected 1 (did it stop cleanly?)`);
    const path = paths[0]!;
    const { tree, svg } = flameOf([readProfile(path)], {
      title: `pinlatch main thread, cps ${labels[i]}: ${step.rate} cps, ${step.completed}/${step.calls} calls completed`,
      subtitle,
      window,
      focusMain: true,
    });
    const summary = summarize(tree);
    const doc: StepProfileDocument = {
      step: { target: step.target, mode: step.mode, rate: step.rate, calls: step.calls, completed: step.completed, refused: step.refused, lost: step.lost, wallS: step.wallS, mainS: step.mainS },
      profile: basename(path),
      window,
      busyMsPerCall: summary.busyUs / 1000 / Math.max(1, step.calls),
      ...summary,
    };
    const svgFile = `${stem}-${labels[i]}.svg`;
    const jsonFile = `${stem}-${labels[i]}.summary.json`;
    writeFileSync(svgFile, svg);
    writeFileSync(jsonFile, `${JSON.stringify(doc, null, 2)}\n`);
    const top = summary.byCategory.slice(0, 4).map((c) => `${c.label} ${c.pct.toFixed(1)} %`).join(', ');
    lines.push(`profile ${labels[i]} (${step.rate} cps): busy ${doc.busyMsPerCall.toFixed(2)} ms/call; ${top}; wrote ${svgFile} and ${jsonFile}`);
  }
  return lines;
}
