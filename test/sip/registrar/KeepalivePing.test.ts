/**
 * The keepalive OPTIONS as bytes (src/sip/registrar/KeepalivePing.ts): what pinlatch sends is a
 * valid request for the real parser, addressed to the phone's Contact, from pinlatch's address,
 * and every ping has a branch and Call-ID of its own.
 */
import * as assert from 'uvu/assert';
import { suite } from '../../support/suite.ts';
import { KeepalivePings } from '../../../src/sip/registrar/KeepalivePing.ts';
import { parseMessage, validateMessage } from '../../../src/sip/wire/parser.ts';
import type { SipRequest } from '../../../src/sip/wire/message.ts';

const test = suite('sip/registrar/KeepalivePing');

function parsed(bytes: Buffer): SipRequest {
  const message = parseMessage(bytes);
  validateMessage(message);
  assert.ok('method' in message, 'a request');
  return message as SipRequest;
}

test('a ping is a valid OPTIONS to the Contact, from pinlatch, with the branch it reports', () => {
  const pings = new KeepalivePings('z9hG4bKpl');
  const ping = pings.next('sip:1001@192.168.1.2:5060', { transport: 'UDP', host: '203.0.113.10', port: 5060 });
  const request = parsed(ping.bytes);
  assert.is(request.method, 'OPTIONS');
  assert.is(request.uriText, 'sip:1001@192.168.1.2:5060');
  assert.is(request.get('to'), '<sip:1001@192.168.1.2:5060>');
  assert.is(request.vias[0]!.host, '203.0.113.10');
  assert.is(request.vias[0]!.port, 5060);
  assert.is(request.vias[0]!.branch, ping.branch);
  assert.ok(request.vias[0]!.params.has('rport'));
  assert.match(ping.branch, /^z9hG4bKplka\./);
  assert.match(request.get('from')!, /^<sip:pinlatch@203\.0\.113\.10>;tag=[0-9a-f]{16}$/);
  assert.is(request.cseq?.method, 'OPTIONS');
  assert.is(request.get('max-forwards'), '70');
  assert.is(request.body.length, 0);
});

test('an IPv6 origin is bracketed in the Via and From', () => {
  const ping = new KeepalivePings('z9hG4bKpl').next('sip:1001@[2001:db8::2]:5060', { transport: 'UDP', host: '2001:db8::10', port: 5062 });
  const request = parsed(ping.bytes);
  assert.is(request.vias[0]!.host, '2001:db8::10');
  assert.is(request.vias[0]!.port, 5062);
  assert.match(request.get('from')!, /^<sip:pinlatch@\[2001:db8::10\]>/);
});

test('branches and Call-IDs never repeat, within a process and between two', () => {
  const origin = { transport: 'UDP', host: '203.0.113.10', port: 5060 } as const;
  const branches = new Set<string>();
  const callIds = new Set<string>();
  for (const pings of [new KeepalivePings('z9hG4bKpl'), new KeepalivePings('z9hG4bKpl')]) {
    for (let i = 0; i < 5000; i++) {
      const ping = pings.next('sip:1001@192.168.1.2:5060', origin);
      branches.add(ping.branch);
      callIds.add(parsed(ping.bytes).callId!);
    }
  }
  assert.is(branches.size, 10_000);
  assert.is(callIds.size, 10_000);
});

test.run();
