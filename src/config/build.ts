/**
 * Turns validated input (a YAML document's data or a plain object) into the frozen
 * PinlatchConfig, collecting every schema and cross-key problem before failing.
 */
import { isIP } from 'node:net';
import type { z } from 'zod';
import { parseCidr } from '../net/cidr.js';
import { crossCheck, type KeyPath, type RawIssue } from './cross-checks.js';
import { ConfigError, type ConfigIssue } from './errors.js';
import { configSchema, type RawConfig } from './schema.js';
import { parseSipUriTarget, type SipUriTarget } from './sip-uri.js';
import type { PinlatchConfig } from './types.js';

/** Resolves a key path to a 1-based source line (null when the input has no source text). */
export type LineLocator = (path: KeyPath) => number | null;

export function formatPath(path: KeyPath): string {
  let out = '';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : out === '' ? p : `.${p}`;
  return out;
}

function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  if (typeof value === 'string') return `string "${value.length > 40 ? `${value.slice(0, 40)}...` : value}"`;
  return `${typeof value} ${String(value)}`;
}

/** zod issues, one per problem, in the project's wording. */
function fromZod(issue: z.core.$ZodIssue): RawIssue[] {
  const path = issue.path.filter((p): p is string | number => typeof p !== 'symbol');
  if (issue.code === 'unrecognized_keys') {
    return issue.keys.map((key) => ({ path: [...path, key], message: 'unknown key' }));
  }
  if (issue.code === 'invalid_type' && issue.input === undefined) return [{ path, message: 'required' }];
  if (issue.code === 'invalid_type' && issue.message.startsWith('Invalid input')) {
    return [{ path, message: `expected ${issue.expected}, got ${describeValue(issue.input)}` }];
  }
  const got = 'input' in issue && issue.input !== undefined ? ` (got ${describeValue(issue.input)})` : '';
  return [{ path, message: `${issue.message}${got}` }];
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !(value instanceof RegExp) && !Object.isFrozen(value)) {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

/** `ng.allow` when NG listens on loopback and the key is absent (cross-checks refuse it elsewhere). */
const NG_LOOPBACK = ['127.0.0.0/8', '::1/128'];

function canonicalLatching<T extends { networks: string[] }>(latching: T): T {
  return { ...latching, networks: latching.networks.map((c) => parseCidr(c).text) };
}

function assemble(raw: RawConfig, source: string): PinlatchConfig {
  const sip = raw.sip
    ? { ...raw.sip, advertise: raw.sip.advertise ?? raw.sip.listen[0]!.address }
    : null;
  return {
    source,
    sip,
    media: {
      ...raw.media,
      advertise: raw.media.advertise ?? raw.media.address,
      latching: { ...raw.media.latching, endpoints: canonicalLatching(raw.media.latching.endpoints) },
    },
    ng: raw.ng ? { address: raw.ng.address, port: raw.ng.port, tcp: raw.ng.tcp, allow: (raw.ng.allow ?? NG_LOOPBACK).map((c) => parseCidr(c).text) } : null,
    trunks: raw.trunks.map((t) => ({ ...t, hostIsAddress: isIP(t.host) !== 0, latching: canonicalLatching(t.latching) })),
    routes: raw.routes.map((r) => ({
      user: r.match.user ?? null,
      host: r.match.host ?? null,
      // Anchored so that `1555.*` cannot match inside `+11555...`; hosts compare case-insensitively (RFC 3261 §19.1.4).
      userPattern: r.match.user === undefined ? null : new RegExp(`^(?:${r.match.user})$`),
      hostPattern: r.match.host === undefined ? null : new RegExp(`^(?:${r.match.host})$`, 'i'),
      trunks: r.trunks ?? (r.trunk === undefined ? [] : [r.trunk]),
      fork: r.fork,
      failoverAfterMs: r.failoverAfterMs ?? null,
      from: (r.from ?? []).map((n) => parseCidr(n).text),
    })),
    upstream: raw.upstream === undefined ? null : (parseSipUriTarget(raw.upstream) as SipUriTarget),
    phones: raw.phones
      ? {
          registrar: parseSipUriTarget(raw.phones.registrar ?? raw.upstream!) as SipUriTarget,
          flowIn: raw.phones.flowIn,
          networks: (raw.phones.networks ?? []).map((n) => parseCidr(n).text),
          maxBindings: raw.phones.maxBindings,
          keepalive: raw.phones.keepalive,
          throttle: raw.phones.throttle ?? null,
        }
      : null,
    admission: {
      upstreamNetworks: raw.admission.upstreamNetworks.map((n) => parseCidr(n).text),
      strangers: raw.admission.strangers,
      options: raw.admission.options,
      scannerUserAgents:
        raw.admission.scannerUserAgents.length === 0 ? null : new RegExp(raw.admission.scannerUserAgents.map((p) => `(?:${p})`).join('|'), 'i'),
      routeSecret: raw.admission.routeSecret ?? null,
    },
    log: raw.log,
    limits: {
      ...raw.limits,
      overload: {
        // T1/4: a request queued longer than that is answered so late that its sender's
        // retransmission (after T1, RFC 3261 §17.1.1.2) may cross our answer. The floors keep a
        // short test T1 from shedding on every scheduling hiccup of a busy machine.
        maxQueueMs: raw.limits.overload.maxQueueMs ?? Math.max(100, Math.round((raw.sip?.timers.t1Ms ?? 500) / 4)),
        maxLagMs: raw.limits.overload.maxLagMs ?? Math.max(200, raw.sip?.timers.t1Ms ?? 500),
        retryAfterSec: raw.limits.overload.retryAfterSec,
      },
    },
    metrics: raw.metrics ?? null,
    memory: raw.memory,
  };
}

export function buildConfig(input: unknown, source: string, locate: LineLocator = () => null): PinlatchConfig {
  const parsed = configSchema.safeParse(input ?? {}, { reportInput: true });
  const toIssue = (r: RawIssue): ConfigIssue => ({ path: formatPath(r.path), message: r.message, line: locate(r.path) });
  if (!parsed.success) throw new ConfigError(source, parsed.error.issues.flatMap(fromZod).map(toIssue));
  const cross = crossCheck(parsed.data);
  if (cross.length > 0) throw new ConfigError(source, cross.map(toIssue));
  return deepFreeze(assemble(parsed.data, source));
}
