import * as assert from 'uvu/assert';
import { suite } from '../../support/suite.ts';
import { parseMessage } from '../../../src/sip/wire/parser.ts';
import type { SipRequest, SipResponse } from '../../../src/sip/wire/message.ts';
import { ackOf2xx, byeOf, cancelOf, hopByHopAck, inviteIdentity, routeSetTowardCallee } from '../../../src/sip/proxy/OwnRequests.ts';

const test = suite('sip/OwnRequests');

const invite = parseMessage(
  Buffer.from(
    [
      'INVITE sip:49301@203.0.113.1:5060 SIP/2.0',
      'Via: SIP/2.0/UDP 198.51.100.10:5060;branch=z9hG4bKpl1.a;rport',
      'Via: SIP/2.0/UDP 192.0.2.7:5060;branch=z9hG4bKcaller',
      'Route: <sip:203.0.113.50;lr>',
      'Max-Forwards: 69',
      'From: <sip:alice@192.0.2.7>;tag=a1',
      'To: <sip:49301@198.51.100.10>',
      'Call-ID: own-1',
      'CSeq: 7 INVITE',
      'Content-Length: 0',
      '',
      '',
    ].join('\r\n'),
    'latin1',
  ),
  { framing: 'datagram' },
) as SipRequest;

function response(status: number, extra: string[] = []): SipResponse {
  return parseMessage(
    Buffer.from(
      [
        `SIP/2.0 ${status} X`,
        'Via: SIP/2.0/UDP 198.51.100.10:5060;branch=z9hG4bKpl1.a;rport',
        'Via: SIP/2.0/UDP 192.0.2.7:5060;branch=z9hG4bKcaller',
        ...extra,
        'From: <sip:alice@192.0.2.7>;tag=a1',
        'To: <sip:49301@198.51.100.10>;tag=gw',
        'Call-ID: own-1',
        'CSeq: 7 INVITE',
        'Content-Length: 0',
        '',
        '',
      ].join('\r\n'),
      'latin1',
    ),
    { framing: 'datagram' },
  ) as SipResponse;
}

test('hop-by-hop ACK: the INVITE\'s Request-URI, top Via, Route, From and CSeq number; To with the tag (§17.1.1.3)', () => {
  const ack = hopByHopAck(invite, response(486));
  assert.is(ack.method, 'ACK');
  assert.is(ack.uriText, invite.uriText);
  assert.is(ack.vias.length, 1);
  assert.is(ack.topVia?.branch, 'z9hG4bKpl1.a');
  assert.equal(ack.getAll('route'), ['<sip:203.0.113.50;lr>']);
  assert.is(ack.to?.tag, 'gw');
  assert.equal([ack.cseq?.seq, ack.cseq?.method], [7, 'ACK']);
  assert.is(ack.maxForwards, 70);
});

test('CANCEL: the INVITE\'s branch and To without a tag (§9.1)', () => {
  const cancel = cancelOf(invite);
  assert.is(cancel.uriText, invite.uriText);
  assert.is(cancel.topVia?.branch, 'z9hG4bKpl1.a');
  assert.is(cancel.to?.tag, undefined);
  assert.equal([cancel.cseq?.seq, cancel.cseq?.method], [7, 'CANCEL']);
});

test('route set toward the callee: the Record-Route entries above our own, nearest first (§12.1.2)', () => {
  const isOwn = (route: { uri: { toString(): string } }) => route.uri.toString().includes('198.51.100.10');
  const ok = response(200, ['Record-Route: <sip:far.example;lr>, <sip:gw-proxy.example;lr>', 'Record-Route: <sip:198.51.100.10;lr>, <sip:pbx-proxy.example;lr>']);
  assert.equal(routeSetTowardCallee(ok, isOwn), ['<sip:gw-proxy.example;lr>', '<sip:far.example;lr>']);
  assert.equal(routeSetTowardCallee(response(200, ['Record-Route: <sip:198.51.100.10;lr>']), isOwn), []);
  assert.equal(routeSetTowardCallee(response(200), isOwn), []);
});

test('ACK of a 2xx: to the Contact, along the route set toward the callee', () => {
  const ok = response(200, ['Record-Route: <sip:gw-proxy.example;lr>, <sip:198.51.100.10;lr>']);
  const ack = ackOf2xx(inviteIdentity(invite), ok, 'sip:gw@192.168.50.20:5060', ['<sip:gw-proxy.example;lr>']);
  assert.is(ack.uriText, 'sip:gw@192.168.50.20:5060');
  assert.equal(ack.routes.map((r) => r.uri.toString()), ['sip:gw-proxy.example;lr']);
  assert.is(ack.to?.tag, 'gw');
  assert.equal([ack.cseq?.seq, ack.cseq?.method], [7, 'ACK']);
  assert.is(ack.vias.length, 0, 'the caller adds its own Via');
});

test('BYE: Request-URI from the remote target with or without <>, Reason, CSeq as given', () => {
  const bye = byeOf({ callId: 'own-1', target: '<sip:gw@192.168.50.20:5060;transport=udp>', from: '<sip:alice@192.0.2.7>;tag=a1', to: '<sip:49301@x>;tag=gw', cseq: 8, reason: 'SIP;cause=408;text="media timeout"' });
  assert.is(bye.uriText, 'sip:gw@192.168.50.20:5060;transport=udp');
  assert.is(bye.get('reason'), 'SIP;cause=408;text="media timeout"');
  assert.equal([bye.cseq?.seq, bye.cseq?.method], [8, 'BYE']);
  assert.is(byeOf({ callId: 'c', target: 'sip:b@h', from: 'a', to: 'b', cseq: 1, reason: 'r' }).uriText, 'sip:b@h');
});

test.run();
