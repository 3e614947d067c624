import * as assert from 'uvu/assert';
import { suite } from '../support/suite.ts';
import {
  anchorSdp,
  answererLegMuxes,
  anchorParsed,
  describeParsed,
  describeSdp,
  parseSdp,
  rtcpMuxTowardAnswerer,
  rtcpMuxTowardOfferer,
  SdpError,
  SdpVersionState,
  type AnchorPlan,
  type RtcpMuxFlags,
} from '../../src/sdp/index.ts';
import * as fx from './fixtures.ts';

const RELAY = '203.0.113.10';
const plan1 = (extra: Partial<AnchorPlan> = {}): AnchorPlan => ({ address: RELAY, streams: [{ rtpPort: 30000 }], ...extra });
const plan2 = (extra: Partial<AnchorPlan> = {}): AnchorPlan => ({ address: RELAY, streams: [{ rtpPort: 30000 }, { rtpPort: 30004 }], ...extra });
const lines = (sdp: string): string[] => sdp.split('\r\n').filter(Boolean);
const originVersion = (sdp: string): string => describeSdp(sdp).origin.sessionVersion;

const t = suite('sdp: anchorSdp over real-world bodies');

const fixtures: Array<[string, string, number]> = [
  ['Asterisk offer', fx.asteriskOffer, 1],
  ['FreeSWITCH answer', fx.freeswitchAnswer, 1],
  ['Cisco CUBE answer', fx.ciscoCubeAnswer, 1],
  ['WebRTC-style offer', fx.webrtcOffer, 1],
  ['IPv6 offer', fx.ipv6Offer, 1],
  ['hold re-INVITE', fx.holdReinvite, 1],
  ['c=0.0.0.0 hold', fx.zeroAddressHold, 1],
  ['audio + video', fx.audioVideoOffer, 2],
  ['rejected video', fx.videoRejectedAnswer, 2],
  ['rtcp-mux offer', fx.rtcpMuxOffer, 1],
  ['T.38 re-INVITE', fx.t38Reinvite, 1],
];

for (const [name, sdp, count] of fixtures) {
  t(`${name}: every active stream points at the relay, nothing of the endpoint's address is left`, () => {
    const plan = count === 1 ? plan1() : plan2();
    const out = anchorSdp(sdp, plan);
    const before = describeSdp(sdp);
    const after = describeSdp(out);
    assert.is(after.media.length, before.media.length);
    after.media.forEach((m, i) => {
      const wanted = before.media[i]!.rejected ? 0 : i === 0 ? 30000 : 30004;
      assert.is(m.port, wanted, `m-line ${i} port`);
      assert.is(m.type, before.media[i]!.type);
      assert.is(m.proto, before.media[i]!.proto);
      assert.is(m.formats, before.media[i]!.formats);
      assert.is(m.address, RELAY);
      assert.is(m.ipVersion, 4);
      assert.is(m.ice, false);
      if (m.rtcpPort !== null) assert.is(m.rtcpPort, m.port + 1);
      if (m.rtcpAddress !== null) assert.is(m.rtcpAddress, RELAY);
    });
    for (const m of before.media) {
      if (m.peerAddress && m.peerAddress !== before.origin.address) assert.not.ok(out.includes(m.peerAddress), `${m.peerAddress} leaked`);
    }
    // Anchoring is idempotent: the relay's own output anchored again with the same plan is unchanged.
    assert.is(anchorSdp(out, plan), out);
  });
}

t('one parsed description serves describeParsed and anchorParsed: same results as from the text', () => {
  for (const [name, body] of fixtures) {
    const parsed = parseSdp(body);
    assert.equal(describeParsed(parsed), describeSdp(body), `${name}: describe`);
    const plan = { address: RELAY, streams: describeSdp(body).media.map((_, i) => ({ rtpPort: 30000 + 4 * i })) };
    assert.is(anchorParsed(parsed, plan), anchorSdp(body, plan), `${name}: anchor`);
  }
});

t('codecs, fmtp, ptime and unknown attributes survive the rewrite', () => {
  const out = lines(anchorSdp(fx.asteriskOffer, plan1()));
  for (const a of ['a=rtpmap:0 PCMU/8000', 'a=rtpmap:101 telephone-event/8000', 'a=fmtp:101 0-16', 'a=ptime:20', 'a=maxptime:150', 'a=sendrecv', 's=Asterisk']) {
    assert.ok(out.includes(a), a);
  }
  const web = lines(anchorSdp(fx.webrtcOffer, plan1()));
  for (const a of ['a=setup:actpass', 'a=mid:0', 'a=group:BUNDLE 0', 'a=fmtp:111 minptime=10;useinbandfec=1']) assert.ok(web.includes(a), a);
  assert.ok(web.some((l) => l.startsWith('a=fingerprint:sha-256 4A:AD')));
  const t38 = lines(anchorSdp(fx.t38Reinvite, plan1()));
  assert.ok(t38.includes('a=T38FaxUdpEC:t38UDPRedundancy') && t38.includes('m=image 30000 udptl t38'));
});

t('the Cisco answer with a private address: both c= lines rewritten, origin kept unless replaced', () => {
  const out = anchorSdp(fx.ciscoCubeAnswer, plan1({ role: 'answer' }));
  assert.equal(lines(out).filter((l) => l.startsWith('c=')), [`c=IN IP4 ${RELAY}`, `c=IN IP4 ${RELAY}`]);
  assert.ok(out.includes('o=CiscoSystemsSIP-GW-UserAgent 4063 2734 IN IP4 192.168.50.20'));
  const hidden = anchorSdp(fx.ciscoCubeAnswer, plan1({ replaceOrigin: true }));
  assert.ok(hidden.includes(`o=CiscoSystemsSIP-GW-UserAgent 4063 2734 IN IP4 ${RELAY}`));
  assert.not.ok(hidden.includes('192.168.50.20'));
});

t('IPv6 relay address: c=, a=rtcp and a replaced o= say IP6', () => {
  const out = anchorSdp(fx.freeswitchAnswer, plan1({ address: '2001:db8::1', replaceOrigin: true }));
  const l = lines(out);
  assert.ok(l.includes('c=IN IP6 2001:db8::1'));
  assert.ok(l.includes('a=rtcp:30001 IN IP6 2001:db8::1'));
  assert.ok(l.includes('o=FreeSWITCH 1700000000 1700000001 IN IP6 2001:db8::1'));
  const back = anchorSdp(fx.ipv6Offer, plan1());
  assert.ok(lines(back).includes(`c=IN IP4 ${RELAY}`));
  assert.ok(lines(back).includes('o=alice 2890844526 2890844526 IN IP6 2001:db8::10'));
});

t('session name replaced on request', () => {
  assert.ok(lines(anchorSdp(fx.asteriskOffer, plan1({ sessionName: 'pinlatch' }))).includes('s=pinlatch'));
});

t('a=rtcp gets the relay RTCP port; one is added when the RTCP port is not RTP + 1', () => {
  assert.ok(lines(anchorSdp(fx.freeswitchAnswer, plan1())).includes(`a=rtcp:30001 IN IP4 ${RELAY}`));
  assert.not.ok(anchorSdp(fx.asteriskOffer, plan1()).includes('a=rtcp:'));
  const odd = anchorSdp(fx.asteriskOffer, { address: RELAY, streams: [{ rtpPort: 30000, rtcpPort: 30011 }] });
  assert.ok(lines(odd).includes('a=rtcp:30011'));
  const video = lines(anchorSdp(fx.audioVideoOffer, plan2()));
  assert.ok(video.includes('a=rtcp:30005'), 'short form stays short');
});

t.run();

const hold = suite('sdp: hold, rejection and ICE');

hold('sendonly and inactive pass through unchanged', () => {
  assert.is(describeSdp(anchorSdp(fx.holdReinvite, plan1())).media[0]?.direction, 'sendonly');
  const inactive = fx.holdReinvite.replace('a=sendonly', 'a=inactive');
  assert.is(describeSdp(anchorSdp(inactive, plan1())).media[0]?.direction, 'inactive');
});

hold('c=0.0.0.0 hold: relay address, and the hold moves into the direction attribute', () => {
  const out = anchorSdp(fx.zeroAddressHold, plan1());
  const [m] = describeSdp(out).media;
  assert.equal([m!.address, m!.direction, m!.hold], [RELAY, 'sendonly', true]);
  const recvonly = anchorSdp(fx.zeroAddressHold.replace('a=rtpmap:0 PCMU/8000', 'a=rtpmap:0 PCMU/8000\r\na=recvonly'), plan1());
  assert.is(describeSdp(recvonly).media[0]?.direction, 'inactive');
  const inactive = anchorSdp(fx.zeroAddressHold.replace('a=rtpmap:0 PCMU/8000', 'a=rtpmap:0 PCMU/8000\r\na=inactive'), plan1());
  assert.is(describeSdp(inactive).media[0]?.direction, 'inactive');
});

hold('rejected streams stay rejected whatever the plan says; the plan can reject a stream', () => {
  const kept = describeSdp(anchorSdp(fx.videoRejectedAnswer, plan2()));
  assert.equal(kept.media.map((m) => m.port), [30000, 0]);
  const refused = describeSdp(anchorSdp(fx.audioVideoOffer, { address: RELAY, streams: [{ rtpPort: 30000 }, 'rejected'] }));
  assert.equal(refused.media.map((m) => m.port), [30000, 0]);
});

hold('ICE removed by default (session and media level, parsed or not); kept when asked', () => {
  const out = anchorSdp(fx.webrtcOffer, plan1());
  for (const a of ['a=candidate', 'a=ice-', 'a=end-of-candidates']) assert.not.ok(out.includes(a), a);
  const kept = anchorSdp(fx.webrtcOffer, plan1({ ice: 'keep' }));
  for (const a of ['a=candidate:1 1 udp', 'a=ice-ufrag:F7gI', 'a=ice-pwd:', 'a=ice-lite', 'a=end-of-candidates', 'a=ice-options:trickle', 'a=ice-pacing:50']) {
    assert.ok(kept.includes(a), a);
  }
});

hold.run();

const mux = suite('sdp: rtcp-mux output modes');

mux('default follows the input: offer keeps mux with an RTCP fallback, answer muxes only', () => {
  const offer = lines(anchorSdp(fx.rtcpMuxOffer, plan1()));
  assert.ok(offer.includes('a=rtcp-mux'));
  assert.not.ok(offer.some((l) => l.startsWith('a=rtcp:')), 'RTCP fallback is the default port + 1');
  const webOffer = lines(anchorSdp(fx.webrtcOffer, plan1()));
  assert.ok(webOffer.includes('a=rtcp-mux') && webOffer.includes(`a=rtcp:30001 IN IP4 ${RELAY}`));
  assert.not.ok(webOffer.includes('a=rtcp-mux-only'), 'the relay can demux, so it demands nothing of the answerer');
  const answer = lines(anchorSdp(fx.webrtcOffer, plan1({ role: 'answer' })));
  assert.ok(answer.includes('a=rtcp-mux'));
  assert.not.ok(answer.some((l) => l.startsWith('a=rtcp:')));
});

mux("explicit modes: 'none' strips mux, 'offer' adds it, 'only' drops the RTCP port", () => {
  const none = lines(anchorSdp(fx.webrtcOffer, { address: RELAY, streams: [{ rtpPort: 30000, rtcpMux: 'none' }] }));
  assert.not.ok(none.includes('a=rtcp-mux') || none.includes('a=rtcp-mux-only'));
  assert.ok(none.includes(`a=rtcp:30001 IN IP4 ${RELAY}`));
  const offered = lines(anchorSdp(fx.asteriskOffer, { address: RELAY, streams: [{ rtpPort: 30000, rtcpMux: 'offer' }] }));
  assert.ok(offered.includes('a=rtcp-mux'));
  const only = lines(anchorSdp(fx.freeswitchAnswer, { address: RELAY, streams: [{ rtpPort: 30000, rtcpMux: 'only' }] }));
  assert.ok(only.includes('a=rtcp-mux'));
  assert.not.ok(only.some((l) => l.startsWith('a=rtcp:')));
});

mux.run();

const ver = suite('sdp: o= version (RFC 3264 §8)');

ver('re-sending the same SDP keeps the version; a changed output adds exactly one', () => {
  const state = new SdpVersionState();
  const first = anchorSdp(fx.asteriskOffer, plan1({ version: state }));
  assert.is(originVersion(first), '1707480323');
  assert.is(anchorSdp(fx.asteriskOffer, plan1({ version: state })), first);
  // The endpoint moved its port: the relay's output is the same, so its version stays.
  assert.is(originVersion(anchorSdp(fx.asteriskOffer.replace('m=audio 10000', 'm=audio 10002'), plan1({ version: state }))), '1707480323');
  // Hold changes the output: one more.
  assert.is(originVersion(anchorSdp(fx.holdReinvite, plan1({ version: state }))), '1707480324');
  // Resume: changed again, still one more, never going back.
  assert.is(originVersion(anchorSdp(fx.asteriskOffer, plan1({ version: state }))), '1707480325');
  assert.is(state.version, 1707480325n);
});

ver('force increment bumps even an unchanged output', () => {
  const state = new SdpVersionState();
  anchorSdp(fx.asteriskOffer, plan1({ version: state }));
  assert.is(originVersion(anchorSdp(fx.asteriskOffer, plan1({ version: state, forceIncrement: true }))), '1707480324');
  assert.is(originVersion(anchorSdp(fx.asteriskOffer, plan1({ forceIncrement: true }))), '1707480324', 'without state: input + 1');
});

ver('the state compares bodies by digest: unchanged keeps, changed adds one, a body differing in one character or only in non-latin1 text counts as changed', () => {
  const state = new SdpVersionState();
  const body = 'v=0\r\no=- 1 * IN IP4 203.0.113.1\r\ns=-\r\nc=IN IP4 203.0.113.1\r\nt=0 0\r\nm=audio 30000 RTP/AVP 0\r\n';
  assert.is(state.next(body, 7n), 7n, 'the first output keeps the input version');
  assert.is(state.next(body.split('').join(''), 7n), 7n, 'the same text (another string) is unchanged');
  assert.is(state.next(body.replace('30000', '30002'), 7n), 8n, 'one character differs');
  assert.is(state.next(body.replace('30000', '30002'), 7n), 8n);
  assert.is(state.next(body, 7n), 9n, 'back to the first text: changed against the last, not the first');
  assert.is(state.next(`${body}s=\u0100`, 7n), 10n);
  assert.is(state.next(`${body}s=\u0000`, 7n), 11n, 'characters that latin1 would fold together still differ');
  assert.is(state.next(`${body}s=\u0000`, 7n, true), 12n, 'force');
  assert.is(state.version, 12n);
});

ver('versions beyond 2^53 are carried exactly', () => {
  const big = fx.ipv6Offer.replace('2890844526 2890844526', '2890844526 18446744073709551614');
  const state = new SdpVersionState();
  assert.is(originVersion(anchorSdp(big, plan1({ version: state }))), '18446744073709551614');
  assert.is(originVersion(anchorSdp(big, plan1({ version: state, sessionName: 'x' }))), '18446744073709551615');
  assert.ok(anchorSdp(big, plan1()).includes('o=alice 2890844526 18446744073709551614 IN IP6 2001:db8::10'));
});

ver.run();

const bad = suite('sdp: malformed input and plans give SdpError, never a crash');

const malformed: Array<[string, string, RegExp]> = [
  ['empty body', '', /empty body/],
  ['blank lines only', '\r\n\r\n', /empty body/],
  ['not SDP at all', 'INVITE sip:bob@example.com SIP/2.0\r\n', /expected "v=0" first/],
  ['no o= line', 'v=0\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n', /no o= line/],
  ['malformed o= line', fx.asteriskOffer.replace('o=- 1707480323 1707480323', 'o=- abc 1'), /malformed o= line/],
  ['garbage line', fx.asteriskOffer.replace('t=0 0', 'this is not sdp'), /line 5: not a "<type>=<value>" line/],
  ['malformed m= line', fx.asteriskOffer.replace('m=audio 10000 RTP/AVP', 'm=audio port RTP/AVP'), /malformed m= line/],
  ['m= port out of range', fx.asteriskOffer.replace('m=audio 10000', 'm=audio 70000'), /port 70000 out of range/],
  ['m= port count', fx.asteriskOffer.replace('m=audio 10000', 'm=audio 10000/2'), /port count/],
  ['malformed c= line', fx.asteriskOffer.replace('c=IN IP4 192.168.1.10', 'c=IN IPX 192.168.1.10'), /malformed c= line/],
  ['c= family mismatch', fx.asteriskOffer.replace('c=IN IP4 192.168.1.10', 'c=IN IP4 2001:db8::1'), /says IP4 but 2001:db8::1 is IPv6/],
  ['active stream without c=', fx.asteriskOffer.replace('c=IN IP4 192.168.1.10\r\n', ''), /m-line 0 \(audio\) has no c= line/],
  ['malformed a=rtcp', fx.freeswitchAnswer.replace('a=rtcp:24581', 'a=rtcp:abc'), /malformed a=rtcp/],
  // Found by fuzzing (fuzz/corpus/sdp-anchor/regress-origin-after-m-line): describeSdp threw a TypeError.
  [
    'o= line after the first m= line',
    fx.asteriskOffer.replace('o=- 1707480323 1707480323 IN IP4 192.168.1.10\r\n', '').replace('a=sendrecv', 'a=sendrecv\r\no=- 1 1 IN IP4 192.168.1.10'),
    /o= line inside a media description/,
  ],
  // Found by fuzzing (fuzz/corpus/sdp-anchor/regress-m-line-proto-dash): sdp-transform read no proto
  // and the anchored m= line did not parse again.
  ['m= proto sdp-transform cannot read', fx.asteriskOffer.replace('RTP/AVP', '-1RTP/AVP'), /malformed m= line/],
  ['m= media type sdp-transform cannot read', fx.asteriskOffer.replace('m=audio', 'm=au-dio'), /malformed m= line/],
  ['a lone CR hides a line from the checks', fx.asteriskOffer.replace('a=sendrecv', 'a=sendrecv\rm=audio 70000 RTP/AVP 0'), /port 70000 out of range/],
  // Found by fuzzing (fuzz/corpus/sdp-anchor/regress-second-v-line): the anchored body began with it.
  ['a second v= line', fx.asteriskOffer.replace('t=0 0', 'v=1\r\nt=0 0'), /line 5: a second v= line/],
  ['oversized body', `${fx.asteriskOffer}${'a=x-pad:0123456789\r\n'.repeat(4000)}`, /larger than 65535 bytes/],
];

for (const [name, sdp, reason] of malformed) {
  bad(name, () => {
    for (const call of [() => describeSdp(sdp), () => anchorSdp(sdp, plan1())]) {
      try {
        call();
        assert.unreachable('expected SdpError');
      } catch (err) {
        assert.instance(err, SdpError);
        assert.is((err as SdpError).code, 'ERR_PINLATCH_SDP');
        assert.match((err as SdpError).reason, reason);
      }
    }
  });
}

bad('non-string input', () => {
  assert.throws(() => describeSdp(undefined as unknown as string), (e: unknown) => e instanceof SdpError);
  assert.throws(() => describeSdp(Buffer.from('v=0') as unknown as string), (e: unknown) => e instanceof SdpError);
});

// Found by fuzzing (fuzz/corpus/sdp-anchor/regress-anchored-body-grows): thousands of short c= lines
// after LF line ends, each rewritten to the relay's longer address with CRLF, made an anchored body
// that parseSdp refused as too large.
bad('repeated c= and s= lines are written once; an anchored body over the size limit is an SdpError', () => {
  const repeated = fx.asteriskOffer.replace('c=IN IP4 192.168.1.10', 'c=IN IP4 1\r\ns=x\r\nc=IN IP4 192.168.1.10\r\ns=Asterisk');
  assert.equal(lines(anchorSdp(repeated, plan1())).filter((l) => /^[cs]=/.test(l)), ['s=Asterisk', `c=IN IP4 ${RELAY}`]);
  const padded = fx.asteriskOffer.replace(/\r\n/g, '\n') + 'a=x\n'.repeat(16_000);
  assert.ok(padded.length <= 65_535);
  assert.throws(() => anchorSdp(padded, plan1()), (e: unknown) => e instanceof SdpError && /anchored body is larger than 65535 bytes/.test(e.reason));
});

bad('bad plans: address, port, too few streams', () => {
  const cases: Array<[AnchorPlan, RegExp]> = [
    [{ address: 'relay.example.com', streams: [{ rtpPort: 30000 }] }, /not an advertisable IP/],
    [{ address: '0.0.0.0', streams: [{ rtpPort: 30000 }] }, /not an advertisable IP/],
    [{ address: RELAY, streams: [{ rtpPort: 0 }] }, /RTP port 0/],
    [{ address: RELAY, streams: [{ rtpPort: 65535 }] }, /RTCP port 65536/],
    [{ address: RELAY, streams: [{ rtpPort: 30000 }] }, /1 stream\(s\) for 2 m-line\(s\)/],
  ];
  for (const [plan, reason] of cases) {
    const sdp = plan.streams.length === 1 && reason.source.includes('m-line') ? fx.audioVideoOffer : fx.asteriskOffer;
    assert.throws(() => anchorSdp(sdp, plan), (e: unknown) => e instanceof SdpError && reason.test(e.reason));
  }
});

bad('mutated real SDPs: only SdpError or a valid anchored body, over a bounded random corpus', () => {
  let seed = 0x9e3779b9;
  const rand = (n: number): number => {
    seed = (Math.imul(seed ^ (seed >>> 15), 0x85ebca6b) + 0x6b) >>> 0;
    return seed % n;
  };
  const corpus = fixtures.map(([, sdp]) => sdp);
  const noise = ['', '=', ' ', '\r\n', 'm=', 'c=IN IP4 ', 'a=rtcp:', '0.0.0.0', '::', '99999', 'o=', '\u0000', 'é'];
  let rejected = 0;
  for (let i = 0; i < 3000; i += 1) {
    const src = corpus[rand(corpus.length)]!;
    const at = rand(src.length);
    const cut = rand(12);
    const sdp = src.slice(0, at) + noise[rand(noise.length)] + src.slice(at + cut);
    const count = (sdp.match(/^m=/gm) ?? []).length;
    try {
      const out = anchorSdp(sdp, { address: RELAY, streams: Array.from({ length: count }, (_, k) => ({ rtpPort: 30000 + 4 * k })) });
      describeSdp(out);
    } catch (err) {
      if (!(err instanceof SdpError)) throw err;
      rejected += 1;
    }
  }
  assert.ok(rejected > 0 && rejected < 3000, `rejected ${rejected}`);
});

bad.run();

const negotiation = suite('sdp: rtcp-mux negotiation with rtpengine flag semantics');

// [flags, offerer offers mux, answerer accepts mux] -> [advert toward answerer, answer to offerer muxes, answerer leg muxes]
const rows: Array<[RtcpMuxFlags, boolean, boolean, ['none' | 'offer' | 'only', boolean, boolean]]> = [
  [{}, false, false, ['none', false, false]],
  [{}, true, true, ['offer', true, true]],
  [{}, true, false, ['offer', false, false]],
  [{ offer: true }, false, true, ['offer', false, true]],
  [{ offer: true }, false, false, ['offer', false, false]],
  [{ require: true }, false, false, ['only', false, true]],
  [{ require: true }, true, false, ['only', true, true]],
  [{ demux: true }, true, false, ['none', true, false]],
  [{ accept: true }, true, false, ['offer', true, false]],
  [{ accept: true }, false, false, ['none', false, false]],
  [{ reject: true }, true, true, ['offer', false, true]],
  [{ offer: true, reject: true }, true, true, ['offer', false, true]],
  [{ offer: true, reject: true }, false, true, ['offer', false, true]],
];

for (const [flags, offererMux, answererMux, [advert, toOfferer, bLeg]] of rows) {
  negotiation(`${JSON.stringify(flags)} offerer=${offererMux} answerer=${answererMux}`, () => {
    const toward = rtcpMuxTowardAnswerer(flags, offererMux);
    assert.is(toward, advert);
    assert.is(rtcpMuxTowardOfferer(flags, offererMux, toward, answererMux), toOfferer);
    assert.is(answererLegMuxes(toward, answererMux), bLeg);
  });
}

negotiation.run();
