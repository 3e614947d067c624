import * as assert from 'uvu/assert';
import { suite } from '../support/suite.ts';
import { describeSdp, type SdpMediaInfo } from '../../src/sdp/index.ts';
import * as fx from './fixtures.ts';

type Row = Pick<SdpMediaInfo, 'type' | 'port' | 'proto' | 'peerAddress' | 'rtcpPort' | 'rtcpMux' | 'direction' | 'hold' | 'ice'>;

const pick = (m: SdpMediaInfo): Row => ({
  type: m.type, port: m.port, proto: m.proto, peerAddress: m.peerAddress, rtcpPort: m.rtcpPort,
  rtcpMux: m.rtcpMux, direction: m.direction, hold: m.hold, ice: m.ice,
});

const base = { proto: 'RTP/AVP', rtcpPort: null, rtcpMux: false, direction: 'sendrecv', hold: false, ice: false } as const;

const table: Array<[string, string, Row[]]> = [
  ['Asterisk offer', fx.asteriskOffer, [{ ...base, type: 'audio', port: 10000, peerAddress: '192.168.1.10' }]],
  ['FreeSWITCH answer with a=rtcp', fx.freeswitchAnswer, [{ ...base, type: 'audio', port: 24580, peerAddress: '10.0.0.5', rtcpPort: 24581 }]],
  ['Cisco CUBE answer (private address)', fx.ciscoCubeAnswer, [{ ...base, type: 'audio', port: 16384, peerAddress: '192.168.50.20' }]],
  ['WebRTC-style offer', fx.webrtcOffer, [{ ...base, type: 'audio', port: 54321, proto: 'UDP/TLS/RTP/SAVPF', peerAddress: '198.51.100.7', rtcpPort: 9, rtcpMux: true, ice: true }]],
  ['IPv6 offer', fx.ipv6Offer, [{ ...base, type: 'audio', port: 49170, peerAddress: '2001:db8::10' }]],
  ['sendonly hold re-INVITE', fx.holdReinvite, [{ ...base, type: 'audio', port: 10000, peerAddress: '192.168.1.10', direction: 'sendonly', hold: true }]],
  ['c=0.0.0.0 hold', fx.zeroAddressHold, [{ ...base, type: 'audio', port: 3456, peerAddress: null, hold: true }]],
  ['audio + video, media-level c= and direction', fx.audioVideoOffer, [
    { ...base, type: 'audio', port: 49172, peerAddress: '192.0.2.20' },
    { ...base, type: 'video', port: 51372, peerAddress: '192.0.2.21', rtcpPort: 51373, direction: 'recvonly' },
  ]],
  ['rejected video stream', fx.videoRejectedAnswer, [
    { ...base, type: 'audio', port: 49920, peerAddress: '192.0.2.30' },
    { ...base, type: 'video', port: 0, peerAddress: '192.0.2.30' },
  ]],
  ['rtcp-mux without ICE', fx.rtcpMuxOffer, [{ ...base, type: 'audio', port: 7078, peerAddress: '192.168.0.44', rtcpMux: true }]],
  ['T.38 image stream', fx.t38Reinvite, [{ ...base, type: 'image', port: 10002, proto: 'udptl', peerAddress: '192.168.1.10' }]],
];

const t = suite('sdp: describeSdp');

for (const [name, sdp, rows] of table) {
  t(name, () => assert.equal(describeSdp(sdp).media.map(pick), rows));
}

t('origin, session name and the exact version text are reported', () => {
  const info = describeSdp(fx.webrtcOffer);
  assert.equal(info.origin, { username: '-', sessionId: '4611731400430051336', sessionVersion: '2', address: '127.0.0.1', ipVersion: 4 });
  assert.is(info.sessionName, '-');
  const big = describeSdp(fx.ipv6Offer.replace('2890844526 2890844526', '2890844526 98765432109876543210'));
  assert.is(big.origin.sessionVersion, '98765432109876543210');
  assert.is(big.origin.ipVersion, 6);
});

t('connection details: media-level c= wins, address type, zero address, rejected flag', () => {
  const [audio, video] = describeSdp(fx.audioVideoOffer).media;
  assert.equal([audio!.address, video!.address, video!.ipVersion], ['192.0.2.20', '192.0.2.21', 4]);
  const [zero] = describeSdp(fx.zeroAddressHold).media;
  assert.equal([zero!.address, zero!.zeroAddress, zero!.peerAddress], ['0.0.0.0', true, null]);
  const [, rejected] = describeSdp(fx.videoRejectedAnswer).media;
  assert.is(rejected!.rejected, true);
  const [webrtc] = describeSdp(fx.webrtcOffer).media;
  assert.is(webrtc!.rtcpAddress, '0.0.0.0');
  assert.is(webrtc!.formats, '111 0');
});

t('a media-level direction overrides the session-level one; inactive is a hold', () => {
  const sdp = fx.audioVideoOffer.replace('a=sendrecv', 'a=inactive');
  assert.equal(describeSdp(sdp).media.map((m) => [m.direction, m.hold]), [['inactive', true], ['recvonly', false]]);
});

t('LF-only line endings are accepted', () => {
  assert.is(describeSdp(fx.asteriskOffer.replace(/\r\n/g, '\n')).media[0]?.port, 10000);
});

t.run();
