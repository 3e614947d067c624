/** Synthetic soak samples for the tests of the soak's pure parts (judgement, chart). */
import type { SoakSample } from '../../bench/soak/samples.ts';

export function sample(t: number, phase: SoakSample['phase'], over: Partial<SoakSample> = {}): SoakSample {
  return {
    t, phase, rssMiB: 120, fds: 400, cpuPct: 10, harnessCpuPct: 12, machineCpuPct: 40, sessions: 100, dialogs: 300,
    transactions: 900, lagP99Ms: 2, lagMaxMs: 5, callsStarted: 0, callsSuccessful: 0, callsFailed: 0, rtpSent: 0, rtpDelivered: 0,
    ...over,
  };
}

/**
 * A run of `loadS` seconds sampled every `step` s: 3 idle samples, the load (each series given by
 * `load(t)`), then a drain back to the idle figures. RTP: 1000 packets a second, all delivered.
 */
export function run(loadS: number, step: number, load: (t: number) => Partial<SoakSample> = () => ({})): SoakSample[] {
  const idle = { sessions: 0, dialogs: 0, transactions: 0, fds: 27 };
  const out: SoakSample[] = [];
  for (let t = -3 * step; t < 0; t += step) out.push(sample(t, 'idle', idle));
  for (let t = 0; t <= loadS; t += step) {
    out.push(sample(t, 'load', { callsSuccessful: 10 * t, callsStarted: 10 * t, rtpSent: 1000 * t, rtpDelivered: 1000 * t, ...load(t) }));
  }
  const end = { callsSuccessful: 10 * loadS, callsStarted: 10 * loadS, rtpSent: 1000 * loadS, rtpDelivered: 1000 * loadS };
  for (let t = loadS + step; t <= loadS + 4 * step; t += step) out.push(sample(t, 'drain', { ...idle, ...end }));
  return out;
}
