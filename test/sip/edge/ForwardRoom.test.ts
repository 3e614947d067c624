/**
 * fitsWhenForwarded / toTagFits: the room a request must leave under the parser's limits for what
 * pinlatch adds when it forwards it or answers it (src/sip/edge/ForwardRoom.ts), at each edge.
 */
import * as assert from 'uvu/assert';
import { suite } from '../../support/suite.ts';
import {
  FORWARD_ROOM_BYTES,
  FORWARD_ROOM_FIELDS,
  FORWARD_ROOM_START_LINE,
  FORWARD_ROOM_VIA_STAMP,
  RESPONSE_ROOM_TO_TAG,
  fitsWhenForwarded,
  toTagFits,
} from '../../../src/sip/edge/ForwardRoom.ts';
import { createResponse, type SipRequest } from '../../../src/sip/wire/message.ts';
import { DEFAULT_PARSE_LIMITS, parseMessage } from '../../../src/sip/wire/parser.ts';
import { stampReceived } from '../../../src/sip/wire/headers/via.ts';

const test = suite('sip/edge/ForwardRoom');
const FIELD = DEFAULT_PARSE_LIMITS.maxFieldBytes;

function invite({ uri = 'sip:bob@example.com', via = '', to = '', extra = 0 } = {}): Buffer {
  const lines = [
    `INVITE ${uri} SIP/2.0`,
    `Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKroom;rport${via}`,
    'Max-Forwards: 70',
    'From: <sip:alice@example.com>;tag=a1',
    `To: <sip:bob@example.com>${to}`,
    'Call-ID: room-1',
    'CSeq: 1 INVITE',
    ...Array.from({ length: extra }, (_, i) => `X-Extra-${i}: ${i}`),
    'Content-Length: 0',
    '',
    '',
  ];
  return Buffer.from(lines.join('\r\n'), 'latin1');
}

/** A parameter that makes the header line `line` (e.g. `Via: ...`) exactly `length` bytes. */
const padTo = (line: string, length: number): string => `;pad=${'x'.repeat(length - line.length - 5)}`;
const VIA_LINE = 'Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKroom;rport';
const TO_LINE = 'To: <sip:bob@example.com>';

const parse = (data: Buffer) => parseMessage(data) as SipRequest;

test('a typical INVITE fits', () => {
  const data = invite();
  assert.ok(fitsWhenForwarded(parse(data), data.length));
  assert.ok(toTagFits(parse(data)));
});

test('the top Via: room for received and rport up to the field limit, and the stamped field parses again', () => {
  const last = invite({ via: padTo(VIA_LINE, FIELD - FORWARD_ROOM_VIA_STAMP) });
  const over = invite({ via: padTo(VIA_LINE, FIELD - FORWARD_ROOM_VIA_STAMP + 1) });
  assert.ok(fitsWhenForwarded(parse(last), last.length));
  assert.not.ok(fitsWhenForwarded(parse(over), over.length));
  const request = parse(last);
  const via = request.topVia!;
  assert.ok(stampReceived(via, { address: '2001:db8:ffff:ffff:ffff:ffff:ffff:ffff', port: 65535 }));
  request.setTopVia(via);
  assert.ok(parseMessage(request.serialize()).topVia!.received === '2001:db8:ffff:ffff:ffff:ffff:ffff:ffff');
});

test('To: room for the tag of an answer; without it, neither forwarded nor tagged', () => {
  const last = invite({ to: padTo(TO_LINE, FIELD - RESPONSE_ROOM_TO_TAG) });
  const over = invite({ to: padTo(TO_LINE, FIELD - RESPONSE_ROOM_TO_TAG + 1) });
  assert.ok(toTagFits(parse(last)) && fitsWhenForwarded(parse(last), last.length));
  assert.not.ok(toTagFits(parse(over)));
  assert.not.ok(fitsWhenForwarded(parse(over), over.length));
  const answered = parseMessage(createResponse(parse(last), 404, { toTag: '0123456789ab' }).serialize());
  assert.is(answered.to?.tag, '0123456789ab');
});

test('header count, message size and start line each leave their room', () => {
  const base = invite().toString('latin1').split('\r\n').length - 3; // start line and the two empty lines are not fields
  const lastCount = invite({ extra: DEFAULT_PARSE_LIMITS.maxHeaderCount - FORWARD_ROOM_FIELDS - base });
  const overCount = invite({ extra: DEFAULT_PARSE_LIMITS.maxHeaderCount - FORWARD_ROOM_FIELDS - base + 1 });
  assert.is(parse(lastCount).fields.length, DEFAULT_PARSE_LIMITS.maxHeaderCount - FORWARD_ROOM_FIELDS);
  assert.ok(fitsWhenForwarded(parse(lastCount), lastCount.length));
  assert.not.ok(fitsWhenForwarded(parse(overCount), overCount.length));

  const data = invite();
  assert.ok(fitsWhenForwarded(parse(data), DEFAULT_PARSE_LIMITS.maxMessageBytes - FORWARD_ROOM_BYTES));
  assert.not.ok(fitsWhenForwarded(parse(data), DEFAULT_PARSE_LIMITS.maxMessageBytes - FORWARD_ROOM_BYTES + 1));

  const line = (user: string) => `INVITE sip:${user}@example.com SIP/2.0`.length;
  const user = (length: number) => 'u'.repeat(length - line(''));
  const lastUri = invite({ uri: `sip:${user(FIELD - FORWARD_ROOM_START_LINE)}@example.com` });
  const overUri = invite({ uri: `sip:${user(FIELD - FORWARD_ROOM_START_LINE + 1)}@example.com` });
  assert.ok(fitsWhenForwarded(parse(lastUri), lastUri.length));
  assert.not.ok(fitsWhenForwarded(parse(overUri), overUri.length));
});

test.run();
