/**
 * Forking over real sockets on loopback (RFC 3261 §16.6–16.7): a route naming several trunks is
 * tried serially (failover) or in parallel, and the proxy's response context picks what goes
 * upstream. Each trunk is a plain UDP peer on its own 127.0.0.x address.
 */
import * as assert from 'uvu/assert';
import { suite } from '../../support/suite.ts';
import { UdpPeer, freePortRange, rtpPacket } from '../../media/udp-peer.ts';
import type { MediaRelay } from '../../../src/media/MediaRelay.ts';
import type { SipProxy } from '../../../src/sip/proxy/Proxy.ts';
import { createResponse, type SipMessage, type SipRequest, type SipResponse } from '../../../src/sip/wire/message.ts';
import { PROXY, SipPeer, answer, freeSipPort, isRequest, isResponse, request, sdp, sdpPort, until, startProxy, stopProxy } from '../../support/sip-peer.ts';

const CALLER = '127.0.0.2';
const A = '127.0.0.11';
const B = '127.0.0.12';
const SILENT = '127.0.0.13';

interface Context {
  relay: MediaRelay;
  proxy: SipProxy;
  port: number;
  a: SipPeer;
  b: SipPeer;
  silent: SipPeer;
  caller: SipPeer;
}

const test = suite<Context>('sip/proxy forking', { timeoutMs: 15_000 });

test.before(async (ctx) => {
  ctx.port = await freeSipPort();
  // Released ports rest 2 s (quarantine): room for every call of this file within that time.
  const ports = await freePortRange(80);
  ctx.a = await SipPeer.udp(A);
  ctx.b = await SipPeer.udp(B);
  ctx.silent = await SipPeer.udp(SILENT);
  Object.assign(ctx, await startProxy(`
sip:
  listen: [{ transport: udp, address: ${PROXY}, port: ${ctx.port} }]
  timers: { t1Ms: 40, t2Ms: 400, t4Ms: 500, inviteTimeoutMs: 10000 }
media:
  address: ${PROXY}
  ports: { min: ${ports.min}, max: ${ports.max} }
  shards: 1
trunks:
  - { name: a, host: ${A}, port: ${ctx.a.port} }
  - { name: b, host: ${B}, port: ${ctx.b.port}, pinRoute: true }
  - { name: silent, host: ${SILENT}, port: ${ctx.silent.port} }
routes:
  - { match: { user: "serial.*" }, trunks: [a, b] }
  - { match: { user: "quick.*" }, trunks: [silent, b], failoverAfterMs: 300 }
  - { match: { user: "parallel.*" }, trunks: [a, b], fork: parallel }
admission: { upstreamNetworks: [${CALLER}] }
log: { level: silent }
`));
});

test.before.each(async (ctx) => {
  ctx.caller = await SipPeer.udp(CALLER);
  for (const peer of [ctx.a, ctx.b, ctx.silent]) peer.received.length = 0;
});

test.after.each((ctx) => {
  ctx.caller?.close();
});

test.after(async (ctx) => {
  await stopProxy(ctx);
  for (const peer of [ctx.a, ctx.b, ctx.silent]) peer?.close();
});

function invite(ctx: Context, user: string, callId: string): void {
  ctx.caller.send(request({ user, peer: ctx.caller, proxyPort: ctx.port, callId, body: sdp(CALLER, 40000) }), ctx.port);
}

const finals = (peer: SipPeer, callId: string) =>
  peer.received.filter((m): m is SipResponse => m.kind === 'response' && m.callId === callId && m.cseq?.method === 'INVITE' && m.status >= 200);

/** ACK and BYE from the caller along the route set of `ok`, answered by `gateway`. */
async function hangUp(ctx: Context, ok: SipResponse, gateway: SipPeer, user: string): Promise<void> {
  const callId = ok.callId!;
  const routes = ok.getAll('record-route').reverse();
  const uri = `sip:gw@${gateway.address}:${gateway.port}`;
  const toTag = ok.to!.tag!;
  ctx.caller.send(request({ method: 'ACK', user, peer: ctx.caller, proxyPort: ctx.port, callId, toTag, uri, routes }), ctx.port);
  await gateway.waitFor(isRequest('ACK', callId));
  ctx.caller.send(request({ method: 'BYE', user, peer: ctx.caller, proxyPort: ctx.port, callId, toTag, cseq: 2, uri, routes }), ctx.port);
  const bye = await gateway.waitFor(isRequest('BYE', callId));
  gateway.sendMessage(createResponse(bye, 200), ctx.port);
  assert.is((await ctx.caller.waitFor(isResponse(callId, 'BYE'))).status, 200);
}

test('serial: a 5xx from the first trunk moves the call to the next one', async (ctx) => {
  invite(ctx, 'serial1', 'ser-5xx');
  const first = await ctx.a.waitFor(isRequest('INVITE', 'ser-5xx'));
  assert.is(ctx.b.received.length, 0, 'the second trunk waits its turn');
  ctx.a.sendMessage(answer(first, 500, ctx.a, undefined, 'ta'), ctx.port);
  await ctx.a.waitFor(isRequest('ACK', 'ser-5xx'));
  const second = await ctx.b.waitFor(isRequest('INVITE', 'ser-5xx'));
  assert.is.not(second.topVia!.branch, first.topVia!.branch, 'a branch of its own');
  assert.match(second.uriText, `@${B}:${ctx.b.port}`, 'Request-URI names the second trunk');
  assert.match(second.get('record-route') ?? '', 'pin=b', 'the second trunk is pinned');
  assert.match(second.body.toString(), `c=IN IP4 ${PROXY}`);
  ctx.b.sendMessage(answer(second, 200, ctx.b, sdp(B, 42000), 'tb'), ctx.port);
  const ok = await ctx.caller.waitFor(isResponse('ser-5xx'));
  assert.is(ok.status, 200);
  assert.equal(finals(ctx.caller, 'ser-5xx').map((r) => r.status), [200], 'the 500 never reached the caller');
  await hangUp(ctx, ok, ctx.b, 'serial1');
  await until(() => ctx.relay.keys().length === 0, 3000, 'media session not released');
});

test('serial: a 4xx is the answer about the call — no failover', async (ctx) => {
  invite(ctx, 'serial2', 'ser-486');
  const first = await ctx.a.waitFor(isRequest('INVITE', 'ser-486'));
  ctx.a.sendMessage(answer(first, 486, ctx.a, undefined, 'ta'), ctx.port);
  assert.is((await ctx.caller.waitFor(isResponse('ser-486'))).status, 486);
  await new Promise((r) => setTimeout(r, 200));
  assert.ok(!ctx.b.received.some(isRequest('INVITE', 'ser-486')), 'the second trunk is not tried');
  await until(() => ctx.relay.keys().length === 0, 3000, 'media session not released');
});

test('serial: every trunk fails → the best response; a 503 from downstream goes up as 500 (§16.7 step 6)', async (ctx) => {
  invite(ctx, 'serial3', 'ser-all');
  const first = await ctx.a.waitFor(isRequest('INVITE', 'ser-all'));
  ctx.a.sendMessage(answer(first, 503, ctx.a, undefined, 'ta'), ctx.port);
  const second = await ctx.b.waitFor(isRequest('INVITE', 'ser-all'));
  ctx.b.sendMessage(answer(second, 502, ctx.b, undefined, 'tb'), ctx.port);
  // Same class: the first kept stays; it was a 503 from downstream, so the caller gets 500.
  const final = await ctx.caller.waitFor(isResponse('ser-all'));
  assert.is(final.status, 500);
  await new Promise((r) => setTimeout(r, 200));
  assert.equal([...new Set(finals(ctx.caller, 'ser-all').map((r) => r.status))], [500], 'one final response (retransmitted until ACKed)');
  await until(() => ctx.relay.keys().length === 0, 3000, 'media session not released');
});

test('serial with failoverAfterMs: a trunk that sends nothing is given up early', async (ctx) => {
  invite(ctx, 'quick1', 'ser-quick');
  await ctx.silent.waitFor(isRequest('INVITE', 'ser-quick'));
  const started = Date.now();
  const second = await ctx.b.waitFor(isRequest('INVITE', 'ser-quick'), 3000);
  // Well before Timer B (64 x 40 ms = 2.56 s): the failover timer, not the transaction timeout.
  assert.ok(Date.now() - started < 2000, 'failover before Timer B');
  ctx.b.sendMessage(answer(second, 200, ctx.b, sdp(B, 42000), 'tb'), ctx.port);
  const ok = await ctx.caller.waitFor(isResponse('ser-quick'));
  assert.is(ok.status, 200);
  await hangUp(ctx, ok, ctx.b, 'quick1');
});

test('parallel: both trunks ring; the first 2xx wins, the other branch is cancelled', async (ctx) => {
  invite(ctx, 'parallel1', 'par-win');
  const atA = await ctx.a.waitFor(isRequest('INVITE', 'par-win'));
  const atB = await ctx.b.waitFor(isRequest('INVITE', 'par-win'));
  assert.is.not(atA.topVia!.branch, atB.topVia!.branch);
  assert.match(atB.get('record-route') ?? '', 'pin=b');
  assert.not.match(atA.get('record-route') ?? '', 'pin=');
  ctx.a.sendMessage(answer(atA, 180, ctx.a, undefined, 'ta'), ctx.port);
  const ringing = await ctx.caller.waitFor((m: SipMessage) => m.kind === 'response' && m.callId === 'par-win' && m.status === 180);
  assert.is(ringing.to?.tag, 'ta', 'a provisional response is forwarded at once (§16.7 step 5)');
  ctx.b.sendMessage(answer(atB, 200, ctx.b, sdp(B, 42000), 'tb'), ctx.port);
  const ok = await ctx.caller.waitFor(isResponse('par-win'));
  assert.is(ok.status, 200);
  assert.is(ok.to?.tag, 'tb');
  const cancel = await ctx.a.waitFor(isRequest('CANCEL', 'par-win'));
  assert.is(cancel.topVia!.branch, atA.topVia!.branch, 'CANCEL on the INVITE\'s branch (§9.1)');
  ctx.a.sendMessage(createResponse(cancel, 200), ctx.port);
  ctx.a.sendMessage(answer(atA, 487, ctx.a, undefined, 'ta'), ctx.port);
  await ctx.a.waitFor(isRequest('ACK', 'par-win'));
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(finals(ctx.caller, 'par-win').map((r) => r.status), [200], 'the 487 stays at the proxy');
  await hangUp(ctx, ok, ctx.b, 'parallel1');
  await until(() => ctx.relay.keys().length === 0, 3000, 'media session not released');
});

test('parallel: a branch that has sent nothing yet gets its CANCEL only after its first provisional response (§9.1)', async (ctx) => {
  invite(ctx, 'parallel7', 'par-quiet');
  const atA = await ctx.a.waitFor(isRequest('INVITE', 'par-quiet'));
  const atB = await ctx.b.waitFor(isRequest('INVITE', 'par-quiet'));
  ctx.b.sendMessage(answer(atB, 200, ctx.b, sdp(B, 42000), 'tb'), ctx.port);
  const ok = await ctx.caller.waitFor(isResponse('par-quiet'));
  await new Promise((r) => setTimeout(r, 300));
  assert.not.ok(ctx.a.received.some(isRequest('CANCEL', 'par-quiet')), 'no CANCEL before a provisional response');
  ctx.a.sendMessage(createResponse(atA, 100), ctx.port);
  const cancel = await ctx.a.waitFor(isRequest('CANCEL', 'par-quiet'));
  assert.is(cancel.topVia!.branch, atA.topVia!.branch);
  ctx.a.sendMessage(createResponse(cancel, 200), ctx.port);
  ctx.a.sendMessage(answer(atA, 487, ctx.a, undefined, 'ta'), ctx.port);
  await ctx.a.waitFor(isRequest('ACK', 'par-quiet'));
  await hangUp(ctx, ok, ctx.b, 'parallel7');
});

test('parallel: a second 2xx (crossing the CANCEL) is ACKed and ended with BYE by the proxy', async (ctx) => {
  invite(ctx, 'parallel2', 'par-late');
  const atA = await ctx.a.waitFor(isRequest('INVITE', 'par-late'));
  const atB = await ctx.b.waitFor(isRequest('INVITE', 'par-late'));
  ctx.b.sendMessage(answer(atB, 200, ctx.b, sdp(B, 42000), 'tb'), ctx.port);
  const ok = await ctx.caller.waitFor(isResponse('par-late'));
  assert.is(ok.to?.tag, 'tb');
  const late = answer(atA, 200, ctx.a, sdp(A, 42002), 'ta');
  ctx.a.sendMessage(late, ctx.port);
  const ack = await ctx.a.waitFor(isRequest('ACK', 'par-late'));
  assert.is(ack.uriText, `sip:gw@${A}:${ctx.a.port}`, 'ACK to the late answer\'s Contact');
  assert.is(ack.to?.tag, 'ta');
  const bye = await ctx.a.waitFor(isRequest('BYE', 'par-late'));
  assert.is(bye.to?.tag, 'ta');
  ctx.a.sendMessage(createResponse(bye, 200), ctx.port);
  ctx.a.sendMessage(late, ctx.port);
  await until(() => ctx.a.received.filter(isRequest('ACK', 'par-late')).length === 2, 2000, 'a retransmitted 2xx is ACKed again');
  await new Promise((r) => setTimeout(r, 200));
  assert.is(ctx.a.received.filter(isRequest('BYE', 'par-late')).length, 1, 'one BYE');
  assert.equal(finals(ctx.caller, 'par-late').map((r) => r.to?.tag), ['tb'], 'the caller sees one dialog');
  await hangUp(ctx, ok, ctx.b, 'parallel2');
});

test('parallel: early media from the losing branch, answer from the winner — leg B follows the winner', async (ctx) => {
  const callerRtp = await UdpPeer.open(CALLER);
  const rtpA = await UdpPeer.open(A);
  const rtpB = await UdpPeer.open(B);
  try {
    ctx.caller.send(request({ user: 'parallel6', peer: ctx.caller, proxyPort: ctx.port, callId: 'par-media', body: sdp(CALLER, callerRtp.port) }), ctx.port);
    const atA = await ctx.a.waitFor(isRequest('INVITE', 'par-media'));
    const atB = await ctx.b.waitFor(isRequest('INVITE', 'par-media'));
    const relayB = sdpPort(atB);
    assert.is(sdpPort(atA), relayB, 'both branches are offered the same leg B ports');
    ctx.a.sendMessage(answer(atA, 183, ctx.a, sdp(A, rtpA.port), 'ta'), ctx.port);
    await ctx.caller.waitFor((m: SipMessage) => m.kind === 'response' && m.callId === 'par-media' && m.status === 183);
    // A's early media reaches the caller while A is the only one with an answer.
    await rtpA.send(rtpPacket(0xa, 1), relayB, PROXY);
    await callerRtp.waitFor((r) => r.some((p) => p.data.readUInt32BE(8) === 0xa), 2000, "A's early media");
    ctx.b.sendMessage(answer(atB, 200, ctx.b, sdp(B, rtpB.port), 'tb'), ctx.port);
    const ok = await ctx.caller.waitFor(isResponse('par-media'));
    assert.is(ok.to?.tag, 'tb');
    const cancel = await ctx.a.waitFor(isRequest('CANCEL', 'par-media'));
    ctx.a.sendMessage(createResponse(cancel, 200), ctx.port);
    ctx.a.sendMessage(answer(atA, 487, ctx.a, undefined, 'ta'), ctx.port);
    // Now leg B belongs to B: its media goes through, A's (still sending) is dropped.
    callerRtp.received.length = 0;
    for (let seq = 2; seq <= 11; seq++) {
      await rtpA.send(rtpPacket(0xa, seq), relayB, PROXY);
      await rtpB.send(rtpPacket(0xb, seq), relayB, PROXY);
    }
    await callerRtp.waitFor((r) => r.filter((p) => p.data.readUInt32BE(8) === 0xb).length >= 8, 2000, "B's media");
    await new Promise((r) => setTimeout(r, 100));
    assert.is(callerRtp.received.filter((p) => p.data.readUInt32BE(8) === 0xa).length, 0, 'nothing from the losing branch');
    await hangUp(ctx, ok, ctx.b, 'parallel6');
  } finally {
    await callerRtp.close();
    await rtpA.close();
    await rtpB.close();
  }
});

test('parallel: no 2xx → the best response (4xx over 5xx; 6xx over all) and the media is released', async (ctx) => {
  invite(ctx, 'parallel3', 'par-4xx');
  const a1 = await ctx.a.waitFor(isRequest('INVITE', 'par-4xx'));
  const b1 = await ctx.b.waitFor(isRequest('INVITE', 'par-4xx'));
  ctx.a.sendMessage(answer(a1, 500, ctx.a, undefined, 'ta'), ctx.port);
  ctx.b.sendMessage(answer(b1, 486, ctx.b, undefined, 'tb'), ctx.port);
  assert.is((await ctx.caller.waitFor(isResponse('par-4xx'))).status, 486);
  await until(() => ctx.relay.keys().length === 0, 3000, 'media session not released');

  invite(ctx, 'parallel4', 'par-6xx');
  const a2 = await ctx.a.waitFor(isRequest('INVITE', 'par-6xx'));
  const b2 = await ctx.b.waitFor(isRequest('INVITE', 'par-6xx'));
  ctx.a.sendMessage(answer(a2, 180, ctx.a, undefined, 'ta'), ctx.port);
  ctx.b.sendMessage(answer(b2, 603, ctx.b, undefined, 'tb'), ctx.port);
  // §16.7 step 5: a 6xx cancels the other branches; the 6xx goes up once they are done.
  const cancel = await ctx.a.waitFor(isRequest('CANCEL', 'par-6xx'));
  ctx.a.sendMessage(createResponse(cancel, 200), ctx.port);
  ctx.a.sendMessage(answer(a2, 487, ctx.a, undefined, 'ta'), ctx.port);
  assert.is((await ctx.caller.waitFor(isResponse('par-6xx'))).status, 603);
  await until(() => ctx.relay.keys().length === 0, 3000, 'media session not released');
});

test('parallel: the caller cancels → every branch is cancelled, the caller gets 487', async (ctx) => {
  const callId = 'par-cancel';
  const text = request({ user: 'parallel5', peer: ctx.caller, proxyPort: ctx.port, callId, body: sdp(CALLER, 40000) });
  ctx.caller.send(text, ctx.port);
  const atA = await ctx.a.waitFor(isRequest('INVITE', callId));
  const atB = await ctx.b.waitFor(isRequest('INVITE', callId));
  // A rings before the CANCEL; B says nothing until after it (its CANCEL waits for its 100, §9.1).
  ctx.a.sendMessage(answer(atA, 180, ctx.a, undefined, 'ta'), ctx.port);
  await ctx.caller.waitFor((m: SipMessage) => m.kind === 'response' && m.callId === callId && m.status === 180);
  const via = /^Via: .*$/m.exec(text)![0];
  ctx.caller.send(
    [`CANCEL sip:parallel5@${PROXY}:${ctx.port} SIP/2.0`, via, 'Max-Forwards: 70', `From: <sip:caller@${CALLER}>;tag=c${callId}`, `To: <sip:parallel5@${PROXY}>`, `Call-ID: ${callId}`, 'CSeq: 1 CANCEL', 'Content-Length: 0', '', ''].join('\r\n'),
    ctx.port,
  );
  assert.is((await ctx.caller.waitFor(isResponse(callId, 'CANCEL'))).status, 200);
  await ctx.a.waitFor(isRequest('CANCEL', callId));
  await new Promise((r) => setTimeout(r, 200));
  assert.not.ok(ctx.b.received.some(isRequest('CANCEL', callId)), 'no CANCEL toward a branch that has not answered yet');
  ctx.b.sendMessage(createResponse(atB, 100), ctx.port);
  for (const [peer, inv, tag] of [[ctx.a, atA, 'ta'], [ctx.b, atB, 'tb']] as Array<[SipPeer, SipRequest, string]>) {
    const cancel = await peer.waitFor(isRequest('CANCEL', callId));
    peer.sendMessage(createResponse(cancel, 200), ctx.port);
    peer.sendMessage(answer(inv, 487, peer, undefined, tag), ctx.port);
  }
  assert.is((await ctx.caller.waitFor(isResponse(callId))).status, 487);
  await until(() => ctx.relay.keys().length === 0, 3000, 'media session not released');
});

test.run();
