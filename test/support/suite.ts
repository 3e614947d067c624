/**
 * uvu has no per-test timeout and can swallow hook errors (lukeed/uvu#60, #201). Every test file
 * builds its suites here: each test body races a timer, so a hung socket fails the test instead of
 * hanging the run, and test/run.mjs counts failures from uvu's Total/Passed lines.
 */
import { suite as uvuSuite, type Test, type Callback } from 'uvu';

export const DEFAULT_TEST_TIMEOUT_MS = 20_000;

/**
 * Factor for the tests' wall-clock limits (PINLATCH_TEST_TIME_SCALE, default 1): the ASan/UBSan
 * runs of test/asan/ set it, as the sanitized addon is a few times slower. Protocol times (latch
 * silence windows, SIP timers) are not scaled, only how long a test waits for something.
 */
export const TIME_SCALE = Math.max(1, Number(process.env.PINLATCH_TEST_TIME_SCALE ?? 1) || 1);

/** A wait limit scaled by TIME_SCALE. */
export function scaled(ms: number): number {
  return ms * TIME_SCALE;
}

function withTimeout<T>(name: string, timeoutMs: number, fn: Callback<T>): Callback<T> {
  const ms = scaled(timeoutMs);
  return async (ctx) => {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`test "${name}" timed out after ${ms} ms`)), ms);
    });
    try {
      await Promise.race([Promise.resolve().then(() => fn(ctx)), timeout]);
    } finally {
      clearTimeout(timer);
    }
  };
}

export interface TimedSuite<T = Record<string, unknown>> {
  (name: string, fn: Callback<T>, timeoutMs?: number): void;
  only(name: string, fn: Callback<T>, timeoutMs?: number): void;
  skip(name: string, fn?: Callback<T>): void;
  before: Test<T>['before'];
  after: Test<T>['after'];
  run(): void;
}

export function suite<T = Record<string, unknown>>(
  title: string,
  options: { timeoutMs?: number; context?: T } = {},
): TimedSuite<T> {
  const inner = uvuSuite<T>(title, options.context);
  const defaultMs = options.timeoutMs ?? DEFAULT_TEST_TIMEOUT_MS;
  const add = ((name: string, fn: Callback<T>, timeoutMs = defaultMs) =>
    inner(name, withTimeout(name, timeoutMs, fn))) as TimedSuite<T>;
  add.only = (name, fn, timeoutMs = defaultMs) => inner.only(name, withTimeout(name, timeoutMs, fn));
  add.skip = (name, fn) => inner.skip(name, fn);
  add.before = inner.before;
  add.after = inner.after;
  add.run = () => inner.run();
  return add;
}
