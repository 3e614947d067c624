import * as assert from 'uvu/assert';
import { suite } from '../../support/suite.ts';
import { RoutePin, nextHop } from '../../../src/sip/proxy/RoutePin.ts';

const test = suite('sip/RoutePin');

// The gateway's 200 OK: Contact <sip:gw@192.168.50.20:5060>, no Record-Route of its own.
const remoteTarget = { host: '192.168.50.20', port: 5060, transport: null };

test('unpinned: the Request-URI (remote target) decides, as RFC 3261 wants', () => {
  assert.equal(nextHop(remoteTarget, []), { host: '192.168.50.20', port: 5060, transport: 'udp', pinned: false });
});

test('unpinned: a remaining loose Route decides before the Request-URI', () => {
  const hop = nextHop(remoteTarget, [{ host: '198.51.100.4', port: null, transport: 'TCP' }]);
  assert.equal(hop, { host: '198.51.100.4', port: 5060, transport: 'tcp', pinned: false });
});

test('pinned: the trunk address the dialog was set up with, whatever Contact and routes say', () => {
  const pin = new RoutePin('gateway', { host: '203.0.113.1', port: 5080, transport: 'udp' });
  assert.equal(nextHop(remoteTarget, [], pin), { host: '203.0.113.1', port: 5080, transport: 'udp', pinned: true });
  assert.equal(
    nextHop(remoteTarget, [{ host: '10.0.0.1', port: 5060, transport: null }], pin),
    { host: '203.0.113.1', port: 5080, transport: 'udp', pinned: true },
  );
  assert.is(pin.recordRouteParam, 'gateway');
});

test.run();
