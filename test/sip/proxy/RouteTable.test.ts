import * as assert from 'uvu/assert';
import { suite } from '../../support/suite.ts';
import { RouteTable } from '../../../src/sip/proxy/RouteTable.ts';
import type { RouteConfig, TrunkConfig } from '../../../src/config/types.ts';

const test = suite('sip/RouteTable');

const trunk = (name: string, host: string): TrunkConfig => ({
  name, host, hostIsAddress: true, port: 5060, transport: 'udp', pinRoute: true, resolveIntervalSec: 60,
});
const route = (user: string | null, host: string | null, trunkName: string | string[], fork: 'serial' | 'parallel' = 'serial'): RouteConfig => ({
  user, host, trunks: typeof trunkName === 'string' ? [trunkName] : trunkName, fork, failoverAfterMs: null, from: [],
  userPattern: user === null ? null : new RegExp(`^(?:${user})$`),
  hostPattern: host === null ? null : new RegExp(`^(?:${host})$`, 'i'),
});
const trunks = [trunk('emergency', '203.0.113.5'), trunk('gateway', '203.0.113.1'), trunk('lab', '203.0.113.9')];

test('the first matching rule wins', () => {
  const table = new RouteTable(
    [route('11[0-2]', null, 'emergency'), route('\\+?49.*', null, 'gateway'), route('.*', null, 'lab')],
    trunks,
  );
  assert.is(table.select({ user: '112', host: '203.0.113.10' })?.trunks.map((t) => t.name).join(), 'emergency');
  assert.is(table.select({ user: '+4930123', host: '203.0.113.10' })?.trunks.map((t) => t.name).join(), 'gateway');
  assert.is(table.select({ user: '1123', host: '203.0.113.10' })?.trunks.map((t) => t.name).join(), 'lab');
});

test('patterns are whole-value; user and host must both match when both are given', () => {
  const table = new RouteTable([route('49', 'lab\\.example', 'lab')], trunks);
  assert.is(table.select({ user: '49', host: 'LAB.example' })?.trunks.map((t) => t.name).join(), 'lab');
  assert.is(table.select({ user: '491', host: 'lab.example' }), null);
  assert.is(table.select({ user: '49', host: 'other.example' }), null);
});

test('nothing matching gives null (404); a URI without user matches only user-less rules or .*', () => {
  const table = new RouteTable([route('\\d+', null, 'gateway')], trunks);
  assert.is(table.select({ user: 'alice', host: 'x' }), null);
  assert.is(table.select({ user: null, host: 'x' }), null);
  assert.is(new RouteTable([route(null, 'x', 'gateway')], trunks).select({ user: null, host: 'x' })?.trunks.map((t) => t.name).join(), 'gateway');
});

test('a rule naming an unknown trunk is rejected', () => {
  assert.throws(() => new RouteTable([route('.*', null, 'nope')], trunks), /unknown trunk "nope"/);
});

test('a rule with several trunks gives them in order, with its fork mode', () => {
  const table = new RouteTable([route('.*', null, ['lab', 'gateway'], 'parallel')], trunks);
  const choice = table.select({ user: '1', host: 'x' });
  assert.equal(choice?.trunks.map((t) => t.name), ['lab', 'gateway']);
  assert.is(choice?.fork, 'parallel');
  assert.throws(() => new RouteTable([route('.*', null, ['lab', 'nope'])], trunks), /unknown trunk "nope"/);
});

test.run();
