import * as assert from 'uvu/assert';
import { suite } from '../../support/suite.ts';
import { SourceClassifier } from '../../../src/sip/edge/SourceClassifier.ts';
import { UpstreamAddresses } from '../../../src/sip/edge/UpstreamAddresses.ts';
import { parseSipUriTarget, type SipUriTarget } from '../../../src/config/index.ts';
import type { TrunkConfig } from '../../../src/config/types.ts';

const test = suite('sip/edge/SourceClassifier');

const gateway: TrunkConfig = { name: 'gateway', host: '203.0.113.1', hostIsAddress: true, port: 5060, transport: 'udp', pinRoute: true, resolveIntervalSec: 60 };
const trunkOf = (address: string) => (address === '203.0.113.1' ? gateway : undefined);
const noLookup = async (): Promise<string[]> => { throw new Error('no lookup expected'); };

test('trunk, upstream (its URI host and the configured networks), stranger', () => {
  const upstream = new UpstreamAddresses([parseSipUriTarget('sip:203.0.113.30:5060') as SipUriTarget], ['198.51.100.0/24'], noLookup);
  const classify = new SourceClassifier(trunkOf, upstream);
  assert.equal(classify.classify('203.0.113.1'), { kind: 'trunk', trunk: gateway });
  assert.is(classify.classify('203.0.113.30').kind, 'upstream');
  assert.is(classify.classify('198.51.100.77').kind, 'upstream');
  assert.is(classify.classify('203.0.113.31').kind, 'stranger');
  assert.is(classify.classify('::ffff:203.0.113.31').kind, 'stranger');
});

test('an address that is both a trunk and in the upstream networks is the trunk', () => {
  const upstream = new UpstreamAddresses([null], ['203.0.113.0/24'], noLookup);
  assert.is(new SourceClassifier(trunkOf, upstream).classify('203.0.113.1').kind, 'trunk');
});

test('an upstream given by host name is recognised by the addresses it resolves to', async () => {
  const upstream = new UpstreamAddresses([parseSipUriTarget('sip:pbx.example.net') as SipUriTarget], [], async () => ['192.0.2.40', '2001:db8::40']);
  assert.not.ok(upstream.has('192.0.2.40'), 'not before it resolved');
  await upstream.start(3600);
  upstream.stop();
  assert.ok(upstream.has('192.0.2.40'));
  assert.ok(upstream.has('2001:db8::40'));
  assert.not.ok(upstream.has('192.0.2.41'));
});

test('with phones: any other source is a phone, or only those within the phone networks', () => {
  const upstream = new UpstreamAddresses([parseSipUriTarget('sip:203.0.113.30') as SipUriTarget], [], noLookup);
  const anyPhone = new SourceClassifier(trunkOf, upstream, { has: () => true });
  assert.is(anyPhone.classify('198.51.100.9').kind, 'phone');
  assert.is(anyPhone.classify('203.0.113.30').kind, 'upstream');
  assert.is(anyPhone.classify('203.0.113.1').kind, 'trunk');
  const someNets = new SourceClassifier(trunkOf, upstream, { has: (a) => a.startsWith('198.51.100.') });
  assert.is(someNets.classify('198.51.100.9').kind, 'phone');
  assert.is(someNets.classify('192.0.2.9').kind, 'stranger');
});

test.run();
