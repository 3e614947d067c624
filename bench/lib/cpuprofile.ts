/**
 * V8 CPU profiles (the .cpuprofile JSON that `node --cpu-prof` writes): read, cut to a time window,
 * merged into one call tree of identical stacks, every frame sorted into a category and a module,
 * and summed into the self-time tables of bench/profile-summary.ts. The flame graph of
 * bench/flame.ts is drawn from the same tree (bench/lib/flame-svg.ts).
 *
 * Time: a profile holds one sample per tick (about 1 ms, `--cpu-prof-interval`), each the id of the
 * node that was running; sample i starts at startTime + timeDeltas[0..i] and lasts until the next
 * sample starts (the last one until endTime). The clock is V8's
 * monotonic clock in microseconds, the one process.hrtime() reads on Linux (CLOCK_MONOTONIC), so
 * another process can name a window (e.g. one benchmark step) in the same units.
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { SourceMap, type SourceMapping } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export class ProfileError extends Error {
  readonly code = 'ERR_PINLATCH_BENCH_PROFILE';
}

export interface CallFrame {
  functionName: string;
  scriptId: string;
  url: string;
  /** 0-based, -1 when unknown. */
  lineNumber: number;
  columnNumber: number;
}

export interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}

export interface CpuProfile {
  nodes: ProfileNode[];
  /** Microseconds on V8's monotonic clock. */
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

/**
 * Bounds on what is read: a one-hour profile at the default 1 ms interval has 3.6 M samples; the
 * node count of a real process's tree stays in the tens of thousands.
 */
export const MAX_PROFILE_NODES = 1_000_000;
export const MAX_PROFILE_SAMPLES = 20_000_000;
/** Longer names and URLs are cut (they are shown, not resolved). */
const MAX_TEXT = 1000;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isInt = (v: unknown): v is number => Number.isSafeInteger(v);

/** A .cpuprofile's text checked field by field; anything else is a ProfileError naming the field. */
export function parseProfile(text: string, source = 'profile'): CpuProfile {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new ProfileError(`${source}: not JSON (${(err as Error).message})`);
  }
  const fail = (what: string): never => {
    throw new ProfileError(`${source}: ${what}`);
  };
  if (!isObject(raw)) return fail('not an object');
  const { nodes, samples, timeDeltas, startTime, endTime } = raw;
  if (!Array.isArray(nodes) || nodes.length === 0 || nodes.length > MAX_PROFILE_NODES) return fail(`nodes: 1..${MAX_PROFILE_NODES} entries`);
  if (!Array.isArray(samples) || !Array.isArray(timeDeltas) || samples.length !== timeDeltas.length) return fail('samples and timeDeltas: arrays of one length');
  if (samples.length > MAX_PROFILE_SAMPLES) return fail(`more than ${MAX_PROFILE_SAMPLES} samples`);
  if (!isInt(startTime) || !isInt(endTime) || endTime < startTime) return fail('startTime, endTime: integers, end not before start');
  const out: ProfileNode[] = [];
  for (const [i, node] of nodes.entries()) {
    if (!isObject(node) || !isInt(node.id) || !isObject(node.callFrame)) return fail(`nodes[${i}]: id and callFrame`);
    const cf = node.callFrame;
    if (typeof cf.functionName !== 'string' || typeof cf.url !== 'string' || !isInt(cf.lineNumber) || !isInt(cf.columnNumber)) {
      return fail(`nodes[${i}].callFrame: functionName, url, lineNumber, columnNumber`);
    }
    const children = node.children ?? [];
    if (!Array.isArray(children) || !children.every(isInt)) return fail(`nodes[${i}].children: node ids`);
    out.push({
      id: node.id,
      callFrame: {
        functionName: cf.functionName.slice(0, MAX_TEXT),
        scriptId: String(cf.scriptId ?? ''),
        url: cf.url.slice(0, MAX_TEXT),
        lineNumber: cf.lineNumber,
        columnNumber: cf.columnNumber,
      },
      children: children as number[],
    });
  }
  if (!samples.every(isInt) || !timeDeltas.every(isInt)) return fail('samples and timeDeltas: integers');
  return { nodes: out, startTime, endTime, samples: samples as number[], timeDeltas: timeDeltas as number[] };
}

export function readProfile(path: string): CpuProfile {
  return parseProfile(readFileSync(path, 'utf8'), path);
}

/**
 * The file name `node --cpu-prof` gives a profile: CPU.<yyyymmdd>.<hhmmss>.<pid>.<thread>.<seq>.cpuprofile,
 * thread 0 the main thread, 1.. the worker threads (pinlatch's media shards).
 */
export function profileFileInfo(name: string): { pid: number; thread: number } | null {
  const m = /^CPU\.\d{8}\.\d{6}\.(\d+)\.(\d+)\.\d+\.cpuprofile$/.exec(name);
  return m ? { pid: Number(m[1]), thread: Number(m[2]) } : null;
}

/** The main-thread profiles in `dir` (of process `pid` only, when given), sorted by name. */
export function mainThreadProfiles(dir: string, pid?: number): string[] {
  return readdirSync(dir).filter((name) => {
    const info = profileFileInfo(name);
    return info !== null && info.thread === 0 && (pid === undefined || info.pid === pid);
  }).sort().map((name) => join(dir, name));
}

/**
 * What a frame is, for the colours of the flame graph and the first table of the summary:
 * `src` pinlatch's own code (src/, or dist/src/ as built), `node` Node's JavaScript (node:…),
 * `deps` node_modules, `native` a function without a script (C++ bindings such as MessagePort's
 * postMessage, V8 builtins), `gc` the garbage collector, `program` time V8 could not attribute to
 * JavaScript (native code of Node, libuv, the addon), `idle` the thread waiting in the event loop,
 * `other` any other script (a bench or test script, eval'd code).
 */
export type Category = 'src' | 'node' | 'deps' | 'native' | 'gc' | 'program' | 'idle' | 'other';

export const CATEGORY_LABELS: Record<Category, string> = {
  src: 'pinlatch src/',
  node: 'node internals',
  deps: 'node_modules',
  native: 'native (C++, V8 builtins)',
  gc: 'garbage collector',
  program: '(program)',
  idle: '(idle)',
  other: 'other scripts',
};

/** A script position as shown: a path relative to its checkout (mapped to the TypeScript source when a map is beside it). */
export interface Location {
  path: string;
  /** 1-based, 0 when unknown. */
  line: number;
}

export type Locate = (url: string, line0: number, column0: number) => Location;

/** Locations from the URL alone (no file system): the path after its last node_modules/, else from dist/src/ or src/ on. */
export const urlLocator: Locate = (url, line0) => {
  const path = url.replace(/^file:\/\//, '');
  const nm = path.lastIndexOf('/node_modules/');
  if (nm >= 0) return { path: path.slice(nm + 1), line: line0 + 1 };
  const src = /(?:^|\/)((?:dist\/)?src\/.*)$/.exec(path);
  return { path: src ? src[1]! : path, line: line0 + 1 };
};

/** findEntry's answer when the map has the position (an empty object when it has not). */
const isMapping = (entry: SourceMapping | object): entry is SourceMapping => 'originalSource' in entry;

/**
 * Locations read from the file system: a file:// script's path relative to the nearest directory
 * above it with a package.json (so dist/src/… of any checkout, --pinlatch-dir included), mapped
 * through the script's source map (X.js.map beside X.js, as tsc writes it) to src/….ts and its
 * line; urlLocator's path for a file in node_modules or under no package.json. Maps and roots are read once per file
 * and directory.
 */
export function fileLocator(): Locate {
  const maps = new Map<string, SourceMap | null>();
  const roots = new Map<string, string | null>();
  const rootOf = (dir: string): string | null => {
    const seen: string[] = [];
    let found: string | null = null;
    for (let d = dir; ; d = dirname(d)) {
      const known = roots.get(d);
      if (known !== undefined) {
        found = known;
        break;
      }
      seen.push(d);
      if (existsSync(join(d, 'package.json'))) {
        found = d;
        break;
      }
      if (dirname(d) === d) break;
    }
    for (const d of seen) roots.set(d, found);
    return found;
  };
  const mapOf = (file: string): SourceMap | null => {
    let map = maps.get(file);
    if (map === undefined) {
      try {
        map = new SourceMap(JSON.parse(readFileSync(`${file}.map`, 'utf8')));
      } catch {
        map = null;
      }
      maps.set(file, map);
    }
    return map;
  };
  return (url, line0, column0) => {
    if (!url.startsWith('file://')) return { path: url, line: line0 + 1 };
    let file: string;
    try {
      file = fileURLToPath(url);
    } catch {
      return { path: url, line: line0 + 1 };
    }
    let line = line0 + 1;
    const entry = line0 >= 0 ? mapOf(file)?.findEntry(line0, Math.max(0, column0)) : undefined;
    if (entry !== undefined && isMapping(entry)) {
      const source = entry.originalSource;
      file = source.startsWith('file://') ? fileURLToPath(source) : resolve(dirname(file), source);
      line = entry.originalLine + 1;
    }
    // A package in node_modules has a package.json of its own: its path is told from node_modules/ on.
    const root = file.includes('/node_modules/') ? null : rootOf(dirname(file));
    return root === null ? { path: urlLocator(file, 0, 0).path, line } : { path: relative(root, file), line };
  };
}

/** One frame of the merged call tree: every stack with the same functions in the same order is one path. */
export interface Frame {
  /** The function's name, '(anonymous)' for none. */
  name: string;
  /** path:line, '' when the frame has no script. */
  where: string;
  category: Category;
  /** The summary's module: src/sip/wire/*, node:dgram, a package, a native function's name, GC… */
  module: string;
  selfUs: number;
  totalUs: number;
  children: Frame[];
}

const SPECIAL: Record<string, Category> = {
  '(garbage collector)': 'gc',
  '(program)': 'program',
  '(idle)': 'idle',
  '(root)': 'program',
};

/** The category, module and shown location of a V8 call frame. */
export function classify(cf: CallFrame, locate: Locate): Pick<Frame, 'name' | 'where' | 'category' | 'module'> {
  const special = SPECIAL[cf.functionName];
  if (special !== undefined && cf.url === '') {
    return { name: cf.functionName, where: '', category: special, module: special === 'gc' ? 'GC' : cf.functionName };
  }
  const name = cf.functionName === '' ? '(anonymous)' : cf.functionName;
  if (cf.url === '') return { name, where: '', category: 'native', module: cf.functionName === '' ? '(native)' : name };
  if (cf.url.startsWith('node:')) {
    // node:internal/dgram and node:dgram are both dgram; node:internal/worker/io is worker.
    const first = cf.url.slice('node:'.length).replace(/^internal\//, '').split('/')[0]!;
    return { name, where: `${cf.url}:${cf.lineNumber + 1}`, category: 'node', module: `node:${first}` };
  }
  const loc = locate(cf.url, cf.lineNumber, cf.columnNumber);
  const where = `${loc.path}:${loc.line}`;
  const nm = loc.path.lastIndexOf('node_modules/');
  if (nm >= 0) {
    const parts = loc.path.slice(nm + 'node_modules/'.length).split('/');
    const pkg = parts[0]!.startsWith('@') ? `${parts[0]}/${parts[1] ?? ''}` : parts[0]!;
    return { name, where, category: 'deps', module: pkg };
  }
  const src = /^(?:dist\/)?(src\/.*)$/.exec(loc.path);
  if (src) {
    const file = src[1]!.replace(/\.js$/, '.ts');
    return { name, where, category: 'src', module: `${file.slice(0, file.lastIndexOf('/'))}/*` };
  }
  return { name, where, category: 'other', module: loc.path.slice(loc.path.lastIndexOf('/') + 1) || loc.path };
}

/** Samples taken in [fromUs, toUs) on the profile's clock count; others do not. */
export interface Window {
  fromUs: number;
  toUs: number;
}

export interface TreeOptions {
  window?: Window;
  locate?: Locate;
}

/** Microseconds of sample time per node id, the samples inside the window only. */
function selfTimes(profile: CpuProfile, window?: Window): Map<number, number> {
  const self = new Map<number, number>();
  const n = profile.samples.length;
  let ts = profile.startTime;
  let next = n > 0 ? ts + profile.timeDeltas[0]! : ts;
  for (let i = 0; i < n; i++) {
    ts = next;
    next = i + 1 < n ? ts + profile.timeDeltas[i + 1]! : profile.endTime;
    if (window && (ts < window.fromUs || ts >= window.toUs)) continue;
    // V8 may record a sample slightly out of order: a negative span counts as nothing.
    const span = Math.max(0, next - ts);
    const id = profile.samples[i]!;
    self.set(id, (self.get(id) ?? 0) + span);
  }
  return self;
}

const frameKey = (cf: CallFrame): string => `${cf.functionName}\0${cf.url}\0${cf.lineNumber}\0${cf.columnNumber}`;

interface Building extends Frame {
  byKey: Map<string, Building>;
}

/**
 * The profiles' call trees merged into one: the same function at the same place under the same
 * merged parent is one frame (V8 keeps separate nodes, e.g. per code tier, and several processes
 * have a tree each). Frames without time in the window are left out; totals are self plus children.
 */
export function callTree(profiles: CpuProfile[], options: TreeOptions = {}): Frame {
  const locate = options.locate ?? fileLocator();
  const classified = new Map<string, Pick<Frame, 'name' | 'where' | 'category' | 'module'>>();
  const root: Building = { name: '(root)', where: '', category: 'program', module: '(root)', selfUs: 0, totalUs: 0, children: [], byKey: new Map() };
  for (const [p, profile] of profiles.entries()) {
    const byId = new Map<number, ProfileNode>();
    const parented = new Set<number>();
    for (const node of profile.nodes) {
      if (byId.has(node.id)) throw new ProfileError(`profile ${p}: node id ${node.id} twice`);
      byId.set(node.id, node);
    }
    for (const node of profile.nodes) {
      for (const c of node.children ?? []) {
        if (!byId.has(c)) throw new ProfileError(`profile ${p}: node ${node.id} has an unknown child ${c}`);
        parented.add(c);
      }
    }
    const tops = profile.nodes.filter((n) => !parented.has(n.id));
    if (tops.length !== 1) throw new ProfileError(`profile ${p}: ${tops.length} root nodes, expected 1`);
    const self = selfTimes(profile, options.window);
    for (const id of self.keys()) if (!byId.has(id)) throw new ProfileError(`profile ${p}: a sample of unknown node ${id}`);
    root.selfUs += self.get(tops[0]!.id) ?? 0;
    const visited = new Set<number>([tops[0]!.id]);
    const stack: Array<[ProfileNode, Building]> = (tops[0]!.children ?? []).map((c) => [byId.get(c)!, root]);
    while (stack.length > 0) {
      const [node, parent] = stack.pop()!;
      if (visited.has(node.id)) throw new ProfileError(`profile ${p}: node ${node.id} reached twice (not a tree)`);
      visited.add(node.id);
      const key = frameKey(node.callFrame);
      let frame = parent.byKey.get(key);
      if (frame === undefined) {
        let c = classified.get(key);
        if (c === undefined) classified.set(key, (c = classify(node.callFrame, locate)));
        frame = { ...c, selfUs: 0, totalUs: 0, children: [], byKey: new Map() };
        parent.byKey.set(key, frame);
        parent.children.push(frame);
      }
      frame.selfUs += self.get(node.id) ?? 0;
      for (const c of node.children ?? []) stack.push([byId.get(c)!, frame]);
    }
    if (visited.size !== byId.size) throw new ProfileError(`profile ${p}: ${byId.size - visited.size} nodes not reachable from the root (not a tree)`);
  }
  return finish(root);
}

/**
 * The thread's busy time: the tree without its (idle) frames. V8 puts (idle) directly under the
 * root (the thread waits in the event loop, no JavaScript on the stack).
 */
export function withoutIdle(root: Frame): Frame {
  const children = root.children.filter((c) => c.category !== 'idle');
  return { ...root, children, totalUs: root.selfUs + children.reduce((s, c) => s + c.totalUs, 0) };
}

/** Totals bottom-up; frames with no time left out, children largest first (then by name); the build-only index dropped. */
function finish(root: Building): Frame {
  const order: Building[] = [];
  const stack: Building[] = [root];
  while (stack.length > 0) {
    const f = stack.pop()!;
    order.push(f);
    for (const c of f.children as Building[]) stack.push(c);
  }
  const done = new Map<Building, Frame>();
  for (let i = order.length - 1; i >= 0; i--) {
    const f = order[i]!;
    const children = (f.children as Building[])
      .map((c) => done.get(c)!)
      .filter((c) => c.totalUs > 0)
      .sort((a, b) => b.totalUs - a.totalUs || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    const totalUs = f.selfUs + children.reduce((s, c) => s + c.totalUs, 0);
    done.set(f, { name: f.name, where: f.where, category: f.category, module: f.module, selfUs: f.selfUs, totalUs, children });
  }
  return done.get(root)!;
}

export interface Share {
  us: number;
  /** Of the busy (non-idle) time, rounded to 0.01. */
  pct: number;
}

export interface ProfileSummary {
  /** Sample time in the window, idle included, and the busy part of it (everything but (idle)). */
  wallUs: number;
  idleUs: number;
  busyUs: number;
  byCategory: Array<{ category: Category; label: string } & Share>;
  /** Every module, largest first (their shares sum to 100 % of the busy time). */
  byModule: Array<{ module: string; category: Category } & Share>;
  /** The functions with the most self time (a function is its name and place, wherever it was called from). */
  topFunctions: Array<{ name: string; where: string; category: Category; module: string; self: Share; total: Share }>;
}

const round2 = (v: number): number => Math.round(v * 100) / 100;

/** Self time by category, by module and by function, as shares of the busy time (a tree built with or without idle). */
export function summarize(root: Frame, top = 20): ProfileSummary {
  const cat = new Map<Category, number>();
  const mod = new Map<string, { category: Category; us: number }>();
  const fn = new Map<string, { name: string; where: string; category: Category; module: string; selfUs: number; totalUs: number }>();
  // A function's total counts each stack once, however often it recurses in it.
  const active = new Map<string, number>();
  const stack: Array<{ frame: Frame; leave: boolean }> = [{ frame: root, leave: false }];
  while (stack.length > 0) {
    const { frame, leave } = stack.pop()!;
    const key = `${frame.name}\0${frame.where}`;
    if (leave) {
      active.set(key, active.get(key)! - 1);
      continue;
    }
    if (frame.selfUs > 0) {
      cat.set(frame.category, (cat.get(frame.category) ?? 0) + frame.selfUs);
      const m = mod.get(frame.module) ?? { category: frame.category, us: 0 };
      m.us += frame.selfUs;
      mod.set(frame.module, m);
    }
    if (frame !== root) {
      const f = fn.get(key) ?? { name: frame.name, where: frame.where, category: frame.category, module: frame.module, selfUs: 0, totalUs: 0 };
      f.selfUs += frame.selfUs;
      if ((active.get(key) ?? 0) === 0) f.totalUs += frame.totalUs;
      fn.set(key, f);
      active.set(key, (active.get(key) ?? 0) + 1);
      stack.push({ frame, leave: true });
    }
    for (const c of frame.children) stack.push({ frame: c, leave: false });
  }
  const idleUs = cat.get('idle') ?? 0;
  const wallUs = root.totalUs;
  const busyUs = wallUs - idleUs;
  const share = (us: number): Share => ({ us, pct: busyUs > 0 ? round2((100 * us) / busyUs) : 0 });
  return {
    wallUs,
    idleUs,
    busyUs,
    byCategory: [...cat].filter(([c]) => c !== 'idle').sort((a, b) => b[1] - a[1])
      .map(([category, us]) => ({ category, label: CATEGORY_LABELS[category], ...share(us) })),
    byModule: [...mod].filter(([, m]) => m.category !== 'idle').sort((a, b) => b[1].us - a[1].us)
      .map(([module, m]) => ({ module, category: m.category, ...share(m.us) })),
    topFunctions: [...fn.values()].filter((f) => f.category !== 'idle' && f.selfUs > 0).sort((a, b) => b.selfUs - a.selfUs).slice(0, top)
      .map((f) => ({ name: f.name, where: f.where, category: f.category, module: f.module, self: share(f.selfUs), total: share(f.totalUs) })),
  };
}

const ms = (us: number): string => (us / 1000).toFixed(1);
const cell = (text: string): string => text.replace(/\|/g, '\\|');

/** The summary as Markdown tables (what bench/profile-summary.ts prints). */
export function summaryTables(s: ProfileSummary, modules = 25): string {
  const lines = [
    `busy ${ms(s.busyUs)} ms of ${ms(s.wallUs)} ms sampled (idle ${ms(s.idleUs)} ms); shares are of the busy time`,
    '',
    '| category | ms | % |',
    '|---|---|---|',
    ...s.byCategory.map((c) => `| ${c.label} | ${ms(c.us)} | ${c.pct.toFixed(1)} |`),
    '',
    '| module | category | ms | % |',
    '|---|---|---|---|',
    ...s.byModule.slice(0, modules).map((m) => `| ${cell(m.module)} | ${m.category} | ${ms(m.us)} | ${m.pct.toFixed(1)} |`),
  ];
  const rest = s.byModule.slice(modules);
  if (rest.length > 0) {
    const us = rest.reduce((n, m) => n + m.us, 0);
    lines.push(`| ${rest.length} more modules | | ${ms(us)} | ${(s.busyUs > 0 ? (100 * us) / s.busyUs : 0).toFixed(1)} |`);
  }
  lines.push(
    '',
    '| function | where | self ms | self % | total % |',
    '|---|---|---|---|---|',
    ...s.topFunctions.map((f) => `| ${cell(f.name)} | ${cell(f.where) || `(${f.category})`} | ${ms(f.self.us)} | ${f.self.pct.toFixed(1)} | ${f.total.pct.toFixed(1)} |`),
  );
  return lines.join('\n');
}
