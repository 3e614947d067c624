/**
 * SipProxy.drain (what SIGTERM does) and the end of calls whose media is gone, over real sockets
 * on loopback: while draining, new out-of-dialog requests get 503 + Retry-After and requests
 * inside running calls pass; at the deadline answered calls get BYE both ways and ringing ones
 * are cancelled. A media session its restarted shard could not restore ends its call likewise.
 * Each test runs its own proxy: a drain is one-way.
 */
import * as assert from 'uvu/assert';
import { suite } from '../../support/suite.ts';
import { freePortRange } from '../../media/udp-peer.ts';
import { createResponse, type SipRequest } from '../../../src/sip/wire/message.ts';
import {
  PROXY,
  SipPeer,
  answer,
  freeSipPort,
  isRequest,
  isResponse,
  request,
  sdp,
  startProxy,
  stopProxy,
  until,
  type ProxyUnderTest,
} from '../../support/sip-peer.ts';

const CALLER = '127.0.0.2';
const GATEWAY = '127.0.0.3';

interface Edge extends ProxyUnderTest {
  port: number;
  gateway: SipPeer;
  caller: SipPeer;
}

const test = suite('sip/proxy: drain and media loss', { timeoutMs: 30_000 });

async function edge(mediaExtra = ''): Promise<Edge> {
  const port = await freeSipPort();
  const ports = await freePortRange(40);
  const gateway = await SipPeer.udp(GATEWAY);
  const caller = await SipPeer.udp(CALLER);
  const sut = await startProxy(`
sip:
  listen: [{ transport: udp, address: ${PROXY}, port: ${port} }]
  timers: { t1Ms: 40, t2Ms: 400, t4Ms: 1000, inviteTimeoutMs: 10000 }
media:
  address: ${PROXY}
  ports: { min: ${ports.min}, max: ${ports.max} }
  shards: 1
  timeoutSec: 3600
${mediaExtra}
trunks:
  - { name: gateway, host: ${GATEWAY}, port: ${gateway.port} }
routes:
  - { trunk: gateway }
upstream: "sip:${CALLER}:5060"
log: { level: silent }
`);
  return { ...sut, port, gateway, caller };
}

async function stop(e: Edge | undefined): Promise<void> {
  if (!e) return;
  await stopProxy(e);
  e.gateway.close();
  e.caller.close();
}

/** An answered call `callId`; returns the caller's route set toward the gateway. */
async function establish({ port, gateway, caller }: Edge, callId: string): Promise<string[]> {
  caller.send(request({ user: '4930123', peer: caller, proxyPort: port, callId, body: sdp(CALLER, 40000) }), port);
  const invite = await gateway.waitFor(isRequest('INVITE', callId));
  gateway.sendMessage(answer(invite, 200, gateway, sdp(GATEWAY, 42000)), port);
  const ok = await caller.waitFor(isResponse(callId));
  const routes = ok.getAll('record-route').reverse();
  caller.send(request({ method: 'ACK', user: '4930123', peer: caller, proxyPort: port, callId, toTag: 'gw1', uri: `sip:gw@${GATEWAY}:${gateway.port}`, routes }), port);
  await gateway.waitFor(isRequest('ACK', callId));
  return routes;
}

/** Both sides receive the proxy's BYE for `callId` with `reason`, and answer it. */
async function byeBothWays({ port, gateway, caller }: Edge, callId: string, reason: string, ms = 8000): Promise<void> {
  for (const peer of [caller, gateway]) {
    const bye = (await peer.waitFor(isRequest('BYE', callId), ms)) as SipRequest;
    assert.match(bye.get('reason') ?? '', reason);
    peer.sendMessage(createResponse(bye, 200), port);
  }
}

test('draining: new requests get 503 + Retry-After, a running call\'s re-INVITE and BYE pass, the drain ends with the call', async () => {
  let e: Edge | undefined;
  try {
    e = await edge();
    const { proxy, relay, port, gateway, caller } = e;
    const routes = await establish(e, 'running');
    const uri = `sip:gw@${GATEWAY}:${gateway.port}`;
    assert.not.ok(proxy.draining);
    let drained = false;
    const drain = proxy.drain(20_000).then(() => (drained = true));
    assert.ok(proxy.draining);

    caller.send(request({ user: '4930123', peer: caller, proxyPort: port, callId: 'new', body: sdp(CALLER, 40010) }), port);
    const refused = await caller.waitFor(isResponse('new'));
    assert.is(refused.status, 503);
    const retryAfter = Number(refused.get('retry-after'));
    assert.ok(retryAfter >= 1 && retryAfter <= 20, `Retry-After ${retryAfter}`);
    caller.send(request({ method: 'OPTIONS', user: '4930123', peer: caller, proxyPort: port, callId: 'ping' }), port);
    assert.is((await caller.waitFor(isResponse('ping', 'OPTIONS'))).status, 503);
    assert.not.ok(gateway.received.some(isRequest('INVITE', 'new')), 'nothing new reached the gateway');

    // The running call goes on: a re-INVITE (hold) and its answer pass.
    caller.send(request({ user: '4930123', peer: caller, proxyPort: port, callId: 'running', toTag: 'gw1', cseq: 2, uri, routes, body: sdp(CALLER, 40000, 2, 'sendonly') }), port);
    const reinvite = (await gateway.waitFor((m) => isRequest('INVITE', 'running')(m) && m.cseq?.seq === 2)) as SipRequest;
    gateway.sendMessage(answer(reinvite, 200, gateway, sdp(GATEWAY, 42000, 2, 'recvonly')), port);
    await caller.waitFor((m) => isResponse('running')(m) && m.cseq?.seq === 2);
    caller.send(request({ method: 'ACK', user: '4930123', peer: caller, proxyPort: port, callId: 'running', toTag: 'gw1', cseq: 2, uri, routes }), port);
    assert.not.ok(drained, 'the drain waits for the running call');

    // The caller hangs up: the drain is over, long before its deadline.
    caller.send(request({ method: 'BYE', user: '4930123', peer: caller, proxyPort: port, callId: 'running', toTag: 'gw1', cseq: 3, uri, routes }), port);
    const bye = await gateway.waitFor(isRequest('BYE', 'running'));
    gateway.sendMessage(createResponse(bye, 200), port);
    await drain;
    assert.not.ok(gateway.received.some((m) => isRequest('BYE', 'running')(m) && /shutting down/.test(m.get('reason') ?? '')));
    await until(() => relay.keys().length === 0, 3000, 'media session not released');
  } finally {
    await stop(e);
  }
});

test('at the deadline: an answered call gets BYE both ways, a ringing one is cancelled and its caller gets 487', async () => {
  let e: Edge | undefined;
  try {
    e = await edge();
    const { proxy, relay, port, gateway, caller } = e;
    await establish(e, 'answered');
    caller.send(request({ user: '4930123', peer: caller, proxyPort: port, callId: 'ringing', body: sdp(CALLER, 40020) }), port);
    const invite = (await gateway.waitFor(isRequest('INVITE', 'ringing'))) as SipRequest;
    gateway.sendMessage(answer(invite, 180, gateway), port);
    await caller.waitFor(isResponse('ringing', 'INVITE', false));

    const drain = proxy.drain(300);
    await byeBothWays(e, 'answered', 'shutting down');
    const cancel = await gateway.waitFor(isRequest('CANCEL', 'ringing'), 8000);
    gateway.sendMessage(createResponse(cancel, 200), port);
    gateway.sendMessage(answer(invite, 487, gateway), port);
    assert.is((await caller.waitFor(isResponse('ringing'))).status, 487);
    await drain;
    await until(() => relay.keys().length === 0, 3000, 'media sessions not released');
  } finally {
    await stop(e);
  }
});

test('drain(0) during a drain brings the end forward', async () => {
  let e: Edge | undefined;
  try {
    e = await edge();
    await establish(e, 'long');
    const drain = e.proxy.drain(600_000);
    await new Promise((r) => setTimeout(r, 200));
    assert.not.ok(e.gateway.received.some(isRequest('BYE', 'long')));
    void e.proxy.drain(0);
    await byeBothWays(e, 'long', 'shutting down');
    await drain;
  } finally {
    await stop(e);
  }
});

test('a media session its restarted shard could not restore: the answered call gets BYE both ways', async () => {
  let e: Edge | undefined;
  try {
    e = await edge('  restoreTimeoutMs: 0');
    await establish(e, 'unlucky');
    await e.relay.terminateShard(0);
    await byeBothWays(e, 'unlucky', 'media lost');
    assert.equal(e.relay.faultCounters(), { shardRestarts: 1, sessionsRestored: 0, sessionsLost: 1 });
  } finally {
    await stop(e);
  }
});

test('a media session restored on the restarted shard: the call goes on, no BYE', async () => {
  let e: Edge | undefined;
  try {
    e = await edge();
    await establish(e, 'lucky');
    await e.relay.terminateShard(0);
    await until(() => e!.relay.faultCounters().sessionsRestored === 1, 15_000, 'session not restored');
    await new Promise((r) => setTimeout(r, 300));
    assert.not.ok(e.caller.received.some(isRequest('BYE', 'lucky')));
    assert.not.ok(e.gateway.received.some(isRequest('BYE', 'lucky')));
  } finally {
    await stop(e);
  }
});

test.run();
