/**
 * A forking proxy downstream answers one forwarded INVITE twice, with two To tags (two dialogs on
 * the same client transaction, RFC 3261 §13.2.2.4, §16.7 step 5). One call has one media session,
 * so pinlatch passes the first dialog to the caller and ends the second itself: it ACKs that 2xx
 * (the same ACK again for its retransmission) and sends a BYE toward its callee with a Reason
 * (RFC 3326). The first dialog's call goes on: the caller's ACK and BYE reach the gateway.
 * Real UDP sockets on loopback, the gateway a hand-written UAS.
 */
import * as assert from 'uvu/assert';
import { suite } from '../../support/suite.ts';
import { freePortRange } from '../../media/udp-peer.ts';
import { createResponse, type SipRequest, type SipResponse } from '../../../src/sip/wire/message.ts';
import { SipPeer, answer, freeSipPort, isRequest, isResponse, request, sdp, startProxy, stopProxy, type ProxyUnderTest } from '../../support/sip-peer.ts';

const PROXY = '127.0.93.1';
const CALLER = '127.0.93.2';
const GATEWAY = '127.0.93.3';

interface Context extends Partial<ProxyUnderTest> {
  port: number;
  gateway: SipPeer;
  caller: SipPeer;
}

const test = suite<Context>('sip/proxy: a second dialog on the winning branch', { timeoutMs: 20_000 });

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

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const toTagOf = (m: SipRequest | SipResponse) => m.to?.tag;

test('the second 2xx is ACKed and ended with BYE toward its callee; the caller sees and keeps the first', async ({ port, gateway, caller }) => {
  const callId = 'fork2';
  caller.send(request({ user: '4930123', peer: caller, proxyPort: port, callId, body: sdp(CALLER, 40000) }), port);
  const invite = await gateway.waitFor(isRequest('INVITE', callId));
  const first = answer(invite, 200, gateway, sdp(GATEWAY, 42000), 'gw1');
  gateway.sendMessage(first, port);
  const ok = await caller.waitFor(isResponse(callId));
  assert.is(ok.to?.tag, 'gw1');

  // A second UAS behind the forking proxy answers too: another To tag, another Contact.
  const second = answer(invite, 200, gateway, sdp(GATEWAY, 42100), 'gw2');
  second.set('Contact', `<sip:second@${GATEWAY}:${gateway.port}>`);
  gateway.sendMessage(second, port);
  const ack2 = await gateway.waitFor((m): m is SipRequest => isRequest('ACK', callId)(m) && toTagOf(m) === 'gw2');
  assert.is(ack2.uriText, `sip:second@${GATEWAY}:${gateway.port}`, 'to the second 2xx\'s Contact (§13.2.2.4)');
  assert.is(ack2.cseq?.seq, invite.cseq?.seq);
  assert.is(ack2.from?.tag, invite.from?.tag);
  const bye2 = await gateway.waitFor((m): m is SipRequest => isRequest('BYE', callId)(m) && toTagOf(m) === 'gw2');
  assert.is(bye2.uriText, `sip:second@${GATEWAY}:${gateway.port}`);
  assert.match(bye2.get('reason') ?? '', /cause=200;text="Call completed elsewhere"/);
  assert.is(bye2.cseq?.seq, (invite.cseq?.seq ?? 0) + 1);
  gateway.sendMessage(createResponse(bye2, 200), port);

  // Its 2xx again (the ACK crossed it): the same ACK again, no second BYE.
  gateway.sendMessage(second, port);
  await until(() => gateway.received.filter((m) => isRequest('ACK', callId)(m) && toTagOf(m) === 'gw2').length === 2, 'the ACK again');
  const acks = gateway.received.filter((m): m is SipRequest => isRequest('ACK', callId)(m) && toTagOf(m) === 'gw2');
  assert.is(acks[1]!.serialize().toString('latin1'), acks[0]!.serialize().toString('latin1'));
  await sleep(200);
  assert.is(gateway.received.filter((m) => isRequest('BYE', callId)(m)).length, 1);
  assert.is(caller.received.filter((m) => isResponse(callId)(m) && m.to?.tag === 'gw2').length, 0, 'the caller never sees gw2');

  // The first dialog's call goes on: ACK and BYE from the caller reach the gateway on gw1.
  const routes = ok.getAll('record-route').reverse();
  const uri = `sip:gw@${GATEWAY}:${gateway.port}`;
  caller.send(request({ method: 'ACK', user: '4930123', peer: caller, proxyPort: port, callId, toTag: 'gw1', uri, routes }), port);
  const ack1 = await gateway.waitFor((m): m is SipRequest => isRequest('ACK', callId)(m) && toTagOf(m) === 'gw1');
  assert.is(ack1.uriText, uri);
  caller.send(request({ method: 'BYE', user: '4930123', peer: caller, proxyPort: port, callId, toTag: 'gw1', cseq: 2, uri, routes }), port);
  const bye1 = await gateway.waitFor((m): m is SipRequest => isRequest('BYE', callId)(m) && toTagOf(m) === 'gw1');
  assert.is(bye1.get('reason'), undefined, 'the caller\'s own BYE');
  gateway.sendMessage(createResponse(bye1, 200), port);
  assert.is((await caller.waitFor(isResponse(callId, 'BYE'))).status, 200);
});

async function until(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 3000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`${what} within 3000 ms`);
    await sleep(20);
  }
}

test.run();
