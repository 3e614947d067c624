/**
 * Checks that span several keys, run once the schema has accepted every value: names that must
 * match, addresses that must be advertisable, sockets that must not collide.
 */
import { isIP } from 'node:net';
import { isUnspecifiedAddress } from './address.js';
import { classifyAddress } from '../net/address.js';
import { parseCidr } from '../net/cidr.js';
import type { RawConfig } from './schema.js';
import { parseSipUriTarget } from './sip-uri.js';

export type KeyPath = readonly (string | number)[];

export interface RawIssue {
  readonly path: KeyPath;
  readonly message: string;
}

interface SocketUse {
  readonly proto: 'udp' | 'tcp';
  readonly address: string;
  readonly port: number;
  readonly path: KeyPath;
}

/** Two bind addresses collide when equal, or when one is the wildcard of the other's family. */
function addressesOverlap(a: string, b: string): boolean {
  if (a === b) return true;
  if (isIP(a) !== isIP(b)) return false;
  return isUnspecifiedAddress(a) || isUnspecifiedAddress(b);
}

function describePath(path: KeyPath): string {
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? p : `.${p}`)).join('');
}

export function crossCheck(raw: RawConfig): RawIssue[] {
  const issues: RawIssue[] = [];
  const { media, sip, ng, metrics } = raw;

  if (media.ports.min % 2 !== 0) {
    issues.push({ path: ['media', 'ports', 'min'], message: 'expected an even port (RTP uses even ports, RTCP the next odd one: RFC 3550 §11)' });
  }
  if (media.ports.max - media.ports.min + 1 < 4) {
    issues.push({
      path: ['media', 'ports'],
      message: `the range ${media.ports.min}..${media.ports.max} must hold at least 4 ports (RTP and RTCP for each leg of one stream)`,
    });
  }
  checkAdvertise(issues, ['media'], media.address, media.advertise, 'media.address');
  if (media.advertise !== undefined && isIP(media.advertise) !== 0 && isIP(media.advertise) !== isIP(media.address)) {
    // The relay's sockets serve the bind address's family only (IPv6 ones without IPv4-mapped peers).
    issues.push({
      path: ['media', 'advertise'],
      message: `IPv${isIP(media.advertise)} address, but media.address ${media.address} is IPv${isIP(media.address)}: the relay serves one address family`,
    });
  }

  if (sip) {
    checkAdvertise(issues, ['sip'], sip.listen[0]!.address, sip.advertise, 'sip.listen[0].address');
    checkSipFamilies(issues, raw);
    if (sip.timers.t1Ms > sip.timers.t2Ms) {
      issues.push({ path: ['sip', 'timers', 't2Ms'], message: `must be >= t1Ms (${sip.timers.t1Ms}) (RFC 3261 §17.1.2.2)` });
    }
  } else {
    for (const key of ['trunks', 'routes'] as const) {
      if (raw[key].length > 0) issues.push({ path: [key], message: `${key} need a sip section (without one pinlatch is a media relay only)` });
    }
    if (raw.upstream !== undefined) issues.push({ path: ['upstream'], message: 'upstream needs a sip section' });
  }

  const firstByName = new Map<string, number>();
  raw.trunks.forEach((trunk, i) => {
    const first = firstByName.get(trunk.name);
    if (first === undefined) firstByName.set(trunk.name, i);
    else issues.push({ path: ['trunks', i, 'name'], message: `duplicate trunk name "${trunk.name}" (first used by trunks[${first}])` });
  });
  raw.routes.forEach((route, i) => {
    if ((route.trunk === undefined) === (route.trunks === undefined)) {
      issues.push({ path: ['routes', i], message: 'expected exactly one of `trunk` (one trunk) or `trunks` (a list to fork over)' });
      return;
    }
    const named = route.trunks ? route.trunks.map((name, j) => ({ name, path: ['routes', i, 'trunks', j] })) : [{ name: route.trunk!, path: ['routes', i, 'trunk'] }];
    const seen = new Set<string>();
    for (const { name, path } of named) {
      if (!firstByName.has(name)) {
        const known = [...firstByName.keys()];
        const hint = known.length ? `known trunks: ${known.join(', ')}` : 'no trunks are configured';
        issues.push({ path, message: `unknown trunk "${name}" (${hint})` });
      } else if (seen.has(name)) {
        issues.push({ path, message: `trunk "${name}" is listed twice in this route` });
      }
      seen.add(name);
    }
    if (route.failoverAfterMs !== undefined && route.fork !== 'serial') {
      issues.push({ path: ['routes', i, 'failoverAfterMs'], message: 'applies to fork: serial only (a parallel fork waits for every trunk anyway)' });
    }
  });

  if (raw.phones !== undefined) {
    if (!sip) issues.push({ path: ['phones'], message: 'phones need a sip section' });
    if (raw.phones.registrar === undefined && raw.upstream === undefined) {
      issues.push({ path: ['phones'], message: 'phones need a registrar: set phones.registrar or upstream' });
    }
    if (raw.phones.registrar !== undefined) {
      const parsed = parseSipUriTarget(raw.phones.registrar);
      if (typeof parsed === 'string') issues.push({ path: ['phones', 'registrar'], message: parsed });
    }
    const throttle = raw.phones.throttle;
    if (throttle && throttle.registrarExpiresSec < 2 * throttle.phoneExpiresSec) {
      issues.push({ path: ['phones', 'throttle', 'registrarExpiresSec'], message: 'expected at least twice phoneExpiresSec (otherwise nothing is throttled)' });
    }
  }
  if (raw.upstream !== undefined) {
    const parsed = parseSipUriTarget(raw.upstream);
    if (typeof parsed === 'string') issues.push({ path: ['upstream'], message: parsed });
  }

  if (ng && ng.allow === undefined && classifyAddress(ng.address) !== 'loopback') {
    // NG has no authentication: whoever reaches the socket can open, redirect and end media.
    issues.push({
      path: ['ng', 'allow'],
      message: `required when ng.address (${ng.address}) is not a loopback address: list the prefixes of the SIP proxies that may send NG commands (e.g. [10.0.0.5/32]); NG has no authentication`,
    });
  }

  checkLatchingNetworks(issues, ['media', 'latching', 'endpoints'], media.latching.endpoints.networks, isIP(media.address));
  raw.trunks.forEach((trunk, i) => checkLatchingNetworks(issues, ['trunks', i, 'latching'], trunk.latching.networks, isIP(media.address)));

  const sockets: SocketUse[] = [];
  sip?.listen.forEach((l, i) => sockets.push({ proto: l.transport, address: l.address, port: l.port, path: ['sip', 'listen', i] }));
  if (ng) {
    sockets.push({ proto: 'udp', address: ng.address, port: ng.port, path: ['ng', 'port'] });
    if (ng.tcp) sockets.push({ proto: 'tcp', address: ng.address, port: ng.port, path: ['ng', 'tcp'] });
  }
  if (metrics) sockets.push({ proto: 'tcp', address: metrics.address, port: metrics.port, path: ['metrics', 'port'] });
  sockets.forEach((s, i) => {
    const clash = sockets.slice(0, i).find((o) => o.proto === s.proto && o.port === s.port && addressesOverlap(o.address, s.address));
    if (clash) {
      issues.push({ path: s.path, message: `${s.proto} ${s.address}:${s.port} is already used by ${describePath(clash.path)}` });
    }
    if (s.proto === 'udp' && s.port >= media.ports.min && s.port <= media.ports.max && addressesOverlap(s.address, media.address)) {
      issues.push({ path: s.path, message: `udp port ${s.port} lies inside media.ports ${media.ports.min}..${media.ports.max}` });
    }
  });
  return issues;
}

/**
 * Address families the SIP side cannot serve: a wildcard listen point of another family than an
 * IP `sip.advertise` (nothing to write into Via and Record-Route for it), and a trunk or upstream
 * given as an IP literal of a family no listen point of its transport has (nothing to send from).
 */
function checkSipFamilies(issues: RawIssue[], raw: RawConfig): void {
  const sip = raw.sip!;
  const advertiseFamily = sip.advertise === undefined ? 0 : isIP(sip.advertise);
  sip.listen.forEach((l, i) => {
    if (advertiseFamily !== 0 && isUnspecifiedAddress(l.address) && isIP(l.address) !== advertiseFamily) {
      issues.push({
        path: ['sip', 'listen', i, 'address'],
        message: `wildcard ${l.address} of another family than sip.advertise (IPv${advertiseFamily}): there is no address to write into Via and Record-Route for it; bind a specific address`,
      });
    }
  });
  const reachable = (host: string, transport: 'udp' | 'tcp') =>
    isIP(host) === 0 || sip.listen.some((l) => l.transport === transport && isIP(l.address) === isIP(host));
  raw.trunks.forEach((trunk, i) => {
    const transport = trunk.transport ?? 'udp';
    if (!reachable(trunk.host, transport)) {
      issues.push({ path: ['trunks', i, 'host'], message: `IPv${isIP(trunk.host)} address, but no ${transport} listen point in sip.listen is IPv${isIP(trunk.host)}` });
    }
  });
  if (raw.upstream !== undefined) {
    const target = parseSipUriTarget(raw.upstream);
    if (typeof target !== 'string' && !reachable(target.host, target.transport ?? 'udp')) {
      issues.push({ path: ['upstream'], message: `IPv${isIP(target.host)} host, but no ${target.transport ?? 'udp'} listen point in sip.listen is IPv${isIP(target.host)}` });
    }
  }
}

/** A latching network of the other family than the relay's media can never match a source. */
function checkLatchingNetworks(issues: RawIssue[], path: KeyPath, networks: readonly string[], mediaFamily: number): void {
  networks.forEach((network, j) => {
    const { family } = parseCidr(network);
    if (family !== mediaFamily) {
      issues.push({
        path: [...path, 'networks', j],
        message: `IPv${family} network, but media runs on IPv${mediaFamily} (media.address): no media source can ever be in it`,
      });
    }
  });
}

function checkAdvertise(issues: RawIssue[], section: KeyPath, bound: string, advertise: string | undefined, boundName: string): void {
  if (advertise === undefined) {
    if (isUnspecifiedAddress(bound)) {
      issues.push({ path: [...section, 'advertise'], message: `required when ${boundName} is a wildcard address (${bound})` });
    }
  } else if (isUnspecifiedAddress(advertise)) {
    issues.push({ path: [...section, 'advertise'], message: `cannot advertise the wildcard address ${advertise}` });
  }
}
