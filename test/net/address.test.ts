import * as assert from 'uvu/assert';
import { suite } from '../support/suite.ts';
import {
  classifyAddress,
  isIp,
  isRoutable,
  normalizeIp,
  parseIp,
  sameAddress,
  type AddressClass,
} from '../../src/net/address.ts';

const classification = suite('net/address: classification');

// [address, class]; boundaries on both sides of every range, and the classic mistakes.
const CLASSES: Array<[string, AddressClass]> = [
  // RFC 1918
  ['10.0.0.0', 'private'],
  ['10.255.255.255', 'private'],
  ['9.255.255.255', 'public'],
  ['11.0.0.0', 'public'],
  ['172.16.0.0', 'private'],
  ['172.31.255.255', 'private'],
  ['172.15.255.255', 'public'],
  ['172.32.0.1', 'public'], // 172.16/12 ends at 172.31: the classic "172.x is private" mistake
  ['192.168.0.1', 'private'],
  ['192.168.255.255', 'private'],
  ['192.169.0.1', 'public'],
  ['192.167.255.255', 'public'],
  // RFC 6598 shared address space is a /10 (100.64.0.0 - 100.127.255.255), not a /22 or /16
  ['100.64.0.0', 'shared'],
  ['100.64.4.1', 'shared'],
  ['100.100.100.100', 'shared'],
  ['100.127.255.255', 'shared'],
  ['100.63.255.255', 'public'],
  ['100.128.0.0', 'public'],
  // loopback is the whole /8
  ['127.0.0.1', 'loopback'],
  ['127.255.255.254', 'loopback'],
  ['128.0.0.1', 'public'],
  // link-local
  ['169.254.0.1', 'link-local'],
  ['169.254.255.255', 'link-local'],
  ['169.253.255.255', 'public'],
  ['169.255.0.0', 'public'],
  // RFC 6890 / RFC 7335
  ['192.0.0.1', 'ietf-protocol'],
  ['192.0.0.255', 'ietf-protocol'],
  ['192.0.1.0', 'public'],
  // unspecified / this network
  ['0.0.0.0', 'unspecified'],
  ['0.1.2.3', 'unspecified'],
  // multicast, reserved, broadcast
  ['224.0.0.1', 'multicast'],
  ['239.255.255.255', 'multicast'],
  ['223.255.255.255', 'public'],
  ['240.0.0.1', 'reserved'],
  ['254.255.255.255', 'reserved'],
  ['255.255.255.255', 'broadcast'],
  // documentation ranges count as routable (pinlatch's tests use them as public addresses)
  ['192.0.2.1', 'public'],
  ['198.51.100.7', 'public'],
  ['203.0.113.1', 'public'],
  ['2001:db8::1', 'public'],
  // ordinary public
  ['8.8.8.8', 'public'],
  ['1.1.1.1', 'public'],
  ['2a00:1450:4001:82b::200e', 'public'],
  // IPv6
  ['::', 'unspecified'],
  ['::1', 'loopback'],
  ['::2', 'public'],
  ['fe80::1', 'link-local'],
  ['febf:ffff::1', 'link-local'],
  ['fec0::1', 'site-local'],
  ['fe7f::1', 'public'],
  ['fc00::1', 'unique-local'],
  ['fd12:3456:789a::1', 'unique-local'],
  ['fbff::1', 'public'],
  ['fe00::1', 'public'],
  ['ff02::1', 'multicast'],
  ['ff0e::101', 'multicast'],
  // IPv4-mapped IPv6 is classified by the IPv4 address it carries
  ['::ffff:10.1.2.3', 'private'],
  ['::ffff:192.168.1.1', 'private'],
  ['::ffff:203.0.113.9', 'public'],
  ['::ffff:7f00:1', 'loopback'],
  ['[::ffff:100.64.0.1]', 'shared'],
];

for (const [address, cls] of CLASSES) {
  classification(`${address} is ${cls}`, () => {
    assert.is(classifyAddress(address), cls);
    assert.is(isRoutable(address), cls === 'public');
  });
}

classification('non-literals are not routable and have no class', () => {
  for (const bad of ['', 'example.com', '1.2.3', '1.2.3.4.5', '256.1.1.1', '01.2.3.4', '1.2.3.-1', '1.2.3.4.', '.1.2.3', '1..2.3', '1.2.3.00', '1.2.3.1000', '1.2.3.4a', '1.2.3.+4', '1.2.3.4/8', ':::', '1::2::3', 'g::1', '12345::1', '1:2:3:4:5:6:7:8:9', '::ffff:1.2.3.256', ' ']) {
    assert.is(classifyAddress(bad), null, bad);
    assert.is(isRoutable(bad), false, bad);
    assert.is(isIp(bad), false, bad);
  }
});

const parsing = suite('net/address: parsing and canonical text');

const CANONICAL: Array<[string, string]> = [
  ['192.0.2.1', '192.0.2.1'],
  [' 10.0.0.1 ', '10.0.0.1'],
  ['2001:DB8:0:0:0:0:0:1', '2001:db8::1'],
  ['2001:0db8:0000:0000:0001:0000:0000:0001', '2001:db8::1:0:0:1'], // RFC 5952 §4.2.3: first longest run
  ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'], // RFC 5952 §4.2.2: one zero group is not `::`
  ['0:0:0:0:0:0:0:0', '::'],
  ['0:0:0:0:0:0:0:1', '::1'],
  ['fe80::', 'fe80::'],
  ['[2001:db8::5]', '2001:db8::5'],
  ['::ffff:192.0.2.33', '192.0.2.33'],
  ['0:0:0:0:0:FFFF:c000:0221', '192.0.2.33'],
  ['64:ff9b::192.0.2.33', '64:ff9b::c000:221'],
  ['1:2:3:4:5:6:7::', '1:2:3:4:5:6:7:0'],
];

for (const [input, text] of CANONICAL) {
  parsing(`${JSON.stringify(input)} -> ${text}`, () => {
    assert.is(normalizeIp(input), text);
  });
}

parsing('families and bytes', () => {
  const v4 = parseIp('203.0.113.1')!;
  assert.is(v4.family, 4);
  assert.equal([...v4.bytes], [203, 0, 113, 1]);
  const mapped = parseIp('::ffff:203.0.113.1')!;
  assert.is(mapped.family, 4);
  assert.equal([...mapped.bytes], [203, 0, 113, 1]);
  const v6 = parseIp('2001:db8::1')!;
  assert.is(v6.family, 6);
  assert.is(v6.bytes.length, 16);
  assert.is(v6.bytes[15], 1);
});

parsing('zone ids are kept apart from the address', () => {
  const scoped = parseIp('fe80::1%eth0')!;
  assert.is(scoped.text, 'fe80::1');
  assert.is(scoped.zone, 'eth0');
  assert.is(classifyAddress(scoped), 'link-local');
  assert.is(parseIp('fe80::1%'), null);
  assert.is(parseIp('fe80::1%a b'), null);
});

parsing('sameAddress compares canonical forms', () => {
  assert.ok(sameAddress('::ffff:10.0.0.1', '10.0.0.1'));
  assert.ok(sameAddress('2001:DB8::1', '2001:db8:0:0::1'));
  assert.not.ok(sameAddress('10.0.0.1', '10.0.0.2'));
  assert.not.ok(sameAddress('10.0.0.1', 'not-an-ip'));
});

classification.run();
parsing.run();
