/**
 * SIP parser and message model (src/sip/wire): what a hostile datagram or TCP stream can reach.
 *
 * Allowed outcomes for any bytes: a message, or a SipError subclass. For a parsed message, every
 * typed accessor the proxy reads (vias, topVia, routes, recordRoutes, cseq, callId, from/to tags,
 * contact, maxForwards, contentLength, Request-URI) returns without throwing (validation ran
 * their readers, checking without building), each typed value re-parses from its own text to the same text, and the message
 * serialises to bytes that parse back to the same values, both byte for byte (fast path) and
 * rebuilt from the fields. What the proxy does to a message (stamp received/rport, push a Via,
 * decrement Max-Forwards, pop a Route, build a response, pop a Via off a response) gives a
 * message that parses again, unless the request would not fit the parser's limits once forwarded
 * (src/sip/edge/ForwardRoom.ts), which the proxy answers with 513 instead. A failed parse must be
 * a SipParseError whose partial message and error response can be built without anything but
 * SipErrors. The TCP framer must cut the same messages whether the bytes arrive in one chunk or two.
 */
import fc from 'fast-check';
import { SipError } from '../../src/sip/wire/errors.ts';
import { parseNameAddr } from '../../src/sip/wire/headers/nameAddr.ts';
import { parseViaList, responseDestination, stampReceived, Via } from '../../src/sip/wire/headers/via.ts';
import { formatCSeq } from '../../src/sip/wire/headers/cseq.ts';
import { createResponse, type SipMessage, type SipRequest } from '../../src/sip/wire/message.ts';
import { responseForParseError, SipParseError } from '../../src/sip/wire/parseError.ts';
import { parseMessage } from '../../src/sip/wire/parser.ts';
import { parseUri } from '../../src/sip/wire/uri.ts';
import { fitsWhenForwarded, toTagFits } from '../../src/sip/edge/ForwardRoom.ts';
import { StreamFramer } from '../../src/sip/transport/StreamFramer.ts';
import { mutatedSeeds } from '../lib/mutate.ts';
import { Finding, onlyTypedErrors, same, type FuzzTarget } from '../lib/target.ts';

const isSipError = (error: unknown): boolean => error instanceof SipError;

/** The typed view a proxy takes of a message, as plain text (comparable across round trips). */
function typedView(m: SipMessage): Record<string, unknown> {
  const contact = m.contact;
  return {
    start: m.kind === 'request' ? [m.method, m.uri.toString()] : [m.status, m.reason],
    vias: m.vias.map(String),
    routes: m.routes.map(String),
    recordRoutes: m.recordRoutes.map(String),
    from: String(m.from),
    fromTag: m.from?.tag,
    to: String(m.to),
    toTag: m.to?.tag,
    callId: m.callId,
    cseq: m.cseq ? formatCSeq(m.cseq) : undefined,
    maxForwards: m.maxForwards,
    contact: contact === undefined ? null : contact.star ? '*' : contact.contacts.map(String),
    contentLength: m.contentLength,
    contentType: m.contentType,
    body: m.body.toString('latin1'),
  };
}

/** A value the model writes back (Via after stamping, To with a tag, a URI) reads back the same. */
function reparses(m: SipMessage): void {
  for (const via of m.vias) {
    const again = onlyTypedErrors('re-parsing a Via', () => parseViaList(via.toString()), () => false)!;
    same('Via text', again.map(String), [via.toString()]);
  }
  for (const [header, value] of [['From', m.from], ['To', m.to], ...m.routes.map((r) => ['Route', r] as const)] as const) {
    if (value === undefined) continue;
    const again = onlyTypedErrors(`re-parsing ${header}`, () => parseNameAddr(value.toString(), header), () => false)!;
    same(`${header} text`, again.toString(), value.toString());
  }
  if (m.kind === 'request') {
    const again = onlyTypedErrors('re-parsing the Request-URI', () => parseUri(m.uri.toString()), () => false)!;
    same('Request-URI text', again.toString(), m.uri.toString());
  }
}

function mustParse(what: string, data: Buffer): SipMessage {
  try {
    return parseMessage(data);
  } catch (error) {
    const detail = error instanceof Error ? error.message : String(error);
    throw new Finding(`${what} does not parse: ${detail}\n--- bytes ---\n${data.toString('latin1').slice(0, 2000)}`, { cause: error });
  }
}

function exerciseParsed(m: SipMessage, receivedBytes: number): void {
  // Validation ran the readers of these: from here on nothing may throw, not even a SipError.
  const view = onlyTypedErrors('a typed accessor of a validated message', () => typedView(m), () => false)!;
  onlyTypedErrors('responseDestination', () => m.topVia && responseDestination(m.topVia), () => false);
  reparses(m);

  same('message (byte-exact serialise)', typedView(mustParse('serialize()', m.serialize())), view);
  const rebuilt = m.clone();
  rebuilt.set('X-Fuzz', '1').remove('X-Fuzz');
  same('message (rebuilt from fields)', typedView(mustParse('serialize() rebuilt from fields', rebuilt.serialize())), view);

  if (m.kind === 'request') exerciseRequest(m, receivedBytes);
  else if (m.vias.length > 1) {
    // §16.7 step 3: the proxy removes its Via and forwards the rest.
    const forwarded = m.clone();
    forwarded.popVia();
    mustParse('a response with its top Via popped', forwarded.serialize());
  }
}

function exerciseRequest(request: SipRequest, receivedBytes: number): void {
  const forwarded = request.clone();
  const top = forwarded.topVia!.clone();
  if (fitsWhenForwarded(request, receivedBytes)) {
    if (stampReceived(top, { address: '2001:db8:ffff:ffff:ffff:ffff:ffff:77', port: 65099 })) forwarded.setTopVia(top);
    if (forwarded.routes.length > 0) forwarded.popRoute();
    forwarded.decrementMaxForwards();
    forwarded.pushVia(new Via({ transport: 'UDP', host: '198.51.100.1', port: 5060, params: [['branch', 'z9hG4bKfuzz'], ['rport', null]] }));
    forwarded.prepend('Record-Route', '<sip:198.51.100.1;lr>');
    const again = mustParse('a forwarded request', forwarded.serialize());
    same('stamped Via after forwarding', again.vias[1]?.toString(), top.toString());
  } else {
    // Too large to forward: the proxy answers 513 instead, unstamped (ForwardRoom.ts), and no other answer.
    if (request.method !== 'ACK') {
      mustParse('a 513 to a request too large to forward', createResponse(request, 513, { toTag: toTagFits(request) ? 'fuzztag' : undefined }).serialize());
    }
    return;
  }
  if (request.method !== 'ACK') {
    for (const status of [100, 180, 200, 400, 487]) {
      const response = createResponse(request, status, { toTag: 'fuzztag' });
      const parsed = mustParse(`a ${status} response built from the request`, response.serialize());
      same(`Call-ID of a ${status}`, parsed.callId, request.callId);
      if (status > 100 && request.to?.tag === undefined) same(`To tag of a ${status}`, parsed.to?.tag, 'fuzztag');
    }
  }
}

function exerciseFailure(error: SipParseError): void {
  const partial = error.partial;
  if (partial) {
    // The accessors of a partial message may throw for the header at fault, but only SipErrors.
    onlyTypedErrors('a typed accessor of a partial message', () => typedView(partial), isSipError);
    for (const read of [() => partial.vias, () => partial.from, () => partial.to, () => partial.cseq, () => partial.callId] as (() => unknown)[]) {
      onlyTypedErrors('a typed accessor of a partial message', read, isSipError);
    }
  }
  const response = onlyTypedErrors('responseForParseError', () => responseForParseError(error, { toTag: 'fuzztag' }), isSipError);
  if (response) onlyTypedErrors('serialising an error response', () => response.serialize(), () => false);
}

function checkFramer(data: Buffer): void {
  const cut = data.length === 0 ? 0 : data[0]! % (data.length + 1);
  const frame = (chunks: Buffer[]): { out: string[]; failed: boolean } => {
    const framer = new StreamFramer();
    const out: string[] = [];
    try {
      for (const chunk of chunks) for (const o of framer.push(chunk)) out.push(o.kind === 'ping' ? 'ping' : o.data.toString('latin1'));
    } catch (error) {
      if (!isSipError(error)) throw new Finding(`StreamFramer threw an untyped error: ${String(error)}`, { cause: error });
      return { out, failed: true };
    }
    return { out, failed: false };
  };
  const whole = frame([data]);
  const split = frame([data.subarray(0, cut), data.subarray(cut)]);
  // A push that throws loses what it framed before the error (the connection closes anyway), so
  // with an error only a prefix of the two-chunk output can be compared.
  same('framing error (one chunk vs two)', split.failed, whole.failed);
  same('framed messages (one chunk vs two)', whole.failed ? split.out.slice(0, whole.out.length) : split.out, whole.out);
  for (const message of whole.out) {
    if (message === 'ping') continue;
    onlyTypedErrors('parseMessage (stream framing)', () => parseMessage(Buffer.from(message, 'latin1'), { framing: 'stream' }), isSipError);
  }
}

function check(data: Buffer): void {
  let message: SipMessage | undefined;
  try {
    message = parseMessage(data);
  } catch (error) {
    if (!(error instanceof SipParseError)) {
      const detail = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
      throw new Finding(`parseMessage threw something other than SipParseError: ${detail}`, { cause: error });
    }
    exerciseFailure(error);
  }
  if (message) exerciseParsed(message, data.length);
  checkFramer(data);
}

const DICTIONARY = [
  '\r\n', '\n', '\r\n ', '\r\n\t', '\r\n\r\n', ' ', '\t', ':', ';', ',', '=', '"', '\\"', '\\', '<', '>', '@', '[', ']', '%', '%00', '%2', '%41',
  'sip:', 'sips:', 'tel:', 'SIP/2.0', 'SIP/2.1', 'Via: ', 'v: ', 'Route: ', 'Record-Route: ', 'Contact: ', 'm: ', 'Contact: *',
  'Max-Forwards: ', 'CSeq: ', 'Call-ID: ', 'i: ', 'From: ', 'f: ', 'To: ', 't: ', 'Content-Length: ', 'l: ', 'Content-Type: ',
  ';branch=', ';branch=z9hG4bK', ';rport', ';rport=', ';received=', ';maddr=', ';lr', ';tag=', ';transport=tcp', ';ttl=',
  'SIP/2.0/UDP ', 'SIP/2.0/TCP ', 'SIP/2.0/TLS ', '[::1]', '[2001:db8::1]:5060', '[::ffff:192.0.2.1]', '192.0.2.1:5060', ':65535', ':65536', ':0',
  '4294967296', '-1', '00000000000000000001', '999999999999999999999', '1e3', 'INVITE', 'ACK', 'BYE', 'CANCEL', 'OPTIONS',
  '\u00e9', '\u{1F600}', '\u0000', '\xff', 'q=0.5', 'expires=', '?', '&', 'user=phone', ';;', ',,',
];

/** Messages built from the grammar: valid-looking headers with hostile parts. */
const host = fc.oneof(
  fc.ipV4(),
  fc.ipV6().map((a) => `[${a}]`),
  fc.domain(),
  fc.constantFrom('[::1', 'a..b', '-x', '999.1.1.1', '[v1.fe]', ''),
);
const port = fc.option(fc.oneof(fc.integer({ min: 0, max: 70000 }).map(String), fc.constantFrom('', '01', '65536', 'x')), { nil: undefined });
const param = fc.tuple(fc.constantFrom('branch', 'rport', 'received', 'maddr', 'tag', 'lr', 'transport', 'ttl', 'x', 'q'), fc.option(fc.string({ maxLength: 12 })));
const params = fc.array(param, { maxLength: 4 }).map((ps) => ps.map(([k, v]) => (v === null ? `;${k}` : `;${k}=${v}`)).join(''));
const sipUri = fc
  .tuple(fc.constantFrom('sip', 'sips', 'SIP', 'tel', 'urn'), fc.option(fc.string({ maxLength: 10 })), host, port, params)
  .map(([scheme, user, h, p, ps]) => `${scheme}:${user === null ? '' : `${user}@`}${h}${p === undefined ? '' : `:${p}`}${ps}`);
const nameAddr = fc
  .tuple(fc.option(fc.oneof(fc.string({ maxLength: 12 }), fc.string({ maxLength: 12 }).map((s) => `"${s}"`))), sipUri, params, fc.boolean())
  .map(([name, uri, ps, angle]) => (angle || name !== null ? `${name ?? ''}<${uri}>${ps}` : `${uri}${ps}`));
const via = fc
  .tuple(fc.constantFrom('SIP/2.0/UDP', 'SIP/2.0/TCP', 'SIP / 2.0 / TLS', 'SIP/2.0/WS', 'SIP/3.0/UDP', 'X'), host, port, params)
  .map(([proto, h, p, ps]) => `${proto} ${h}${p === undefined ? '' : `:${p}`}${ps}`);
const method = fc.constantFrom('INVITE', 'ACK', 'BYE', 'CANCEL', 'OPTIONS', 'REGISTER', 'NOTIFY', 'INVITE!', 'inv ite');
const generated = fc
  .tuple(
    fc.oneof(
      fc.tuple(method, sipUri).map(([m, u]) => ({ start: `${m} ${u} SIP/2.0`, method: m })),
      fc.integer({ min: 0, max: 1000 }).map((s) => ({ start: `SIP/2.0 ${s} Reason`, method: 'INVITE' })),
    ),
    fc.array(via, { minLength: 0, maxLength: 3 }),
    fc.array(nameAddr, { maxLength: 2 }),
    nameAddr,
    nameAddr,
    fc.string({ maxLength: 20 }),
    fc.oneof(fc.nat({ max: 2 ** 32 }).map(String), fc.string({ maxLength: 8 })),
    fc.option(nameAddr),
    fc.option(fc.oneof(fc.nat({ max: 300 }).map(String), fc.string({ maxLength: 4 }))),
    fc.string({ maxLength: 200 }),
    fc.option(fc.integer({ min: -5, max: 300 })),
  )
  .map(([start, vias, routes, from, to, callId, cseq, contact, mf, body, cl]) => {
    const lines = [start.start, ...vias.map((v) => `Via: ${v}`), ...routes.map((r) => `Route: ${r}`)];
    lines.push(`From: ${from}`, `To: ${to}`, `Call-ID: ${callId}`, `CSeq: ${cseq} ${start.method}`);
    if (contact !== null) lines.push(`Contact: ${contact}`);
    if (mf !== null) lines.push(`Max-Forwards: ${mf}`);
    lines.push(`Content-Length: ${cl ?? Buffer.byteLength(body)}`);
    return Buffer.from(`${lines.join('\r\n')}\r\n\r\n${body}`, 'utf8');
  });

export const target: FuzzTarget = {
  name: 'sip-message',
  inputs: (seeds) =>
    fc.oneof({ arbitrary: mutatedSeeds(seeds, DICTIONARY), weight: 3 }, { arbitrary: generated, weight: 1 }),
  check,
};
