/**
 * Corpus-seeded mutation as a fast-check arbitrary: a seed taken from the corpus, then a few of
 * the edits a coverage-guided fuzzer makes (flip, insert, delete, duplicate, repeat, splice with
 * another seed, swap lines, drop in a dictionary token). Positions are fractions of the current
 * length, so every edit applies to any seed and fast-check can shrink a failing input toward the
 * seed and toward fewer edits.
 */
import fc, { type Arbitrary } from 'fast-check';

type Edit =
  | { op: 'flip'; at: number; byte: number }
  | { op: 'insert'; at: number; bytes: Buffer }
  | { op: 'delete'; at: number; size: number }
  | { op: 'duplicate'; at: number; size: number }
  | { op: 'repeat'; at: number; size: number; times: number }
  | { op: 'splice'; at: number; from: number; other: number; size: number }
  | { op: 'lines'; a: number; b: number; mode: 'swap' | 'drop' | 'copy' };

// Uniform in [0, 1): fc.double is uniform over bit patterns (almost all near 0), and fast-check
// biases small integers, so without noBias most edits would hit the first bytes.
const fraction = fc.noBias(fc.integer({ min: 0, max: 1_000_000 })).map((n) => n / 1_000_001);

function position(length: number, at: number): number {
  return Math.min(length, Math.floor(at * (length + 1)));
}

function apply(input: Buffer, edit: Edit, seeds: readonly Buffer[]): Buffer {
  const n = input.length;
  switch (edit.op) {
    case 'flip': {
      if (n === 0) return Buffer.from([edit.byte]);
      const out = Buffer.from(input);
      out[Math.min(n - 1, position(n, edit.at))] = edit.byte;
      return out;
    }
    case 'insert': {
      const p = position(n, edit.at);
      return Buffer.concat([input.subarray(0, p), edit.bytes, input.subarray(p)]);
    }
    case 'delete': {
      const p = position(n, edit.at);
      return Buffer.concat([input.subarray(0, p), input.subarray(Math.min(n, p + edit.size))]);
    }
    case 'duplicate': {
      const p = position(n, edit.at);
      const chunk = input.subarray(p, Math.min(n, p + edit.size));
      return Buffer.concat([input.subarray(0, p), chunk, input.subarray(p)]);
    }
    case 'repeat': {
      // Many copies of one chunk: what finds quadratic loops and unbounded recursion.
      const p = position(n, edit.at);
      const chunk = input.subarray(p, Math.min(n, p + edit.size));
      return Buffer.concat([input.subarray(0, p), ...Array<Buffer>(edit.times).fill(chunk), input.subarray(p)]);
    }
    case 'splice': {
      const other = seeds[edit.other % seeds.length] ?? Buffer.alloc(0);
      const q = position(other.length, edit.from);
      const p = position(n, edit.at);
      return Buffer.concat([input.subarray(0, p), other.subarray(q, q + edit.size), input.subarray(p)]);
    }
    case 'lines': {
      const lines = input.toString('latin1').split('\n');
      const a = Math.min(lines.length - 1, Math.floor(edit.a * lines.length));
      const b = Math.min(lines.length - 1, Math.floor(edit.b * lines.length));
      if (edit.mode === 'swap') [lines[a], lines[b]] = [lines[b]!, lines[a]!];
      else if (edit.mode === 'drop') lines.splice(a, 1);
      else lines.splice(b, 0, lines[a]!);
      return Buffer.from(lines.join('\n'), 'latin1');
    }
  }
}

/** Bytes a mutation may insert: random bytes, or a token of the target's dictionary. */
function insertion(dictionary: readonly string[]): Arbitrary<Buffer> {
  const tokens = dictionary.length > 0 ? [fc.constantFrom(...dictionary).map((t) => Buffer.from(t, 'utf8'))] : [];
  return fc.oneof(
    { arbitrary: fc.uint8Array({ minLength: 1, maxLength: 8 }).map((a) => Buffer.from(a)), weight: 2 },
    { arbitrary: fc.string({ unit: 'binary', maxLength: 6 }).map((s) => Buffer.from(s, 'utf8')), weight: 1 },
    ...tokens.map((arbitrary) => ({ arbitrary, weight: 4 })),
  );
}

function edit(seedCount: number, dictionary: readonly string[]): Arbitrary<Edit> {
  const size = fc.integer({ min: 1, max: 64 });
  return fc.oneof(
    fc.record({ op: fc.constant('flip' as const), at: fraction, byte: fc.integer({ min: 0, max: 255 }) }),
    fc.record({ op: fc.constant('insert' as const), at: fraction, bytes: insertion(dictionary) }),
    fc.record({ op: fc.constant('delete' as const), at: fraction, size }),
    fc.record({ op: fc.constant('duplicate' as const), at: fraction, size }),
    fc.record({ op: fc.constant('repeat' as const), at: fraction, size: fc.integer({ min: 1, max: 16 }), times: fc.integer({ min: 2, max: 2000 }) }),
    fc.record({ op: fc.constant('splice' as const), at: fraction, from: fraction, other: fc.nat({ max: Math.max(0, seedCount - 1) }), size }),
    fc.record({ op: fc.constant('lines' as const), a: fraction, b: fraction, mode: fc.constantFrom('swap' as const, 'drop' as const, 'copy' as const) }),
  );
}

/** A corpus seed with 1 to `maxEdits` mutations applied. */
export function mutatedSeeds(seeds: readonly Buffer[], dictionary: readonly string[] = [], maxEdits = 6): Arbitrary<Buffer> {
  if (seeds.length === 0) throw new Error('mutatedSeeds: empty corpus');
  return fc
    .tuple(fc.nat({ max: seeds.length - 1 }), fc.array(edit(seeds.length, dictionary), { minLength: 1, maxLength: maxEdits }))
    .map(([index, edits]) => edits.reduce((input, e) => apply(input, e, seeds), seeds[index]!));
}
