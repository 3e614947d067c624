/** Message model: header manipulation a proxy does, byte-exact output of untouched fields, responses. */
import * as assert from 'uvu/assert';
import { Via, stampReceived, responseDestination } from '../../../src/sip/wire/headers/via.ts';
import { parseNameAddr } from '../../../src/sip/wire/headers/nameAddr.ts';
import { createResponse, SipRequest, type SipResponse } from '../../../src/sip/wire/message.ts';
import { parseMessage } from '../../../src/sip/wire/parser.ts';
import { SipParseError } from '../../../src/sip/wire/parseError.ts';
import { suite } from '../../support/suite.ts';

const crlf = (lines: string[]): Buffer => Buffer.from(lines.join('\r\n'), 'utf8');
const SDP = 'v=0\r\no=- 1 1 IN IP4 192.0.2.10\r\ns=-\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n';
const INVITE = crlf([
  'INVITE sip:bob@192.0.2.20:5060 SIP/2.0',
  'Via: SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bK-a1;rport',
  'v: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK-a0 ,SIP/2.0/TCP 10.0.0.2;branch=z9hG4bK-zz',
  'Route: <sip:192.0.2.1;lr>, <sip:192.0.2.2;lr;transport=tcp>',
  'Max-Forwards: 70',
  'f: "Alice, A." <sip:alice@example.com>;tag=1928',
  't: <sip:bob@example.com>',
  'i: a84b4c76e66710',
  'CSeq: 314159 INVITE',
  'm: <sip:alice@192.0.2.10:5062>',
  'X-Custom:  keep   this  exact ',
  'c: application/sdp',
  `l: ${Buffer.byteLength(SDP)}`,
  '',
  SDP,
]);

const test = suite('SipMessage');

test('compact forms resolve to the long names; values are unfolded and trimmed', () => {
  const m = parseMessage(INVITE) as SipRequest;
  assert.is(m.get('Call-ID'), 'a84b4c76e66710');
  assert.is(m.get('CALL-ID'), 'a84b4c76e66710');
  assert.is(m.from!.displayName, 'Alice, A.');
  assert.is(m.contacts[0]!.uri.toString(), 'sip:alice@192.0.2.10:5062');
  assert.is(m.vias.length, 3);
  assert.is(m.get('x-custom'), 'keep   this  exact');
  assert.is(m.contentType, 'application/sdp');
});

test('proxy edits change only what they touch', () => {
  const m = parseMessage(INVITE) as SipRequest;
  assert.ok(m.serialize().equals(INVITE));
  const top = m.popRoute();
  assert.is(top!.uri.toString(), 'sip:192.0.2.1;lr');
  assert.is(m.decrementMaxForwards(), 69);
  m.pushVia(new Via({ transport: 'UDP', host: '192.0.2.1', port: 5060, params: [['branch', 'z9hG4bK-px']] }));
  m.prepend('Record-Route', '<sip:192.0.2.1;lr>');
  const out = m.serialize().toString('utf8');
  const lines = out.split('\r\n');
  assert.is(lines[0], 'INVITE sip:bob@192.0.2.20:5060 SIP/2.0');
  assert.is(lines[1], 'Record-Route: <sip:192.0.2.1;lr>');
  assert.is(lines[2], 'Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK-px');
  assert.is(lines[3], 'Via: SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bK-a1;rport');
  assert.is(lines[4], 'v: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK-a0 ,SIP/2.0/TCP 10.0.0.2;branch=z9hG4bK-zz');
  assert.is(lines[5], 'Route: <sip:192.0.2.2;lr;transport=tcp>');
  assert.is(lines[6], 'Max-Forwards: 69');
  assert.ok(out.includes('\r\nf: "Alice, A." <sip:alice@example.com>;tag=1928\r\n'));
  assert.ok(out.includes('\r\nX-Custom:  keep   this  exact \r\n'));
  const again = parseMessage(m.serialize()) as SipRequest;
  assert.is(again.vias.length, 4);
  assert.is(again.routes.length, 1);
  assert.is(again.recordRoutes.length, 1);
});

test('replacing the body fixes Content-Length; clone is independent', () => {
  const m = parseMessage(INVITE) as SipRequest;
  const copy = m.clone();
  m.setBody('v=0\r\n');
  assert.is(m.contentLength, 5);
  assert.is(m.get('content-length'), '5');
  assert.is(copy.contentLength, Buffer.byteLength(SDP));
  assert.ok(copy.serialize().equals(INVITE));
  const again = parseMessage(m.serialize());
  assert.is(again.body.toString(), 'v=0\r\n');
  m.uri = 'sip:bob@198.51.100.7';
  assert.ok(m.serialize().toString().startsWith('INVITE sip:bob@198.51.100.7 SIP/2.0\r\n'));
});

test('Via helpers: received/rport (RFC 3581) and response destination', () => {
  const m = parseMessage(INVITE) as SipRequest;
  const via = m.topVia!.clone();
  assert.ok(stampReceived(via, { address: '203.0.113.5', port: 40000 }));
  m.setTopVia(via);
  const again = parseMessage(m.serialize()) as SipRequest;
  assert.is(again.topVia!.received, '203.0.113.5');
  assert.is(again.topVia!.rport, 40000);
  assert.equal(responseDestination(again.topVia!), { host: '203.0.113.5', port: 40000 });
  assert.is(again.vias.length, 3);
  const plain = new Via({ transport: 'UDP', host: '192.0.2.9', port: 5070 });
  assert.not.ok(stampReceived(plain, { address: '192.0.2.9', port: 5070 }));
  assert.ok(stampReceived(plain, { address: '::ffff:198.51.100.1', port: 5070 }));
  assert.is(plain.received, '198.51.100.1');
  assert.equal(responseDestination(plain), { host: '198.51.100.1', port: 5070 });
});

test('createResponse copies Via/From/To/Call-ID/CSeq as received and adds a To tag', () => {
  const m = parseMessage(INVITE) as SipRequest;
  const r: SipResponse = createResponse(m, 180, { toTag: 'xyz' });
  const text = r.serialize().toString();
  assert.ok(text.startsWith('SIP/2.0 180 Ringing\r\n'));
  assert.ok(text.includes('\r\nv: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK-a0 ,SIP/2.0/TCP 10.0.0.2;branch=z9hG4bK-zz\r\n'));
  assert.is(r.to!.tag, 'xyz');
  assert.is(r.from!.tag, '1928');
  assert.is(r.callId, 'a84b4c76e66710');
  assert.is(r.contentLength, 0);
  assert.is(r.count('contact'), 0);
  const trying = createResponse(m, 100, { toTag: 'ignored' });
  assert.is(trying.to!.tag, undefined);
  const parsed = parseMessage(r.serialize()) as SipResponse;
  assert.is(parsed.status, 180);
  assert.is(parsed.vias.length, 3);
});

test('built requests serialize and parse; list and single headers', () => {
  const req = new SipRequest({
    method: 'OPTIONS',
    uri: 'sip:[2001:db8::5]:5070;transport=tcp',
    headers: [
      ['Via', 'SIP/2.0/TCP [2001:db8::1]:5060;branch=z9hG4bK-77'],
      ['From', '<sip:p@example.com>;tag=a'],
      ['To', '<sip:q@example.com>'],
      ['Call-ID', 'built-1'],
      ['CSeq', '1 OPTIONS'],
      ['Supported', 'timer, 100rel'],
    ],
  });
  req.append('Supported', 'path');
  assert.equal(req.getAll('k'), ['timer', '100rel', 'path']);
  req.ensureContentLength();
  const parsed = parseMessage(req.serialize(), { framing: 'stream' }) as SipRequest;
  assert.is(parsed.topVia!.host, '2001:db8::1');
  assert.is(parsed.topVia!.sentBy, '[2001:db8::1]:5060');
  assert.is(parsed.contentLength, 0);
  assert.is(parsed.remove('supported'), 2);
  assert.is(parsed.shiftValue('via'), 'SIP/2.0/TCP [2001:db8::1]:5060;branch=z9hG4bK-77');
  assert.is(parsed.topVia, undefined);
});

test('NameAddr formatting keeps URI params inside <> and quotes display names', () => {
  const a = parseNameAddr('sip:+1555@gw.example.net;user=phone;tag=9', 'From');
  assert.is(a.tag, '9');
  assert.is(a.params.get('user'), 'phone');
  assert.is(a.toString(), '<sip:+1555@gw.example.net>;user=phone;tag=9');
  const b = parseNameAddr('"A \\"B\\"" <sip:x@y.example>', 'To');
  assert.is(b.displayName, 'A "B"');
  assert.is(b.toString(), '"A \\"B\\"" <sip:x@y.example>');
});

test('limits: message size, header count, field length; garbage and empty input', () => {
  const big = Buffer.alloc(70000, 0x41);
  let error = catchParse(big);
  assert.is(error.status, 513);
  const many = crlf(['OPTIONS sip:a@b SIP/2.0', ...Array.from({ length: 300 }, (_, i) => `X-H${i}: v`), '', '']);
  error = catchParse(many);
  assert.is(error.reason, 'Too many header fields');
  const long = crlf(['OPTIONS sip:a@b SIP/2.0', `X-Long: ${'a'.repeat(20000)}`, '', '']);
  assert.is(catchParse(long).reason, 'Header field too long');
  assert.is(catchParse(Buffer.from('\x16\x03\x01\x02\x00\x01\x00')).reason, 'Not a SIP message');
  assert.is(catchParse(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n')).reason, 'Not a SIP message');
  assert.is(catchParse(Buffer.from('\r\n\r\n')).reason, 'Empty message');
  assert.is(catchParse(crlf(['OPTIONS sip:a@b SIP/2.0', 'no colon here', '', ''])).reason, 'Malformed header line');
});

test('header names: any case of a known name gets its key, a control character in one fails the parse', () => {
  const lines = (name: string): Buffer =>
    crlf([
      'OPTIONS sip:bob@example.com SIP/2.0',
      'Via: SIP/2.0/UDP 192.0.2.10;branch=z9hG4bK-n1',
      'From: <sip:alice@example.com>;tag=1',
      'To: <sip:bob@example.com>',
      `${name}: a84b4c76e66710`,
      'CSeq: 1 OPTIONS',
      'Content-Length: 0',
      '',
      '',
    ]);
  for (const name of ['Call-ID', 'call-id', 'CALL-ID', 'cAlL-iD', 'i', 'I', 'Call-ID ']) {
    const m = parseMessage(lines(name));
    assert.is(m.callId, 'a84b4c76e66710', name);
    assert.is(m.fields[3]!.name, name.trim());
    assert.is(m.fields[3]!.key, 'call-id');
  }
  // CR sets no bit that would turn it into "-": "Call\rID" is not a token, so not a header name.
  assert.is(catchParse(lines('Call\rID')).reason, 'Malformed header line');
  assert.is(catchParse(lines('Call ID')).reason, 'Malformed header line');
});

test('validation checks typed headers without building them; they are built once on first read', () => {
  const m = parseMessage(INVITE) as SipRequest;
  const routes = m.routes;
  assert.is(routes.length, 2);
  assert.ok(m.routes === routes, 'a second read returns the cached value');
  assert.ok(m.topVia === m.vias[0]);
  const copy = m.clone();
  assert.ok(copy.routes === routes, 'a clone shares what was read before');
  copy.popRoute();
  assert.is(copy.routes.length, 1);
  assert.is(m.routes.length, 2, 'a change to the clone leaves the original');
  assert.is(m.uri.toString(), 'sip:bob@192.0.2.20:5060');
  // Malformed in a header validation only checks: the parse fails as when it built the values.
  const badContact = Buffer.from(INVITE.toString('latin1').replace('m: <sip:alice@192.0.2.10:5062>', 'm: <sip:alice@192.0.2.10:99999>'), 'latin1');
  const error = catchParse(badContact);
  assert.is(error.reason, 'Invalid Contact header');
  assert.match(error.message, /invalid port/);
});

test('values are read in place: a reader stops at its own field, whatever the next line holds', () => {
  const text = INVITE.toString('latin1');
  const edit = (from: string, to: string): Buffer => Buffer.from(text.replace(from, to), 'latin1');
  // The ">", quote or parameter value a malformed field lacks is on the next line: still refused.
  let error = catchParse(edit('t: <sip:bob@example.com>', 't: <sip:bob@example.com\r\nX-A: x>'));
  assert.is(error.reason, 'Invalid To header');
  assert.match(error.message, /missing ">"/);
  error = catchParse(edit('f: "Alice, A." <sip:alice@example.com>;tag=1928', 'f: "Alice <sip:alice@example.com>;tag=1928\r\nX-B: "'));
  assert.is(error.reason, 'Invalid From header');
  assert.match(error.message, /unterminated quoted display name/);
  error = catchParse(edit('Route: <sip:192.0.2.1;lr>, <sip:192.0.2.2;lr;transport=tcp>', 'Route: <sip:192.0.2.1;lr>;x=\r\nX-C: y'));
  assert.is(error.reason, 'Invalid Route header');
  assert.match(error.message, /has an empty value/);
  // A comma on a later line does not split a field without one.
  const m = parseMessage(edit('m: <sip:alice@192.0.2.10:5062>', 'm: sip:alice@192.0.2.10:5062\r\nX-D: ?a=b, <sip:x@y>')) as SipRequest;
  assert.equal(m.contacts.map(String), ['<sip:alice@192.0.2.10:5062>']);
  assert.is(m.get('x-d'), '?a=b, <sip:x@y>');
  // Names and values are cut out on request, as written; untouched fields leave as their bytes.
  assert.equal(m.fields.map((f) => f.name).slice(0, 3), ['Via', 'v', 'Route']);
  assert.is(m.get('x-custom'), 'keep   this  exact');
  m.decrementMaxForwards();
  const out = m.serialize().toString('latin1');
  assert.ok(out.includes('\r\nX-Custom:  keep   this  exact \r\n'));
  assert.ok(out.includes('\r\nv: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK-a0 ,SIP/2.0/TCP 10.0.0.2;branch=z9hG4bK-zz\r\n'));
  assert.ok(out.includes('\r\nMax-Forwards: 69\r\n'));
});

test('readers test the bytes at the indices they cut the text: leading CRLFs, a datagram inside a larger buffer, UTF-8 and values set in code', () => {
  const expectInvite = (m: SipRequest, label: string): void => {
    assert.is(m.uri.toString(), 'sip:bob@192.0.2.20:5060', label);
    assert.equal(m.vias.map((v) => v.branch), ['z9hG4bK-a1', 'z9hG4bK-a0', 'z9hG4bK-zz'], label);
    assert.is(m.from!.tag, '1928', label);
    assert.equal(m.routes.map(String), ['<sip:192.0.2.1;lr>', '<sip:192.0.2.2;lr;transport=tcp>'], label);
    assert.equal(m.cseq, { seq: 314159, method: 'INVITE' }, label);
  };
  // RFC 3261 §7.5: CRLFs before the start line are skipped; every index after them is the datagram's.
  expectInvite(parseMessage(Buffer.concat([Buffer.from('\r\n\r\n'), INVITE])) as SipRequest, 'after leading CRLFs');
  // A message framed out of a stream is a view with an offset into a larger buffer.
  const before = Buffer.from('SIP/2.0 100 Trying\r\n\r\n');
  const framed = Buffer.concat([before, INVITE, Buffer.from('OPTIONS')]);
  const view = framed.subarray(before.length, before.length + INVITE.length);
  expectInvite(parseMessage(view, { framing: 'stream' }) as SipRequest, 'a view into a larger buffer');

  // A header section with UTF-8 is decoded: the readers test the decoded text's codes, where a
  // character above U+00FF is neither a delimiter nor a token character, and String.prototype.trim's
  // whitespace (U+3000 here) still trims a list element.
  const utf8 = parseMessage(
    Buffer.from(
      INVITE.toString('utf8')
        .replace('f: "Alice, A."', 'f: "Ålice → Ā"')
        .replace('m: <sip:alice@192.0.2.10:5062>', 'm: <sip:a@192.0.2.10>,\u3000<sip:b@192.0.2.11>\u3000'),
      'utf8',
    ),
  ) as SipRequest;
  assert.is(utf8.from!.displayName, 'Ålice → Ā');
  assert.equal(utf8.contacts.map((c) => c.uri.toString()), ['sip:a@192.0.2.10', 'sip:b@192.0.2.11']);
  expectInvite(utf8, 'a UTF-8 header section');
  const badName = Buffer.from(INVITE.toString('utf8').replace('t: <sip:bob@example.com>', 't: Bōb <sip:bob@example.com>'), 'utf8');
  assert.match(catchParse(badName).message, /invalid character "ō" in unquoted display name/);

  // A value set in code is read from its own codes.
  const m = parseMessage(INVITE) as SipRequest;
  m.set('To', '"Zoë ☎" <sip:bob@example.com;user=phone>;tag=x1');
  assert.is(m.to!.displayName, 'Zoë ☎');
  assert.is(m.to!.tag, 'x1');
  m.set('Route', '<sip:192.0.2.9;lr>,\u2003<sip:192.0.2.8;lr>');
  assert.equal(m.getAll('route'), ['<sip:192.0.2.9;lr>', '<sip:192.0.2.8;lr>']);
  assert.is(m.shiftValue('route'), '<sip:192.0.2.9;lr>');
  assert.equal(m.routes.map(String), ['<sip:192.0.2.8;lr>']);
  m.uri = 'sip:carol@192.0.2.30;transport=tcp';
  assert.is((m.uri as { host?: string }).host, '192.0.2.30');
  assert.not.throws(() => parseMessage(m.serialize()));
});

test('serialize splices received runs: the output is each field as received or formatted, CRLF after each, whatever the line ends and edits', () => {
  // What serialize must produce, field by field (the spec of its run merging).
  const expected = (m: SipRequest | SipResponse, startLine: string, body: Buffer): Buffer => {
    const parts: Buffer[] = [Buffer.from(`${startLine}\r\n`)];
    for (const f of m.fields) parts.push(f.source ? f.source.subarray(f.start, f.end) : Buffer.from(`${f.name}: ${f.value}`), Buffer.from('\r\n'));
    parts.push(Buffer.from('\r\n'), body);
    return Buffer.concat(parts);
  };
  const text = INVITE.toString('latin1');
  const [head, body] = text.split('\r\n\r\n') as [string, string];
  const inputs: Array<[string, Buffer]> = [
    ['CRLF', INVITE],
    ['bare LF', Buffer.from(`${head.replace(/\r\n/g, '\n')}\n\n${body}`, 'latin1')],
    ['mixed line ends', Buffer.from(text.replace('Max-Forwards: 70\r\n', 'Max-Forwards: 70\n'), 'latin1')],
    ['folded field', Buffer.from(text.replace('X-Custom:  keep', 'X-Custom:\r\n  keep'), 'latin1')],
    ['leading CRLFs and bytes after the body', Buffer.concat([Buffer.from('\r\n'), INVITE, Buffer.from('trailing')])],
  ];
  const edits: Array<[string, (m: SipRequest) => void]> = [
    ['Max-Forwards', (m) => void m.decrementMaxForwards()],
    ['top Route', (m) => void m.popRoute()],
    ['Via on top', (m) => void m.pushVia('SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK-x')],
    ['last field', (m) => void m.set('Content-Length', String(m.body.length))],
    ['first and last fields removed', (m) => { m.remove('via'); m.remove('content-length'); }],
    ['body', (m) => void m.setBody('v=0\r\n')],
    ['Request-URI', (m) => { m.uri = 'sip:carol@192.0.2.30'; }],
  ];
  for (const [inputName, input] of inputs) {
    for (const [editName, edit] of edits) {
      const m = parseMessage(input) as SipRequest;
      edit(m);
      const out = m.serialize();
      assert.equal(out.toString('latin1'), expected(m, `${m.method} ${m.uriText} SIP/2.0`, m.body).toString('latin1'), `${inputName}, ${editName}`);
      assert.is(parseMessage(out, { validate: false }).serialize().toString('latin1'), out.toString('latin1'), `${inputName}, ${editName}: read back`);
    }
  }
});

function catchParse(data: Buffer): SipParseError {
  try {
    parseMessage(data);
  } catch (error) {
    assert.instance(error, SipParseError);
    return error as SipParseError;
  }
  throw new Error('expected a SipParseError');
}

test.run();
