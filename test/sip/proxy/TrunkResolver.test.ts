import * as assert from 'uvu/assert';
import { suite } from '../../support/suite.ts';
import { TrunkResolver, systemLookup } from '../../../src/sip/proxy/TrunkResolver.ts';
import type { TrunkConfig } from '../../../src/config/types.ts';

const test = suite('sip/TrunkResolver');

const trunk = (name: string, host: string, hostIsAddress: boolean): TrunkConfig => ({
  name, host, hostIsAddress, port: 5080, transport: 'udp', pinRoute: true, resolveIntervalSec: 0.05,
});

test('IP-literal trunks need no resolution', () => {
  const resolver = new TrunkResolver([trunk('gw', '203.0.113.1', true)], {
    lookup: () => Promise.reject(new Error('must not be called')),
  });
  assert.equal(resolver.target('gw'), { host: '203.0.113.1', port: 5080, transport: 'udp' });
  assert.is(resolver.fromSource('203.0.113.1')?.name, 'gw');
  assert.is(resolver.fromSource('203.0.113.2'), null);
  assert.is(resolver.target('unknown'), null);
});

test('host names are re-resolved on the interval; new calls see the new address', async () => {
  let answer = ['203.0.113.1'];
  const changes: string[][] = [];
  const resolver = new TrunkResolver([trunk('gw', 'gw.test', false)], { lookup: async () => answer, ttl: async () => null });
  resolver.on('change', (_name, addresses) => changes.push([...addresses]));
  await resolver.start();
  try {
    assert.is(resolver.target('gw')?.host, '203.0.113.1');
    answer = ['203.0.113.2'];
    const deadline = Date.now() + 2000;
    while (resolver.target('gw')?.host !== '203.0.113.2' && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.is(resolver.target('gw')?.host, '203.0.113.2');
    assert.is(resolver.fromSource('203.0.113.2')?.name, 'gw');
    assert.is(resolver.fromSource('203.0.113.1'), null);
    assert.equal(changes, [['203.0.113.1'], ['203.0.113.2']]);
  } finally {
    resolver.stop();
  }
});

test('a DNS TTL shorter than the interval brings the next resolution forward; no TTL keeps the interval', async () => {
  const lookups: number[] = [];
  const slow = { ...trunk('gw', 'gw.test', false), resolveIntervalSec: 3600 };
  const started = Date.now();
  const resolver = new TrunkResolver([slow], {
    lookup: async () => (lookups.push(Date.now() - started), ['203.0.113.1']),
    ttl: async () => 1,
  });
  await resolver.start();
  try {
    const deadline = Date.now() + 3000;
    while (lookups.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.is(lookups.length, 2, 'resolved again when the 1 s record expired');
    assert.ok(lookups[1]! >= 900, `not before the TTL (${lookups[1]} ms)`);
  } finally {
    resolver.stop();
  }

  const none: number[] = [];
  const resolver2 = new TrunkResolver([slow], { lookup: async () => (none.push(1), ['203.0.113.1']), ttl: async () => null });
  await resolver2.start();
  await new Promise((r) => setTimeout(r, 1300));
  resolver2.stop();
  assert.is(none.length, 1, 'an /etc/hosts name waits for its interval');
});

test('a failed resolution keeps the previous address and is reported', async () => {
  let fail = false;
  const errors: unknown[] = [];
  const resolver = new TrunkResolver([trunk('gw', 'gw.test', false)], {
    lookup: async () => {
      if (fail) throw Object.assign(new Error('queryA ENOTFOUND'), { code: 'ENOTFOUND' });
      return ['203.0.113.1'];
    },
    onError: (_t, err) => errors.push(err),
  });
  await resolver.refresh('gw');
  fail = true;
  await resolver.refresh('gw');
  assert.is(resolver.target('gw')?.host, '203.0.113.1');
  assert.is(errors.length, 1);
});

test('an unresolvable host has no target yet', async () => {
  const resolver = new TrunkResolver([trunk('gw', 'gw.test', false)], { lookup: async () => [] });
  await resolver.refresh('gw');
  assert.is(resolver.target('gw'), null);
});

test('the system resolver reads /etc/hosts (localhost)', async () => {
  const addresses = await systemLookup('localhost');
  assert.ok(addresses.some((a) => a === '127.0.0.1' || a === '::1'), addresses.join(','));
});

test.run();
