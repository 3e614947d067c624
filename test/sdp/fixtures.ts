/**
 * SDP bodies in the shapes real stacks send them (header layout, attribute sets and quirks of
 * each), written from their documented formats with documentation addresses (RFC 5737/3849).
 */
const crlf = (lines: string[]): string => `${lines.join('\r\n')}\r\n`;

export const asteriskOffer = crlf([
  'v=0',
  'o=- 1707480323 1707480323 IN IP4 192.168.1.10',
  's=Asterisk',
  'c=IN IP4 192.168.1.10',
  't=0 0',
  'm=audio 10000 RTP/AVP 0 8 101',
  'a=rtpmap:0 PCMU/8000',
  'a=rtpmap:8 PCMA/8000',
  'a=rtpmap:101 telephone-event/8000',
  'a=fmtp:101 0-16',
  'a=ptime:20',
  'a=maxptime:150',
  'a=sendrecv',
]);

export const freeswitchAnswer = crlf([
  'v=0',
  'o=FreeSWITCH 1700000000 1700000001 IN IP4 10.0.0.5',
  's=FreeSWITCH',
  'c=IN IP4 10.0.0.5',
  't=0 0',
  'm=audio 24580 RTP/AVP 0 101',
  'a=rtpmap:0 PCMU/8000',
  'a=rtpmap:101 telephone-event/8000',
  'a=fmtp:101 0-16',
  'a=ptime:20',
  'a=rtcp:24581 IN IP4 10.0.0.5',
]);

/** The gateway of the NAT scenario: private address, media-level c= repeated, G.729 annexb. */
export const ciscoCubeAnswer = crlf([
  'v=0',
  'o=CiscoSystemsSIP-GW-UserAgent 4063 2734 IN IP4 192.168.50.20',
  's=SIP Call',
  'c=IN IP4 192.168.50.20',
  't=0 0',
  'm=audio 16384 RTP/AVP 18 101',
  'c=IN IP4 192.168.50.20',
  'a=rtpmap:18 G729/8000',
  'a=fmtp:18 annexb=no',
  'a=rtpmap:101 telephone-event/8000',
  'a=fmtp:101 0-16',
  'a=ptime:20',
]);

/** A browser-style offer through a SIP gateway: ICE, DTLS, BUNDLE, rtcp-mux, dummy a=rtcp. */
export const webrtcOffer = crlf([
  'v=0',
  'o=- 4611731400430051336 2 IN IP4 127.0.0.1',
  's=-',
  't=0 0',
  'a=group:BUNDLE 0',
  'a=ice-lite',
  'm=audio 54321 UDP/TLS/RTP/SAVPF 111 0',
  'c=IN IP4 198.51.100.7',
  'a=rtcp:9 IN IP4 0.0.0.0',
  'a=candidate:1 1 udp 2122260223 192.168.1.5 54321 typ host generation 0',
  'a=candidate:2 1 udp 1686052607 198.51.100.7 54321 typ srflx raddr 192.168.1.5 rport 54321 generation 0',
  'a=end-of-candidates',
  'a=ice-ufrag:F7gI',
  'a=ice-pwd:x9cml/YzichV2+XlhiMu8g',
  'a=ice-options:trickle',
  'a=ice-pacing:50',
  'a=fingerprint:sha-256 4A:AD:B9:B1:3F:82:18:3B:54:02:12:DF:3E:5D:49:6B:19:E5:7C:AB',
  'a=setup:actpass',
  'a=mid:0',
  'a=sendrecv',
  'a=rtcp-mux',
  'a=rtcp-mux-only',
  'a=rtpmap:111 opus/48000/2',
  'a=fmtp:111 minptime=10;useinbandfec=1',
  'a=rtpmap:0 PCMU/8000',
]);

export const ipv6Offer = crlf([
  'v=0',
  'o=alice 2890844526 2890844526 IN IP6 2001:db8::10',
  's=-',
  'c=IN IP6 2001:db8::10',
  't=0 0',
  'm=audio 49170 RTP/AVP 0',
  'a=rtpmap:0 PCMU/8000',
]);

/** A re-INVITE putting the call on hold the RFC 3264 way (version bumped, sendonly). */
export const holdReinvite = crlf([
  'v=0',
  'o=- 1707480323 1707480324 IN IP4 192.168.1.10',
  's=Asterisk',
  'c=IN IP4 192.168.1.10',
  't=0 0',
  'm=audio 10000 RTP/AVP 0 101',
  'a=rtpmap:0 PCMU/8000',
  'a=rtpmap:101 telephone-event/8000',
  'a=fmtp:101 0-16',
  'a=sendonly',
]);

/** Hold the RFC 2543 way: c=0.0.0.0 and no direction attribute (old phones, some gateways). */
export const zeroAddressHold = crlf([
  'v=0',
  'o=user 53655765 2353687638 IN IP4 192.0.2.33',
  's=-',
  'c=IN IP4 0.0.0.0',
  't=0 0',
  'm=audio 3456 RTP/AVP 0',
  'a=rtpmap:0 PCMU/8000',
]);

/** Audio plus video, session-level direction, b= lines, per-media c= only on video. */
export const audioVideoOffer = crlf([
  'v=0',
  'o=bob 2808844564 2808844564 IN IP4 192.0.2.20',
  's=call',
  'c=IN IP4 192.0.2.20',
  'b=AS:2048',
  't=0 0',
  'a=sendrecv',
  'm=audio 49172 RTP/AVP 0 8',
  'a=rtpmap:0 PCMU/8000',
  'a=rtpmap:8 PCMA/8000',
  'm=video 51372 RTP/AVP 96',
  'c=IN IP4 192.0.2.21',
  'b=TIAS:1900000',
  'a=rtpmap:96 H264/90000',
  'a=fmtp:96 profile-level-id=42e01f;packetization-mode=1',
  'a=rtcp:51373',
  'a=recvonly',
]);

/** Answer accepting audio and rejecting video (RFC 3264 §6: port 0). */
export const videoRejectedAnswer = crlf([
  'v=0',
  'o=carol 2890844730 2890844731 IN IP4 192.0.2.30',
  's=-',
  'c=IN IP4 192.0.2.30',
  't=0 0',
  'm=audio 49920 RTP/AVP 0',
  'a=rtpmap:0 PCMU/8000',
  'm=video 0 RTP/AVP 96',
]);

/** Linphone-like offer that multiplexes RTCP without ICE. */
export const rtcpMuxOffer = crlf([
  'v=0',
  'o=linphone 3012 1877 IN IP4 192.168.0.44',
  's=Talk',
  'c=IN IP4 192.168.0.44',
  't=0 0',
  'm=audio 7078 RTP/AVP 96 0 101',
  'a=rtpmap:96 opus/48000/2',
  'a=rtpmap:101 telephone-event/8000',
  'a=rtcp-mux',
]);

/** T.38 fax re-INVITE: an image stream over UDPTL. */
export const t38Reinvite = crlf([
  'v=0',
  'o=- 1707480323 1707480325 IN IP4 192.168.1.10',
  's=-',
  'c=IN IP4 192.168.1.10',
  't=0 0',
  'm=image 10002 udptl t38',
  'a=T38FaxVersion:0',
  'a=T38MaxBitRate:14400',
  'a=T38FaxRateManagement:transferredTCF',
  'a=T38FaxUdpEC:t38UDPRedundancy',
]);
