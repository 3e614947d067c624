/**
 * The CPU profile tools of the benchmarks: bench/lib/cpuprofile.ts (tree, categories, summary),
 * bench/lib/flame-svg.ts through bench/flame.ts (the SVG), bench/lib/cps-profile.ts (a step's
 * files). A hand-made profile with known sample times, and a real one recorded here with
 * `node --cpu-prof` of a short script.
 */
import * as assert from 'uvu/assert';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { suite } from '../support/suite.ts';
import {
  ProfileError, callTree, classify, mainThreadProfiles, parseProfile, profileFileInfo, readProfile, summarize, urlLocator,
  withoutIdle, type CpuProfile, type ProfileSummary,
} from '../../bench/lib/cpuprofile.ts';
import { flameSvg } from '../../bench/lib/flame-svg.ts';
import { flameOf } from '../../bench/flame.ts';
import { stepLabels, writeStepProfiles, type StepProfileDocument } from '../../bench/lib/cps-profile.ts';
import type { CpsStep } from '../../bench/lib/cps-report.ts';

const test = suite('bench/flame');
const run = promisify(execFile);

const frame = (id: number, functionName: string, url = '', lineNumber = -1, children: number[] = []) =>
  ({ id, callFrame: { functionName, scriptId: url === '' ? '0' : '1', url, lineNumber, columnNumber: lineNumber < 0 ? -1 : 4 }, hitCount: 0, children });

const PARSER = 'file:///nowhere/pinlatch/dist/src/sip/wire/parser.js';
/** Milliseconds of samples per node id, in this order; each sample lasts 1 ms. */
const HITS: Array<[number, number]> = [[3, 40], [2, 5], [4, 5], [5, 10], [6, 5], [7, 20], [8, 10], [9, 4], [10, 1], [11, 2]];

/** Two nodes for one function (5 and 6, as V8 makes per code tier), every category, an unsafe name. */
function synthetic(): CpuProfile {
  const samples = HITS.flatMap(([id, ms]) => Array<number>(ms).fill(id));
  return parseProfile(JSON.stringify({
    nodes: [
      frame(1, '(root)', '', -1, [2, 3, 4, 5, 6]),
      frame(2, '(program)'),
      frame(3, '(idle)'),
      frame(4, '(garbage collector)'),
      frame(5, 'onMessage', PARSER, 9, [7, 8, 9, 11]),
      frame(6, 'onMessage', PARSER, 9, [10]),
      frame(7, 'postMessage'),
      frame(8, 'doSend', 'node:dgram', 686),
      frame(9, 'format', 'file:///nowhere/pinlatch/node_modules/pino/lib/tools.js', 20),
      frame(10, 'tiny', 'file:///nowhere/pinlatch/dist/src/sdp/describe.js', 3),
      frame(11, 'a<b>&"c\u0001', 'file:///nowhere/pinlatch/dist/src/media/ShardPool.js', 40),
    ],
    startTime: 1_000_000,
    endTime: 1_000_000 + samples.length * 1000,
    samples,
    timeDeltas: samples.map((_, i) => (i === 0 ? 0 : 1000)),
  }));
}

/**
 * A well-formedness check of the XML we write: every tag well formed, attributes quoted, text
 * free of < and of & other than the predefined entities, tags balanced, one <svg> root.
 * Returns how often each element occurs.
 */
function xmlElements(xml: string): Map<string, number> {
  const counts = new Map<string, number>();
  const open: string[] = [];
  let roots = 0;
  let at = 0;
  const checkText = (text: string): void => {
    assert.not.match(text, /</, `no raw < in text: ${text.slice(0, 80)}`);
    assert.not.match(text, /&(?!(amp|lt|gt|quot|apos|#\d+|#x[0-9a-f]+);)/i, `no bare & in text: ${text.slice(0, 80)}`);
    assert.not.match(text, /[\u0000-\u0008\u000b\u000c\u000e-\u001f]/, 'no control characters');
  };
  for (const m of xml.matchAll(/<[^>]*>/g)) {
    const text = xml.slice(at, m.index);
    checkText(text);
    if (open.length === 0) assert.is(text.trim(), '', 'nothing outside the root element');
    at = m.index + m[0].length;
    const tag = /^<(\/?)([A-Za-z][\w-]*)((?:\s+[\w:-]+="[^"<]*")*)\s*(\/?)>$/.exec(m[0]);
    assert.ok(tag, `a well-formed tag: ${m[0].slice(0, 120)}`);
    const [, close, name, attrs, empty] = tag!;
    checkText(attrs!);
    if (close) {
      assert.is(open.pop(), name, `</${name}> closes the open element`);
      continue;
    }
    if (open.length === 0) roots += 1;
    counts.set(name!, (counts.get(name!) ?? 0) + 1);
    if (!empty) open.push(name!);
  }
  checkText(xml.slice(at));
  assert.is(xml.slice(at).trim(), '');
  assert.equal(open, [], 'every element closed');
  assert.is(roots, 1);
  assert.is([...counts.keys()][0], 'svg');
  return counts;
}

/** The frames' tooltips: the first line of each <title>. */
const tooltipNames = (svg: string): string[] => [...svg.matchAll(/<title>([^\n<]*)/g)].map((m) => m[1]!);

const sumUs = (rows: Array<{ us: number }>): number => rows.reduce((s, r) => s + r.us, 0);
const sumPct = (rows: Array<{ pct: number }>): number => rows.reduce((s, r) => s + r.pct, 0);

function assertSumsTo100(s: ProfileSummary): void {
  assert.is(s.busyUs, s.wallUs - s.idleUs);
  assert.is(sumUs(s.byCategory), s.busyUs, 'categories sum to the busy time');
  assert.is(sumUs(s.byModule), s.busyUs, 'modules sum to the busy time');
  // Each share is rounded to 0.01.
  assert.ok(Math.abs(sumPct(s.byCategory) - 100) <= 0.005 * s.byCategory.length + 1e-9, `categories: ${sumPct(s.byCategory)} %`);
  assert.ok(Math.abs(sumPct(s.byModule) - 100) <= 0.005 * s.byModule.length + 1e-9, `modules: ${sumPct(s.byModule)} %`);
  assert.not.ok(s.byCategory.some((c) => c.category === 'idle'), 'idle is not a share of the busy time');
}

test('identical stacks are one frame; self and total from the sample times', () => {
  const tree = callTree([synthetic()], { locate: urlLocator });
  assert.is(tree.totalUs, 102_000);
  const names = tree.children.map((c) => c.name);
  assert.equal(names, ['onMessage', '(idle)', '(garbage collector)', '(program)'], 'one onMessage, children largest first, then by name');
  const on = tree.children[0]!;
  assert.is(on.selfUs, 15_000);
  assert.is(on.totalUs, 52_000);
  assert.equal(on.children.map((c) => [c.name, c.totalUs]), [['postMessage', 20_000], ['doSend', 10_000], ['format', 4_000], ['a<b>&"c\u0001', 2_000], ['tiny', 1_000]]);
  assert.is(on.where, 'dist/src/sip/wire/parser.js:10');
  assert.is(withoutIdle(tree).totalUs, 62_000);
});

test('categories and modules: our src/ by directory, node:dgram, a package, a native function, GC', () => {
  const of = (url: string, functionName = 'f') => classify({ functionName, scriptId: '1', url, lineNumber: 0, columnNumber: 0 }, urlLocator);
  assert.equal([of(PARSER).category, of(PARSER).module], ['src', 'src/sip/wire/*']);
  assert.equal([of('file:///a/src/sdp/anchor.ts').category, of('file:///a/src/sdp/anchor.ts').module], ['src', 'src/sdp/*']);
  assert.equal([of('node:internal/dgram').category, of('node:internal/dgram').module], ['node', 'node:dgram']);
  assert.is(of('node:dgram').module, 'node:dgram');
  assert.is(of('node:internal/worker/io').module, 'node:worker');
  assert.equal([of('file:///a/node_modules/@scope/pkg/x.js').category, of('file:///a/node_modules/@scope/pkg/x.js').module], ['deps', '@scope/pkg']);
  assert.equal([of('', 'postMessage').category, of('', 'postMessage').module], ['native', 'postMessage']);
  assert.equal([of('', '(garbage collector)').category, of('', '(garbage collector)').module], ['gc', 'GC']);
  assert.is(of('', '(idle)').category, 'idle');
  assert.is(of('', '(program)').category, 'program');
  assert.is(of('file:///tmp/script.mjs').category, 'other');
});

test('the summary: shares of the busy time, summing to 100 %', () => {
  const s = summarize(callTree([synthetic()], { locate: urlLocator }), 3);
  assert.equal([s.wallUs, s.idleUs, s.busyUs], [102_000, 40_000, 62_000]);
  assertSumsTo100(s);
  const pct = (module: string) => s.byModule.find((m) => m.module === module)?.pct;
  assert.is(pct('postMessage'), 32.26); // 20 of 62 ms
  assert.is(pct('src/sip/wire/*'), 24.19);
  assert.is(pct('node:dgram'), 16.13);
  assert.is(pct('GC'), 8.06);
  assert.is(pct('pino'), 6.45);
  assert.equal(s.byCategory.map((c) => c.category), ['native', 'src', 'node', 'program', 'gc', 'deps']);
  assert.equal(s.topFunctions.map((f) => f.name), ['postMessage', 'onMessage', 'doSend']);
  assert.equal(s.topFunctions[1]!.total, { us: 52_000, pct: 83.87 });
});

test('a window keeps the samples taken in it', () => {
  const idleOnly = summarize(callTree([synthetic()], { window: { fromUs: 0, toUs: 1_040_000 }, locate: urlLocator }));
  assert.equal([idleOnly.wallUs, idleOnly.busyUs], [40_000, 0]);
  const busyOnly = summarize(callTree([synthetic()], { window: { fromUs: 1_040_000, toUs: 2_000_000 }, locate: urlLocator }));
  assert.equal([busyOnly.wallUs, busyOnly.idleUs, busyOnly.busyUs], [62_000, 0, 62_000]);
  assertSumsTo100(busyOnly);
});

test('the SVG: well formed, a frame per merged stack with its tooltip, text escaped', () => {
  const { svg } = flameOf([synthetic()], { title: 'cps <warm> & more', focusMain: true });
  const elements = xmlElements(svg);
  assert.ok(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg" width="1200"'));
  assert.is(elements.get('title'), 9, 'all, onMessage and its 5 callees, program, GC: every frame wide enough');
  assert.equal(tooltipNames(svg).sort(), ['(garbage collector)', '(program)', 'a&lt;b&gt;&amp;"c\ufffd', 'all: 62.0 ms', 'doSend', 'format', 'onMessage', 'postMessage', 'tiny'].sort());
  assert.ok(svg.includes('cps &lt;warm&gt; &amp; more'), 'the title escaped');
  assert.ok(svg.includes('<title>onMessage\n'), 'the merged frame');
  assert.ok(svg.includes('self 15.0 ms (24.2 %), total 52.0 ms (83.9 %)'), 'onMessage: self and total, ms and % of the busy time');
  assert.ok(svg.includes('<title>postMessage\nnative (C++, V8 builtins)\nself 20.0 ms (32.3 %)'));
  assert.not.ok(svg.includes('<title>(idle)'), '--focus main leaves idle out');
  assert.ok(svg.includes('62 ms busy of 102 ms sampled, (idle) left out'));
  for (const legend of ['native (C++, V8 builtins) 32.3 %', 'pinlatch src/ 29.0 %', 'node internals 16.1 %', 'garbage collector 8.1 %', 'node_modules 6.5 %']) {
    assert.ok(svg.includes(`>${legend}</text>`), legend);
  }
  const withIdle = flameOf([synthetic()], { title: 't' }).svg;
  xmlElements(withIdle);
  assert.ok(withIdle.includes('<title>(idle)\n'));
});

test('frames narrower than the threshold are left out with their callees; widths stay exact', () => {
  const tree = withoutIdle(callTree([synthetic()], { locate: urlLocator }));
  // 1 ms is 1180 / 62 = 19 px wide.
  const { svg, stats } = flameSvg(tree, { title: 't', subtitle: 's', minPx: 40 });
  xmlElements(svg);
  assert.not.ok(svg.includes('<title>tiny'));
  assert.not.ok(svg.includes('<title>a&lt;b'));
  assert.is(stats.dropped, 2);
  const rect = (name: string) => Number(new RegExp(`<title>${name}\\n[^<]*</title><rect x="[\\d.]+" y="\\d+" width="([\\d.]+)"`).exec(svg)?.[1]);
  assert.ok(Math.abs(rect('onMessage') - (1180 * 52) / 62) < 0.1, 'onMessage keeps the width of its left-out callees');
});

test('bad profiles are refused with the reason', () => {
  const base = JSON.parse(JSON.stringify(synthetic())) as CpuProfile;
  assert.throws(() => parseProfile('{', 'p'), (e: Error) => e instanceof ProfileError && /not JSON/.test(e.message));
  assert.throws(() => parseProfile(JSON.stringify({ ...base, timeDeltas: [1] })), /samples and timeDeltas/);
  assert.throws(() => parseProfile(JSON.stringify({ ...base, nodes: [{ id: 1 }] })), /nodes\[0\]/);
  const cyclic = JSON.parse(JSON.stringify(base)) as CpuProfile;
  cyclic.nodes[4]!.children!.push(1);
  assert.throws(() => callTree([cyclic], { locate: urlLocator }), /root nodes/);
  const twice = JSON.parse(JSON.stringify(base)) as CpuProfile;
  twice.nodes[5]!.children!.push(7);
  assert.throws(() => callTree([twice], { locate: urlLocator }), /reached twice/);
  const island = JSON.parse(JSON.stringify(base)) as CpuProfile;
  island.nodes.push(frame(12, 'a', '', -1, [13]), frame(13, 'b', '', -1, [12]));
  assert.throws(() => callTree([island], { locate: urlLocator }), /2 nodes not reachable/);
  const unknown = JSON.parse(JSON.stringify(base)) as CpuProfile;
  unknown.samples[0] = 99;
  assert.throws(() => callTree([unknown], { locate: urlLocator }), /unknown node 99/);
});

test('step file labels: fresh and warm, the rate when a mode repeats, a counter when both do', () => {
  const s = (mode: CpsStep['mode'], rate: number) => ({ mode, rate }) as CpsStep;
  assert.equal(stepLabels([s('cold', 400), s('warm', 400)]), ['fresh', 'warm']);
  assert.equal(stepLabels([s('cold', 200), s('cold', 400)]), ['fresh-200cps', 'fresh-400cps']);
  assert.equal(stepLabels([s('warmup', 200), s('warm', 400), s('warm', 400)]), ['warmup', 'warm-400cps-1', 'warm-400cps-2']);
});

/** A short script with a hot function between two readings of the monotonic clock, then idle. */
const SCRIPT = `
function spinHot(ms) {
  const end = performance.now() + ms;
  let x = 0;
  while (performance.now() < end) x += Math.sqrt(x + 1);
  return x;
}
await new Promise((r) => setTimeout(r, 50));
const fromUs = process.hrtime.bigint() / 1000n;
spinHot(300);
const toUs = process.hrtime.bigint() / 1000n;
await new Promise((r) => setTimeout(r, 150));
console.log(JSON.stringify({ fromUs: Number(fromUs), toUs: Number(toUs) }));
`;

test('a real profile (node --cpu-prof): the hot function in the graph, the window on the same clock', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pinlatch-flame-'));
  try {
    writeFileSync(join(dir, 'hot.mjs'), SCRIPT);
    const { stdout } = await run(process.execPath, ['--cpu-prof', `--cpu-prof-dir=${dir}`, join(dir, 'hot.mjs')], { cwd: dir });
    const window = JSON.parse(stdout) as { fromUs: number; toUs: number };
    const paths = mainThreadProfiles(dir);
    assert.is(paths.length, 1);
    const info = profileFileInfo(paths[0]!.slice(dir.length + 1));
    assert.is(info?.thread, 0);
    const profile = readProfile(paths[0]!);
    assert.ok(profile.startTime < window.fromUs && window.toUs < profile.endTime, 'the script read the profile\'s clock');

    const whole = flameOf([profile], { title: 'hot.mjs', focusMain: true });
    xmlElements(whole.svg);
    assert.ok(tooltipNames(whole.svg).includes('spinHot'));
    const all = summarize(whole.tree);
    assertSumsTo100(all);
    assert.ok(all.idleUs > 100_000, `the 150 ms wait is idle (${all.idleUs} µs)`);

    const step = summarize(callTree([profile], { window }));
    assertSumsTo100(step);
    const hot = step.topFunctions.find((f) => f.name === 'spinHot');
    assert.ok(hot && hot.total.pct > 80, `spinHot is most of the window: ${JSON.stringify(hot)}`);
    assert.ok(hot!.where.endsWith('hot.mjs:2'), hot!.where);
    // Within a few sampling intervals (1 ms each, longer when the machine is loaded).
    assert.ok(Math.abs(step.wallUs - (window.toUs - window.fromUs)) < 50_000, `the window's samples span it: ${step.wallUs} µs`);
    assert.ok(step.idleUs < 50_000, `no idle in the window: ${step.idleUs} µs`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}, 30_000);

test('cps --profile: a flame graph and summary JSON per step, named by mode', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pinlatch-flame-'));
  try {
    writeFileSync(join(dir, 'hot.mjs'), SCRIPT);
    const child = execFile(process.execPath, ['--cpu-prof', `--cpu-prof-dir=${dir}`, join(dir, 'hot.mjs')], { cwd: dir });
    const pid = child.pid!;
    const stdout = await new Promise<string>((resolve, reject) => {
      let out = '';
      child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
      child.on('error', reject);
      child.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`exit ${code}`))));
    });
    const window = JSON.parse(stdout) as { fromUs: number; toUs: number };
    const step = { target: 'pinlatch', mode: 'cold', rate: 400, calls: 4000, completed: 4000, refused: 0, lost: 0, wallS: 10, mainS: 4 } as CpsStep;
    const lines = writeStepProfiles(dir, [{ step, pid, window }], join(dir, 'flame-cps'), 'test');
    assert.is(lines.length, 1);
    assert.match(lines[0]!, /^profile fresh \(400 cps\): busy [\d.]+ ms\/call; .*other scripts [\d.]+ %.*; wrote .*flame-cps-fresh\.svg and .*flame-cps-fresh\.summary\.json$/);
    const files = readdirSync(dir).filter((f) => f.startsWith('flame-cps')).sort();
    assert.equal(files, ['flame-cps-fresh.summary.json', 'flame-cps-fresh.svg']);
    const svg = readFileSync(join(dir, 'flame-cps-fresh.svg'), 'utf8');
    xmlElements(svg);
    assert.ok(svg.includes('pinlatch main thread, cps fresh: 400 cps, 4000/4000 calls completed'));
    const doc = JSON.parse(readFileSync(join(dir, 'flame-cps-fresh.summary.json'), 'utf8')) as StepProfileDocument;
    assertSumsTo100(doc);
    assert.equal(doc.window, window);
    assert.is(doc.busyMsPerCall, doc.busyUs / 1000 / 4000);
    assert.throws(() => writeStepProfiles(dir, [{ step, pid: pid + 1, window }], join(dir, 'x'), 't'), /0 main-thread profiles/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}, 30_000);

test.run();
