import * as assert from 'uvu/assert';
import { suite } from '../../support/suite.ts';
import { FlowTokens } from '../../../src/sip/registrar/FlowToken.ts';
import type { Flow } from '../../../src/sip/registrar/Flow.ts';

const test = suite('sip/registrar/FlowToken');
const tokens = new FlowTokens(Buffer.from('a key of the test, long enough'));

const udp4: Flow = { transport: 'udp', address: '198.51.100.7', port: 40123, localAddress: '203.0.113.10', localPort: 5060 };
const tcp6: Flow = { transport: 'tcp', address: '2001:db8::7', port: 51000, localAddress: '2001:db8::10', localPort: 5061 };

test('a token gives back its flow (UDP/IPv4, TCP/IPv6, mixed families) and is a SIP user part', () => {
  for (const flow of [udp4, tcp6, { ...udp4, localAddress: '2001:db8::10' }]) {
    const token = tokens.encode(flow);
    assert.match(token, /^[A-Za-z0-9_-]+$/);
    assert.equal(tokens.decode(token), flow);
  }
});

test('a forged, altered, truncated or foreign-key token names no flow', () => {
  const token = tokens.encode(udp4);
  const raw = Buffer.from(token, 'base64url');
  raw[4] ^= 1; // another remote address, same MAC
  const altered = raw.toString('base64url');
  const foreign = new FlowTokens(Buffer.from('another key entirely, also long')).encode(udp4);
  for (const bad of [altered, foreign, token.slice(0, -2), `${token}AA`, '', 'AAAA', '!!', 'A'.repeat(500)]) {
    assert.is(tokens.decode(bad), null, bad);
  }
});

test.run();
