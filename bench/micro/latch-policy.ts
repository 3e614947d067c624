/**
 * Micro benchmark of LatchPolicyRule.derive (src/media/LatchPolicyRule.ts): runs for every leg
 * hint signalling sets (twice per call, more on re-INVITEs), never per packet.
 * `register(bench)` adds the tasks to a shared tinybench Bench; run this file directly
 * (`node --import tsx bench/micro/latch-policy.ts`) for a standalone table.
 */
import { fileURLToPath } from 'node:url';
import { Bench } from 'tinybench';
import type { LegHint } from '../../src/media/api.ts';
import { LatchPolicyRule } from '../../src/media/LatchPolicyRule.ts';

const rule = new LatchPolicyRule();

/** A trunk with a public SDP address: the address itself may latch. */
const routable: LegHint = { sdpAddress: '203.0.113.7', sdpPort: 30000, rtcpMux: false, signalSource: '203.0.113.7' };
/** A phone behind NAT: private SDP address, the SIP source may latch. */
const natted: LegHint = { sdpAddress: '192.168.1.20', sdpPort: 4000, rtcpMux: true, signalSource: '198.51.100.9' };
/** A trunk behind a NAT with an address pool: the restricted-latching rule rides along. */
const pooled: LegHint = { ...natted, restriction: Object.freeze({ prefixV4: 29, prefixV6: 128, networks: ['192.0.2.0/28'], origin: 'trunks[gw].latching' }) };
/** IPv6 peer. */
const v6: LegHint = { sdpAddress: '2001:db8::20', sdpPort: 5004, rtcpMux: false, signalSource: '2001:db8::20' };

export function register(bench: Bench): void {
  bench
    .add('LatchPolicyRule.derive routable IPv4', () => rule.derive(routable))
    .add('LatchPolicyRule.derive NAT (signal source)', () => rule.derive(natted))
    .add('LatchPolicyRule.derive NAT + restriction (prefix, network)', () => rule.derive(pooled))
    .add('LatchPolicyRule.derive IPv6', () => rule.derive(v6));
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const bench = new Bench({ name: 'latch-policy', time: 500 });
  register(bench);
  await bench.run();
  console.table(bench.table());
}
