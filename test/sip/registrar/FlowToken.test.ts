import * as assert from 'uvu/assert';
import { suite } from '../../support/suite.ts';
import { FlowTokens } from '../../../src/sip/registrar/FlowToken.ts';
import type { Flow } from '../../../src/sip/registrar/Flow.ts';

const test = suite('sip/registrar/FlowToken');
const tokens = new FlowTokens(Buffer.from('a key of the test, long enough'));

const udp4: Flow = { transport: 'udp', address: '198.51.100.7', port: 40123, localAddress: '203.0.113.10', localPort: 5060 };
const tcp6: Flow = { transport: 'tcp', address: '2001:db8::7', port: 51000, localAddress: '2001:db8::10', localPort: 5061 };

test('a token gives back its flow (UDP/IPv4, TCP/IPv6, mixed families) and is a SIP user part of lowercase hex', () => {
  for (const flow of [udp4, tcp6, { ...udp4, localAddress: '2001:db8::10' }]) {
    const token = tokens.encode(flow);
    assert.match(token, /^[0-9a-f]+$/);
    assert.equal(tokens.decode(token), flow);
  }
});

test('a token is read in either case, and in the base64url form earlier versions wrote', () => {
  for (const flow of [udp4, tcp6, { ...udp4, localAddress: '2001:db8::10' }]) {
    const token = tokens.encode(flow);
    assert.equal(tokens.decode(token.toUpperCase()), flow);
    const legacy = Buffer.from(token, 'hex').toString('base64url');
    assert.ok([36, 52, 68].includes(legacy.length), legacy);
    assert.equal(tokens.decode(legacy), flow);
  }
});

test('a forged, altered, truncated or foreign-key token names no flow', () => {
  const token = tokens.encode(udp4);
  const raw = Buffer.from(token, 'hex');
  raw[4] ^= 1; // another remote address, same MAC
  const altered = raw.toString('hex');
  const legacyAltered = raw.toString('base64url');
  const foreign = new FlowTokens(Buffer.from('another key entirely, also long')).encode(udp4);
  const notHex = `${token.slice(0, -2)}zz`;
  for (const bad of [altered, legacyAltered, foreign, notHex, token.slice(0, -2), `${token}aa`, '', 'AAAA', '!!', 'A'.repeat(500), 'g'.repeat(54)]) {
    assert.is(tokens.decode(bad), null, bad);
  }
});

test.run();
