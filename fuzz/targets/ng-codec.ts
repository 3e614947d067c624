/**
 * The NG control protocol's codec and request parsing (src/control/bencode.ts, NgRequest.ts): what
 * any datagram to the NG port reaches, before a call is touched.
 *
 * The datagram is split as NgServer splits it (cookie, space, dictionary; `{` means JSON). Allowed
 * outcomes: decode / decodeJson give a value or throw BencodeError; parseNgRequest gives a request
 * or throws NgError. A decoded bencode value encodes and decodes back to the same value, and
 * decodePrefix finds the same end whether or not more bytes follow (how NG over TCP is framed).
 */
import fc from 'fast-check';
import { isDeepStrictEqual } from 'node:util';
import { BencodeError, decode, decodeJson, decodePrefix, encode, toJsonValue, type BencodeDict, type BencodeValue } from '../../src/control/bencode.ts';
import { NgError } from '../../src/control/errors.ts';
import { parseNgRequest } from '../../src/control/NgRequest.ts';
import { mutatedSeeds } from '../lib/mutate.ts';
import { Finding, onlyTypedErrors, type FuzzTarget } from '../lib/target.ts';

const isBencodeError = (error: unknown): boolean => error instanceof BencodeError;

function checkBencode(body: Buffer): BencodeValue | undefined {
  const value = onlyTypedErrors('decode', () => decode(body), isBencodeError);
  if (value === undefined) return undefined;
  const encoded = onlyTypedErrors('encode of a decoded value', () => encode(value), () => false)!;
  const again = onlyTypedErrors('decode of an encoded value', () => decode(encoded), () => false);
  if (!isDeepStrictEqual(again, value)) throw new Finding(`bencode round trip changed the value: ${body.toString('latin1').slice(0, 200)}`);
  const framed = onlyTypedErrors('decodePrefix with bytes after the value', () => decodePrefix(Buffer.concat([body, Buffer.from('d1:ai1ee')])), () => false)!;
  if (framed.end !== body.length) throw new Finding(`decodePrefix ends at ${framed.end}, the value is ${body.length} bytes`);
  onlyTypedErrors('toJsonValue', () => JSON.stringify(toJsonValue(value)), () => false);
  return value;
}

function check(datagram: Buffer): void {
  const space = datagram.indexOf(0x20);
  const body = space <= 0 ? datagram : datagram.subarray(space + 1);
  const json = body[0] === 0x7b;
  const value = json ? onlyTypedErrors('decodeJson', () => decodeJson(body), isBencodeError) : checkBencode(body);
  // Any prefix of a bencode value is either truncated or (for a complete shorter value) fine.
  if (!json && body.length > 1) onlyTypedErrors('decodePrefix of a cut value', () => decodePrefix(body.subarray(0, body.length >> 1)), isBencodeError);
  if (value === undefined || typeof value !== 'object' || Buffer.isBuffer(value) || Array.isArray(value)) return;
  onlyTypedErrors('parseNgRequest', () => parseNgRequest(value as BencodeDict), (e) => e instanceof NgError);
}

const DICTIONARY = [
  'd', 'l', 'e', 'i', 'i0e', 'i-1e', 'i-0e', 'i01e', 'i9007199254740993e', 'i99999999999999999999e', '0:', '1:', '01:', '99999:', ':',
  '7:command', '5:offer', '6:answer', '6:delete', '4:ping', '5:query', '4:list', '10:statistics', '7:call-id', '8:from-tag', '6:to-tag',
  '3:sdp', '5:flags', '7:replace', '8:rtcp-mux', '3:ICE', '13:received from', '13:media address', '10:rtpp_flags', '9:direction', '12:delete delay',
  '5:limit', '6:origin', '5:demux', '6:remove', '3:IP4', '3:IP6', '9:192.0.2.1', '11:2001:db8::1', '9:__proto__', '11:constructor',
  '{', '}', '[', ']', '"', '":"', ',', 'null', 'true', '1e400', '-0', '"\\u0000"', '"__proto__"', ' ',
];

const bencodeText: fc.Arbitrary<string> = fc.letrec<{ value: string }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.integer().map((n) => `i${n}e`),
    fc.constantFrom('offer', 'answer', 'delete', 'ping', 'call-id', 'IP4', '192.0.2.1', 'trust-address', 'ICE=remove', '').map((s) => `${Buffer.byteLength(s)}:${s}`),
    fc.string().map((s) => `${Buffer.byteLength(s)}:${s}`),
    fc.array(tie('value'), { maxLength: 4 }).map((items) => `l${items.join('')}e`),
    fc
      .array(fc.tuple(fc.constantFrom('command', 'call-id', 'from-tag', 'to-tag', 'sdp', 'flags', 'replace', 'rtcp-mux', 'ICE', 'received from', 'media-address', 'rtpp_flags', 'direction', 'delete delay', 'limit', 'x'), tie('value')), { maxLength: 6 })
      .map((pairs) => `d${pairs.map(([k, v]) => `${Buffer.byteLength(k)}:${k}${v}`).join('')}e`),
  ),
})).value;
const generated = fc.tuple(fc.string({ minLength: 1, maxLength: 8 }).filter((s) => !s.includes(' ')), bencodeText).map(([cookie, body]) => Buffer.from(`${cookie} ${body}`, 'utf8'));

export const target: FuzzTarget = {
  name: 'ng-codec',
  inputs: (seeds) => fc.oneof({ arbitrary: mutatedSeeds(seeds, DICTIONARY), weight: 3 }, { arbitrary: generated, weight: 1 }),
  check,
};
