/**
 * SDP anchoring (src/sdp): the body of any INVITE or NG offer reaches it.
 *
 * Allowed outcomes: parseSdp gives a description or throws SdpError; describing a parsed body
 * never throws; checkMediaFamily throws only MediaFamilyError; anchoring throws only SdpError.
 * An anchored SDP is what pinlatch sends on, so it must itself be valid: it parses again, has the
 * same m-lines, every active stream carries the planned relay port and the relay address (where
 * it has a connection line), rejected streams stay at port 0, and ICE is gone unless kept. The
 * plan (address family, ICE, origin, session name, version state) is chosen from the input's
 * last byte so that every plan meets every body.
 */
import fc from 'fast-check';
import { anchorParsed, checkMediaFamily, describeParsed, describeSdp, MediaFamilyError, parseSdp, SdpError, SdpVersionState, type AnchorPlan } from '../../src/sdp/index.ts';
import { mutatedSeeds } from '../lib/mutate.ts';
import { Finding, onlyTypedErrors, same, type FuzzTarget } from '../lib/target.ts';

const isSdpError = (error: unknown): boolean => error instanceof SdpError;

function planFor(input: Buffer, mLines: number): AnchorPlan {
  const bits = input.length === 0 ? 0 : input[input.length - 1]!;
  return {
    address: bits & 1 ? '2001:db8::a' : '203.0.113.10',
    role: bits & 2 ? 'answer' : 'offer',
    ice: bits & 4 ? 'keep' : 'remove',
    replaceOrigin: (bits & 8) !== 0,
    sessionName: bits & 16 ? (bits & 32 ? '' : 'pinlatch') : undefined,
    version: bits & 64 ? new SdpVersionState() : undefined,
    forceIncrement: (bits & 128) !== 0,
    streams: Array.from({ length: mLines }, (_, i) =>
      (bits >> (i % 8)) & 1 && i % 3 === 2 ? ('rejected' as const) : { rtpPort: 40000 + 4 * i, rtcpPort: i % 2 === 0 ? undefined : 40000 + 4 * i + 3 },
    ),
  };
}

function checkText(text: string, input: Buffer): void {
  const session = onlyTypedErrors('parseSdp', () => parseSdp(text), isSdpError);
  if (session === undefined) return;
  const info = onlyTypedErrors('describeParsed of a parsed body', () => describeParsed(session), () => false)!;
  for (const family of [4, 6] as const) onlyTypedErrors('checkMediaFamily', () => checkMediaFamily(info, family), (e) => e instanceof MediaFamilyError);

  const plan = planFor(input, info.media.length);
  const anchored = onlyTypedErrors('anchorParsed', () => anchorParsed(session, plan), isSdpError);
  if (anchored === undefined) return;
  let out;
  try {
    out = describeSdp(anchored);
  } catch (error) {
    throw new Finding(`anchored SDP does not parse again: ${String(error)}\n--- in ---\n${text.slice(0, 1500)}\n--- out ---\n${anchored.slice(0, 1500)}`, { cause: error });
  }
  same('number of m-lines after anchoring', out.media.length, info.media.length);
  const family = plan.address.includes(':') ? 6 : 4;
  out.media.forEach((m, i) => {
    const stream = plan.streams[i]!;
    const wasRejected = info.media[i]!.rejected || stream === 'rejected';
    same(`m-line ${i} port`, m.port, wasRejected ? 0 : (stream as { rtpPort: number }).rtpPort);
    if (!wasRejected && m.address !== null) {
      same(`m-line ${i} address`, [m.address, m.ipVersion], [plan.address, family]);
    }
    if (plan.ice === 'remove' && m.ice) throw new Finding(`m-line ${i} still has ICE attributes after anchoring with ice: remove`);
  });
}

function check(input: Buffer): void {
  // The proxy reads a SIP body as latin1, the NG controller an sdp string as UTF-8.
  checkText(input.toString('latin1'), input);
  checkText(input.toString('utf8'), input);
}

const DICTIONARY = [
  '\r\n', '\n', '\r', ' ', 'v=0', 'o=- 1 1 IN IP4 192.0.2.1', 'o=', 's=', 'c=IN IP4 ', 'c=IN IP6 ', 'c=IN IP4 0.0.0.0', 'c=IN IP6 ::', 't=0 0',
  'm=audio ', 'm=video 0 RTP/AVP 0', 'm=image 9 udptl t38', 'm=audio 1/2 RTP/AVP 0', ' RTP/AVP ', ' UDP/TLS/RTP/SAVPF ', '65535', '65536', '99999', '0',
  'a=rtcp:', 'a=rtcp:9 IN IP4 0.0.0.0', 'a=rtcp-mux', 'a=rtcp-mux-only', 'a=sendonly', 'a=recvonly', 'a=inactive', 'a=sendrecv',
  'a=candidate:1 1 UDP 2130706431 192.0.2.1 9 typ host', 'a=ice-ufrag:x', 'a=ice-pwd:y', 'a=ice-lite', 'a=ice-options:trickle', 'a=end-of-candidates',
  'a=rtpmap:0 PCMU/8000', 'a=fmtp:101 0-16', 'a=group:BUNDLE 0 1', 'a=mid:0', 'a=ssrc:1 cname:x', 'a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:x',
  '18446744073709551616', '9007199254740993', '-1', '::ffff:192.0.2.1', '2001:db8::1', 'example.com', '\u00e9', '\u0000', '%',
];

const ip = fc.oneof(fc.ipV4(), fc.ipV6(), fc.constantFrom('0.0.0.0', '::', 'host.example', '256.1.1.1', ''));
const mLine = fc
  .tuple(fc.constantFrom('audio', 'video', 'image', 'text', 'application'), fc.oneof({ arbitrary: fc.integer({ min: 0, max: 70000 }).map(String), weight: 9 }, { arbitrary: fc.constant('9/2'), weight: 1 }),
    fc.constantFrom('RTP/AVP', 'RTP/SAVP', 'UDP/TLS/RTP/SAVPF', 'udptl', 'TCP/RTP/AVP'), fc.array(fc.nat({ max: 127 }), { minLength: 1, maxLength: 4 }),
    fc.option(fc.tuple(fc.constantFrom('IP4', 'IP6'), ip)), fc.array(fc.constantFrom('a=rtcp-mux', 'a=sendonly', 'a=inactive', 'a=rtcp:50001', 'a=rtcp:9 IN IP4 0.0.0.0', 'a=ice-ufrag:u', 'a=candidate:1 1 UDP 1 192.0.2.1 9 typ host', 'a=rtpmap:0 PCMU/8000'), { maxLength: 4 }))
  .map(([type, port, proto, fmts, c, attrs]) => [`m=${type} ${port} ${proto} ${fmts.join(' ')}`, ...(c ? [`c=IN ${c[0]} ${c[1]}`] : []), ...attrs]);
const generated = fc
  .tuple(fc.bigInt({ min: 0n, max: 2n ** 70n }), fc.constantFrom('IP4', 'IP6'), ip, fc.option(fc.tuple(fc.constantFrom('IP4', 'IP6'), ip)), fc.array(mLine, { maxLength: 5 }), fc.constantFrom('\r\n', '\n'))
  .map(([version, ov, oa, c, ms, eol]) => {
    const lines = ['v=0', `o=- 1 ${version} IN ${ov} ${oa}`, 's=-', ...(c ? [`c=IN ${c[0]} ${c[1]}`] : []), 't=0 0', ...ms.flat()];
    return Buffer.from(`${lines.join(eol)}${eol}`, 'utf8');
  });

export const target: FuzzTarget = {
  name: 'sdp-anchor',
  inputs: (seeds) => fc.oneof({ arbitrary: mutatedSeeds(seeds, DICTIONARY), weight: 3 }, { arbitrary: generated, weight: 1 }),
  check,
};
