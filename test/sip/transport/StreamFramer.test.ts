/** TCP stream framing: partial messages, several per chunk, keep-alives, garbage, bounds. */
import * as assert from 'uvu/assert';
import { SipFramingError } from '../../../src/sip/wire/errors.ts';
import { StreamFramer, type FramerOutput } from '../../../src/sip/transport/StreamFramer.ts';
import { suite } from '../../support/suite.ts';

const msg = (body: string, cseq = 1): Buffer =>
  Buffer.from(
    `MESSAGE sip:b@example.com SIP/2.0\r\nVia: SIP/2.0/TCP 192.0.2.1;branch=z9hG4bK-${cseq}\r\nCSeq: ${cseq} MESSAGE\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
const messages = (out: FramerOutput[]): string[] => out.filter((o) => o.kind === 'message').map((o) => (o as { data: Buffer }).data.toString());

const test = suite('StreamFramer');

test('one message split at every byte boundary', () => {
  const data = msg('hello\r\n\r\nworld');
  for (let cut = 1; cut < data.length; cut++) {
    const framer = new StreamFramer();
    const out = [...framer.push(data.subarray(0, cut)), ...framer.push(data.subarray(cut))];
    assert.equal(messages(out), [data.toString()], `cut at ${cut}`);
    assert.is(framer.buffered, 0);
  }
});

test('several messages and keep-alives in one chunk', () => {
  const a = msg('first', 1);
  const b = msg('', 2);
  const framer = new StreamFramer();
  const out = framer.push(Buffer.concat([Buffer.from('\r\n\r\n'), a, Buffer.from('\r\n'), b, Buffer.from('\r\n\r\n')]));
  assert.equal(out.map((o) => o.kind), ['ping', 'message', 'message', 'ping']);
  assert.equal(messages(out), [a.toString(), b.toString()]);
});

test('a ping split across chunks is still one ping', () => {
  const framer = new StreamFramer();
  assert.equal(framer.push(Buffer.from('\r\n\r')), []);
  assert.equal(framer.push(Buffer.from('\n')), [{ kind: 'ping' }]);
  assert.equal(framer.push(Buffer.from('\r\n')), []);
  assert.equal(messages(framer.push(msg('x'))), [msg('x').toString()]);
});

test('framing errors: garbage, missing or bad Content-Length, oversize', () => {
  const fails = (chunks: Buffer[], limits = {}): void => {
    const framer = new StreamFramer(limits);
    assert.throws(() => chunks.forEach((c) => framer.push(c)), (e: unknown) => e instanceof SipFramingError && (e as SipFramingError).code === 'ERR_PINLATCH_SIP_FRAMING');
  };
  fails([Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n')]);
  fails([Buffer.from([0x16, 0x03, 0x01, 0x00, 0x05])]);
  fails([Buffer.from('OPTIONS sip:a@b SIP/2.0\r\nCSeq: 1 OPTIONS\r\n\r\n')]);
  fails([Buffer.from('OPTIONS sip:a@b SIP/2.0\r\nContent-Length: -999\r\n\r\n')]);
  fails([Buffer.from('OPTIONS sip:a@b SIP/2.0\r\nl: 5\r\nContent-Length: 6\r\n\r\n')]);
  fails([msg('x'.repeat(2000))], { maxMessageBytes: 1024 });
  fails([Buffer.from('OPTIONS sip:a@b SIP/2.0\r\n'), Buffer.from(`X: ${'y'.repeat(5000)}`)], { maxHeaderBytes: 4096 });
});

test('compact l: header frames the body', () => {
  const data = Buffer.from('SIP/2.0 200 OK\r\nl: 3\r\n\r\nabcOPTIONS');
  const framer = new StreamFramer();
  assert.equal(messages(framer.push(data)), ['SIP/2.0 200 OK\r\nl: 3\r\n\r\nabc']);
  assert.is(framer.buffered, 7);
});

test('a start line with a control character fails the same in one chunk or cut after its first byte', () => {
  // Found by fuzzing (fuzz/corpus/sip-message/regress-framer-control-start-line): the incomplete
  // line was checked for control characters, the complete one was not.
  const data = Buffer.from('\x01PTIONS sip:user@example.com SIP/2.0\r\nContent-Length: 0\r\n\r\n', 'latin1');
  assert.throws(() => new StreamFramer().push(data), (e: unknown) => e instanceof SipFramingError);
  const framer = new StreamFramer();
  assert.throws(
    () => {
      framer.push(data.subarray(0, 1));
      framer.push(data.subarray(1));
    },
    (e: unknown) => e instanceof SipFramingError,
  );
});

test.run();
