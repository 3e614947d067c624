/** The pps chart (bench/lib/chart-pps.ts): CPU per packet and p99 against the offered rate, a line per target. */
import * as assert from 'uvu/assert';
import { suite } from '../support/suite.ts';
import { ppsChartSvg, sweepPoints, wrapText } from '../../bench/lib/chart-pps.ts';
import type { LoadStep } from '../../bench/lib/load-process.ts';
import type { StepKind, StepRecord, StepStatus } from '../../bench/lib/step-runner.ts';
import type { SweepResult } from '../../bench/lib/sweep.ts';

const test = suite('bench/pps-chart');

function step(target: string, streams: number, kind: StepKind, offeredPps: number, status: StepStatus, p99: number, sPerMpkt: number, superseded = false): StepRecord {
  return {
    target, streams, kind, offeredPps, status, relayCpuS: 0.1, relayTickCpuS: 0.1, relayThreads: 1, sPerMpkt, loadCpuS: 0.1, windowS: 1,
    otherPct: 0, relayDrops: 0, sinkDrops: 0, ...(superseded ? { superseded: true as const } : {}),
    load: { lat_p99_us: p99, sent_pps: offeredPps * 0.99 } as LoadStep,
  };
}

function sweep(target: string, streams: number, steps: StepRecord[]): SweepResult {
  return { target, streams, maxPps: 0, stoppedBy: 'relay', atMax: null, atCost: null, warmupSilentStreams: 0, steps };
}

const count = (text: string, pattern: RegExp) => (text.match(pattern) ?? []).length;

test('a rate counts once, by its last attempt; the warm-up and superseded attempts are left out', () => {
  const points = sweepPoints([
    step('limit', 2, 'warmup', 2000, 'GEN-LIMITED', 90, 50),
    step('limit', 2, 'sweep', 100_000, 'FAIL', 900, 7, true),
    step('limit', 2, 'sweep', 20_000, 'ok', 80, 12),
    step('limit', 2, 'retry', 100_000, 'ok', 300, 6),
    step('limit', 2, 'sweep', 200_000, 'FAIL', 250_000, 5),
  ]);
  assert.equal(points, [
    { offeredPps: 20_000, sentPps: 19_800, usPerPacket: 12, p99Us: 80, passed: true },
    { offeredPps: 100_000, sentPps: 99_000, usPerPacket: 6, p99Us: 300, passed: true },
    { offeredPps: 200_000, sentPps: 198_000, usPerPacket: 5, p99Us: 200_000, passed: false },
  ]);
});

test('two panels per stream count, a line per target in each, the 1 ms goal dashed, text escaped', () => {
  const sweeps = [2, 2000].flatMap((s) => [
    sweep('limit', s, [step('limit', s, 'sweep', 20_000, 'ok', 100, 10), step('limit', s, 'sweep', 100_000, 'ok', 400, 6)]),
    sweep('pinlatch', s, [step('pinlatch', s, 'sweep', 20_000, 'ok', 120, 11), step('pinlatch', s, 'sweep', 100_000, 'FAIL', 2500, 7)]),
  ]);
  const svg = ppsChartSvg({ sweeps, title: 'pps <limit> & pinlatch', subtitle: 'machine\ncommand' });
  assert.ok(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"'));
  assert.ok(svg.trimEnd().endsWith('</svg>'));
  assert.ok(svg.includes('pps &lt;limit&gt; &amp; pinlatch'));
  for (const s of [2, 2000]) {
    assert.ok(svg.includes(`>S = ${s}: relay CPU per packet (µs)<`));
    assert.ok(svg.includes(`>S = ${s}: p99 one-way latency (µs, log)<`));
  }
  assert.is(count(svg, /<polyline /g), 8, '2 targets x 2 panels x 2 stream counts');
  assert.is(count(svg, /stroke-dasharray="5,3"/g), 2, 'the goal on each latency panel');
  assert.is(count(svg, /<circle [^>]*fill="#fff"/g), 4, 'the FAIL step open on both panels of both rows');
  assert.ok(svg.includes('>command</text>'), 'the subtitle keeps its lines');
});

test('a long subtitle (the command line) wraps at spaces, keeping its own line breaks', () => {
  assert.equal(wrapText('machine\nnpm run bench -- --targets limit,pinlatch --streams 2000', 20), ['machine', 'npm run bench --', '--targets', 'limit,pinlatch', '--streams 2000']);
  assert.equal(wrapText('a-very-long-word-alone', 5), ['a-very-long-word-alone']);
});

test.run();
