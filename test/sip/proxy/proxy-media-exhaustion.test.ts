/**
 * Media ports used up, seen from SIP (real sockets on loopback): a media range of one stream. A
 * second call gets a clean 503 and never reaches the trunk; a 2xx whose SDP cannot be anchored is
 * ACKed and ended with BYE toward the callee while the caller gets 503; the first call is not
 * disturbed, and once it ends the ports serve the next call.
 */
import * as assert from 'uvu/assert';
import { suite } from '../../support/suite.ts';
import { freePortRange } from '../../media/udp-peer.ts';
import type { MediaRelay } from '../../../src/media/MediaRelay.ts';
import type { SipProxy } from '../../../src/sip/proxy/Proxy.ts';
import { createResponse, type SipResponse } from '../../../src/sip/wire/message.ts';
import { PROXY, SipPeer, answer, freeSipPort, isRequest, isResponse, request, sdp, until, startProxy, stopProxy } from '../../support/sip-peer.ts';

const CALLER = '127.0.0.2';
const GATEWAY = '127.0.0.21';

interface Context {
  relay: MediaRelay;
  proxy: SipProxy;
  port: number;
  gateway: SipPeer;
  caller: SipPeer;
}

const test = suite<Context>('sip/proxy media ports exhausted', { timeoutMs: 15_000 });

test.before(async (ctx) => {
  ctx.port = await freeSipPort();
  const ports = await freePortRange(4);
  ctx.gateway = await SipPeer.udp(GATEWAY);
  ctx.caller = await SipPeer.udp(CALLER);
  Object.assign(ctx, await startProxy(`
sip:
  listen: [{ transport: udp, address: ${PROXY}, port: ${ctx.port} }]
  timers: { t1Ms: 40, t2Ms: 400, t4Ms: 500, inviteTimeoutMs: 10000 }
media:
  address: ${PROXY}
  ports: { min: ${ports.min}, max: ${ports.min + 3} }
  quarantineMs: 0
  shards: 1
trunks:
  - { name: gw, host: ${GATEWAY}, port: ${ctx.gateway.port} }
routes:
  - { trunk: gw }
admission: { upstreamNetworks: [${CALLER}] }
log: { level: silent }
`));
});

test.after(async (ctx) => {
  await stopProxy(ctx);
  ctx.gateway?.close();
  ctx.caller?.close();
});

async function call(ctx: Context, callId: string): Promise<SipResponse> {
  ctx.caller.send(request({ user: '100', peer: ctx.caller, proxyPort: ctx.port, callId, body: sdp(CALLER, 40000) }), ctx.port);
  const invite = await ctx.gateway.waitFor(isRequest('INVITE', callId)).catch((err: Error) => {
    throw new Error(`${err.message}; the caller got ${ctx.caller.received.filter((m) => m.callId === callId).map((m) => (m.kind === 'response' ? `${m.status} ${m.reason}` : m.method)).join(', ')}`);
  });
  ctx.gateway.sendMessage(answer(invite, 200, ctx.gateway, sdp(GATEWAY, 42000)), ctx.port);
  const ok = await ctx.caller.waitFor(isResponse(callId));
  assert.is(ok.status, 200);
  return ok;
}

async function hangUp(ctx: Context, ok: SipResponse): Promise<void> {
  const callId = ok.callId!;
  const routes = ok.getAll('record-route').reverse();
  const uri = `sip:gw@${GATEWAY}:${ctx.gateway.port}`;
  ctx.caller.send(request({ method: 'ACK', user: '100', peer: ctx.caller, proxyPort: ctx.port, callId, toTag: 'gw1', uri, routes }), ctx.port);
  ctx.caller.send(request({ method: 'BYE', user: '100', peer: ctx.caller, proxyPort: ctx.port, callId, toTag: 'gw1', cseq: 2, uri, routes }), ctx.port);
  const bye = await ctx.gateway.waitFor(isRequest('BYE', callId));
  ctx.gateway.sendMessage(createResponse(bye, 200), ctx.port);
  assert.is((await ctx.caller.waitFor(isResponse(callId, 'BYE'))).status, 200);
}

test('out of media ports: 503 to the caller, nothing to the trunk; a 2xx that cannot be anchored is ACKed and BYEd', async (ctx) => {
  const first = await call(ctx, 'holds-ports');
  assert.equal(ctx.relay.keys().length, 1);

  ctx.caller.send(request({ user: '100', peer: ctx.caller, proxyPort: ctx.port, callId: 'no-ports', body: sdp(CALLER, 40002) }), ctx.port);
  const refused = await ctx.caller.waitFor(isResponse('no-ports'));
  assert.is(refused.status, 503);
  assert.match(refused.reason, /media/i);
  assert.not.ok(ctx.gateway.received.some(isRequest('INVITE', 'no-ports')), 'the trunk never sees the call');

  // Late offer: the INVITE carries no SDP, so it goes out; the offer in the 200 finds no ports.
  ctx.caller.send(request({ user: '100', peer: ctx.caller, proxyPort: ctx.port, callId: 'late-no-ports' }), ctx.port);
  const invite = await ctx.gateway.waitFor(isRequest('INVITE', 'late-no-ports'));
  ctx.gateway.sendMessage(answer(invite, 200, ctx.gateway, sdp(GATEWAY, 42004)), ctx.port);
  assert.is((await ctx.caller.waitFor(isResponse('late-no-ports'))).status, 503);
  const ack = await ctx.gateway.waitFor(isRequest('ACK', 'late-no-ports'));
  assert.is(ack.to?.tag, 'gw1');
  const bye = await ctx.gateway.waitFor(isRequest('BYE', 'late-no-ports'));
  assert.match(bye.get('reason') ?? '', 'media unavailable');
  ctx.gateway.sendMessage(createResponse(bye, 200), ctx.port);
  assert.not.ok(ctx.caller.received.some((m) => m.kind === 'response' && m.callId === 'late-no-ports' && m.status === 200), 'the caller never sees the 200');

  // The first call is untouched; once it ends, its ports carry the next call.
  const firstKey = `${first.callId}|c${first.callId}`;
  assert.equal(ctx.relay.keys(), [firstKey]);
  await hangUp(ctx, first);
  await until(() => ctx.relay.keys().length === 0, 3000, 'media session not released');
  // Releases of one key are serialized: this returns once the proxy's release has given the ports back.
  await ctx.relay.release(firstKey);
  const next = await call(ctx, 'after-release');
  await hangUp(ctx, next);
});

test.run();
