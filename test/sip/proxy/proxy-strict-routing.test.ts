/**
 * Strict routers (RFC 2543, Record-Route without `lr`) around SipProxy, over real UDP sockets on
 * loopback: MediaRelay and SipProxy in-process from parseConfig, every other party a plain socket
 * on its own 127.0.0.x address.
 *
 * - STRICT is a strict router on the callee side: the trunk `strict` points at it, it answers the
 *   INVITE itself with its own Record-Route (no `lr`) and the Contact of the UA behind it (UA).
 *   The proxy must send in-dialog requests to STRICT, rewritten per §16.6 step 6, never to UA; and
 *   requests STRICT sends back arrive with our Record-Route URI in the Request-URI (§16.4).
 * - PINNED_GW is a trunk with pinRoute; its Contact names DECOY, where nothing may ever arrive.
 */
import { randomBytes } from 'node:crypto';
import * as assert from 'uvu/assert';
import { suite } from '../../support/suite.ts';
import { PROXY, SipPeer, describe, freeSipPort, isRequest, isResponse, startProxy, stopProxy, withoutToken } from '../../support/sip-peer.ts';
import { freePortRange } from '../../media/udp-peer.ts';
import type { MediaRelay } from '../../../src/media/MediaRelay.ts';
import type { SipProxy } from '../../../src/sip/proxy/Proxy.ts';
import { createResponse, type SipRequest, type SipResponse } from '../../../src/sip/wire/message.ts';

const CALLER = '127.0.0.2';
const STRICT = '127.0.0.6';
const UA = '127.0.0.7';
const PINNED_GW = '127.0.0.8';
const DECOY = '127.0.0.9';

interface Context {
  relay: MediaRelay;
  proxy: SipProxy;
  port: number;
  strict: SipPeer;
  ua: SipPeer;
  pinnedGw: SipPeer;
  decoy: SipPeer;
}

interface RequestSpec {
  method: string;
  uri: string;
  from: SipPeer;
  callId: string;
  cseq: number;
  fromTag: string;
  toTag?: string;
  routes?: string[];
  branch?: string;
}

function request(spec: RequestSpec): string {
  return [
    `${spec.method} ${spec.uri} SIP/2.0`,
    `Via: SIP/2.0/UDP ${spec.from.address}:${spec.from.port};branch=${spec.branch ?? `z9hG4bK${randomBytes(6).toString('hex')}`};rport`,
    ...(spec.routes ?? []).map((r) => `Route: ${r}`),
    'Max-Forwards: 70',
    `From: <sip:${spec.fromTag}@${spec.from.address}>;tag=${spec.fromTag}`,
    `To: <sip:peer@${PROXY}>${spec.toTag ? `;tag=${spec.toTag}` : ''}`,
    `Call-ID: ${spec.callId}`,
    `CSeq: ${spec.cseq} ${spec.method}`,
    `Contact: <sip:${spec.fromTag}@${spec.from.address}:${spec.from.port}>`,
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');
}

/** The answer of the party that received `req`: its Record-Route (`ownRecordRoute` on top) and Contact. */
function answer(req: SipRequest, status: number, toTag: string, contact: string, ownRecordRoute?: string): SipResponse {
  const response = createResponse(req, status, { toTag });
  if (ownRecordRoute) response.append('Record-Route', ownRecordRoute);
  for (const rr of req.getAll('record-route')) response.append('Record-Route', rr);
  response.set('Contact', `<${contact}>`);
  return response;
}

/** Route values as a request carries them, element by element. */
const routesOf = (m: SipRequest) => m.routes.map(String);

async function nothingArrives(peer: SipPeer, ms: number): Promise<void> {
  await new Promise((r) => setTimeout(r, ms));
  assert.equal(peer.received.map(describe), [], `${peer.address} received nothing`);
}

const test = suite<Context>('sip/proxy-strict-routing', { timeoutMs: 15_000 });

test.before(async (ctx) => {
  ctx.port = await freeSipPort();
  const ports = await freePortRange(10);
  ctx.strict = await SipPeer.udp(STRICT);
  ctx.ua = await SipPeer.udp(UA);
  ctx.pinnedGw = await SipPeer.udp(PINNED_GW);
  ctx.decoy = await SipPeer.udp(DECOY);
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
trunks:
  - { name: strict, host: ${STRICT}, port: ${ctx.strict.port} }
  - { name: pinned, host: ${PINNED_GW}, port: ${ctx.pinnedGw.port}, pinRoute: true }
routes:
  - { match: { user: "77.*" }, trunk: strict }
  - { match: { user: "49.*" }, trunk: pinned }
admission: { upstreamNetworks: [${CALLER}, ${STRICT}, ${UA}] }
log: { level: silent }
`));
});

test.after(async (ctx) => {
  await stopProxy(ctx);
  for (const peer of [ctx.strict, ctx.ua, ctx.pinnedGw, ctx.decoy]) peer?.close();
});

test('a strict router in the route set: ACK, re-INVITE, its ACK and CANCEL go to it rewritten (§16.6 step 6); its BYE back is restored (§16.4)', async (ctx) => {
  const { port, strict, ua } = ctx;
  const caller = await SipPeer.udp(CALLER);
  const callId = 'strict-downstream-1';
  const strictUri = `sip:${STRICT}:${strict.port}`;
  const uaTarget = `sip:ua@${UA}:${ua.port}`;
  const base = { from: caller, callId, fromTag: 'caller1' };
  try {
    caller.send(request({ ...base, method: 'INVITE', uri: `sip:7700@${PROXY}:${port}`, cseq: 1 }), port, PROXY);
    const invite = await strict.waitFor(isRequest('INVITE', callId));
    assert.is(invite.uriText, `sip:7700@${STRICT}:${strict.port}`);
    // The strict router record-routes without lr, above the proxy's entry.
    strict.send(answer(invite, 200, 'sr1', uaTarget, `<${strictUri}>`), port, PROXY);
    const ok = await caller.waitFor(isResponse(callId));
    const recordRoutes = ok.recordRoutes.map(String);
    assert.equal(recordRoutes.map(withoutToken), [`<${strictUri}>`, `<sip:${PROXY}:${port};lr>`]);
    // The caller is a loose-routing UA (§12.2.1.1): the first route (the proxy) has lr.
    const routes = [...recordRoutes].reverse();
    const inDialog = { ...base, uri: uaTarget, toTag: 'sr1', routes };

    caller.send(request({ ...inDialog, method: 'ACK', cseq: 1 }), port, PROXY);
    const ack = await strict.waitFor(isRequest('ACK', callId));
    assert.is(ack.uriText, strictUri, 'the strict router is the Request-URI');
    assert.equal(routesOf(ack), [`<${uaTarget}>`], 'the remote target is the last Route');

    // A re-INVITE refused with 491: the proxy's hop-by-hop ACK repeats the INVITE's Request-URI and Route.
    const reinviteBranch = `z9hG4bK${randomBytes(6).toString('hex')}`;
    caller.send(request({ ...inDialog, method: 'INVITE', cseq: 2, branch: reinviteBranch }), port, PROXY);
    const reinvite = await strict.waitFor((m): m is SipRequest => isRequest('INVITE', callId)(m) && m.cseq?.seq === 2);
    assert.is(reinvite.uriText, strictUri);
    assert.equal(routesOf(reinvite), [`<${uaTarget}>`]);
    strict.send(answer(reinvite, 491, 'sr1', uaTarget), port, PROXY);
    const hopAck = await strict.waitFor((m): m is SipRequest => isRequest('ACK', callId)(m) && m.cseq?.seq === 2);
    assert.is(hopAck.uriText, reinvite.uriText);
    assert.equal(routesOf(hopAck), routesOf(reinvite));
    assert.is(hopAck.topVia!.branch, reinvite.topVia!.branch, 'the ACK of a non-2xx shares the INVITE branch (§17.1.1.3)');
    assert.ok(await caller.waitFor((m): m is SipResponse => isResponse(callId)(m) && m.status === 491));
    caller.send(request({ ...inDialog, method: 'ACK', cseq: 2, branch: reinviteBranch }), port, PROXY);

    // A re-INVITE the caller cancels: the proxy's CANCEL repeats the INVITE's Request-URI and Route (§9.1).
    const cancelledBranch = `z9hG4bK${randomBytes(6).toString('hex')}`;
    caller.send(request({ ...inDialog, method: 'INVITE', cseq: 3, branch: cancelledBranch }), port, PROXY);
    const third = await strict.waitFor((m): m is SipRequest => isRequest('INVITE', callId)(m) && m.cseq?.seq === 3);
    strict.send(answer(third, 180, 'sr1', uaTarget), port, PROXY);
    await caller.waitFor((m) => m.kind === 'response' && m.callId === callId && m.status === 180);
    caller.send(request({ ...inDialog, method: 'CANCEL', cseq: 3, branch: cancelledBranch, routes: [] }), port, PROXY);
    const cancel = await strict.waitFor(isRequest('CANCEL', callId));
    assert.is(cancel.uriText, third.uriText);
    assert.equal(routesOf(cancel), routesOf(third));
    assert.is(cancel.topVia!.branch, third.topVia!.branch);
    strict.send(createResponse(cancel, 200), port, PROXY);
    strict.send(answer(third, 487, 'sr1', uaTarget), port, PROXY);
    const ack487 = await strict.waitFor((m): m is SipRequest => isRequest('ACK', callId)(m) && m.cseq?.seq === 3);
    assert.is(ack487.uriText, third.uriText);
    assert.equal(routesOf(ack487), routesOf(third));
    assert.is((await caller.waitFor((m): m is SipResponse => isResponse(callId)(m) && m.status === 487)).cseq?.seq, 3);
    caller.send(request({ ...inDialog, method: 'ACK', cseq: 3, branch: cancelledBranch }), port, PROXY);

    // The UA's BYE through the strict router: it put our Record-Route URI into the Request-URI and
    // the caller's Contact into Route (§16.4: restored before routing).
    strict.send(
      request({
        method: 'BYE',
        uri: ok.recordRoutes[1]!.uri.toString(),
        from: strict,
        callId,
        cseq: 1,
        fromTag: 'sr1',
        toTag: 'caller1',
        routes: [`<sip:caller1@${CALLER}:${caller.port}>`],
      }),
      port,
      PROXY,
    );
    const bye = await caller.waitFor(isRequest('BYE', callId));
    assert.is(bye.uriText, `sip:caller1@${CALLER}:${caller.port}`, 'Request-URI restored from the last Route');
    assert.equal(routesOf(bye), [], 'that Route value removed');
    caller.send(createResponse(bye, 200), port, PROXY);
    assert.is((await strict.waitFor(isResponse(callId, 'BYE'))).status, 200);
    await nothingArrives(ua, 100);
  } finally {
    caller.close();
  }
});

test('pinned dialog, RFC 2543 caller: our Record-Route URI with pin in the Request-URI → the pinned gateway, Request-URI its Contact', async (ctx) => {
  const { port, pinnedGw, decoy } = ctx;
  const caller = await SipPeer.udp(CALLER);
  const callId = 'strict-pinned-1';
  const contact = `sip:gw@${DECOY}:${decoy.port}`;
  const base = { from: caller, callId, fromTag: 'caller2' };
  try {
    caller.send(request({ ...base, method: 'INVITE', uri: `sip:4930123@${PROXY}:${port}`, cseq: 1 }), port, PROXY);
    const invite = await pinnedGw.waitFor(isRequest('INVITE', callId));
    const ownRecordRoute = invite.recordRoutes[0]!.uri.toString();
    assert.equal(invite.recordRoutes.map((r) => withoutToken(String(r))), [`<sip:${PROXY}:${port};lr;pin=pinned>`]);
    // The gateway's Contact is an address the pin must not follow.
    pinnedGw.send(answer(invite, 200, 'gw2', contact), port, PROXY);
    await caller.waitFor(isResponse(callId));
    // A strict UA (§12.2.1.1, no lr understood): the first route into the Request-URI, the remote target last.
    const strictInDialog = { ...base, uri: ownRecordRoute, toTag: 'gw2', routes: [`<${contact}>`] };
    caller.send(request({ ...strictInDialog, method: 'ACK', cseq: 1 }), port, PROXY);
    const ack = await pinnedGw.waitFor(isRequest('ACK', callId));
    assert.is(ack.uriText, contact, 'the Request-URI is the gateway\'s Contact again');
    assert.equal(routesOf(ack), []);
    caller.send(request({ ...strictInDialog, method: 'BYE', cseq: 2 }), port, PROXY);
    const bye = await pinnedGw.waitFor(isRequest('BYE', callId));
    assert.is(bye.uriText, contact);
    assert.equal(routesOf(bye), []);
    pinnedGw.send(createResponse(bye, 200), port, PROXY);
    assert.is((await caller.waitFor(isResponse(callId, 'BYE'))).status, 200);
    await nothingArrives(decoy, 100);
  } finally {
    caller.close();
  }
});

test('pin in the Request-URI is honoured when the dialog is unknown (lost dialog table)', async (ctx) => {
  const { port, pinnedGw, decoy } = ctx;
  const caller = await SipPeer.udp(CALLER);
  const callId = 'strict-pinned-lost-1';
  const contact = `sip:gw@${DECOY}:${decoy.port}`;
  try {
    caller.send(
      request({ method: 'INFO', uri: `sip:${PROXY}:${port};lr;pin=pinned;${ctx.proxy.gate.routeToken(callId, 'pinned').join('=')}`, from: caller, callId, cseq: 5, fromTag: 'caller3', toTag: 'gw3', routes: [`<${contact}>`] }),
      port,
      PROXY,
    );
    const info = await pinnedGw.waitFor(isRequest('INFO', callId));
    assert.is(info.uriText, contact);
    pinnedGw.send(createResponse(info, 200), port, PROXY);
    assert.is((await caller.waitFor(isResponse(callId, 'INFO'))).status, 200);
    await nothingArrives(decoy, 100);
  } finally {
    caller.close();
  }
});

test('pinned gateway behind a strict router: the pin decides where, the message is written for the strict router', async (ctx) => {
  const { port, pinnedGw, decoy } = ctx;
  const caller = await SipPeer.udp(CALLER);
  const callId = 'strict-pinned-rr-1';
  const contact = `sip:gw@${DECOY}:${decoy.port}`;
  // The gateway side's strict router gives an address behind the NAT (the decoy) in its Record-Route.
  const strictRecordRoute = `sip:${DECOY}:${decoy.port}`;
  const base = { from: caller, callId, fromTag: 'caller4' };
  try {
    caller.send(request({ ...base, method: 'INVITE', uri: `sip:4930124@${PROXY}:${port}`, cseq: 1 }), port, PROXY);
    const invite = await pinnedGw.waitFor(isRequest('INVITE', callId));
    pinnedGw.send(answer(invite, 200, 'gw4', contact, `<${strictRecordRoute}>`), port, PROXY);
    const ok = await caller.waitFor(isResponse(callId));
    const inDialog = { ...base, uri: contact, toTag: 'gw4', routes: ok.recordRoutes.map(String).reverse() };
    caller.send(request({ ...inDialog, method: 'ACK', cseq: 1 }), port, PROXY);
    const ack = await pinnedGw.waitFor(isRequest('ACK', callId));
    assert.is(ack.uriText, strictRecordRoute);
    assert.equal(routesOf(ack), [`<${contact}>`]);
    caller.send(request({ ...inDialog, method: 'BYE', cseq: 2 }), port, PROXY);
    const bye = await pinnedGw.waitFor(isRequest('BYE', callId));
    assert.is(bye.uriText, strictRecordRoute);
    assert.equal(routesOf(bye), [`<${contact}>`]);
    pinnedGw.send(createResponse(bye, 200), port, PROXY);
    assert.is((await caller.waitFor(isResponse(callId, 'BYE'))).status, 200);
    await nothingArrives(decoy, 100);
  } finally {
    caller.close();
  }
});

test('our Record-Route URI in the Request-URI with no Route to restore it from → 400', async (ctx) => {
  const { port } = ctx;
  const caller = await SipPeer.udp(CALLER);
  const callId = 'strict-no-route-1';
  try {
    caller.send(request({ method: 'BYE', uri: `sip:${PROXY}:${port};lr`, from: caller, callId, cseq: 2, fromTag: 'caller5', toTag: 'x5' }), port, PROXY);
    const response = await caller.waitFor(isResponse(callId, 'BYE'));
    assert.is(response.status, 400);
    assert.match(response.reason, /route/i);
  } finally {
    caller.close();
  }
});

test.run();
