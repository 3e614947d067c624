/**
 * Admission over real sockets on loopback: who may make pinlatch send what, where. Every role has
 * its own 127.0.0.x address (sources are what admission judges); a victim socket stands for "any
 * host" and must never receive a byte.
 */
import dgram from 'node:dgram';
import net from 'node:net';
import * as assert from 'uvu/assert';
import { suite } from '../../support/suite.ts';
import { bindingRequest } from '../../support/stun.ts';
import { freePortRange } from '../../media/udp-peer.ts';
import type { MediaRelay } from '../../../src/media/MediaRelay.ts';
import type { SipProxy } from '../../../src/sip/proxy/Proxy.ts';
import { createResponse, type SipMessage } from '../../../src/sip/wire/message.ts';
import { PROXY, SipPeer, answer, freeSipPort, isRequest, isResponse, request, startProxy, stopProxy, until } from '../../support/sip-peer.ts';

const PBX = '127.0.0.30';
const GATEWAY = '127.0.0.31';
const STRANGER = '127.0.0.32';
const PARTNER = '127.0.0.33';
const VICTIM = '127.0.0.34';

interface Context {
  relay: MediaRelay;
  proxy: SipProxy;
  port: number;
  pbx: SipPeer;
  gateway: SipPeer;
  victim: SipPeer;
  victimTcp: net.Server;
  victimTcpPort: number;
  victimConnections: number;
}

const test = suite<Context>('sip/edge/proxy-admission', { timeoutMs: 20_000 });

test.before(async (ctx) => {
  ctx.port = await freeSipPort();
  const ports = await freePortRange(16);
  ctx.pbx = await SipPeer.udp(PBX);
  ctx.gateway = await SipPeer.udp(GATEWAY);
  ctx.victim = await SipPeer.udp(VICTIM);
  ctx.victimConnections = 0;
  ctx.victimTcp = net.createServer((s) => {
    ctx.victimConnections += 1;
    s.destroy();
  });
  await new Promise<void>((resolve) => ctx.victimTcp.listen(0, VICTIM, resolve));
  ctx.victimTcpPort = (ctx.victimTcp.address() as net.AddressInfo).port;
  Object.assign(ctx, await startProxy(`
sip:
  listen: [{ transport: udp, address: ${PROXY}, port: ${ctx.port} }, { transport: tcp, address: ${PROXY}, port: ${ctx.port} }]
  timers: { t1Ms: 40, t2Ms: 400, t4Ms: 500, inviteTimeoutMs: 10000 }
media:
  address: ${PROXY}
  ports: { min: ${ports.min}, max: ${ports.max} }
  shards: 1
trunks:
  - { name: gateway, host: ${GATEWAY}, port: ${ctx.gateway.port} }
routes:
  - { match: { user: "800.*" }, trunk: gateway, from: [${PARTNER}] }
  - { match: { user: "\\\\+?[0-9]+" }, trunk: gateway }
upstream: sip:${PBX}:${ctx.pbx.port}
log: { level: silent }
`));
});

test.after(async (ctx) => {
  await stopProxy(ctx);
  for (const peer of [ctx.pbx, ctx.gateway, ctx.victim]) peer?.close();
  ctx.victimTcp?.close();
});

const settle = () => new Promise((r) => setTimeout(r, 300));

function nothingFor(peer: SipPeer, callId: string): void {
  const got = peer.received.filter((m: SipMessage) => m.callId === callId);
  assert.equal(got.map((m) => (m.kind === 'request' ? m.method : m.status)), [], `${peer.address} received nothing of ${callId}`);
}

test('a stranger calling a trunk number gets 403 and nothing reaches the gateway', async (ctx) => {
  const stranger = await SipPeer.udp(STRANGER);
  try {
    for (const [i, user] of ['4930123456', '+4930123456', '900123'].entries()) {
      const callId = `fraud-${i}`;
      stranger.send(request({ user, peer: stranger, proxyPort: ctx.port, callId }), ctx.port);
      const response = await stranger.waitFor(isResponse(callId));
      assert.is(response.status, 403);
      assert.not.ok(stranger.received.some((m) => m.callId === callId && m.kind === 'response' && m.status === 100), 'no 100 Trying: no transaction');
      await settle();
      nothingFor(ctx.gateway, callId);
    }
    assert.ok(ctx.proxy.gate.counters.refused >= 3);
  } finally {
    stranger.close();
  }
});

test('a scanner is dropped without an answer', async (ctx) => {
  const stranger = await SipPeer.udp(STRANGER);
  try {
    const callId = 'scan-1';
    const invite = request({ user: '100', peer: stranger, proxyPort: ctx.port, callId }).replace('Max-Forwards:', 'User-Agent: friendly-scanner\r\nMax-Forwards:');
    stranger.send(invite, ctx.port);
    await settle();
    assert.equal(stranger.received.length, 0);
    nothingFor(ctx.gateway, callId);
    assert.ok(ctx.proxy.gate.counters.scanners >= 1);
  } finally {
    stranger.close();
  }
});

test('the upstream PBX reaches the trunk; the trunk reaches the upstream; a from-network uses its route only', async (ctx) => {
  const { pbx, gateway } = ctx;
  pbx.send(request({ user: '4930111', peer: pbx, proxyPort: ctx.port, callId: 'ok-pbx' }), ctx.port);
  const invite = await gateway.waitFor(isRequest('INVITE', 'ok-pbx'));
  gateway.sendMessage(createResponse(invite, 486), ctx.port, PROXY);
  assert.is((await pbx.waitFor(isResponse('ok-pbx'))).status, 486);

  gateway.send(request({ user: '200', peer: gateway, proxyPort: ctx.port, callId: 'ok-gw' }), ctx.port);
  const toPbx = await pbx.waitFor(isRequest('INVITE', 'ok-gw'));
  pbx.sendMessage(createResponse(toPbx, 486), ctx.port, PROXY);
  assert.is((await gateway.waitFor(isResponse('ok-gw'))).status, 486);

  const partner = await SipPeer.udp(PARTNER);
  try {
    partner.send(request({ user: '8001234', peer: partner, proxyPort: ctx.port, callId: 'ok-partner' }), ctx.port);
    const fromPartner = await gateway.waitFor(isRequest('INVITE', 'ok-partner'));
    gateway.sendMessage(createResponse(fromPartner, 486), ctx.port, PROXY);
    assert.is((await partner.waitFor(isResponse('ok-partner'))).status, 486);
    partner.send(request({ user: '4930111', peer: partner, proxyPort: ctx.port, callId: 'no-partner' }), ctx.port);
    assert.is((await partner.waitFor(isResponse('no-partner'))).status, 403);
    await settle();
    nothingFor(gateway, 'no-partner');
  } finally {
    partner.close();
  }
});

test('OPTIONS to pinlatch itself is answered to a stranger (keepalives, monitoring)', async (ctx) => {
  const stranger = await SipPeer.udp(STRANGER);
  try {
    stranger.send(request({ method: 'OPTIONS', user: 'pinlatch', peer: stranger, proxyPort: ctx.port, callId: 'ping-1', uri: `sip:${PROXY}:${ctx.port}` }), ctx.port);
    assert.is((await stranger.waitFor(isResponse('ping-1', 'OPTIONS'))).status, 200);
  } finally {
    stranger.close();
  }
});

test('without phones, a STUN Binding request on the SIP port gets no answer: pinlatch reflects nothing', async (ctx) => {
  const socket = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, STRANGER, resolve));
  const received: Buffer[] = [];
  socket.on('message', (data) => received.push(data));
  try {
    socket.send(bindingRequest(), ctx.port, PROXY);
    // An OPTIONS after it from the same socket: its 200 shows the proxy had read the Binding request.
    const options = request({ method: 'OPTIONS', user: 'pinlatch', peer: { address: STRANGER, port: socket.address().port, transport: 'UDP' }, proxyPort: ctx.port, callId: 'stun-1', uri: `sip:${PROXY}:${ctx.port}` });
    socket.send(Buffer.from(options, 'latin1'), ctx.port, PROXY);
    await until(() => received.length > 0, 5000, 'no answer to the OPTIONS');
    await new Promise((r) => setTimeout(r, 100));
    assert.is(received.length, 1, 'one datagram back: the 200 to the OPTIONS');
    assert.ok(received[0]!.toString('latin1').startsWith('SIP/2.0 200'), received[0]!.toString('latin1').slice(0, 40));
  } finally {
    socket.close();
  }
});

test("a stranger's made-up in-dialog requests reach no one: no token → 481, forged token → 403", async (ctx) => {
  const stranger = await SipPeer.udp(STRANGER);
  const target = `sip:x@${VICTIM}:${ctx.victim.port}`;
  const bigBody = 'A'.repeat(60_000);
  const cases: Array<{ method: string; uri: string; routes: string[]; status: number; body?: string }> = [
    { method: 'INVITE', uri: target, routes: [`<sip:${PROXY}:${ctx.port};lr>`], status: 481 },
    { method: 'MESSAGE', uri: target, routes: [`<sip:${PROXY}:${ctx.port};lr>`], status: 481, body: bigBody },
    { method: 'BYE', uri: target, routes: [], status: 481 },
    { method: 'OPTIONS', uri: target, routes: [], status: 481 },
    { method: 'BYE', uri: `sip:x@${PROXY}:${ctx.port};maddr=${VICTIM}`, routes: [`<sip:${PROXY}:${ctx.port};lr>`], status: 481 },
    { method: 'BYE', uri: `sip:x@${VICTIM}:${ctx.victimTcpPort};transport=tcp`, routes: [`<sip:${PROXY}:${ctx.port};lr>`], status: 481 },
    { method: 'INFO', uri: target, routes: [`<sip:${PROXY}:${ctx.port};lr;plt=0123456789abcdef01234567>`], status: 403 },
    { method: 'BYE', uri: `sip:${PROXY}:${ctx.port};lr;pin=gateway;plt=AAAAAAAAAAAAAAAA`, routes: [`<${target}>`], status: 403 },
  ];
  try {
    for (const [i, c] of cases.entries()) {
      const callId = `forged-${i}`;
      let text = request({ method: c.method, user: 'x', peer: stranger, proxyPort: ctx.port, callId, toTag: 'madeup', uri: c.uri, routes: c.routes });
      if (c.body) text = text.replace('Content-Length: 0\r\n\r\n', `Content-Type: text/plain\r\nContent-Length: ${c.body.length}\r\n\r\n${c.body}`);
      stranger.send(text, ctx.port);
      const response = await stranger.waitFor(isResponse(callId, c.method));
      assert.is(response.status, c.status, `${c.method} ${c.uri}`);
    }
    stranger.send(request({ method: 'ACK', user: 'x', peer: stranger, proxyPort: ctx.port, callId: 'forged-ack', toTag: 'madeup', uri: target, routes: [`<sip:${PROXY}:${ctx.port};lr>`] }), ctx.port);
    await settle();
    assert.equal(ctx.victim.received.map((m) => m.callId), [], 'the victim received nothing');
    assert.is(ctx.victimConnections, 0, 'no TCP connection to the victim');
    nothingFor(ctx.gateway, 'forged-7');
  } finally {
    stranger.close();
  }
});

test('inside a real dialog: a Request-URI redirected to another host is refused, a token reused for another Call-ID too', async (ctx) => {
  const { pbx, gateway } = ctx;
  const callId = 'real-1';
  pbx.send(request({ user: '4930222', peer: pbx, proxyPort: ctx.port, callId }), ctx.port);
  const invite = await gateway.waitFor(isRequest('INVITE', callId));
  gateway.sendMessage(answer(invite, 200, gateway), ctx.port, PROXY);
  const ok = await pbx.waitFor(isResponse(callId));
  assert.is(ok.status, 200);
  const routes = ok.getAll('record-route').reverse();
  pbx.send(request({ method: 'ACK', user: 'gw', peer: pbx, proxyPort: ctx.port, callId, toTag: 'gw1', uri: `sip:gw@${GATEWAY}:${gateway.port}`, routes }), ctx.port);
  await gateway.waitFor(isRequest('ACK', callId));

  // The PBX's own in-dialog request, with the Request-URI pointing elsewhere: 403, nothing sent.
  pbx.send(request({ method: 'INFO', user: 'gw', peer: pbx, proxyPort: ctx.port, callId, toTag: 'gw1', cseq: 2, uri: `sip:gw@${VICTIM}:${ctx.victim.port}`, routes }), ctx.port);
  const redirected = await pbx.waitFor(isResponse(callId, 'INFO'));
  assert.is(redirected.status, 403);
  assert.is(redirected.reason, 'Next Hop Not In Dialog');

  // A stranger who saw this dialog's Record-Route uses it for a call of its own.
  const stranger = await SipPeer.udp(STRANGER);
  try {
    stranger.send(request({ method: 'BYE', user: 'x', peer: stranger, proxyPort: ctx.port, callId: 'real-1-copy', toTag: 'gw1', uri: `sip:x@${VICTIM}:${ctx.victim.port}`, routes }), ctx.port);
    assert.is((await stranger.waitFor(isResponse('real-1-copy', 'BYE'))).status, 403);
  } finally {
    stranger.close();
  }
  await settle();
  assert.equal(ctx.victim.received.map((m) => m.callId), []);

  // The dialog itself still works: BYE along the route to the gateway's Contact.
  pbx.send(request({ method: 'BYE', user: 'gw', peer: pbx, proxyPort: ctx.port, callId, toTag: 'gw1', cseq: 3, uri: `sip:gw@${GATEWAY}:${gateway.port}`, routes }), ctx.port);
  const bye = await gateway.waitFor(isRequest('BYE', callId));
  gateway.sendMessage(createResponse(bye, 200), ctx.port, PROXY);
  assert.is((await pbx.waitFor(isResponse(callId, 'BYE'))).status, 200);
});


/** `invite` with its top Via padded (a header parameter) to `length` bytes, the line's name included. */
function withViaOf(invite: string, length: number): string {
  return invite.replace(/^Via: [^\r]*/m, (via) => `${via};pad=${'x'.repeat(length - via.length - 5)}`);
}

test('a request that would pass the field limit once its Via is stamped gets 513 and is not forwarded; one just under is', async (ctx) => {
  const { pbx, gateway } = ctx;
  const atLimit = withViaOf(request({ user: '4930111', peer: pbx, proxyPort: ctx.port, callId: 'via-at-limit' }), 16_381);
  assert.is(/^Via: [^\r]*/m.exec(atLimit)![0].length, 16_381, 'the Via line as received is within the 16384-byte field limit');
  pbx.send(atLimit, ctx.port);
  const refused = await pbx.waitFor(isResponse('via-at-limit'));
  assert.is(refused.status, 513);
  pbx.send(request({ method: 'ACK', user: '4930111', peer: pbx, proxyPort: ctx.port, callId: 'via-at-limit', toTag: refused.to!.tag }), ctx.port);
  await settle();
  nothingFor(gateway, 'via-at-limit');

  pbx.send(withViaOf(request({ user: '4930111', peer: pbx, proxyPort: ctx.port, callId: 'via-under-limit' }), 16_000), ctx.port);
  const forwarded = await gateway.waitFor(isRequest('INVITE', 'via-under-limit'));
  assert.ok(forwarded.getAll('via')[1]!.length > 16_000, 'the stamped Via goes on below pinlatch\'s own');
  gateway.sendMessage(createResponse(forwarded, 486), ctx.port, PROXY);
  assert.is((await pbx.waitFor((m) => m.kind === 'response' && m.callId === 'via-under-limit' && m.status === 486)).status, 486);
});

test.run();
