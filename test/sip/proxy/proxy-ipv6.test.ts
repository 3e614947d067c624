/**
 * SipProxy over IPv6, in-process, with real sockets: trunks are recognised by source address and
 * the host's loopback has only ::1, so the file re-executes itself inside a network namespace of
 * its own (runInsideNetns) whose loopback carries one address per role. 2001:db8::/32 addresses
 * stand for public peers (routable for pinlatch, src/net/address.ts); an fd00::/8 unique-local
 * caller stands for a peer behind NAT (RFC 4193: non-routable).
 */
import dgram from 'node:dgram';
import { randomBytes } from 'node:crypto';
import * as assert from 'uvu/assert';
import { suite } from '../../support/suite.ts';
import { runInsideNetns } from '../../support/netns.ts';
import { SipPeer, isRequest, isResponse, until, startProxy, stopProxy, withoutToken } from '../../support/sip-peer.ts';
import { rtpPacket } from '../../media/udp-peer.ts';
import type { MediaRelay } from '../../../src/media/MediaRelay.ts';
import type { SipProxy } from '../../../src/sip/proxy/Proxy.ts';
import { createResponse, type SipMessage, type SipRequest, type SipResponse } from '../../../src/sip/wire/message.ts';

const PROXY = '2001:db8::1';
const CALLER = '2001:db8::2';
const GATEWAY = '2001:db8::3';
const PBX = '2001:db8::5';
/** A caller behind NAT (unique-local address, RFC 4193). */
const NATTED = 'fd00:db8::2';
/** A Contact address the NATted caller advertises but does not listen on (its private view). */
const NATTED_CONTACT = 'fd00:db8::99';

/** IPv4 signalling into the same proxy (its loopback is the namespace's own). */
const PROXY4 = '127.0.0.1';
const CALLER4 = '127.0.0.2';

await runInsideNetns(import.meta.url, [PROXY, CALLER, GATEWAY, PBX, NATTED]);

const SIP_PORT = 5060;
const MEDIA = { min: 40000, max: 40039 };

interface Context {
  relay: MediaRelay;
  proxy: SipProxy;
  gateway: SipPeer;
  pbx: SipPeer;
}

const bracket = (address: string) => (address.includes(':') ? `[${address}]` : address);

function sdp6(address: string, port: number, version = 1): string {
  return [
    'v=0',
    `o=- 4711 ${version} IN IP6 ${address}`,
    's=-',
    `c=IN IP6 ${address}`,
    't=0 0',
    `m=audio ${port} RTP/AVP 0 8`,
    'a=rtpmap:0 PCMU/8000',
    'a=sendrecv',
    '',
  ].join('\r\n');
}

interface RequestSpec {
  method?: string;
  peer: SipPeer;
  callId: string;
  uri: string;
  body?: string;
  toTag?: string;
  cseq?: number;
  routes?: string[];
  /** Contact hostport, when it is not the peer's own (a peer behind NAT). */
  contact?: string;
}

function request(spec: RequestSpec): string {
  const method = spec.method ?? 'INVITE';
  const body = spec.body ?? '';
  return [
    `${method} ${spec.uri} SIP/2.0`,
    `Via: SIP/2.0/UDP ${spec.contact ?? spec.peer.hostport};branch=z9hG4bK${randomBytes(6).toString('hex')};rport`,
    ...(spec.routes ?? []).map((r) => `Route: ${r}`),
    'Max-Forwards: 70',
    `From: <sip:caller@${bracket(spec.peer.address)}>;tag=c${spec.callId}`,
    `To: <sip:4930123@${bracket(PROXY)}>${spec.toTag ? `;tag=${spec.toTag}` : ''}`,
    `Call-ID: ${spec.callId}`,
    `CSeq: ${spec.cseq ?? 1} ${method}`,
    `Contact: <sip:caller@${spec.contact ?? spec.peer.hostport}>`,
    ...(body ? ['Content-Type: application/sdp'] : []),
    `Content-Length: ${Buffer.byteLength(body)}`,
    '',
    body,
  ].join('\r\n');
}

/** The callee's answer to a request it received, with its Record-Route and Contact (§12.1.1). */
function answer(req: SipRequest, status: number, callee: SipPeer, body?: string): SipResponse {
  const response = createResponse(req, status, { toTag: 'gw1' });
  for (const rr of req.getAll('record-route')) response.append('Record-Route', rr);
  response.set('Contact', `<sip:gw@${callee.hostport}>`);
  if (body) response.setBody(Buffer.from(body, 'latin1'), 'application/sdp');
  return response;
}

function sdpPort(message: SipMessage): number {
  return Number(/m=audio (\d+)/.exec(message.body.toString('latin1'))![1]);
}

const inRange = (port: number) => port >= MEDIA.min && port <= MEDIA.max;
const proxyHostport = `${bracket(PROXY)}:${SIP_PORT}`;

/** INVITE (IPv6 SDP) → 180 → 200 → ACK from `caller` through the proxy to the gateway trunk. */
async function establish(ctx: Context, caller: SipPeer, callId: string, contact?: string) {
  const { gateway } = ctx;
  caller.send(request({ peer: caller, callId, contact, uri: `sip:4930123@${proxyHostport}`, body: sdp6(caller.address, 41000) }), SIP_PORT);
  const invite = await gateway.waitFor(isRequest('INVITE', callId));
  gateway.sendMessage(answer(invite, 180, gateway), SIP_PORT, PROXY);
  gateway.sendMessage(answer(invite, 200, gateway, sdp6(GATEWAY, 42000, 7)), SIP_PORT, PROXY);
  const ok = await caller.waitFor(isResponse(callId));
  const routes = ok.getAll('record-route').reverse();
  const uri = `sip:gw@${gateway.hostport}`;
  caller.send(request({ method: 'ACK', peer: caller, callId, contact, toTag: 'gw1', uri, routes }), SIP_PORT);
  const ack = await gateway.waitFor(isRequest('ACK', callId));
  return { invite, ok, ack, routes, uri };
}

const test = suite<Context>('sip/proxy-ipv6', { timeoutMs: 15_000 });

test.before(async (ctx) => {
  ctx.gateway = await SipPeer.udp(GATEWAY, PROXY);
  ctx.pbx = await SipPeer.udp(PBX, PROXY);
  Object.assign(ctx, await startProxy(`
sip:
  listen: [{ transport: udp, address: "${PROXY}", port: ${SIP_PORT} }, { transport: udp, address: ${PROXY4}, port: ${SIP_PORT} }]
  advertise: "${PROXY}"
  timers: { t1Ms: 40, t2Ms: 400, t4Ms: 500, inviteTimeoutMs: 10000 }
media:
  address: "${PROXY}"
  advertise: "${PROXY}"
  ports: { min: ${MEDIA.min}, max: ${MEDIA.max} }
  shards: 1
  timeoutSec: 30
trunks:
  - { name: gateway, host: "${GATEWAY}", port: ${ctx.gateway.port} }
routes:
  - { match: { user: "49.*" }, trunk: gateway }
upstream: "sip:[${PBX}]:${ctx.pbx.port}"
admission: { upstreamNetworks: ["${CALLER}", "${NATTED}", ${CALLER4}] }
log: { level: silent }
`));
});

test.after(async (ctx) => {
  await stopProxy(ctx);
  ctx.gateway?.close();
  ctx.pbx?.close();
});

test('an IPv6 call toward a trunk: bracketed Via/Record-Route, SDP anchored IN IP6, ACK/BYE along the route set, media released', async (ctx) => {
  const caller = await SipPeer.udp(CALLER, PROXY);
  const { gateway } = ctx;
  try {
    const { invite, ok, ack, routes, uri } = await establish(ctx, caller, 'v6call1');
    // Request-URI rewritten to the trunk, IPv6 host in brackets (§19.1.1, RFC 5954 §4).
    assert.is(invite.uriText, `sip:4930123@${gateway.hostport}`);
    // Via and Record-Route name the proxy by its bracketed IPv6 address (RFC 3261 §20.42, §25.1).
    const rawInvite = invite.serialize().toString('latin1');
    assert.match(rawInvite, `Via: SIP/2.0/UDP ${proxyHostport};branch=z9hG4bK`);
    assert.is(withoutToken(invite.get('record-route')), `<sip:${proxyHostport};lr>`);
    assert.is(invite.vias.length, 2);
    assert.is(invite.vias[1]!.host, CALLER, 'the caller\'s Via stays below ours');

    // Toward the gateway: the relay's IPv6 address and a relay port; o= keeps the caller's own (IP6) origin.
    const towardGateway = invite.body.toString('latin1');
    assert.match(towardGateway, `c=IN IP6 ${PROXY}\r\n`);
    assert.match(towardGateway, /^o=- 4711 1 IN IP6 2001:db8::2\r$/m);
    assert.not.match(towardGateway, 'IN IP4');
    assert.ok(inRange(sdpPort(invite)), `gateway sees a relay port (${sdpPort(invite)})`);

    // Toward the caller: the 200's SDP is anchored the same way, with the other leg's port.
    const towardCaller = ok.body.toString('latin1');
    assert.match(towardCaller, `c=IN IP6 ${PROXY}\r\n`);
    assert.match(towardCaller, /^o=- 4711 7 IN IP6 2001:db8::3\r$/m);
    assert.not.match(towardCaller, `c=IN IP6 ${GATEWAY}`);
    assert.ok(inRange(sdpPort(ok)) && sdpPort(ok) !== sdpPort(invite), `caller sees the other relay port (${sdpPort(ok)})`);
    assert.equal(routes.map(withoutToken), [`<sip:${proxyHostport};lr>`]);
    // The caller's Via came back with rport filled in (RFC 3581 §4) and no received (same address).
    assert.is(ok.topVia!.host, CALLER);
    assert.is(ok.topVia!.rport, caller.port);

    // ACK: our Route removed, Request-URI the gateway's Contact, a Via of the proxy's own.
    assert.is(ack.uriText, uri);
    assert.is(ack.routes.length, 0);
    assert.is(ack.topVia!.sentBy, proxyHostport);

    // Media over IPv6 through the relay, both ways.
    const callerRtp = dgram.createSocket('udp6');
    const gatewayRtp = dgram.createSocket('udp6');
    try {
      await new Promise<void>((resolve) => callerRtp.bind(41000, CALLER, resolve));
      await new Promise<void>((resolve) => gatewayRtp.bind(42000, GATEWAY, resolve));
      const got = { caller: 0, gateway: 0 };
      callerRtp.on('message', () => (got.caller += 1));
      gatewayRtp.on('message', () => (got.gateway += 1));
      for (let seq = 0; seq < 10; seq++) {
        callerRtp.send(rtpPacket(0x1111, seq), sdpPort(ok), PROXY);
        gatewayRtp.send(rtpPacket(0x2222, seq), sdpPort(invite), PROXY);
        await new Promise((r) => setTimeout(r, 20));
      }
      await until(() => got.caller >= 9 && got.gateway >= 9, 3000, `RTP not relayed both ways (${JSON.stringify(got)})`);
    } finally {
      callerRtp.close();
      gatewayRtp.close();
    }

    caller.send(request({ method: 'BYE', peer: caller, callId: 'v6call1', toTag: 'gw1', cseq: 2, uri, routes }), SIP_PORT);
    const bye = await gateway.waitFor(isRequest('BYE', 'v6call1'));
    assert.is(bye.uriText, uri);
    assert.is(bye.routes.length, 0);
    gateway.sendMessage(createResponse(bye, 200), SIP_PORT, PROXY);
    assert.is((await caller.waitFor(isResponse('v6call1', 'BYE'))).status, 200);
    await until(() => ctx.relay.keys().length === 0, 3000, 'media session not released');
  } finally {
    caller.close();
  }
});

test('a call from the IPv6 trunk goes to the upstream: Request-URI with a bracketed host; BYE back toward the trunk', async (ctx) => {
  const { gateway, pbx } = ctx;
  gateway.received.length = 0;
  const callId = 'v6up1';
  gateway.send(request({ peer: gateway, callId, uri: `sip:0301234@${proxyHostport}`, body: sdp6(GATEWAY, 42100) }), SIP_PORT, PROXY);
  const invite = await pbx.waitFor(isRequest('INVITE', callId));
  assert.is(invite.uriText, `sip:0301234@${pbx.hostport}`);
  assert.is(withoutToken(invite.get('record-route')), `<sip:${proxyHostport};lr>`);
  assert.match(invite.body.toString('latin1'), `c=IN IP6 ${PROXY}\r\n`);
  pbx.sendMessage(answer(invite, 200, pbx, sdp6(PBX, 43000)), SIP_PORT);
  const ok = await gateway.waitFor(isResponse(callId));
  assert.match(ok.body.toString('latin1'), `c=IN IP6 ${PROXY}\r\n`);
  const routes = ok.getAll('record-route').reverse();
  const pbxUri = `sip:gw@${pbx.hostport}`;
  gateway.send(request({ method: 'ACK', peer: gateway, callId, toTag: 'gw1', uri: pbxUri, routes }), SIP_PORT, PROXY);
  await pbx.waitFor(isRequest('ACK', callId));

  // The callee (PBX) hangs up: its BYE follows the route set back to the trunk's Contact.
  const byeFromPbx = [
    `BYE sip:caller@${gateway.hostport} SIP/2.0`,
    `Via: SIP/2.0/UDP ${pbx.hostport};branch=z9hG4bK${randomBytes(6).toString('hex')};rport`,
    `Route: ${invite.get('record-route')}`,
    'Max-Forwards: 70',
    `From: ${invite.get('to')};tag=gw1`,
    `To: ${invite.get('from')}`,
    `Call-ID: ${callId}`,
    'CSeq: 1 BYE',
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');
  pbx.send(byeFromPbx, SIP_PORT);
  const bye = await gateway.waitFor(isRequest('BYE', callId));
  assert.is(bye.uriText, `sip:caller@${gateway.hostport}`);
  assert.is(bye.topVia!.sentBy, proxyHostport);
  gateway.sendMessage(createResponse(bye, 200), SIP_PORT, PROXY);
  assert.is((await pbx.waitFor(isResponse(callId, 'BYE'))).status, 200);
  await until(() => ctx.relay.keys().length === 0, 3000, 'media session not released');
});

test('a caller on a unique-local IPv6 address is behind NAT: in-dialog requests go to its packet source', async (ctx) => {
  const caller = await SipPeer.udp(NATTED, PROXY);
  const { gateway } = ctx;
  const callId = 'v6nat1';
  const contact = `${bracket(NATTED_CONTACT)}:5999`;
  try {
    const { ok, routes } = await establish(ctx, caller, callId, contact);
    assert.is(ok.status, 200);
    // The response went to the packet source (RFC 3581), not to the advertised Via sent-by.
    assert.is(ok.topVia!.received, NATTED);
    assert.is(ok.topVia!.rport, caller.port);
    // The gateway hangs up: the BYE reaches the caller at its source, not at its private Contact.
    const byeFromGateway = [
      `BYE sip:caller@${contact} SIP/2.0`,
      `Via: SIP/2.0/UDP ${gateway.hostport};branch=z9hG4bK${randomBytes(6).toString('hex')};rport`,
      ...routes.reverse().map((r) => `Route: ${r}`),
      'Max-Forwards: 70',
      `From: <sip:4930123@${bracket(PROXY)}>;tag=gw1`,
      `To: <sip:caller@${bracket(NATTED)}>;tag=c${callId}`,
      `Call-ID: ${callId}`,
      'CSeq: 1 BYE',
      'Content-Length: 0',
      '',
      '',
    ].join('\r\n');
    gateway.send(byeFromGateway, SIP_PORT, PROXY);
    const bye = await caller.waitFor(isRequest('BYE', callId));
    assert.is(bye.uriText, `sip:caller@${contact}`);
    caller.sendMessage(createResponse(bye, 200), SIP_PORT);
    assert.is((await gateway.waitFor(isResponse(callId, 'BYE'))).status, 200);
    await until(() => ctx.relay.keys().length === 0, 3000, 'media session not released');
  } finally {
    caller.close();
  }
});

function sdp4(address: string, port: number): string {
  return sdp6(address, port).replace(/IN IP6/g, 'IN IP4');
}

test('an IPv4 caller with a unique-local IPv6 SDP reaches the IPv6 trunk: Record-Route once per interface (RFC 5658)', async (ctx) => {
  const caller = await SipPeer.udp(CALLER4, PROXY4);
  const { gateway } = ctx;
  const callId = 'v4to6';
  try {
    caller.send(request({ peer: caller, callId, uri: `sip:4930123@${PROXY4}:${SIP_PORT}`, body: sdp6(NATTED, 41100) }), SIP_PORT);
    const invite = await gateway.waitFor(isRequest('INVITE', callId));
    assert.is(invite.topVia!.sentBy, proxyHostport);
    assert.equal(invite.getAll('record-route').map(withoutToken), [`<sip:${proxyHostport};lr>`, `<sip:${PROXY4}:${SIP_PORT};lr>`]);
    assert.match(invite.body.toString('latin1'), `c=IN IP6 ${PROXY}\r\n`);
    gateway.sendMessage(answer(invite, 200, gateway, sdp6(GATEWAY, 42200)), SIP_PORT, PROXY);
    const ok = await caller.waitFor(isResponse(callId));
    assert.match(ok.body.toString('latin1'), `c=IN IP6 ${PROXY}\r\n`);
    const routes = ok.getAll('record-route').reverse();
    const uri = `sip:gw@${gateway.hostport}`;
    caller.send(request({ method: 'ACK', peer: caller, callId, toTag: 'gw1', uri, routes }), SIP_PORT);
    await gateway.waitFor(isRequest('ACK', callId));
    caller.send(request({ method: 'BYE', peer: caller, callId, toTag: 'gw1', cseq: 2, uri, routes }), SIP_PORT);
    const bye = await gateway.waitFor(isRequest('BYE', callId));
    assert.is(bye.routes.length, 0, 'both own Route entries removed');
    gateway.sendMessage(createResponse(bye, 200), SIP_PORT, PROXY);
    assert.is((await caller.waitFor(isResponse(callId, 'BYE'))).status, 200);
    await until(() => ctx.relay.keys().length === 0, 3000, 'media session not released');
  } finally {
    caller.close();
  }
});

test('an SDP offer with IPv4 media to an IPv6-only relay → 488 with Warning 301, nothing forwarded', async (ctx) => {
  const caller = await SipPeer.udp(CALLER4, PROXY4);
  const callId = 'v4media';
  try {
    ctx.gateway.received.length = 0;
    caller.send(request({ peer: caller, callId, uri: `sip:4930123@${PROXY4}:${SIP_PORT}`, body: sdp4(CALLER4, 41200) }), SIP_PORT);
    const response = await caller.waitFor(isResponse(callId));
    assert.is(response.status, 488);
    assert.match(response.get('warning') ?? '', `301 ${PROXY4}:${SIP_PORT} "Incompatible network address formats: IPv4 media`);
    caller.send(request({ method: 'ACK', peer: caller, callId, uri: `sip:4930123@${PROXY4}:${SIP_PORT}`, toTag: response.to!.tag }), SIP_PORT);
    await new Promise((r) => setTimeout(r, 200));
    assert.not.ok(ctx.gateway.received.some((m) => m.callId === callId), 'nothing reached the gateway');
    assert.equal(ctx.relay.keys(), []);
  } finally {
    caller.close();
  }
});

test.run();
