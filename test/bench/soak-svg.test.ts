/** The soak chart (bench/soak/svg.ts): one panel per series, the judged window and its trend. */
import * as assert from 'uvu/assert';
import { suite } from '../support/suite.ts';
import { SOAK_LIMITS, judge } from '../../bench/soak/flatness.ts';
import { soakSvg } from '../../bench/soak/svg.ts';
import { run } from './soak-samples.ts';

const test = suite('bench/soak-svg');

function chart(leak = 0) {
  const samples = run(3600, 10, (t) => ({ rssMiB: 120 + (leak * t) / 3600 }));
  const judgement = judge({ samples, window: { from: 1800, to: 3600 }, limits: SOAK_LIMITS, calls: { planned: 36_000, successful: 36_000, failed: 0 } });
  return { samples, svg: soakSvg({ samples, judgement, title: 'soak <1 h> & more', subtitle: 'machine' }) };
}

const count = (text: string, pattern: RegExp) => (text.match(pattern) ?? []).length;

test('an SVG document with a panel per series and a line per series', () => {
  const { samples, svg } = chart();
  assert.ok(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"'));
  assert.ok(svg.trimEnd().endsWith('</svg>'));
  for (const title of ['RSS (MiB)', 'open file descriptors', 'media sessions', 'SIP dialogs', 'SIP transactions', 'event-loop lag', 'CPU', 'calls/s', 'RTP packets/s']) {
    assert.ok(svg.includes(`>${title}`), `panel ${title}`);
  }
  assert.ok(svg.includes('<tspan dx="10" fill="#c26a00" font-weight="normal">— max</tspan>'), 'a legend where a panel has several lines');
  // rss, fds, sessions, dialogs, transactions: 1 each; lag 2; CPU 3; calls 2; RTP 2.
  assert.is(count(svg, /<polyline /g), 14);
  const first = /<polyline points="([^"]*)"/.exec(svg)![1]!.split(' ');
  assert.is(first.length, samples.length, 'a point per sample');
  for (const p of first) assert.match(p, /^\d+(\.\d)?,\d+(\.\d)?$/);
});

test('text is escaped; the judged window is shaded and its trend drawn on the judged panels', () => {
  const { svg } = chart();
  assert.ok(svg.includes('soak &lt;1 h&gt; &amp; more'));
  assert.ok(!svg.includes('<1 h>'));
  assert.is(count(svg, /fill="#e8f0fb"/g), 9, 'the window on every panel');
  assert.is(count(svg, /stroke-dasharray="5,3"/g), 6, 'a trend line on rss, fds, sessions, dialogs, transactions, lag');
});

test('each judged panel carries its verdict, red when not flat', () => {
  assert.ok(chart().svg.includes('fill="#2e7d32">flat RSS (MiB)'));
  assert.ok(chart(40).svg.includes('fill="#b00020">NOT FLAT RSS (MiB)'));
});

test.run();
