/**
 * RFC 4475 torture messages (fixtures/rfc4475/*.dat): valid ones parse with the right values and
 * serialize back byte for byte; invalid ones fail with the documented reason, and a 400/505 can be
 * built for the requests that can be answered. Where RFC 4475 lets an element choose, the choice
 * is stated next to the case.
 */
import { readFileSync } from 'node:fs';
import * as assert from 'uvu/assert';
import type { SipRequest, SipResponse } from '../../../src/sip/wire/message.ts';
import { responseForParseError, SipParseError } from '../../../src/sip/wire/parseError.ts';
import { parseMessage } from '../../../src/sip/wire/parser.ts';
import { unescapeUriPart, type SipUri } from '../../../src/sip/wire/uri.ts';
import { suite } from '../../support/suite.ts';

const fixture = (name: string): Buffer => readFileSync(new URL(`./fixtures/rfc4475/${name}.dat`, import.meta.url));
const request = (name: string): SipRequest => {
  const message = parseMessage(fixture(name));
  assert.is(message.kind, 'request');
  return message as SipRequest;
};
const sipUri = (uri: unknown): SipUri => {
  assert.is((uri as SipUri).kind, 'sip');
  return uri as SipUri;
};
function failure(name: string): SipParseError {
  try {
    parseMessage(fixture(name));
  } catch (error) {
    assert.instance(error, SipParseError);
    return error as SipParseError;
  }
  throw new assert.Assertion({ message: `${name} parsed without error`, operator: 'throws', generated: false });
}

const valid = suite('RFC 4475 §3.1.1 valid messages');

valid('every valid message round-trips byte for byte', () => {
  for (const name of ['wsinv', 'intmeth', 'esc01', 'escnull', 'esc02', 'lwsdisp', 'longreq', 'semiuri', 'transports', 'mpart01', 'unreason', 'noreason']) {
    const data = fixture(name);
    assert.ok(parseMessage(data).serialize().equals(data), name);
  }
});

valid('wsinv: folding, LWS, compact forms, mixed case, escaped quotes, leading zeros', () => {
  const m = request('wsinv');
  assert.is(m.method, 'INVITE');
  const ruri = sipUri(m.uri);
  assert.is(ruri.user, 'vivekg');
  assert.is(ruri.params.get('unknownparam'), null);
  assert.is(m.to!.tag, '1918181833n');
  assert.is(m.from!.displayName, 'J Rosenberg \\"');
  assert.is(m.from!.tag, '98asjd8');
  assert.is(m.maxForwards, 68);
  assert.is(m.cseq!.seq, 9);
  assert.is(m.cseq!.method, 'INVITE');
  assert.is(m.callId, 'wsinv.ndaksdj@192.0.2.1');
  assert.is(m.contentLength, 150);
  assert.equal(
    m.vias.map((v) => [v.transport, v.host, v.branch]),
    [
      ['UDP', '192.0.2.2', '390skdjuw'],
      ['TCP', 'spindle.example.com', 'z9hG4bK9ikj8'],
      ['UDP', '192.168.255.111', 'z9hG4bK30239'],
    ],
  );
  assert.is(m.get('subject'), '');
  assert.is(m.get('NewFangledHeader'), 'newfangled value continued newfangled value');
  assert.is(m.get('UnknownHeaderWithUnusualValue'), ';;,,;;,;');
  assert.equal(m.getAll('UnknownHeaderWithUnusualValue'), [';;,,;;,;']);
  assert.is(m.routes.length, 1);
  assert.ok(sipUri(m.routes[0]!.uri).lr);
  const contact = m.contacts[0]!;
  assert.is(contact.displayName, 'Quoted string ""');
  assert.is(contact.params.get('newparam'), 'newvalue');
  assert.is(contact.params.get('secondparam'), null);
  assert.is(contact.params.get('q'), '0.33');
  assert.is(m.body.length, 150);
});

valid('intmeth: unusual token characters, quoted NUL, UTF-8 values', () => {
  const m = request('intmeth');
  assert.is(m.method, "!interesting-Method0123456789_*+`.%indeed'~");
  const ruri = sipUri(m.uri);
  assert.is(ruri.user, "1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*");
  assert.is(ruri.password, "&it+has=1,weird!*pas$wo~d_too.(doesn't-it)");
  assert.is(ruri.host, 'example.com');
  assert.is(m.topVia!.branch, "z9hG4bK-.!%66*_+`'~");
  assert.is(m.to!.displayName, 'BEL:\x07 NUL:\x00 DEL:\x7f');
  assert.is(m.from!.displayName, "token1~` token2'+_ token3*%!.-");
  assert.is(m.from!.params.get("fromParam''~+*_!.-%"), '"работающий"');
  assert.is(m.from!.tag, "_token~1'+`*%!-.");
  assert.is(m.callId, 'intmeth.word%ZK-!.*_+\'@word`~)(><:\\/"][?}{');
  assert.is(m.cseq!.seq, 139122385);
  assert.is(m.maxForwards, 255);
  assert.is(m.get("extensionHeader-!.%*+_`'~"), '\ufeff大停電');
});

valid('esc01 / escnull: %HH kept in the URI, decoded on request, never recursively', () => {
  const m = request('esc01');
  assert.is(unescapeUriPart(sipUri(m.uri).user!), 'sips:user@example.com');
  assert.is(unescapeUriPart(sipUri(m.to!.uri).user!), 'user');
  assert.is(unescapeUriPart(sipUri(m.from!.uri).user!), 'I have spaces');
  const contactUri = sipUri(m.contacts[0]!.uri);
  assert.is(unescapeUriPart(contactUri.user!), 'caller');
  assert.is(unescapeUriPart(contactUri.params.get('n%61me')!), 'value%41');
  assert.is(m.get('c'), 'application/sdp');
  const n = request('escnull');
  assert.equal(n.contacts.map((c) => unescapeUriPart(sipUri(c.uri).user!)), ['\0', '\0\0']);
  assert.is(unescapeUriPart(sipUri(n.to!.uri).user!), 'null-\0-null');
});

valid('esc02: % is not an escape in methods, display names, header names', () => {
  const m = request('esc02');
  assert.is(m.method, 'RE%47IST%45R');
  assert.is(m.to!.displayName, '%Z%45');
  assert.is(m.contacts.length, 2);
  assert.is(m.get('C%6Fntact'), '<sip:alias2@host2.example.com>');
  assert.is(m.topVia!.branch, 'z9hG4bK209%fzsnel234');
});

valid('lwsdisp: display name touching <', () => {
  assert.is(request('lwsdisp').from!.displayName, 'caller');
});

valid('longreq: long values, 34 Vias in every spelling of Via', () => {
  const m = request('longreq');
  assert.is(m.vias.length, 34);
  assert.is(m.vias[0]!.host, 'sip33.example.com');
  assert.is(m.vias[33]!.received, '192.0.2.5');
  assert.is(sipUri(m.to!.uri).port, 6000);
  assert.is(m.from!.tag!.length, 155);
  assert.is(m.contentLength, 150);
});

valid('dblreq: octets after Content-Length in a datagram are ignored', () => {
  const data = fixture('dblreq');
  const m = request('dblreq');
  assert.is(m.method, 'REGISTER');
  assert.is(m.body.length, 0);
  assert.is(m.callId, 'dblreq.0ha0isndaksdj99sdfafnl3lk233412');
  const out = m.serialize();
  assert.ok(out.length < data.length);
  assert.not.ok(out.toString().includes('INVITE'));
});

valid('semiuri: ; inside the user part; Accept folded over lines', () => {
  const m = request('semiuri');
  const ruri = sipUri(m.uri);
  assert.is(unescapeUriPart(ruri.user!), 'user;par=u@example.net');
  assert.is(ruri.params.size, 0);
  assert.is(m.getAll('accept').length, 6);
});

valid('transports: extension transports in Via', () => {
  assert.equal(request('transports').vias.map((v) => v.transport), ['UDP', 'SCTP', 'TLS', 'UNKNOWN', 'TCP']);
});

valid('mpart01: binary body with NULs framed by Content-Length', () => {
  const m = request('mpart01');
  assert.is(m.body.length, 553);
  assert.ok(m.body.includes(0));
  assert.is(m.topVia!.rport, null);
  assert.is(m.topVia!.port, 5070);
  assert.is(m.contentType, 'multipart/mixed');
});

valid('unreason / noreason: UTF-8 and empty reason phrases', () => {
  const u = parseMessage(fixture('unreason')) as SipResponse;
  assert.is(u.status, 200);
  assert.is(u.reason, '= 2**3 * 5**2 но сто девяносто девять - простое');
  const n = parseMessage(fixture('noreason')) as SipResponse;
  assert.is(n.status, 100);
  assert.is(n.reason, '');
});

valid.run();

const invalid = suite('RFC 4475 §3.1.2 invalid messages');

const expected: Array<[name: string, reason: string, status: number, replyable: boolean]> = [
  // Via with empty params and elements: no usable Via, so no 400 can be routed or matched: dropped.
  ['badinv01', 'Invalid Via header', 400, false],
  // UDP: Content-Length beyond the datagram.
  ['clerr', 'Content-Length exceeds message size', 400, true],
  ['ncl', 'Invalid Content-Length', 400, true],
  // The CSeq error decides (RFC 4475: 400 due to the CSeq).
  ['scalar02', 'Invalid CSeq header', 400, true],
  // A response: dropped.
  ['scalarlg', 'Invalid CSeq header', 400, false],
  ['quotbal', 'Invalid To header', 400, true],
  ['ltgtruri', 'Invalid Request-URI', 400, true],
  ['lwsruri', 'Malformed Request-Line', 400, true],
  ['escruri', 'Request-URI must not contain headers', 400, true],
  ['regbadct', 'Invalid Contact header', 400, true],
  ['badaspec', 'Invalid To header', 400, true],
  // The From display name comes first in the message.
  ['baddn', 'Invalid From header', 400, true],
  ['badvers', 'Version Not Supported', 505, true],
  ['mismatch01', 'CSeq method does not match the request method', 400, true],
  // RFC 4475 prefers 501 here; the parser cannot know which methods the element implements, so 400.
  ['mismatch02', 'CSeq method does not match the request method', 400, true],
  ['bigcode', 'Invalid status code', 400, false],
  // §3.3: missing Call-ID, From and To; a 400 is still routed by the Via.
  ['insuf', 'Missing From header', 400, true],
  ['multi01', 'Multiple Call-ID headers', 400, true],
  ['mcl01', 'Invalid Content-Length', 400, true],
];

for (const [name, reason, status, replyable] of expected) {
  invalid(`${name}: ${reason}`, () => {
    const error = failure(name);
    assert.is(error.code, 'ERR_PINLATCH_SIP_PARSE');
    assert.is(error.reason, reason);
    assert.is(error.status, status);
    assert.is(error.replyable, replyable);
    const response = responseForParseError(error, { toTag: 'pl1' });
    if (!replyable) {
      assert.is(response, null);
      return;
    }
    assert.ok(response);
    assert.is(response.status, status);
    assert.is(response.reason, reason);
    assert.ok(response.vias.length >= 1);
    assert.is(response.count('call-id') <= 1, true);
    assert.is(response.contentLength, 0);
    // The answer itself parses.
    assert.is(parseMessage(response.serialize(), { validate: false }).kind, 'response');
  });
}

invalid('lwsstart / trws: extra SP accepted, start line rewritten canonically on output', () => {
  for (const name of ['lwsstart', 'trws']) {
    const m = request(name);
    const out = m.serialize().toString('latin1');
    assert.ok(/^(INVITE|OPTIONS) sip:\S+ SIP\/2\.0\r\n/.test(out), name);
    assert.is(out.length, fixture(name).length - 2);
  }
});

invalid('baddate: a non-GMT Date is forwarded untouched (a proxy does not interpret Date)', () => {
  assert.is(request('baddate').get('date'), 'Fri, 01 Jan 2010 16:00:00 EST');
});

invalid.run();

const semantics = suite('RFC 4475 §3.2–3.4 transaction and application semantics');

semantics('badbranch: parses; the bare cookie is not an RFC 3261 branch', () => {
  const via = request('badbranch').topVia!;
  assert.is(via.branch, 'z9hG4bK');
  assert.is(via.hasRfc3261Branch, false);
});

semantics('unkscm / novelsc / unksm2: other URI schemes pass through opaque', () => {
  assert.is(request('unkscm').uri.toString(), 'nobodyKnowsThisScheme:totallyopaquecontent');
  assert.is(request('unkscm').uri.kind, 'opaque');
  assert.is(request('novelsc').uri.toString(), 'soap.beep://192.0.2.103:3002');
  const m = request('unksm2');
  assert.is(m.to!.uri.toString(), 'isbn:2983792873');
  assert.is(m.from!.uri.toString(), 'http://www.example.com');
  assert.is(m.contacts[0]!.uri.toString(), 'name:John_Smith');
});

semantics('cparam01 / cparam02: addr-spec params belong to the header, <> params to the URI', () => {
  const a = request('cparam01').contacts[0]!;
  assert.is(a.params.get('unknownparam'), null);
  assert.is(sipUri(a.uri).params.size, 0);
  const b = request('cparam02').contacts[0]!;
  assert.is(b.params.size, 0);
  assert.is(sipUri(b.uri).params.get('unknownparam'), null);
});

semantics('regescrt: escaped headers inside <> are valid', () => {
  assert.equal(sipUri(request('regescrt').contacts[0]!.uri).headers, [['Route', '%3Csip:sip.example.com%3E']]);
});

semantics('regaut01: Authorization is not split on commas or interpreted', () => {
  assert.equal(request('regaut01').getAll('authorization'), ['NoOneKnowsThisScheme opaque-data=here']);
});

semantics('zeromf, bext01, invut, sdp01, bcast, inv2543 parse (their handling is the proxy\'s)', () => {
  assert.is(request('zeromf').maxForwards, 0);
  assert.equal(request('bext01').getAll('proxy-require'), ['noProxiesSupportThis', 'norDoAnyProxiesSupportThis']);
  assert.is(request('invut').body.length, 40);
  assert.is(request('sdp01').contentType, 'application/sdp');
  assert.is((parseMessage(fixture('bcast')) as SipResponse).vias[1]!.host, '255.255.255.255');
  const old = request('inv2543');
  assert.is(old.maxForwards, undefined);
  assert.is(old.topVia!.branch, undefined);
  assert.is(old.contentLength, undefined);
  assert.is(old.body.length, 105);
  assert.is(old.recordRoutes[0]!.uri.toString(), 'sip:UserB@example.com;maddr=ss1.example.com');
});

semantics.run();
