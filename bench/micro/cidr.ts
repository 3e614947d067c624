/**
 * Micro benchmark of CidrSet.has (src/net/cidr.ts): asked once per NG datagram (ng.allow) and per
 * admission decision, with an address string as node:dgram reports it.
 * `register(bench)` adds the tasks to a shared tinybench Bench; run this file directly
 * (`node --import tsx bench/micro/cidr.ts`) for a standalone table.
 */
import { fileURLToPath } from 'node:url';
import { Bench } from 'tinybench';
import { CidrSet } from '../../src/net/cidr.ts';

const loopback = CidrSet.loopback();
const sixteen = CidrSet.parse(Array.from({ length: 16 }, (_, i) => `10.${i}.0.0/16`));
const v6 = CidrSet.parse(['2001:db8:1::/48', '2001:db8:2::/48', 'fd00::/8']);

export function register(bench: Bench): void {
  bench
    .add('CidrSet.has loopback set, 127.0.0.1 (hit)', () => loopback.has('127.0.0.1'))
    .add('CidrSet.has 16 IPv4 networks, 192.0.2.1 (miss, all checked)', () => sixteen.has('192.0.2.1'))
    .add('CidrSet.has 3 IPv6 networks, fd00::5 (hit on the last)', () => v6.has('fd00::5'));
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const bench = new Bench({ name: 'cidr', time: 500 });
  register(bench);
  await bench.run();
  console.table(bench.table());
}
