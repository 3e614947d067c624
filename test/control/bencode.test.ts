import * as assert from 'uvu/assert';
import { suite } from '../support/suite.ts';
import {
  BencodeError,
  DEFAULT_BENCODE_LIMITS,
  decode,
  decodeJson,
  decodePrefix,
  encode,
  type BencodeValue,
} from '../../src/control/bencode.ts';

const test = suite('control/bencode');

const b = (s: string): Buffer => Buffer.from(s, 'latin1');

function expectError(fn: () => unknown, code: string): void {
  try {
    fn();
  } catch (err) {
    assert.instance(err, BencodeError);
    assert.is((err as BencodeError).code, code, (err as Error).message);
    return;
  }
  assert.unreachable(`expected ${code}`);
}

/** Plain JS form of a decoded value (Buffers as latin1 strings) for deep comparisons. */
function plain(v: BencodeValue): unknown {
  if (Buffer.isBuffer(v)) return v.toString('latin1');
  if (Array.isArray(v)) return v.map(plain);
  if (typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)]));
  return v;
}

test('decodes the rtpengine ping and offer examples', () => {
  assert.equal(plain(decode(b('d7:command4:pinge'))), { command: 'ping' });
  const offer = decode(b('d7:command5:offer7:call-id3:abc8:from-tag2:ft3:sdp5:v=0\r\n5:flagsl13:trust addressee'));
  assert.equal(plain(offer), { command: 'offer', 'call-id': 'abc', 'from-tag': 'ft', sdp: 'v=0\r\n', flags: ['trust address'] });
});

test('keys need not be sorted; insertion order is kept', () => {
  const v = decode(b('d1:zi1e1:ai2ee')) as Record<string, BencodeValue>;
  assert.equal(Object.keys(v), ['z', 'a']);
});

test('round trips integers, strings, binary bytes, lists and dictionaries', () => {
  const bin = Buffer.from([0, 255, 32, 101, 100]);
  const value = {
    int: 0,
    neg: -42,
    big: Number.MAX_SAFE_INTEGER,
    text: 'héllo wörld',
    bin,
    empty: '',
    list: [1, 'a', [2, [3]], {}],
    dict: { inner: { deeper: ['x'] } },
  };
  const wire = encode(value);
  const back = decode(wire) as Record<string, BencodeValue>;
  assert.is(back['int'], 0);
  assert.is(back['neg'], -42);
  assert.is(back['big'], Number.MAX_SAFE_INTEGER);
  assert.is((back['text'] as Buffer).toString('utf8'), 'héllo wörld');
  assert.ok((back['bin'] as Buffer).equals(bin));
  assert.is((back['empty'] as Buffer).length, 0);
  assert.equal(plain(back['list']!), [1, 'a', [2, [3]], {}]);
  assert.equal(plain(back['dict']!), { inner: { deeper: ['x'] } });
  // Re-encoding the decoded value gives the same bytes.
  assert.ok(encode(back).equals(wire));
});

test('encoder skips undefined dictionary values and writes UTF-8 byte lengths', () => {
  assert.is(encode({ a: undefined, b: 'é' }).toString('utf8'), 'd1:b2:ée');
});

test('strings decode as views of the input (no copy)', () => {
  const input = b('4:spam');
  const s = decode(input) as Buffer;
  assert.is(s.buffer, input.buffer);
});

test('truncated input is reported as truncated, at every cut point', () => {
  const wire = encode({ command: 'offer', sdp: 'v=0\r\n', flags: ['a', 'b'], n: 12345 });
  for (let cut = 0; cut < wire.length; cut++) {
    expectError(() => decode(wire.subarray(0, cut)), 'ERR_PINLATCH_BENCODE_TRUNCATED');
  }
});

test('bad integers: leading zero, negative zero, empty, junk, out of range', () => {
  expectError(() => decode(b('i01e')), 'ERR_PINLATCH_BENCODE_INTEGER');
  expectError(() => decode(b('i-0e')), 'ERR_PINLATCH_BENCODE_INTEGER');
  expectError(() => decode(b('i-01e')), 'ERR_PINLATCH_BENCODE_INTEGER');
  expectError(() => decode(b('ie')), 'ERR_PINLATCH_BENCODE_INTEGER');
  expectError(() => decode(b('i-e')), 'ERR_PINLATCH_BENCODE_INTEGER');
  expectError(() => decode(b('i1x2e')), 'ERR_PINLATCH_BENCODE_INTEGER');
  expectError(() => decode(b('i+1e')), 'ERR_PINLATCH_BENCODE_INTEGER');
  expectError(() => decode(b('i99999999999999999999e')), 'ERR_PINLATCH_BENCODE_INTEGER');
  assert.is(decode(b('i-9007199254740991e')), -Number.MAX_SAFE_INTEGER);
});

test('bad strings: leading zero length, non-digit length, negative length', () => {
  expectError(() => decode(b('01:a')), 'ERR_PINLATCH_BENCODE_SYNTAX');
  expectError(() => decode(b('1a:a')), 'ERR_PINLATCH_BENCODE_SYNTAX');
  expectError(() => decode(b('-1:a')), 'ERR_PINLATCH_BENCODE_SYNTAX');
  assert.is((decode(b('0:')) as Buffer).length, 0);
});

test('trailing garbage is rejected; decodePrefix reports where a value ends', () => {
  expectError(() => decode(b('d1:ai1eeX')), 'ERR_PINLATCH_BENCODE_TRAILING');
  expectError(() => decode(b('i1ei2e')), 'ERR_PINLATCH_BENCODE_TRAILING');
  const r = decodePrefix(b('d1:ai1eed1:bi2ee'));
  assert.is(r.end, 8);
  assert.is(decodePrefix(b('d1:ai1eed1:bi2ee'), DEFAULT_BENCODE_LIMITS, r.end).end, 16);
});

test('structural errors: stray e, non-string key, key without value, unknown type byte, duplicate key', () => {
  expectError(() => decode(b('e')), 'ERR_PINLATCH_BENCODE_SYNTAX');
  expectError(() => decode(b('di1ei2ee')), 'ERR_PINLATCH_BENCODE_SYNTAX');
  expectError(() => decode(b('d1:ae')), 'ERR_PINLATCH_BENCODE_SYNTAX');
  expectError(() => decode(b('x')), 'ERR_PINLATCH_BENCODE_SYNTAX');
  expectError(() => decode(b('d1:ai1e1:ai2ee')), 'ERR_PINLATCH_BENCODE_DUPLICATE_KEY');
});

test('__proto__ is an ordinary key', () => {
  const v = decode(b('d9:__proto__d1:xi1eee')) as Record<string, BencodeValue>;
  assert.ok(Object.prototype.hasOwnProperty.call(v, '__proto__'));
  assert.is(({} as Record<string, unknown>)['x'], undefined);
});

test('deep nesting is capped without recursion (100k levels)', () => {
  const deep = b('l'.repeat(100_000) + 'e'.repeat(100_000));
  expectError(() => decode(deep, { ...DEFAULT_BENCODE_LIMITS, maxBytes: 1_000_000 }), 'ERR_PINLATCH_BENCODE_TOO_DEEP');
  const ok = b('l'.repeat(16) + 'e'.repeat(16));
  assert.ok(Array.isArray(decode(ok)));
  expectError(() => decode(b('l'.repeat(17) + 'e'.repeat(17))), 'ERR_PINLATCH_BENCODE_TOO_DEEP');
});

test('size limits: message, string length (checked before reading), item count', () => {
  expectError(() => decode(Buffer.alloc(70_000, 0x69)), 'ERR_PINLATCH_BENCODE_TOO_LARGE');
  expectError(() => decode(b('99999999999999999999:x')), 'ERR_PINLATCH_BENCODE_STRING_TOO_LONG');
  expectError(() => decode(b('10:abc'), { ...DEFAULT_BENCODE_LIMITS, maxStringBytes: 5 }), 'ERR_PINLATCH_BENCODE_STRING_TOO_LONG');
  const many = b('l' + 'i1e'.repeat(5000) + 'e');
  expectError(() => decode(many), 'ERR_PINLATCH_BENCODE_TOO_MANY_ITEMS');
  // decodePrefix with bytes after the window: a value not ending inside it is too large.
  const big = Buffer.concat([b('l'), Buffer.from('i1e'.repeat(30)), b('e')]);
  expectError(() => decodePrefix(big, { ...DEFAULT_BENCODE_LIMITS, maxBytes: 20 }), 'ERR_PINLATCH_BENCODE_TOO_LARGE');
});

test('random bytes never throw anything but BencodeError', () => {
  let seed = 12345;
  const rnd = (): number => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed;
  };
  const alphabet = b('dlie0123456789:-x');
  for (let i = 0; i < 5000; i++) {
    const len = rnd() % 40;
    const buf = Buffer.alloc(len);
    for (let j = 0; j < len; j++) buf[j] = alphabet[rnd() % alphabet.length]!;
    try {
      decode(buf);
    } catch (err) {
      assert.instance(err, BencodeError);
    }
  }
});

test('JSON dictionaries decode to the same model, with the same limits', () => {
  const v = decodeJson(b('{"command":"offer","flags":["trust address"],"n":5,"d":{"x":[1]}}'));
  assert.equal(plain(v), { command: 'offer', flags: ['trust address'], n: 5, d: { x: [1] } });
  expectError(() => decodeJson(b('[1]')), 'ERR_PINLATCH_BENCODE_TYPE');
  expectError(() => decodeJson(b('{"a":null}')), 'ERR_PINLATCH_BENCODE_TYPE');
  expectError(() => decodeJson(b('{"a":true}')), 'ERR_PINLATCH_BENCODE_TYPE');
  expectError(() => decodeJson(b('{"a":1.5}')), 'ERR_PINLATCH_BENCODE_INTEGER');
  expectError(() => decodeJson(b('{"a":')), 'ERR_PINLATCH_BENCODE_JSON');
  const deep = b('{"a":' + '['.repeat(50_000) + ']'.repeat(50_000) + '}');
  expectError(() => decodeJson(deep, { ...DEFAULT_BENCODE_LIMITS, maxBytes: 1_000_000 }), 'ERR_PINLATCH_BENCODE_TOO_DEEP');
});

test.run();
