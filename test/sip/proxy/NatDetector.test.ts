import * as assert from 'uvu/assert';
import { suite } from '../../support/suite.ts';
import { isTrustworthyAddress, natReason } from '../../../src/sip/proxy/NatDetector.ts';

const test = suite('sip/NatDetector');
const from = (address: string, port = 5060) => ({ address, port });

test('non-routable advertised addresses mean NAT, whatever the source', () => {
  for (const host of [
    '192.168.50.20', '10.1.2.3', '172.16.0.9', '100.64.1.1', '127.0.0.1', '169.254.3.4',
    '192.0.0.5', 'fd00::1', 'fe80::1', '::1',
  ]) {
    assert.is(natReason({ host, port: 5060 }, from('203.0.113.1')), 'non-routable', host);
  }
});

test('a public address that is not the packet source means NAT', () => {
  assert.is(natReason({ host: '198.51.100.7', port: 5060 }, from('203.0.113.1')), 'address-differs');
});

test('same address, other port means a remapped port', () => {
  assert.is(natReason({ host: '203.0.113.1', port: 5060 }, from('203.0.113.1', 34012)), 'port-differs');
  assert.is(natReason({ host: '203.0.113.1', port: null }, from('203.0.113.1', 5062)), 'port-differs');
});

test('matching public address and port (default 5060) is trusted', () => {
  assert.is(natReason({ host: '203.0.113.1', port: 5060 }, from('203.0.113.1')), null);
  assert.is(natReason({ host: '203.0.113.1', port: null }, from('203.0.113.1')), null);
  assert.is(natReason({ host: '2001:db8::5', port: 5080 }, from('2001:db8:0::5', 5080)), null);
  assert.is(natReason({ host: '::ffff:203.0.113.1', port: 5060 }, from('203.0.113.1')), null);
});

test('host names cannot be compared and are trusted', () => {
  assert.is(natReason({ host: 'gw.example.net', port: 5060 }, from('203.0.113.1', 1234)), null);
});

test('SDP addresses: only routable literals are trustworthy', () => {
  assert.ok(isTrustworthyAddress('203.0.113.30'));
  assert.not.ok(isTrustworthyAddress('192.168.50.20'));
  assert.not.ok(isTrustworthyAddress('0.0.0.0'));
  assert.not.ok(isTrustworthyAddress(null));
  assert.not.ok(isTrustworthyAddress('gw.example.net'));
});

test.run();
