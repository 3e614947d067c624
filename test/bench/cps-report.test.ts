/** The cps benchmark's accounting (bench/lib/call-outcomes.ts) and its chart (bench/lib/cps-report.ts). */
import * as assert from 'uvu/assert';
import { suite } from '../support/suite.ts';
import { callOutcomes, lastCsvRow, refusedFromCounts } from '../../bench/lib/call-outcomes.ts';
import { cpsChartSvg, stepRow, summaryLines, type CpsStep } from '../../bench/lib/cps-report.ts';

const test = suite('bench/cps-report');

/** The shape sipp writes: `;`-separated, a header, one cumulative line per report period. */
const stat = (successful: number, failed: number, retrans: number): string => [
  'StartTime;LastResetTime;CurrentTime;SuccessfulCall(P);SuccessfulCall(C);FailedCall(P);FailedCall(C);Retransmissions(P);Retransmissions(C);',
  `t0;t0;t1;1;1;0;0;0;0;`,
  `t0;t0;t2;4;${successful};0;${failed};0;${retrans};`,
].join('\n');

const counts = (on100: number, on180: number): string => [
  'CurrentTime;ElapsedTime;1_INVITE_Sent;2_100_Recv;3_503_Recv;4_180_Recv;5_503_Recv;6_200_Recv;7_ACK_Sent;',
  't1;1;10;5;0;3;0;2;2;',
  `t2;2;1000;800;${on100};600;${on180};500;500;`,
].join('\n');

test('refused calls are the 503 receptions on any element, taken out of sipp\'s successful ones', () => {
  assert.is(refusedFromCounts(counts(120, 30), [503]), 150);
  assert.is(refusedFromCounts(counts(120, 30), [486]), 0);
  assert.equal(callOutcomes(1000, stat(990, 10, 42), 150), { calls: 1000, completed: 840, refused: 150, lost: 10, retransmissions: 42 });
});

test('without sipp\'s statistics every call is lost; counts never go negative or over the calls', () => {
  assert.equal(callOutcomes(500, null, 0), { calls: 500, completed: 0, refused: 0, lost: 500, retransmissions: 0 });
  assert.equal(callOutcomes(100, stat(100, 0, 0), 400), { calls: 100, completed: 0, refused: 100, lost: 0, retransmissions: 0 });
  assert.equal(lastCsvRow('only;a;header'), new Map());
});

const step = (target: string, mode: CpsStep['mode'], rate: number, multiple: number | null, lost: number, refused: number): CpsStep => ({
  target, mode, rate, multiple, calls: 1000, completed: 1000 - lost - refused, refused, lost, retransmissions: 0,
  wallS: 2, cpuS: 2.4, mainS: 1.2, rssKiB: 102_400, pssKiB: 81_920, sipDrops: 0,
  memory: { rssStartKiB: 51_200, peakCalls: 0, rssAtPeakKiB: 0, idleS: 0, rssEndKiB: null, rssIdleKiB: null, heapEndBytes: null, heapIdleBytes: null },
});

test('a row per step, a summary per target, and a chart of the overload steps only', () => {
  const steps = [
    step('pinlatch', 'warm', 300, null, 0, 0),
    step('pinlatch', 'cold', 400, 1, 0, 0), step('kamailio', 'cold', 400, 1, 0, 0),
    step('pinlatch', 'cold', 800, 2, 0, 380), step('kamailio', 'cold', 800, 2, 130, 0),
    step('pinlatch', 'warmup', 200, null, 0, 0),
    step('pinlatch', 'warm', 1600, 4, 0, 700),
  ];
  // A step recorded before shard threads had names (no shardS) shows a dash there, as the reference does.
  assert.is(stepRow(steps[3]!), '| pinlatch | cold | 800 | 2× | 620/1000 | 380 | 0 | 0 | 0 | 2.0 | 60.0 | 1.20 | 120.0 | 2.40 | – | 100.0 | 80.0 | 0 | – | – | – |');
  assert.is(stepRow({ ...steps[3]!, shardS: 0.31 }), '| pinlatch | cold | 800 | 2× | 620/1000 | 380 | 0 | 0 | 0 | 2.0 | 60.0 | 1.20 | 120.0 | 2.40 | 0.31 | 100.0 | 80.0 | 0 | – | – | – |');
  assert.equal(summaryLines(steps), [
    'highest rate with every call completed, pinlatch: 400 cps',
    'steps with lost calls, pinlatch: none',
    'highest rate with every call completed, kamailio: 400 cps',
    'steps with lost calls, kamailio: cold 800 cps (130)',
  ]);
  const svg = cpsChartSvg({ steps, title: 'cps <overload>', subtitle: 'machine' });
  assert.ok(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"') && svg.trimEnd().endsWith('</svg>'));
  assert.ok(svg.includes('cps &lt;overload&gt;'));
  for (const title of ['calls lost', 'calls refused', 'calls completed', 'main-thread CPU', 'whole-target CPU']) assert.ok(svg.includes(`>${title}`), title);
  // pinlatch cold, kamailio cold, pinlatch warm: a line each on 5 panels; the capacity search and the warm-up are left out.
  assert.is((svg.match(/<polyline /g) ?? []).length, 15);
  assert.is((svg.match(/<circle /g) ?? []).length, 5 * 5, 'a dot per overload step and panel');
  assert.ok(svg.includes('— pinlatch warm') && !svg.includes('warmup'));
});

test.run();
