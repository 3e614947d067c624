/**
 * The YAML configuration loader (src/config): `pinlatch --config` and `--check-config` on any file.
 *
 * Allowed outcomes for any text: a frozen PinlatchConfig, or a ConfigError whose every issue names
 * a line (and a key path, empty only for YAML syntax errors that belong to no key). A config that
 * loads is frozen all the way down. Inputs are the corpus (examples, the documentation's snippets)
 * mutated as bytes, and the example configurations mutated as data (a value replaced, a key
 * removed or added) and written back as YAML, which reaches the schema and cross-checks.
 */
import fc from 'fast-check';
import { readFileSync } from 'node:fs';
import { parse, stringify } from 'yaml';
import { ConfigError, parseConfig } from '../../src/config/index.ts';
import { mutatedSeeds } from '../lib/mutate.ts';
import { Finding, type FuzzTarget } from '../lib/target.ts';

function frozenThroughout(value: unknown, path: string): void {
  if (value === null || typeof value !== 'object' || value instanceof RegExp) return;
  if (!Object.isFrozen(value)) throw new Finding(`config value at ${path || '(root)'} is not frozen`);
  for (const [k, v] of Object.entries(value)) frozenThroughout(v, `${path}.${k}`);
}

function check(input: Buffer): void {
  const text = input.toString('utf8');
  try {
    frozenThroughout(parseConfig(text, 'fuzz.yaml'), '');
  } catch (error) {
    if (error instanceof Finding) throw error;
    if (!(error instanceof ConfigError)) {
      const detail = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
      throw new Finding(`parseConfig threw something other than ConfigError: ${detail}`, { cause: error });
    }
    if (error.issues.length === 0) throw new Finding('ConfigError without an issue');
    for (const issue of error.issues) {
      if (typeof issue.line !== 'number' || issue.line < 1) throw new Finding(`issue without a line: ${issue.path}: ${issue.message}`);
    }
  }
}

const DICTIONARY = [
  '\n', '  ', '- ', ': ', '{', '}', '[', ']', ',', '"', "'", '#', '&a ', '*a', '<<: *a', '!!str ', '!!binary ', '!!js/function ', '---\n', '...\n', '? ',
  '|\n', '>\n', 'null', '~', 'true', 'yes', '0x10', '0o7', '1e3', '.inf', '-.inf', '.nan', '65536', '-1', '0', '40000', '2147483648',
  'sip:', 'listen:', 'advertise:', 'media:', 'ports:', 'min:', 'max:', 'ng:', 'trunks:', 'routes:', 'match:', 'user:', 'host:', 'trunk:', 'fork:',
  'upstream:', 'log:', 'level:', 'metrics:', 'transport:', 'address:', 'port:', 'pinRoute:', '0.0.0.0', '::', '127.0.0.1', '[::1]', 'sip:[2001:db8::1]:5060',
  '"(a+)+$"', '"[z-a]"', '"\\\\"', '__proto__:', 'constructor:', 'prototype:',
];

const examples = ['pinlatch.yaml', 'media-only.yaml'].map((f) => parse(readFileSync(new URL(`../../examples/${f}`, import.meta.url), 'utf8')) as unknown);

/** Paths to every value of a document (objects and arrays included). */
function paths(value: unknown, prefix: (string | number)[] = []): (string | number)[][] {
  const out = [prefix];
  if (Array.isArray(value)) value.forEach((v, i) => out.push(...paths(v, [...prefix, i])));
  else if (value !== null && typeof value === 'object') for (const [k, v] of Object.entries(value)) out.push(...paths(v, [...prefix, k]));
  return out;
}

const replacement = fc.oneof(
  fc.jsonValue({ maxDepth: 2 }),
  fc.constantFrom(0, -1, 1, 65535, 65536, 2 ** 31, 1.5, '', ' ', '0.0.0.0', '::', '::ffff:127.0.0.1', 'localhost', 'a..b', '(a+)+$', '[', 'sip:x', 'sips:[::1]:0', 'udp', 'tcp', 'tls', 'serial', 'parallel', null, true, [], {}),
);

function edit(doc: unknown, at: number, op: number, value: unknown, key: string): unknown {
  const copy = structuredClone(doc);
  const all = paths(copy);
  const path = all[Math.floor(at * all.length)]!;
  if (path.length === 0) return op === 0 ? value : copy;
  let parent = copy as Record<string | number, unknown>;
  for (const p of path.slice(0, -1)) parent = parent[p] as Record<string | number, unknown>;
  const last = path[path.length - 1]!;
  if (op === 0) parent[last] = value;
  else if (op === 1) Array.isArray(parent) ? parent.splice(last as number, 1) : delete parent[last];
  else if (op === 2 && typeof parent[last] === 'object' && parent[last] !== null && !Array.isArray(parent[last])) (parent[last] as Record<string, unknown>)[key] = value;
  else if (op === 3 && Array.isArray(parent[last])) (parent[last] as unknown[]).push(structuredClone((parent[last] as unknown[])[0] ?? value));
  return copy;
}

const structured = fc
  .tuple(
    fc.constantFrom(...examples),
    fc.array(fc.tuple(fc.noBias(fc.integer({ min: 0, max: 9999 })).map((n) => n / 10000), fc.integer({ min: 0, max: 3 }), replacement, fc.constantFrom('x', 'port', 'address', 'user', 'host', 'mode')), { minLength: 1, maxLength: 4 }),
    fc.constantFrom('PLAIN', 'QUOTE_DOUBLE', 'BLOCK_LITERAL'),
    fc.boolean(),
  )
  .map(([doc, edits, style, flow]) => {
    const mutated = edits.reduce((d, [at, op, value, key]) => edit(d, at, op, value, key), doc);
    return Buffer.from(stringify(mutated, { defaultStringType: style as 'PLAIN', collectionStyle: flow ? 'flow' : 'block' }), 'utf8');
  });

export const target: FuzzTarget = {
  name: 'config-loader',
  inputs: (seeds) => fc.oneof({ arbitrary: mutatedSeeds(seeds, DICTIONARY), weight: 1 }, { arbitrary: structured, weight: 1 }),
  check,
  // yaml needs up to a second for the larger mutated documents on a loaded machine (linear, measured).
  slowMs: 5_000,
};
