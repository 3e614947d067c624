import * as assert from 'uvu/assert';
import { suite } from '../../support/suite.ts';
import { CONTACT_PARAM, FLOW_PARAM, aliasContact, unalias } from '../../../src/sip/registrar/ContactAlias.ts';
import { parseUri, SipUri } from '../../../src/sip/wire/uri.ts';

const test = suite('sip/registrar/ContactAlias');
const at = { host: '203.0.113.10', port: 5060, transport: 'udp' as const };
const phone = parseUri('sip:1001@192.168.1.100:5060;transport=udp;ob');

test("the alias carries the flow token and the phone's Contact as lowercase hex, and gives both back", () => {
  const alias = aliasContact(phone, '01abcdef', at);
  assert.is(alias.user, '1001');
  assert.is(alias.host, '203.0.113.10');
  assert.is(alias.params.get(FLOW_PARAM), '01abcdef');
  assert.match(alias.params.get(CONTACT_PARAM) as string, /^[0-9a-f]+$/);
  const back = unalias(parseUri(alias.toString()));
  assert.is(back?.token, '01abcdef');
  assert.is(back?.original.toString(), phone.toString());
});

test("a hop that changes a parameter value's case changes nothing (RFC 3261 §19.1.4)", () => {
  const alias = aliasContact(phone, '01abcdef', at);
  const upper = new SipUri({ user: alias.user, host: alias.host, port: alias.port, params: [[CONTACT_PARAM, (alias.params.get(CONTACT_PARAM) as string).toUpperCase()], [FLOW_PARAM, '01abcdef']] });
  assert.is(unalias(upper)?.original.toString(), phone.toString());
});

test('the base64url form earlier versions wrote is still read; garbage is no alias', () => {
  const legacy = new SipUri({ user: '1001', host: at.host, port: at.port, params: [[FLOW_PARAM, 'tok'], [CONTACT_PARAM, Buffer.from(phone.toString()).toString('base64url')]] });
  assert.is(unalias(legacy)?.original.toString(), phone.toString());
  for (const bad of ['', 'zz', '!!!!', Buffer.from('not a uri at all').toString('hex')]) {
    const uri = new SipUri({ user: '1001', host: at.host, port: at.port, params: [[FLOW_PARAM, 'tok'], [CONTACT_PARAM, bad]] });
    assert.is(unalias(uri), null, bad);
  }
  assert.is(unalias(parseUri('sip:1001@203.0.113.10')), null, 'no alias parameters');
});

test.run();
