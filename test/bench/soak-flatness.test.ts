/** The soak's verdict (bench/soak/flatness.ts): flat, drained, every call through, RTP out. */
import * as assert from 'uvu/assert';
import { suite } from '../support/suite.ts';
import { SOAK_LIMITS, judge, trend } from '../../bench/soak/flatness.ts';
import type { SoakSample } from '../../bench/soak/samples.ts';
import { run } from './soak-samples.ts';

const test = suite('bench/soak-flatness');

const WINDOW = { from: 1800, to: 3600 };
const allCalls = { planned: 36_000, successful: 36_000, failed: 0 };
const failing = (samples: SoakSample[], calls = allCalls) =>
  judge({ samples, window: WINDOW, limits: SOAK_LIMITS, calls }).verdicts.filter((v) => !v.ok).map((v) => v.line);

test('trend: the least-squares line through points, its rise over their span', () => {
  const tr = trend([0, 10, 20, 30].map((t) => ({ t, v: 5 + 0.5 * t })))!;
  assert.ok(Math.abs(tr.slope - 0.5) < 1e-12);
  assert.ok(Math.abs(tr.growth - 15) < 1e-9);
  assert.ok(Math.abs(tr.mean - 12.5) < 1e-12);
  assert.is(tr.meanT, 15);
  assert.is(trend([{ t: 0, v: 1 }, { t: 1, v: 2 }]), null, 'two points are no trend');
  assert.is(trend([{ t: 5, v: 1 }, { t: 5, v: 2 }, { t: 5, v: 3 }]), null, 'no spread in time');
});

test('steady lines with noise and a GC sawtooth are flat; drained; all calls and RTP through', () => {
  const samples = run(3600, 10, (t) => ({
    rssMiB: 130 + 6 * ((t % 300) / 300),
    fds: 400 + ((t / 10) % 3) - 1,
    sessions: 100 + ((t / 10) % 5) - 2,
  }));
  const j = judge({ samples, window: WINDOW, limits: SOAK_LIMITS, calls: allCalls });
  assert.equal(j.verdicts.filter((v) => !v.ok).map((v) => v.line), []);
  assert.ok(j.ok);
  assert.ok(j.trends.rss && Math.abs(j.trends.rss.growth) < 1, 'the sawtooth has no trend');
  assert.match(j.verdicts.find((v) => v.check === 'drained')!.line, 'drained: 0 sessions, 0 dialogs, 0 transactions');
});

test('a leak of 20 MiB an hour is NOT FLAT, with the rise and the allowance in the line', () => {
  const lines = failing(run(3600, 10, (t) => ({ rssMiB: 120 + (20 * t) / 3600 })));
  assert.is(lines.length, 1);
  assert.match(lines[0]!, /^NOT FLAT RSS \(MiB\): mean 1\d\d, \+10\.0\d over 1800 s \(20\.00\/h; allowed \+8\.00\)$/);
});

test('sessions that pile up are NOT FLAT; falling lines are fine', () => {
  const lines = failing(run(3600, 10, (t) => ({ sessions: 100 + t / 60, fds: 400 - t / 60 })));
  assert.is(lines.length, 1);
  assert.match(lines[0]!, 'NOT FLAT media sessions');
});

test('what is left after the drain is named: sessions, dialogs, transactions, fds', () => {
  const samples = run(3600, 10);
  samples[samples.length - 1] = { ...samples.at(-1)!, sessions: 3, transactions: 2, fds: 60 };
  const lines = failing(samples);
  assert.ok(lines.some((l) => /^NOT DRAINED at t = \d+ s: 3 sessions, 2 transactions left$/.test(l)), lines.join('\n'));
  assert.ok(lines.some((l) => l.startsWith('FDS NOT BACK: 60 open after the drain, 27 before the load')), lines.join('\n'));
});

test('a run cut short (no drain sample) is not drained', () => {
  const lines = failing(run(3600, 10).filter((s) => s.phase !== 'drain'));
  assert.ok(lines.includes('NOT DRAINED: no sample after the load stopped'), lines.join('\n'));
});

test('failed calls and calls never made both fail the run', () => {
  assert.equal(failing(run(3600, 10), { planned: 36_000, successful: 35_990, failed: 10 }), [
    'FAILED CALLS: 35990 of 36000 successful, 10 failed (sipp)',
  ]);
  assert.equal(failing(run(3600, 10), { planned: 36_000, successful: 30_000, failed: 0 }), [
    'FAILED CALLS: 30000 of 36000 successful, 0 failed (sipp)',
  ]);
});

test('RTP that does not come out of pinlatch fails the run', () => {
  const samples = run(3600, 10);
  samples[samples.length - 1] = { ...samples.at(-1)!, rtpDelivered: samples.at(-1)!.rtpSent * 0.9 };
  const lines = failing(samples);
  assert.is(lines.length, 1);
  assert.match(lines[0]!, /^RTP LOST: \d+ of \d+ packets through pinlatch \(90\.00 %, required 99\.00 %\)$/);
});

test('too few samples in the window is a failure, not a pass', () => {
  const lines = failing(run(3600, 1000));
  assert.ok(lines.some((l) => l.startsWith('NOT JUDGED RSS')), lines.join('\n'));
});

test.run();
