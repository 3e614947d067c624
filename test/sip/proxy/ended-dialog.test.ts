/**
 * A dialog that ended stays in the dialog table for Timer J so that late requests still find
 * their way; its media session is released at the end and a late request's SDP (a re-INVITE that
 * crossed the BYE) opens none again: it passes as it came, and the callee's 481 goes back. Real
 * UDP sockets on loopback, the gateway a hand-written UAS.
 */
import * as assert from 'uvu/assert';
import { suite } from '../../support/suite.ts';
import { freePortRange } from '../../media/udp-peer.ts';
import { createResponse, type SipRequest, type SipResponse } from '../../../src/sip/wire/message.ts';
import { SipPeer, answer, freeSipPort, isRequest, isResponse, request, sdp, startProxy, stopProxy, until, type ProxyUnderTest } from '../../support/sip-peer.ts';

const PROXY = '127.0.93.1';
const CALLER = '127.0.93.2';
const GATEWAY = '127.0.93.3';

interface Context extends Partial<ProxyUnderTest> {
  port: number;
  gateway: SipPeer;
  caller: SipPeer;
}

const test = suite<Context>('sip/proxy: an ended dialog', { timeoutMs: 20_000 });

test.before(async (ctx) => {
  ctx.port = await freeSipPort();
  const ports = await freePortRange(20);
  ctx.gateway = await SipPeer.udp(GATEWAY, PROXY);
  ctx.caller = await SipPeer.udp(CALLER, PROXY);
  Object.assign(ctx, await startProxy(`
sip:
  listen: [{ transport: udp, address: ${PROXY}, port: ${ctx.port} }]
  advertise: ${PROXY}
media:
  address: ${PROXY}
  ports: { min: ${ports.min}, max: ${ports.max} }
  shards: 1
trunks:
  - { name: gateway, host: ${GATEWAY}, port: ${ctx.gateway.port} }
routes:
  - { trunk: gateway }
admission: { upstreamNetworks: [${CALLER}] }
limits: { overload: { maxQueueMs: 10000, maxLagMs: 10000 } }
log: { level: silent }
`));
});

test.after(async (ctx) => {
  await stopProxy(ctx);
  ctx.gateway?.close();
  ctx.caller?.close();
});

test('a re-INVITE with SDP after the BYE reaches the callee as sent and opens no media session', async ({ port, gateway, caller, relay }) => {
  const callId = 'ended1';
  caller.send(request({ user: '4930123', peer: caller, proxyPort: port, callId, body: sdp(CALLER, 40000) }), port);
  const invite = await gateway.waitFor(isRequest('INVITE', callId));
  gateway.sendMessage(answer(invite, 200, gateway, sdp(GATEWAY, 42000)), port);
  const ok = await caller.waitFor(isResponse(callId));
  const routes = ok.getAll('record-route').reverse();
  const uri = `sip:gw@${GATEWAY}:${gateway.port}`;
  caller.send(request({ method: 'ACK', user: '4930123', peer: caller, proxyPort: port, callId, toTag: 'gw1', uri, routes }), port);
  await gateway.waitFor(isRequest('ACK', callId));
  assert.is(relay!.size, 1, 'the call\'s media session');
  caller.send(request({ method: 'BYE', user: '4930123', peer: caller, proxyPort: port, callId, toTag: 'gw1', cseq: 2, uri, routes }), port);
  const bye = await gateway.waitFor(isRequest('BYE', callId));
  gateway.sendMessage(createResponse(bye, 200), port);
  await caller.waitFor(isResponse(callId, 'BYE'));
  await until(() => relay!.size === 0, 3000, 'media session released');

  const offer = sdp(CALLER, 40100, 2);
  caller.send(request({ user: '4930123', peer: caller, proxyPort: port, callId, toTag: 'gw1', cseq: 3, uri, routes, body: offer }), port);
  const reinvite = await gateway.waitFor((m): m is SipRequest => isRequest('INVITE', callId)(m) && m.cseq?.seq === 3);
  assert.is(reinvite.body.toString('latin1'), offer, 'not anchored: the ended dialog has no media');
  gateway.sendMessage(createResponse(reinvite, 481), port);
  const refused = await caller.waitFor((m): m is SipResponse => isResponse(callId)(m) && m.cseq?.seq === 3);
  assert.is(refused.status, 481);
  assert.is(relay!.size, 0, 'no media session opened again');
});

test.run();
