/**
 * Restricted latching through the SIP proxy: each dialog side's media legs get the rule of its
 * class — `media.latching.endpoints` for a phone, `trunks[].latching` for a trunk. The phone here
 * is multi-homed: its SDP and signalling say 127.0.0.2, its RTP leaves from another local address.
 * Real sockets on loopback (127.0.0.x), MediaRelay and SipProxy in-process.
 */
import * as assert from 'uvu/assert';
import { suite } from '../../support/suite.ts';
import { UdpPeer, freePortRange, rtpPacket } from '../../media/udp-peer.ts';
import type { MediaRelay } from '../../../src/media/MediaRelay.ts';
import type { SipProxy } from '../../../src/sip/proxy/Proxy.ts';
import { createResponse } from '../../../src/sip/wire/message.ts';
import { PROXY, SipPeer, answer, freeSipPort, isRequest, isResponse, request, sdp, sdpPort, until, startProxy, stopProxy } from '../../support/sip-peer.ts';

const PHONE = '127.0.0.2';
const GATEWAY = '127.0.0.3';
/** The phone's second interface, listed in media.latching.endpoints.networks. */
const PHONE_OTHER = '127.0.0.6';
/** An address no rule lists. */
const UNLISTED = '127.0.0.7';

interface Context {
  relay: MediaRelay;
  proxy: SipProxy;
  port: number;
  gateway: SipPeer;
}

const test = suite<Context>('sip/proxy: restricted latching per endpoint class', { timeoutMs: 15_000 });

test.before(async (ctx) => {
  ctx.port = await freeSipPort();
  const ports = await freePortRange(40);
  ctx.gateway = await SipPeer.udp(GATEWAY);
  Object.assign(ctx, await startProxy(`
sip:
  listen: [{ transport: udp, address: ${PROXY}, port: ${ctx.port} }]
  advertise: ${PROXY}
  timers: { t1Ms: 40, t2Ms: 400, t4Ms: 500, inviteTimeoutMs: 10000 }
media:
  address: ${PROXY}
  advertise: ${PROXY}
  ports: { min: ${ports.min}, max: ${ports.max} }
  shards: 1
  latching:
    endpoints: { networks: [${PHONE_OTHER}] }
trunks:
  - { name: gateway, host: ${GATEWAY}, port: ${ctx.gateway.port} }
routes:
  - { match: { user: "49.*" }, trunk: gateway }
# The phone's address as the upstream: a SIP peer that is not a trunk, allowed to use the routes.
upstream: "sip:${PHONE}:5060"
log: { level: silent }
`));
});

test.after(async (ctx) => {
  await stopProxy(ctx);
  ctx.gateway?.close();
});

/** A call from the phone to the gateway; returns the relay ports each side was given. */
async function establish(ctx: Context, phone: SipPeer, callId: string, gatewayMediaPort: number) {
  const { port, gateway } = ctx;
  phone.send(request({ user: '4930123', peer: phone, proxyPort: port, callId, body: sdp(PHONE, 41000) }), port);
  const invite = await gateway.waitFor(isRequest('INVITE', callId));
  gateway.sendMessage(answer(invite, 200, gateway, sdp(GATEWAY, gatewayMediaPort, 7)), port);
  const ok = await phone.waitFor(isResponse(callId));
  const routes = ok.getAll('record-route').reverse();
  phone.send(request({ method: 'ACK', user: '4930123', peer: phone, proxyPort: port, callId, toTag: 'gw1', uri: `sip:gw@${GATEWAY}:${gateway.port}`, routes }), port);
  await gateway.waitFor(isRequest('ACK', callId));
  return { toGateway: sdpPort(invite), toPhone: sdpPort(ok), routes };
}

async function hangUp(ctx: Context, phone: SipPeer, callId: string, routes: string[]): Promise<void> {
  phone.send(
    request({ method: 'BYE', user: '4930123', peer: phone, proxyPort: ctx.port, callId, toTag: 'gw1', cseq: 2, uri: `sip:gw@${GATEWAY}:${ctx.gateway.port}`, routes }),
    ctx.port,
  );
  const bye = await ctx.gateway.waitFor(isRequest('BYE', callId));
  ctx.gateway.sendMessage(createResponse(bye, 200), ctx.port);
  await phone.waitFor(isResponse(callId, 'BYE'));
}

test('a phone whose RTP leaves from a listed network of media.latching.endpoints is latched, media both ways', async (ctx) => {
  const phone = await SipPeer.udp(PHONE);
  const phoneMedia = await UdpPeer.open(PHONE_OTHER);
  const gatewayMedia = await UdpPeer.open(GATEWAY);
  try {
    const before = ctx.relay.refusedLegs;
    const { toGateway, toPhone, routes } = await establish(ctx, phone, 'multihomed-1', gatewayMedia.port);
    for (let seq = 1; seq <= 5; seq++) await phoneMedia.send(rtpPacket(0xa, seq), toPhone, PROXY);
    await gatewayMedia.waitFor((r) => r.length === 5, 3000, 'phone media at the gateway');
    for (let seq = 1; seq <= 5; seq++) await gatewayMedia.send(rtpPacket(0xb, seq), toGateway, PROXY);
    await phoneMedia.waitFor((r) => r.length === 5, 3000, 'gateway media back at the phone\'s other interface');
    const [stats] = (await ctx.relay.stats(ctx.relay.keys()[0]!))!;
    assert.is(stats!.a.rtpPeer, `${PHONE_OTHER}:${phoneMedia.port}`);
    assert.is(stats!.a.dropRefused, 0);
    assert.is(ctx.relay.refusedLegs, before);
    await hangUp(ctx, phone, 'multihomed-1', routes);
  } finally {
    phone.close();
    await phoneMedia.close();
    await gatewayMedia.close();
  }
});

test('an unlisted source is refused for the phone, and the listed network is not the trunk\'s: both legs counted', async (ctx) => {
  const phone = await SipPeer.udp(PHONE);
  const phoneMedia = await UdpPeer.open(UNLISTED);
  const gatewayMedia = await UdpPeer.open(PHONE_OTHER);
  const gatewaySdpSocket = await UdpPeer.open(GATEWAY);
  try {
    const before = ctx.relay.refusedLegs;
    const { toGateway, toPhone, routes } = await establish(ctx, phone, 'multihomed-2', gatewaySdpSocket.port);
    for (let seq = 1; seq <= 5; seq++) {
      await phoneMedia.send(rtpPacket(0xa, seq), toPhone, PROXY);
      // The gateway's media from the phone's listed network: the trunk rule (default) refuses it.
      await gatewayMedia.send(rtpPacket(0xb, seq), toGateway, PROXY);
    }
    await until(() => ctx.relay.refusedLegs === before + 2, 5000, 'both legs reported');
    const key = ctx.relay.keys()[0]!;
    const [stats] = (await ctx.relay.stats(key))!;
    assert.is(stats!.a.dropRefused, 5);
    assert.is(stats!.a.lastRefused, `${UNLISTED}:${phoneMedia.port}`);
    assert.is(stats!.b.dropRefused, 5);
    assert.is(stats!.b.lastRefused, `${PHONE_OTHER}:${gatewayMedia.port}`);
    assert.is(gatewaySdpSocket.received.length, 0);
    assert.is(phoneMedia.received.length, 0);
    await hangUp(ctx, phone, 'multihomed-2', routes);
  } finally {
    phone.close();
    await phoneMedia.close();
    await gatewayMedia.close();
    await gatewaySdpSocket.close();
  }
});

test.run();
