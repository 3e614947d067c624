/** SIP URI parsing, formatting and RFC 3261 §19.1.4 comparison. */
import * as assert from 'uvu/assert';
import { SipUriError } from '../../../src/sip/wire/errors.ts';
import { parseSipUri, parseUri, uriEquals, uriRefersTo } from '../../../src/sip/wire/uri.ts';
import { suite } from '../../support/suite.ts';

const test = suite('SIP URI');

test('parts: user, password, host kinds, port, params, headers', () => {
  const u = parseSipUri('sips:alice:secret@Atlanta.example.com:5061;transport=TCP;lr;maddr=239.255.255.1?subject=project%20x&priority=urgent');
  assert.is(u.scheme, 'sips');
  assert.is(u.user, 'alice');
  assert.is(u.password, 'secret');
  assert.is(u.host, 'Atlanta.example.com');
  assert.is(u.hostKind, 'domain');
  assert.is(u.port, 5061);
  assert.is(u.transport, 'tcp');
  assert.ok(u.lr);
  assert.is(u.maddr, '239.255.255.1');
  assert.equal(u.headers, [['subject', 'project%20x'], ['priority', 'urgent']]);
  assert.is(u.toString(), 'sips:alice:secret@Atlanta.example.com:5061;transport=TCP;lr;maddr=239.255.255.1?subject=project%20x&priority=urgent');
  const v6 = parseSipUri('sip:[2001:DB8::10]:5070;lr');
  assert.is(v6.host, '2001:DB8::10');
  assert.is(v6.hostKind, 'ipv6');
  assert.is(v6.hostport, '[2001:DB8::10]:5070');
  assert.is(parseSipUri('sip:192.0.2.4').hostKind, 'ipv4');
  assert.is(parseSipUri('sip:+15551234;phone-context=x@gw.example.net;user=phone').user, '+15551234;phone-context=x');
});

test('other schemes are opaque and pass through', () => {
  const tel = parseUri('tel:+1-201-555-0123;phone-context=example.com');
  assert.is(tel.kind, 'opaque');
  assert.is(tel.scheme, 'tel');
  assert.is(tel.toString(), 'tel:+1-201-555-0123;phone-context=example.com');
});

test('invalid URIs are rejected with SipUriError', () => {
  for (const bad of ['<sip:a@b>', 'sip:', 'sip:a@', 'sip:a@b:99999', 'sip:a@b c', 'sip:[::1', 'sip:a@300.1.1.1', 'sip:a%zz@b', 'sip:a@b;=x', 'sip:a@b?x', 'nocolon', 'tel:']) {
    assert.throws(() => parseUri(bad), (e: unknown) => e instanceof SipUriError && (e as SipUriError).code === 'ERR_PINLATCH_SIP_URI', bad);
  }
});

test('§19.1.4 equivalence examples', () => {
  const eq = (a: string, b: string): boolean => uriEquals(parseUri(a), parseUri(b));
  assert.ok(eq('sip:%61lice@atlanta.com;transport=TCP', 'sip:alice@AtLanTa.CoM;Transport=tcp'));
  assert.ok(eq('sip:carol@chicago.com', 'sip:carol@chicago.com;newparam=5'));
  assert.ok(eq('sip:carol@chicago.com;security=on', 'sip:carol@chicago.com;newparam=5'));
  assert.ok(eq('sip:biloxi.com;transport=tcp;method=REGISTER?to=sip:bob%40biloxi.com', 'sip:biloxi.com;method=REGISTER;transport=tcp?to=sip:bob%40biloxi.com'));
  assert.ok(eq('sip:alice@atlanta.com?subject=project%20x&priority=urgent', 'sip:alice@atlanta.com?priority=urgent&subject=project%20x'));
  assert.not.ok(eq('SIP:ALICE@AtLanTa.CoM;Transport=udp', 'sip:alice@AtLanTa.CoM;Transport=UDP'));
  assert.not.ok(eq('sip:bob@biloxi.com', 'sip:bob@biloxi.com:5060'));
  assert.not.ok(eq('sip:bob@biloxi.com', 'sip:bob@biloxi.com;transport=udp'));
  assert.not.ok(eq('sip:bob@biloxi.com', 'sip:bob@biloxi.com:6000;transport=tcp'));
  assert.not.ok(eq('sip:carol@chicago.com', 'sip:carol@chicago.com?Subject=next%20meeting'));
  assert.not.ok(eq('sip:bob@phone21.boxesbybob.com', 'sip:bob@192.0.2.4'));
  assert.not.ok(eq('sip:carol@chicago.com;security=on', 'sip:carol@chicago.com;security=off'));
  assert.not.ok(eq('sip:a@example.com', 'sips:a@example.com'));
  assert.ok(eq('sip:[2001:db8::1]', 'sip:[2001:DB8:0::1]'));
});

test('uriRefersTo: is this Route / Request-URI mine', () => {
  assert.ok(uriRefersTo(parseUri('sip:192.0.2.1;lr'), '192.0.2.1', 5060));
  assert.ok(uriRefersTo(parseUri('sip:192.0.2.1:5080;lr'), '192.0.2.1', 5080));
  assert.not.ok(uriRefersTo(parseUri('sip:192.0.2.1:5080;lr'), '192.0.2.1', 5060));
  assert.ok(uriRefersTo(parseUri('sips:proxy.example.com'), 'PROXY.example.com', 5061));
  assert.ok(uriRefersTo(parseUri('sip:[2001:db8::1]:5060'), '2001:db8:0::1', 5060));
  assert.not.ok(uriRefersTo(parseUri('sip:proxy.example.com'), '192.0.2.1', 5060));
  assert.not.ok(uriRefersTo(parseUri('tel:+1'), '192.0.2.1', 5060));
});

test.run();
