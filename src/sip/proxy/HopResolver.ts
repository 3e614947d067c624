/**
 * The address of a next hop (RFC 3263 without NAPTR/SRV: an IP literal as is, a host name through
 * the system resolver), with a bound on the lookups waiting at once (`limits.dnsLookups`).
 */
import { lookup } from 'node:dns/promises';
import { LimitError } from '../edge/LimitError.js';
import type { Endpoint } from '../transport/SipTransport.js';
import { normalizedIp } from '../wire/normalizedIp.js';
import type { HopTarget } from './RoutePin.js';

export class HopResolver {
  /** Lookups waiting for their answer now (metrics). */
  dnsLookups = 0;

  /** `maxLookups`: the bound in force (a reloaded configuration may change it). */
  constructor(private readonly maxLookups: () => number) {}

  async resolveHop(hop: HopTarget): Promise<Endpoint> {
    const ip = normalizedIp(hop.host);
    if (ip !== null) return { transport: hop.transport, address: ip, port: hop.port };
    // Host names come from requests (Route, Request-URI, maddr): lookups run on libuv's small
    // thread pool and a slow resolver queues them, so only so many may be waiting at once.
    if (this.dnsLookups >= this.maxLookups()) {
      throw new LimitError('dnsLookups', `${this.dnsLookups} DNS lookups pending; ${hop.host} not looked up`);
    }
    this.dnsLookups += 1;
    try {
      const { address } = await lookup(hop.host);
      return { transport: hop.transport, address, port: hop.port };
    } finally {
      this.dnsLookups -= 1;
    }
  }
}
