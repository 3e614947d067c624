import * as assert from 'uvu/assert';
import { suite } from '../support/suite.ts';
import { parseIp } from '../../src/net/address.ts';
import { CidrError, CidrSet, cidrContains, parseCidr, tryParseCidr } from '../../src/net/cidr.ts';

const parsing = suite('net/cidr: parsing');

function code(input: string, options = {}): string | null {
  try {
    parseCidr(input, options);
    return null;
  } catch (err) {
    assert.instance(err, CidrError);
    assert.is((err as CidrError).input, input);
    return (err as CidrError).code;
  }
}


parsing('a bare address is a single host: /32 for IPv4, /128 for IPv6', () => {
  assert.is(parseCidr('192.0.2.7').text, '192.0.2.7/32');
  assert.is(parseCidr('2001:db8::7').text, '2001:db8::7/128');
  assert.is(parseCidr('[2001:db8::7]').text, '2001:db8::7/128');
});

parsing('canonical text: RFC 5952 IPv6, the length always written', () => {
  assert.is(parseCidr('10.0.0.0/8').text, '10.0.0.0/8');
  assert.is(parseCidr(' 2001:0DB8:0000::/32 ').text, '2001:db8::/32');
  assert.is(parseCidr('[2001:db8::]/48').text, '2001:db8::/48');
  assert.is(parseCidr('0.0.0.0/0').text, '0.0.0.0/0');
  assert.is(parseCidr('::/0').text, '::/0');
});

parsing('an IPv4-mapped prefix within ::ffff:0:0/96 is the IPv4 prefix it covers', () => {
  const c = parseCidr('::ffff:10.0.0.0/104');
  assert.is(c.family, 4);
  assert.is(c.text, '10.0.0.0/8');
  assert.is(parseCidr('::ffff:192.0.2.1').text, '192.0.2.1/32');
  assert.is(parseCidr('::ffff:0.0.0.0/96').text, '0.0.0.0/0');
});

parsing('a prefix shorter than /96 around the mapped range is IPv6 (its ffff group is host bits)', () => {
  assert.is(code('::ffff:0.0.0.0/80'), 'ERR_PINLATCH_CIDR_HOST_BITS');
  const c = parseCidr('::ffff:0.0.0.0/80', { allowHostBits: true });
  assert.is(c.family, 6);
  assert.is(c.text, '::/80');
  assert.not.ok(cidrContains(c, '10.0.0.1'));
});

parsing('syntax errors', () => {
  for (const bad of ['', '/24', 'example.com', 'example.com/24', '10.0.0', '10.0.0.256/32', '1.2.3.4//8', 'fe80::1%eth0/64', '2001:db8:::/32']) {
    assert.is(code(bad), 'ERR_PINLATCH_CIDR_SYNTAX', bad);
  }
});

parsing('prefix length out of range or not a plain decimal', () => {
  for (const bad of ['1.2.3.4/', '10.0.0.0/33', '10.0.0.0/-1', '10.0.0.0/08', '10.0.0.0/8.0', '10.0.0.0/ 8', '2001:db8::/129', '::ffff:10.0.0.0/129', '10.0.0.0/1e1']) {
    assert.is(code(bad), 'ERR_PINLATCH_CIDR_PREFIX', bad);
  }
});

parsing('host bits beyond the prefix are refused unless asked for, with a suggestion', () => {
  assert.is(code('10.1.2.3/8'), 'ERR_PINLATCH_CIDR_HOST_BITS');
  assert.is(code('2001:db8::1/32'), 'ERR_PINLATCH_CIDR_HOST_BITS');
  try {
    parseCidr('10.1.2.3/8');
  } catch (err) {
    assert.match((err as Error).message, '10.0.0.0/8');
  }
  assert.is(parseCidr('10.1.2.3/8', { allowHostBits: true }).text, '10.0.0.0/8');
  assert.is(parseCidr('2001:db8::1/32', { allowHostBits: true }).text, '2001:db8::/32');
  assert.is(parseCidr('192.0.2.255/25', { allowHostBits: true }).text, '192.0.2.128/25');
});

parsing('tryParseCidr returns null instead of throwing', () => {
  assert.is(tryParseCidr('nope'), null);
  assert.is(tryParseCidr('10.0.0.0/8')?.prefix, 8);
});

const matching = suite('net/cidr: matching');

// [cidr, address, inside]: both edges of each prefix, and one bit past them.
const CASES: Array<[string, string, boolean]> = [
  ['10.0.0.0/8', '10.0.0.0', true],
  ['10.0.0.0/8', '10.255.255.255', true],
  ['10.0.0.0/8', '9.255.255.255', false],
  ['10.0.0.0/8', '11.0.0.0', false],
  ['192.0.2.128/25', '192.0.2.128', true],
  ['192.0.2.128/25', '192.0.2.255', true],
  ['192.0.2.128/25', '192.0.2.127', false],
  ['203.0.113.10/31', '203.0.113.11', true],
  ['203.0.113.10/31', '203.0.113.12', false],
  ['203.0.113.10', '203.0.113.10', true],
  ['203.0.113.10', '203.0.113.11', false],
  ['0.0.0.0/0', '255.255.255.255', true],
  ['0.0.0.0/0', '2001:db8::1', false],
  ['128.0.0.0/1', '127.255.255.255', false],
  ['128.0.0.0/1', '128.0.0.0', true],
  ['2001:db8::/32', '2001:db8:ffff::1', true],
  ['2001:db8::/32', '2001:db9::', false],
  ['2001:db8::/33', '2001:db8:7fff::', true],
  ['2001:db8::/33', '2001:db8:8000::', false],
  ['2001:db8::1', '2001:db8::1', true],
  ['2001:db8::1', '2001:db8::2', false],
  ['::/0', '2001:db8::1', true],
  ['::/0', '192.0.2.1', false],
  ['::1', '::1', true],
  ['::1', '127.0.0.1', false],
  // IPv4-mapped IPv6 addresses are IPv4 (a dual-stack socket's view of an IPv4 peer).
  ['10.0.0.0/8', '::ffff:10.1.2.3', true],
  ['10.0.0.0/8', '[::ffff:10.1.2.3]', true],
  ['10.0.0.0/8', '::ffff:11.1.2.3', false],
  ['::ffff:10.0.0.0/104', '10.9.9.9', true],
  ['::ffff:10.0.0.0/104', '::ffff:10.9.9.9', true],
  // A zone does not change the address.
  ['fe80::/10', 'fe80::1%eth0', true],
  // Not an address: never inside.
  ['0.0.0.0/0', 'localhost', false],
  ['::/0', '', false],
];

matching('cidrContains: boundaries, families, mapped addresses', () => {
  for (const [cidr, address, inside] of CASES) {
    assert.is(cidrContains(parseCidr(cidr), address), inside, `${address} in ${cidr}`);
  }
});

matching('CidrSet.has agrees with cidrContains for every case, one entry at a time', () => {
  for (const [cidr, address, inside] of CASES) {
    assert.is(CidrSet.parse([cidr]).has(address), inside, `${address} in {${cidr}}`);
  }
});

matching('CidrSet.has: any entry matches, IPv4 and IPv6 mixed', () => {
  const set = CidrSet.parse(['127.0.0.1/32', '10.0.0.0/8', '2001:db8::/32']);
  assert.ok(set.has('127.0.0.1'));
  assert.not.ok(set.has('127.0.0.2'));
  assert.ok(set.has('10.200.0.1'));
  assert.ok(set.has('2001:db8::5'));
  assert.not.ok(set.has('2001:db9::5'));
  assert.not.ok(set.has('::1'));
  assert.is(set.size, 3);
  assert.equal(set.toJSON(), ['127.0.0.1/32', '10.0.0.0/8', '2001:db8::/32']);
  assert.is(String(set), '127.0.0.1/32, 10.0.0.0/8, 2001:db8::/32');
});

matching('CidrSet.has accepts a parsed address, including 16 mapped bytes', () => {
  const set = CidrSet.parse(['192.0.2.0/24']);
  assert.ok(set.has(parseIp('192.0.2.9')!));
  const mapped = new Uint8Array(16);
  mapped[10] = 0xff;
  mapped[11] = 0xff;
  mapped.set([192, 0, 2, 9], 12);
  assert.ok(set.has({ family: 6, bytes: mapped, text: '::ffff:c000:209' }));
});

matching('an empty set holds nothing; loopback() holds 127/8 and ::1', () => {
  assert.not.ok(new CidrSet([]).has('127.0.0.1'));
  const lo = CidrSet.loopback();
  assert.ok(lo.has('127.0.0.1'));
  assert.ok(lo.has('127.255.0.9'));
  assert.ok(lo.has('::1'));
  assert.ok(lo.has('::ffff:127.0.0.1'));
  assert.not.ok(lo.has('192.0.2.1'));
  assert.not.ok(lo.has('::2'));
});

matching('CidrSet.parse names the bad entry', () => {
  try {
    CidrSet.parse(['10.0.0.0/8', '10.0.0.0/40']);
    assert.unreachable();
  } catch (err) {
    assert.instance(err, CidrError);
    assert.is((err as CidrError).input, '10.0.0.0/40');
  }
});

parsing.run();
matching.run();
