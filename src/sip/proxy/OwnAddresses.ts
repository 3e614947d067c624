/**
 * The addresses and ports that name this proxy (in Via, Route and Request-URI), the listen point a
 * message toward a peer leaves from, and the entries that name the proxy in what it forwards:
 * Via (§16.6 step 8), Record-Route (§16.6 step 4, RFC 5658 §4) and Path (RFC 3327 §4).
 */
import { isIPv6 } from 'node:net';
import { normalizeIp } from '../../net/address.js';
import { Via } from '../wire/headers/via.js';
import { normalizedIp } from '../wire/normalizedIp.js';
import { SipUri, type Uri } from '../wire/uri.js';
import type { Endpoint, ListenPoint } from '../transport/SipTransport.js';

export class OwnAddresses {
  private points: ListenPoint[] = [];
  /** Addresses and ports that name this proxy in Via, Route and Request-URI. */
  private readonly ownHosts = new Set<string>();
  private readonly ownPorts = new Set<number>();
  private readonly v6ByAddress = new Map<string, boolean>();

  /** `advertise`: the configured `sip.advertise` (fixed for the life of the proxy). */
  constructor(private readonly advertise: string) {}

  /** The listen points the transport bound (with their actual ports) name the proxy from now on. */
  bind(points: ListenPoint[]): void {
    this.points = points;
    this.ownHosts.add(normalizeIp(this.advertise) ?? this.advertise.toLowerCase());
    for (const point of this.points) {
      this.ownHosts.add(normalizeIp(point.address) ?? point.address);
      this.ownPorts.add(point.port);
    }
  }

  /** The bound listen points, with actual ports (a configured port 0 picks a free one). */
  get listenPoints(): ListenPoint[] {
    return [...this.points];
  }

  /** net.isIPv6 (a regular expression) remembered per address: a proxy talks to few peers, on every send. */
  isV6(address: string): boolean {
    let v6 = this.v6ByAddress.get(address);
    if (v6 === undefined) {
      v6 = isIPv6(address);
      if (this.v6ByAddress.size >= 4096) this.v6ByAddress.clear();
      this.v6ByAddress.set(address, v6);
    }
    return v6;
  }

  /** The listen point a request toward `to` leaves from: same transport, same address family. */
  localFor(to: Endpoint): ListenPoint {
    const v6 = this.isV6(to.address);
    const point =
      this.points.find((p) => p.transport === to.transport && this.isV6(p.address) === v6) ??
      this.points.find((p) => p.transport === to.transport);
    if (!point) throw new RangeError(`no ${to.transport.toUpperCase()} listen point toward ${to.address}`);
    return point;
  }

  /** The host written into Via and Record-Route for a listen point: `advertise`, unless of another IP family. */
  advertisedHost(point: ListenPoint): string {
    const advertise = this.advertise;
    if (normalizedIp(advertise) === null || this.isV6(advertise) === this.isV6(point.address)) return advertise;
    return point.address;
  }

  viaFor(to: Endpoint, branch: string): Via {
    const point = this.localFor(to);
    return new Via({
      transport: to.transport.toUpperCase(),
      host: this.advertisedHost(point),
      port: point.port,
      params: [['branch', branch], ['rport', null]],
    });
  }

  /** A Record-Route entry for one interface; `transport=tcp` when it is TCP (§19.1.1). */
  recordRoute(point: ListenPoint, params: Array<[string, string | null]>): string {
    const all = point.transport === 'tcp' ? [...params, ['transport', 'tcp'] as [string, string]] : params;
    return `<${new SipUri({ host: this.advertisedHost(point), port: point.port, params: all }).toString()}>`;
  }

  /**
   * The Path entry of a phone's REGISTER (RFC 3327 §4): pinlatch's address facing the registrar,
   * the flow token as user part (RFC 5626 §5.2), `ob` (§5.1: this hop keeps the flow).
   */
  pathFor(token: string, point: ListenPoint): string {
    const params: Array<[string, string | null]> = [['lr', null], ['ob', null]];
    if (point.transport === 'tcp') params.push(['transport', 'tcp']);
    return `<${new SipUri({ user: token, host: this.advertisedHost(point), port: point.port, params }).toString()}>`;
  }

  isOwn(host: string, port: number | undefined): boolean {
    return this.ownPorts.has(port ?? 5060) && this.ownHosts.has(normalizedIp(host) ?? host.toLowerCase());
  }

  isOwnVia(via: Via): boolean {
    return this.isOwn(via.host, via.port);
  }

  /** A Request-URI for the proxy itself: one of its addresses and ports, without a user part. */
  addressesUs(uri: Uri): boolean {
    return uri.kind === 'sip' && !uri.user && this.isOwn(uri.host, uri.port);
  }

  refersToUs(uri: Uri): boolean {
    return uri.kind === 'sip' && this.isOwn(uri.host, uri.port);
  }
}
