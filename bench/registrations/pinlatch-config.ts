/**
 * The pinlatch configuration of one registrations-benchmark run: phones behind NAT registering
 * through pinlatch to the registrar, keepalives on, throttling on or off. Two bounds are sized for
 * the phone count rather than left at their defaults (both are what an operator of that many
 * phones must set too, see docs/benchmarks-registrations.md):
 * - limits.sourceRate: the phones come from a handful of loopback addresses (many homes behind a
 *   few addresses); per-address limits made for one home would ban them;
 * - limits.serverTransactions: a UDP non-INVITE server transaction lives 64·T1 = 32 s after its
 *   answer (RFC 3261 §17.2.2, Timer J), so N phones refreshing every R s hold about 32·N/R of them.
 */
export interface RunConfig {
  /** pinlatch's loopback address (SIP, media, metrics). */
  address: string;
  sipPort: number;
  metricsPort: number;
  media: { min: number; max: number };
  registrar: { address: string; port: number };
  phones: number;
  keepaliveSec: number;
  /** null: throttling off. */
  throttle: { phoneExpiresSec: number; registrarExpiresSec: number } | null;
}

export function pinlatchConfig(c: RunConfig): string {
  const throttle = c.throttle ? `\n  throttle: { phoneExpiresSec: ${c.throttle.phoneExpiresSec}, registrarExpiresSec: ${c.throttle.registrarExpiresSec} }` : '';
  return `sip:
  listen: [{ transport: udp, address: ${c.address}, port: ${c.sipPort} }]
  advertise: ${c.address}
media: { address: ${c.address}, shards: 1, ports: { min: ${c.media.min}, max: ${c.media.max} } }
upstream: sip:${c.registrar.address}:${c.registrar.port}
phones:
  maxBindings: ${Math.max(1000, 2 * c.phones)}
  keepalive: { intervalSec: ${c.keepaliveSec}, maxMissed: 3 }${throttle}
admission: { routeSecret: pinlatch-bench-registrations-secret }
limits:
  sourceRate: { requestsPerSec: 1000000, burst: 10000000 }
  serverTransactions: ${Math.max(20_000, 2 * c.phones)}
log: { level: warn }
metrics: { address: ${c.address}, port: ${c.metricsPort} }
`;
}
