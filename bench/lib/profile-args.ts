/**
 * What bench/flame.ts and bench/profile-summary.ts share on their command lines: the profiles
 * (files, or directories standing for the main-thread profiles in them) and the time window.
 */
import { statSync } from 'node:fs';
import { ProfileError, mainThreadProfiles, readProfile, type CpuProfile, type Window } from './cpuprofile.ts';

export const WINDOW_OPTIONS = {
  'from-us': { type: 'string' },
  'to-us': { type: 'string' },
} as const;

/** The files named, a directory replaced by its main-thread profiles (node --cpu-prof's names). */
export function profilePaths(args: string[]): string[] {
  const paths = args.flatMap((a) => (statSync(a).isDirectory() ? mainThreadProfiles(a) : [a]));
  if (paths.length === 0) throw new ProfileError(`no .cpuprofile in ${args.join(', ') || '(no arguments)'}`);
  return paths;
}

export function loadProfiles(args: string[]): { paths: string[]; profiles: CpuProfile[] } {
  const paths = profilePaths(args);
  return { paths, profiles: paths.map(readProfile) };
}

/** --from-us/--to-us (V8's monotonic clock, µs; process.hrtime.bigint() / 1000n) as a window, or none. */
export function windowOf(values: { 'from-us'?: string; 'to-us'?: string }): Window | undefined {
  const from = values['from-us'];
  const to = values['to-us'];
  if (from === undefined && to === undefined) return undefined;
  const fromUs = from === undefined ? 0 : Number(from);
  const toUs = to === undefined ? Number.MAX_SAFE_INTEGER : Number(to);
  if (!Number.isSafeInteger(fromUs) || !Number.isSafeInteger(toUs) || toUs <= fromUs) {
    throw new ProfileError(`--from-us/--to-us: integers, from before to, got ${from ?? '-'} ${to ?? '-'}`);
  }
  return { fromUs, toUs };
}
