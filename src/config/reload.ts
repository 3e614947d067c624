/**
 * What a configuration reload (SIGHUP, `pinlatch reload`) may change. Pure: compares the running
 * configuration with the new one and names every key that differs but cannot change while
 * pinlatch runs — sockets already bound, media shards and their port pool, timers and keys that
 * calls in progress depend on. Such a reload is refused as a whole and the running configuration
 * stays; docs/configuration.md lists both kinds of keys.
 */
import { formatPath, type LineLocator } from './build.js';
import type { KeyPath } from './cross-checks.js';
import { ConfigError, type ConfigIssue } from './errors.js';
import type { PinlatchConfig } from './types.js';

/**
 * Keys (and every key below them) that take effect for new calls and new requests on reload.
 * Anything else is fixed: a key added to the schema later is fixed until the code that uses it
 * reads it afresh for each call.
 */
export const RELOADABLE_KEYS: readonly string[] = [
  'trunks',
  'routes',
  'upstream',
  'admission.upstreamNetworks',
  'admission.strangers',
  'admission.options',
  'admission.scannerUserAgents',
  'log.level',
  'limits.sourceRate',
  'limits.serverTransactions',
  'limits.transactionBytes',
  'limits.dialogs',
  'limits.mediaSessions',
  'limits.dnsLookups',
  'limits.overload.retryAfterSec',
  'sip.drainSec',
  'memory.idleCollection',
  // Where the configuration came from, not a key of the document.
  'source',
];

function reloadable(path: KeyPath): boolean {
  const text = formatPath(path);
  return RELOADABLE_KEYS.some((key) => text === key || text.startsWith(`${key}.`) || text.startsWith(`${key}[`));
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof RegExp);
}

function sameLeaf(a: unknown, b: unknown): boolean {
  if (a instanceof RegExp && b instanceof RegExp) return a.source === b.source && a.flags === b.flags;
  return Object.is(a, b);
}

/** The deepest key paths where `a` and `b` differ, not descending into paths `skip` accepts. */
function differences(a: unknown, b: unknown, path: KeyPath, skip: (path: KeyPath) => boolean, out: KeyPath[]): void {
  if (path.length > 0 && skip(path)) return;
  if (isRecord(a) && isRecord(b)) {
    for (const key of new Set([...Object.keys(a), ...Object.keys(b)])) differences(a[key], b[key], [...path, key], skip, out);
    return;
  }
  if (Array.isArray(a) && Array.isArray(b) && a.length === b.length) {
    a.forEach((item, i) => differences(item, b[i], [...path, i], skip, out));
    return;
  }
  if (!sameLeaf(a, b)) out.push(path);
}

/** Key paths that differ between `current` and `next` and cannot change at run time. */
export function fixedKeyChanges(current: PinlatchConfig, next: PinlatchConfig): KeyPath[] {
  const out: KeyPath[] = [];
  differences(current, next, [], reloadable, out);
  return out;
}

/**
 * The keys a reload changes (the reload log names them), at most `max` of them: each top-level
 * key that differs, with its second-level key where it has one (`routes`, `limits.dialogs`).
 */
export function changedKeys(current: PinlatchConfig, next: PinlatchConfig, max = 32): string[] {
  const out: KeyPath[] = [];
  differences(current, next, [], (path) => path[0] === 'source', out);
  const keys = new Set(out.map((path) => formatPath(path.slice(0, typeof path[1] === 'string' ? 2 : 1))));
  return [...keys].slice(0, max);
}

/**
 * The error that refuses a reload of `next` (each fixed key that changed, at its line of the new
 * file), or null when the reload may go ahead.
 */
export function reloadRefusal(current: PinlatchConfig, next: PinlatchConfig, locate: LineLocator = () => null): ConfigError | null {
  const changed = fixedKeyChanges(current, next);
  if (changed.length === 0) return null;
  const issues: ConfigIssue[] = changed.map((path) => ({
    path: formatPath(path),
    message: 'cannot change while pinlatch runs (restart it to apply this change)',
    line: locate(path),
  }));
  return new ConfigError(next.source, issues, { heading: `configuration ${next.source} not reloaded` });
}
