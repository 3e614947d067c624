/**
 * What a fuzz target is: a corpus of seed inputs, a fast-check arbitrary that turns them (and the
 * target's own grammar) into new inputs, and an oracle that runs the product code on one input and
 * throws a Finding when the outcome is not allowed. Inputs are bytes everywhere, so that any
 * failing input can be written to a file, added to the corpus and replayed.
 */
import type { Arbitrary } from 'fast-check';

export interface FuzzTarget {
  /** Also the corpus folder name under fuzz/corpus/. */
  readonly name: string;
  /** Inputs built from the corpus seeds (mutated) and from the target's grammar. */
  inputs(seeds: readonly Buffer[]): Arbitrary<Buffer>;
  /** Runs the product code on one input; throws Finding (or anything else) for a bug. */
  check(input: Buffer): void;
  /** One input taking longer than this is a finding (default: the run's slowMs). */
  readonly slowMs?: number;
}

/** A property the product code broke for one input (an unexpected exception, a round-trip mismatch...). */
export class Finding extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'Finding';
  }
}

/**
 * Runs `fn` and lets only the errors `allowed` accepts through; any other throw is a Finding that
 * carries the original error as its cause.
 */
export function onlyTypedErrors<T>(what: string, fn: () => T, allowed: (error: unknown) => boolean): T | undefined {
  try {
    return fn();
  } catch (error) {
    if (allowed(error)) return undefined;
    const detail = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    throw new Finding(`${what} threw an untyped error: ${detail}`, { cause: error });
  }
}

export function same(what: string, actual: unknown, expected: unknown): void {
  const a = JSON.stringify(actual);
  const e = JSON.stringify(expected);
  if (a !== e) throw new Finding(`${what} changed after a round trip: ${e?.slice(0, 300)} became ${a?.slice(0, 300)}`);
}
