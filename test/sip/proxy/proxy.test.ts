/**
 * SipProxy over real sockets on loopback: MediaRelay and SipProxy run in-process from a
 * configuration built by parseConfig; callers and gateways are plain dgram/net sockets on other
 * 127.0.0.x addresses (trunks are recognised by source address, so each role has its own).
 */
import dgram from 'node:dgram';
import * as assert from 'uvu/assert';
import { suite } from '../../support/suite.ts';
import { freePortRange } from '../../media/udp-peer.ts';
import type { MediaRelay } from '../../../src/media/MediaRelay.ts';
import type { SipProxy } from '../../../src/sip/proxy/Proxy.ts';
import { createResponse, type SipMessage, type SipRequest, type SipResponse } from '../../../src/sip/wire/message.ts';
import { PROXY, SipPeer, answer, freeSipPort, isRequest, isResponse, request, sdp, sdpPort, until, startProxy, stopProxy } from '../../support/sip-peer.ts';

const CALLER = '127.0.0.2';
const GATEWAY = '127.0.0.3';
const SILENT = '127.0.0.4';
const CLOSED = '127.0.0.5';

interface Context {
  relay: MediaRelay;
  proxy: SipProxy;
  port: number;
  ports: { min: number; max: number };
  gateway: SipPeer;
  silent: dgram.Socket;
}

const test = suite<Context>('sip/proxy', { timeoutMs: 15_000 });

test.before(async (ctx) => {
  ctx.port = await freeSipPort();
  ctx.ports = await freePortRange(40);
  ctx.gateway = await SipPeer.udp(GATEWAY);
  ctx.silent = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => ctx.silent.bind(0, SILENT, resolve));
  Object.assign(ctx, await startProxy(`
sip:
  listen: [{ transport: udp, address: ${PROXY}, port: ${ctx.port} }, { transport: tcp, address: ${PROXY}, port: ${ctx.port} }]
  advertise: ${PROXY}
  timers: { t1Ms: 40, t2Ms: 400, t4Ms: 500, inviteTimeoutMs: 10000 }
media:
  address: ${PROXY}
  advertise: ${PROXY}
  ports: { min: ${ctx.ports.min}, max: ${ctx.ports.max} }
  shards: 1
  timeoutSec: 2
trunks:
  - { name: gateway, host: ${GATEWAY}, port: ${ctx.gateway.port} }
  - { name: silent, host: ${SILENT}, port: ${ctx.silent.address().port} }
  - { name: closed, host: ${CLOSED}, port: 5999, transport: tcp }
  - { name: self, host: ${PROXY}, port: ${ctx.port} }
routes:
  - { match: { user: "49.*" }, trunk: gateway }
  - { match: { user: "408.*" }, trunk: silent }
  - { match: { user: "503.*" }, trunk: closed }
  - { match: { user: "loop.*" }, trunk: self }
admission: { upstreamNetworks: [${CALLER}] }
log: { level: silent }
`));
});

test.after(async (ctx) => {
  await stopProxy(ctx);
  ctx.gateway?.close();
  ctx.silent?.close();
});

test('listens on UDP and TCP of the configured address', ({ proxy, port }) => {
  const points = proxy.listenPoints.map((p) => `${p.transport} ${p.address}:${p.port}`).sort();
  assert.equal(points, [`tcp ${PROXY}:${port}`, `udp ${PROXY}:${port}`]);
});

test('malformed request → 400 with the reason, sent to the source; malformed response dropped', async ({ port }) => {
  const caller = await SipPeer.udp(CALLER);
  try {
    caller.send(
      [
        `INVITE sip:49@${PROXY} SIP/2.0`,
        `Via: SIP/2.0/UDP ${CALLER}:9;branch=z9hG4bKbad1`,
        'From: <sip:a@example.com>;tag=1',
        'To: <sip:b@example.com>',
        'Call-ID: malformed-1',
        'CSeq: 1 INVITE',
        'Max-Forwards: lots',
        'Content-Length: 0',
        '',
        '',
      ].join('\r\n'),
      port,
    );
    caller.send(`SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP ${PROXY}:${port};branch=z9hG4bKx\r\nCSeq: nope\r\nContent-Length: 0\r\n\r\n`, port);
    const response = await caller.waitFor(isResponse('malformed-1'));
    assert.is(response.status, 400);
    assert.match(response.reason, /max-forwards/i);
    await new Promise((r) => setTimeout(r, 200));
    assert.is(caller.received.length, 1, 'nothing answers the malformed response');
  } finally {
    caller.close();
  }
});

test('Max-Forwards 0 → 483; no route → 404; a loop back to the proxy → 482', async ({ port }) => {
  const caller = await SipPeer.udp(CALLER);
  try {
    caller.send(request({ user: '4930', peer: caller, proxyPort: port, callId: 'mf0', maxForwards: 0 }), port);
    caller.send(request({ user: 'nobody', peer: caller, proxyPort: port, callId: 'noroute' }), port);
    caller.send(request({ user: 'loop', peer: caller, proxyPort: port, callId: 'loop1' }), port);
    assert.is((await caller.waitFor(isResponse('mf0'))).status, 483);
    assert.is((await caller.waitFor(isResponse('noroute'))).status, 404);
    assert.is((await caller.waitFor(isResponse('loop1'))).status, 482);
  } finally {
    caller.close();
  }
});

test('OPTIONS to the proxy itself (keepalive) → 200 with Allow, from a trunk too; OPTIONS for a user is routed', async ({ port, gateway }) => {
  const caller = await SipPeer.udp(CALLER);
  try {
    caller.send(request({ method: 'OPTIONS', user: 'pinlatch', peer: caller, proxyPort: port, callId: 'ping1', uri: `sip:${PROXY}:${port}` }), port);
    const pong = await caller.waitFor(isResponse('ping1', 'OPTIONS'));
    assert.is(pong.status, 200);
    assert.match(pong.get('allow') ?? '', 'INVITE');
    assert.ok(pong.to?.tag, 'a To tag of its own (§8.2.6.2)');
    // From the gateway (a trunk, whose requests would go to the upstream) and with Max-Forwards 0.
    gateway.send(request({ method: 'OPTIONS', user: 'pinlatch', peer: gateway, proxyPort: port, callId: 'ping2', uri: `sip:${PROXY}:${port}`, maxForwards: 0 }), port);
    assert.is((await gateway.waitFor(isResponse('ping2', 'OPTIONS'))).status, 200);
    // An OPTIONS for a number goes where an INVITE for it would.
    caller.send(request({ method: 'OPTIONS', user: '4930', peer: caller, proxyPort: port, callId: 'ping3' }), port);
    const routed = await gateway.waitFor(isRequest('OPTIONS', 'ping3'));
    gateway.sendMessage(createResponse(routed, 200), port);
    assert.is((await caller.waitFor(isResponse('ping3', 'OPTIONS'))).status, 200);
  } finally {
    caller.close();
  }
});

test('a trunk that never answers → 408; an unreachable TCP trunk → 503', async ({ port }) => {
  const caller = await SipPeer.udp(CALLER);
  try {
    caller.send(request({ user: '408', peer: caller, proxyPort: port, callId: 'silent1' }), port);
    caller.send(request({ user: '503', peer: caller, proxyPort: port, callId: 'closed1' }), port);
    assert.is((await caller.waitFor(isResponse('closed1'))).status, 503);
    // Timer B = 64·T1 = 2.56 s with T1 = 40 ms.
    assert.is((await caller.waitFor(isResponse('silent1'), 6000)).status, 408);
    assert.ok(caller.received.some((m) => m.kind === 'response' && m.status === 100 && m.callId === 'silent1'), '100 Trying first');
  } finally {
    caller.close();
  }
});

/** INVITE (with SDP) → 180 → 200 → ACK through the proxy; returns what each side saw. */
async function establish(ctx: Context, caller: SipPeer, callId: string) {
  const { port, gateway } = ctx;
  caller.send(request({ user: '4930123', peer: caller, proxyPort: port, callId, body: sdp(CALLER, 40000) }), port);
  const invite = await gateway.waitFor(isRequest('INVITE', callId));
  gateway.sendMessage(answer(invite, 180, gateway), port);
  gateway.sendMessage(answer(invite, 200, gateway, sdp(GATEWAY, 42000, 7)), port);
  const ok = await caller.waitFor(isResponse(callId));
  const routes = ok.getAll('record-route').reverse();
  caller.send(
    request({ method: 'ACK', user: '4930123', peer: caller, proxyPort: port, callId, toTag: 'gw1', uri: `sip:gw@${GATEWAY}:${gateway.port}`, routes }),
    port,
  );
  const ack = await gateway.waitFor(isRequest('ACK', callId));
  return { invite, ok, ack, routes };
}

test('INVITE with SDP is anchored both ways; BYE releases the media session', async (ctx) => {
  const caller = await SipPeer.udp(CALLER);
  try {
    const { invite, ok, routes } = await establish(ctx, caller, 'anchored1');
    const inRange = (p: number) => p >= ctx.ports.min && p <= ctx.ports.max;
    assert.match(invite.body.toString(), `c=IN IP4 ${PROXY}`);
    assert.ok(inRange(sdpPort(invite)), `gateway sees a relay port (${sdpPort(invite)})`);
    assert.match(ok.body.toString(), `c=IN IP4 ${PROXY}`);
    assert.ok(inRange(sdpPort(ok)), `caller sees a relay port (${sdpPort(ok)})`);
    assert.is(invite.topVia!.transport, 'UDP');
    assert.match(invite.get('record-route') ?? '', ';lr');
    assert.equal(ctx.relay.keys().length, 1);

    caller.send(
      request({ method: 'BYE', user: '4930123', peer: caller, proxyPort: ctx.port, callId: 'anchored1', toTag: 'gw1', cseq: 2, uri: `sip:gw@${GATEWAY}:${ctx.gateway.port}`, routes }),
      ctx.port,
    );
    const bye = await ctx.gateway.waitFor(isRequest('BYE', 'anchored1'));
    ctx.gateway.sendMessage(createResponse(bye, 200), ctx.port);
    assert.is((await caller.waitFor(isResponse('anchored1', 'BYE'))).status, 200);
    await until(() => ctx.relay.keys().length === 0, 3000, 'media session not released');
  } finally {
    caller.close();
  }
});

test('a call over TCP: responses come back on the caller\'s connection, double Record-Route', async (ctx) => {
  const caller = await SipPeer.tcp(CALLER, ctx.port);
  try {
    const { invite, ok, routes } = await establish(ctx, caller, 'tcp1');
    assert.is(ok.status, 200);
    assert.is(invite.topVia!.transport, 'UDP', 'toward the UDP gateway the Via says UDP');
    assert.is(routes.length, 2, 'one Record-Route per interface (RFC 5658)');
    assert.match(routes[0]!, 'transport=tcp', 'the caller-facing entry is TCP');
    caller.send(
      request({ method: 'BYE', user: '4930123', peer: caller, proxyPort: ctx.port, callId: 'tcp1', toTag: 'gw1', cseq: 2, uri: `sip:gw@${GATEWAY}:${ctx.gateway.port}`, routes }),
      ctx.port,
    );
    const bye = await ctx.gateway.waitFor(isRequest('BYE', 'tcp1'));
    assert.is(bye.routes.length, 0, 'both own Route entries removed');
    ctx.gateway.sendMessage(createResponse(bye, 200), ctx.port);
    assert.is((await caller.waitFor(isResponse('tcp1', 'BYE'))).status, 200);
    await until(() => ctx.relay.keys().length === 0, 3000, 'media session not released');
  } finally {
    caller.close();
  }
});

function originVersion(message: SipMessage): number {
  return Number(/^o=\S+ \S+ (\d+)/m.exec(message.body.toString('latin1'))![1]);
}

test('re-INVITE: o= versions continue per direction, +1 only when the relayed SDP changed (RFC 3264 §8)', async (ctx) => {
  const caller = await SipPeer.udp(CALLER);
  const { port, gateway } = ctx;
  try {
    const { invite, ok, routes } = await establish(ctx, caller, 'reinv1');
    assert.is(originVersion(invite), 1);
    assert.is(originVersion(ok), 7);
    const uri = `sip:gw@${GATEWAY}:${gateway.port}`;
    const reinvite = async (cseq: number, body: string, gatewayVersion: number) => {
      caller.received.length = 0;
      gateway.received.length = 0;
      caller.send(request({ user: '4930123', peer: caller, proxyPort: port, callId: 'reinv1', toTag: 'gw1', cseq, uri, routes, body }), port);
      const offer = await gateway.waitFor(isRequest('INVITE', 'reinv1'));
      gateway.sendMessage(answer(offer, 200, gateway, sdp(GATEWAY, 42000, gatewayVersion)), port);
      const reply = await caller.waitFor(isResponse('reinv1'));
      caller.send(request({ method: 'ACK', user: '4930123', peer: caller, proxyPort: port, callId: 'reinv1', toTag: 'gw1', cseq, uri, routes }), port);
      await gateway.waitFor(isRequest('ACK', 'reinv1'));
      return { offer, reply };
    };
    // Hold: the relayed offer changes (sendonly) → 2; the gateway's answer is unchanged → still 7.
    const hold = await reinvite(2, sdp(CALLER, 40000, 2, 'sendonly'), 8);
    assert.is(originVersion(hold.offer), 2);
    assert.is(originVersion(hold.reply), 7);
    // The same offer again with a new caller port: the relay's ports stay, the output is unchanged → 2.
    const same = await reinvite(3, sdp(CALLER, 40002, 3, 'sendonly'), 9);
    assert.is(originVersion(same.offer), 2);
    // Resume: changed again → 3.
    const resume = await reinvite(4, sdp(CALLER, 40000, 4), 10);
    assert.is(originVersion(resume.offer), 3);
    caller.send(request({ method: 'BYE', user: '4930123', peer: caller, proxyPort: port, callId: 'reinv1', toTag: 'gw1', cseq: 5, uri, routes }), port);
    const bye = await gateway.waitFor(isRequest('BYE', 'reinv1'));
    gateway.sendMessage(createResponse(bye, 200), port);
    await caller.waitFor(isResponse('reinv1', 'BYE'));
  } finally {
    caller.close();
  }
});

test('a re-INVITE CANCELled while its offer is being anchored gets 487; an INVITE likewise', async (ctx) => {
  const caller = await SipPeer.udp(CALLER);
  const { port, gateway } = ctx;
  const cancelOf = (text: string, cseq: number) => {
    const keep = text.split('\r\n').filter((l) => /^(Via|From|To|Call-ID):/i.test(l));
    const uri = /^INVITE (\S+)/.exec(text)![1];
    return [`CANCEL ${uri} SIP/2.0`, ...keep, `CSeq: ${cseq} CANCEL`, 'Max-Forwards: 70', 'Content-Length: 0', '', ''].join('\r\n');
  };
  /** Sends INVITE and CANCEL back to back; whoever ends the INVITE, the caller gets 487 and nothing stays open. */
  const inviteAndCancel = async (callId: string, text: string, cseq: number) => {
    caller.send(text, port);
    caller.send(cancelOf(text, cseq), port);
    assert.is((await caller.waitFor(isResponse(callId, 'CANCEL'))).status, 200);
    const final = caller.waitFor((m: SipMessage): m is SipResponse => m.kind === 'response' && m.callId === callId && m.cseq?.method === 'INVITE' && m.cseq.seq === cseq && m.status >= 200, 4000);
    // If the INVITE left before the CANCEL was read, the gateway ends it (§9.2); else it never sees it.
    const forwarded = await gateway.waitFor((m: SipMessage): m is SipRequest => m.kind === 'request' && m.method === 'INVITE' && m.callId === callId && m.cseq?.seq === cseq, 300).catch(() => null);
    if (forwarded) {
      // §9.1: the proxy sends its CANCEL only once the branch has a provisional response.
      gateway.sendMessage(answer(forwarded, 180, gateway), port);
      const cancel = await gateway.waitFor(isRequest('CANCEL', callId));
      gateway.sendMessage(createResponse(cancel, 200), port);
      gateway.sendMessage(answer(forwarded, 487, gateway), port);
    }
    assert.is((await final).status, 487);
  };
  try {
    const { routes } = await establish(ctx, caller, 'cancel-reinv');
    const uri = `sip:gw@${GATEWAY}:${gateway.port}`;
    await inviteAndCancel('cancel-reinv', request({ user: '4930123', peer: caller, proxyPort: port, callId: 'cancel-reinv', toTag: 'gw1', cseq: 2, uri, routes, body: sdp(CALLER, 40000, 2, 'sendonly') }), 2);
    await inviteAndCancel('cancel-new', request({ user: '4930123', peer: caller, proxyPort: port, callId: 'cancel-new', body: sdp(CALLER, 40004) }), 1);
    caller.send(request({ method: 'BYE', user: '4930123', peer: caller, proxyPort: port, callId: 'cancel-reinv', toTag: 'gw1', cseq: 3, uri, routes }), port);
    const bye = await gateway.waitFor(isRequest('BYE', 'cancel-reinv'));
    gateway.sendMessage(createResponse(bye, 200), port);
    await caller.waitFor(isResponse('cancel-reinv', 'BYE'));
    await until(() => ctx.relay.keys().length === 0, 3000, 'media sessions not released');
  } finally {
    caller.close();
  }
});

test('in-dialog UPDATE with an SDP offer is anchored both ways; INFO is relayed along the route set', async (ctx) => {
  const caller = await SipPeer.udp(CALLER);
  const { port, gateway } = ctx;
  try {
    const { routes, invite } = await establish(ctx, caller, 'update1');
    const relayPortTowardGateway = sdpPort(invite);
    const uri = `sip:gw@${GATEWAY}:${gateway.port}`;
    const inRange = (p: number) => p >= ctx.ports.min && p <= ctx.ports.max;

    caller.send(request({ method: 'UPDATE', user: '4930123', peer: caller, proxyPort: port, callId: 'update1', toTag: 'gw1', cseq: 2, uri, routes, body: sdp(CALLER, 40010, 2, 'sendonly') }), port);
    const update = await gateway.waitFor(isRequest('UPDATE', 'update1'));
    assert.is(update.uriText, uri, 'the Request-URI is the remote target');
    assert.is(update.routes.length, 0, 'own Route entries removed');
    assert.match(update.body.toString(), `c=IN IP4 ${PROXY}`);
    assert.not.match(update.body.toString(), `c=IN IP4 ${CALLER}`, 'no media address of the caller');
    assert.is(sdpPort(update), relayPortTowardGateway, 'the stream keeps its relay port');
    assert.match(update.body.toString(), 'a=sendonly');
    gateway.sendMessage(answer(update, 200, gateway, sdp(GATEWAY, 42010, 8, 'recvonly')), port);
    const updated = await caller.waitFor(isResponse('update1', 'UPDATE'));
    assert.is(updated.status, 200);
    assert.match(updated.body.toString(), `c=IN IP4 ${PROXY}`);
    assert.ok(inRange(sdpPort(updated)), `caller sees a relay port (${sdpPort(updated)})`);
    assert.not.match(updated.body.toString(), `c=IN IP4 ${GATEWAY}`, 'no media address of the gateway');

    caller.send(request({ method: 'INFO', user: '4930123', peer: caller, proxyPort: port, callId: 'update1', toTag: 'gw1', cseq: 3, uri, routes }), port);
    const info = await gateway.waitFor(isRequest('INFO', 'update1'));
    assert.is(info.uriText, uri);
    gateway.sendMessage(createResponse(info, 200), port);
    assert.is((await caller.waitFor(isResponse('update1', 'INFO'))).status, 200);

    caller.send(request({ method: 'BYE', user: '4930123', peer: caller, proxyPort: port, callId: 'update1', toTag: 'gw1', cseq: 4, uri, routes }), port);
    const bye = await gateway.waitFor(isRequest('BYE', 'update1'));
    gateway.sendMessage(createResponse(bye, 200), port);
    await caller.waitFor(isResponse('update1', 'BYE'));
    await until(() => ctx.relay.keys().length === 0, 3000, 'media session not released');
  } finally {
    caller.close();
  }
});

test('late offer: INVITE without SDP, offer in the 200 and answer in the ACK are both anchored', async (ctx) => {
  const caller = await SipPeer.udp(CALLER);
  const { port, gateway } = ctx;
  try {
    caller.send(request({ user: '4930123', peer: caller, proxyPort: port, callId: 'late1' }), port);
    const invite = await gateway.waitFor(isRequest('INVITE', 'late1'));
    assert.is(invite.body.length, 0);
    gateway.sendMessage(answer(invite, 200, gateway, sdp(GATEWAY, 42020, 3)), port);
    const ok = await caller.waitFor(isResponse('late1'));
    assert.match(ok.body.toString(), `c=IN IP4 ${PROXY}`);
    const offerPort = sdpPort(ok);
    assert.ok(offerPort >= ctx.ports.min && offerPort <= ctx.ports.max, `caller sees a relay port (${offerPort})`);
    const routes = ok.getAll('record-route').reverse();
    const uri = `sip:gw@${GATEWAY}:${gateway.port}`;
    caller.send(request({ method: 'ACK', user: '4930123', peer: caller, proxyPort: port, callId: 'late1', toTag: 'gw1', uri, routes, body: sdp(CALLER, 40020) }), port);
    const ack = await gateway.waitFor(isRequest('ACK', 'late1'));
    assert.match(ack.body.toString(), `c=IN IP4 ${PROXY}`);
    assert.not.match(ack.body.toString(), `c=IN IP4 ${CALLER}`);
    const answerPort = sdpPort(ack);
    assert.ok(answerPort >= ctx.ports.min && answerPort <= ctx.ports.max && answerPort !== offerPort, `gateway sees the other leg's relay port (${answerPort})`);

    caller.send(request({ method: 'BYE', user: '4930123', peer: caller, proxyPort: port, callId: 'late1', toTag: 'gw1', cseq: 2, uri, routes }), port);
    const bye = await gateway.waitFor(isRequest('BYE', 'late1'));
    gateway.sendMessage(createResponse(bye, 200), port);
    await caller.waitFor(isResponse('late1', 'BYE'));
    await until(() => ctx.relay.keys().length === 0, 3000, 'media session not released');
  } finally {
    caller.close();
  }
});

test('media inactivity: BYE toward both sides, session released, the call counted as failed by media_timeout', async (ctx) => {
  const caller = await SipPeer.udp(CALLER);
  const timedOut = () => ctx.proxy.counters.callsFailed.get('media_timeout') ?? 0;
  const before = timedOut();
  try {
    await establish(ctx, caller, 'idle1');
    const toCaller = await caller.waitFor(isRequest('BYE', 'idle1'), 8000);
    const toGateway = await ctx.gateway.waitFor(isRequest('BYE', 'idle1'), 2000);
    assert.match(toCaller.get('reason') ?? '', 'media timeout');
    assert.is(toGateway.uri.toString(), `sip:gw@${GATEWAY}:${ctx.gateway.port}`);
    caller.sendMessage(createResponse(toCaller, 200), ctx.port);
    ctx.gateway.sendMessage(createResponse(toGateway, 200), ctx.port);
    await until(() => ctx.relay.keys().length === 0, 3000, 'media session not released');
    assert.is(timedOut(), before + 1);
  } finally {
    caller.close();
  }
});

test('a call ringing longer than the media timeout keeps its media session; the clock starts again at the answer', async (ctx) => {
  const caller = await SipPeer.udp(CALLER);
  const { port, gateway } = ctx;
  try {
    const callId = 'long-ring';
    caller.send(request({ user: '4930123', peer: caller, proxyPort: port, callId, body: sdp(CALLER, 40000) }), port);
    const invite = await gateway.waitFor(isRequest('INVITE', callId));
    gateway.sendMessage(answer(invite, 180, gateway), port);
    const key = `${callId}|c${callId}`;
    const offered = sdpPort(invite);
    // timeoutSec is 2: ring for 3.5 s without early media.
    await new Promise((r) => setTimeout(r, 3500));
    assert.ok(ctx.relay.get(key), 'the session survives the ringing');
    assert.is(ctx.relay.get(key)!.streams[0]!.b.rtp, offered, 'the ports the gateway was offered are still the relay\'s');
    gateway.sendMessage(answer(invite, 200, gateway, sdp(GATEWAY, 42000)), port);
    const ok = await caller.waitFor(isResponse(callId));
    assert.is(ok.status, 200);
    await new Promise((r) => setTimeout(r, 1000));
    assert.not.ok(caller.received.some(isRequest('BYE', callId)), 'no BYE right after the answer');
    // Without media after the answer, the timeout ends the call as usual.
    const bye = await caller.waitFor(isRequest('BYE', callId), 6000);
    caller.sendMessage(createResponse(bye, 200), port);
    const towardGateway = await gateway.waitFor(isRequest('BYE', callId), 2000);
    gateway.sendMessage(createResponse(towardGateway, 200), port);
    await until(() => ctx.relay.keys().length === 0, 3000, 'media session not released');
  } finally {
    caller.close();
  }
});

test('media inactivity with proxies on both sides: each BYE follows that side\'s route set', async (ctx) => {
  const caller = await SipPeer.udp(CALLER);
  const upstream = await SipPeer.udp('127.0.0.6');
  const downstream = await SipPeer.udp('127.0.0.7');
  const { port, gateway } = ctx;
  try {
    const callId = 'idle-routed';
    // As if a proxy in front of the caller and one in front of the gateway had record-routed.
    const invite = request({ user: '4930123', peer: caller, proxyPort: port, callId, body: sdp(CALLER, 40000) })
      .replace('Max-Forwards:', `Record-Route: <sip:127.0.0.6:${upstream.port};lr>\r\nMax-Forwards:`);
    caller.send(invite, port);
    const atGateway = await gateway.waitFor(isRequest('INVITE', callId));
    const ok = answer(atGateway, 200, gateway, sdp(GATEWAY, 42000));
    ok.prepend('Record-Route', `<sip:127.0.0.7:${downstream.port};lr>`);
    gateway.sendMessage(ok, port);
    const relayed = await caller.waitFor(isResponse(callId));
    assert.equal(relayed.getAll('record-route').length, 3, 'the caller sees all three entries');

    const towardCaller = await upstream.waitFor(isRequest('BYE', callId), 8000);
    assert.equal(towardCaller.getAll('route'), [`<sip:127.0.0.6:${upstream.port};lr>`]);
    assert.is(towardCaller.uriText, `sip:caller@${CALLER}:${caller.port}`, 'the Request-URI is the caller\'s Contact');
    const towardGateway = await downstream.waitFor(isRequest('BYE', callId), 2000);
    assert.equal(towardGateway.getAll('route'), [`<sip:127.0.0.7:${downstream.port};lr>`]);
    assert.is(towardGateway.uriText, `sip:gw@${GATEWAY}:${gateway.port}`);
    assert.not.ok(gateway.received.some(isRequest('BYE', callId)), 'nothing skips the downstream proxy');
    assert.not.ok(caller.received.some(isRequest('BYE', callId)), 'nothing skips the upstream proxy');
    upstream.sendMessage(createResponse(towardCaller, 200), port);
    downstream.sendMessage(createResponse(towardGateway, 200), port);
    await until(() => ctx.relay.keys().length === 0, 3000, 'media session not released');
  } finally {
    caller.close();
    upstream.close();
    downstream.close();
  }
});

test.run();
