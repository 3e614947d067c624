/**
 * Phones behind NAT through the proxy, over real sockets on loopback: REGISTER with Path and a
 * signed flow token, throttled refreshes, requests from the PBX back over the phone's flow (UDP
 * mapping, from the listen point it came in on, or TCP connection), dead flows (430), forged
 * tokens, STUN keepalives. The registrar here is a plain socket that answers as a registrar
 * would; test/e2e/phones*.test.ts runs the real Kamailio behind real NATs.
 */
import dgram from 'node:dgram';
import { randomBytes } from 'node:crypto';
import * as assert from 'uvu/assert';
import { suite } from '../../support/suite.ts';
import { bindingRequest } from '../../support/stun.ts';
import { freePortRange } from '../../media/udp-peer.ts';
import type { MediaRelay } from '../../../src/media/MediaRelay.ts';
import type { SipProxy } from '../../../src/sip/proxy/Proxy.ts';
import { createResponse, type SipMessage, type SipRequest } from '../../../src/sip/wire/message.ts';
import { parseMessage } from '../../../src/sip/wire/parser.ts';
import { PROXY, SipPeer, answer, freeSipPort, isRequest, isResponse, request, sdp, sdpPort, startProxy, stopProxy, until } from '../../support/sip-peer.ts';

const PBX = '127.0.0.40';
const PHONE_A = '127.0.0.41';
const PHONE_B = '127.0.0.42';
const PHONE_T = '127.0.0.43';
const GATEWAY = '127.0.0.44';
const PHONE_P = '127.0.0.45';
const PHONE_Q = '127.0.0.48';

interface Context {
  relay: MediaRelay;
  proxy: SipProxy;
  port: number;
  /** A second UDP listen point of the proxy. */
  port2: number;
  pbx: SipPeer;
  gateway: SipPeer;
}

const test = suite<Context>('sip/registrar/proxy-phones', { timeoutMs: 20_000 });

test.before(async (ctx) => {
  ctx.port = await freeSipPort();
  ctx.port2 = await freeSipPort();
  const ports = await freePortRange(16);
  ctx.pbx = await SipPeer.udp(PBX);
  ctx.gateway = await SipPeer.udp(GATEWAY);
  Object.assign(ctx, await startProxy(`
sip:
  listen:
    - { transport: udp, address: ${PROXY}, port: ${ctx.port} }
    - { transport: tcp, address: ${PROXY}, port: ${ctx.port} }
    - { transport: udp, address: ${PROXY}, port: ${ctx.port2} }
  timers: { t1Ms: 20, t2Ms: 200, t4Ms: 200, inviteTimeoutMs: 10000 }
media:
  address: ${PROXY}
  ports: { min: ${ports.min}, max: ${ports.max} }
  shards: 1
trunks:
  - { name: gateway, host: ${GATEWAY}, port: ${ctx.gateway.port} }
routes:
  - { match: { user: "[0-9]+" }, trunk: gateway }
upstream: sip:${PBX}:${ctx.pbx.port}
phones:
  keepalive: { intervalSec: 1, maxMissed: 1 }
  throttle: { phoneExpiresSec: 60, registrarExpiresSec: 3600 }
log: { level: silent }
`));
});

test.after(async (ctx) => {
  await stopProxy(ctx);
  ctx.pbx?.close();
  ctx.gateway?.close();
});

/** A REGISTER as a phone behind NAT writes it: its private Contact, its own Call-ID and CSeq. */
function register(phone: Pick<SipPeer, 'transport'>, port: number, o: { user: string; callId: string; cseq: number; expires?: number; contactHost?: string }): string {
  const branch = `z9hG4bK${randomBytes(6).toString('hex')}`;
  const transport = phone.transport;
  return [
    `REGISTER sip:${PROXY}:${port} SIP/2.0`,
    `Via: SIP/2.0/${transport} 192.168.1.100:5060;branch=${branch};rport`,
    'Max-Forwards: 70',
    `From: <sip:${o.user}@pbx.example>;tag=r${o.callId}`,
    `To: <sip:${o.user}@pbx.example>`,
    `Call-ID: ${o.callId}`,
    `CSeq: ${o.cseq} REGISTER`,
    `Contact: <sip:${o.user}@${o.contactHost ?? '192.168.1.100'}:5060${transport === 'TCP' ? ';transport=tcp' : ''}>`,
    `Expires: ${o.expires ?? 3600}`,
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');
}

/** The registrar's 200: the Contact with the expiry it grants, and the Path echoed (RFC 3327 §5.3). */
function registered(req: SipRequest, expires: number): SipMessage {
  const ok = createResponse(req, 200, { toTag: 'reg' });
  if (expires > 0) ok.set('Contact', `${req.get('contact')};expires=${expires}`);
  const path = req.get('path');
  if (path) ok.set('Path', path);
  return ok;
}

const isRegister = (callId: string, cseq?: number) => (m: SipMessage): m is SipRequest =>
  isRequest('REGISTER', callId)(m) && (cseq === undefined || m.cseq?.seq === cseq);

/** Registers `phone` as `user` through the proxy; returns the Path the registrar saw. */
async function registerPhone(ctx: Context, phone: SipPeer, user: string, callId: string): Promise<string> {
  phone.send(register(phone, ctx.port, { user, callId, cseq: 1 }), ctx.port);
  const req = await ctx.pbx.waitFor(isRegister(callId, 1));
  ctx.pbx.sendMessage(registered(req, 3600), ctx.port, PROXY);
  const ok = await phone.waitFor(isResponse(callId, 'REGISTER'));
  assert.is(ok.status, 200);
  return req.get('path')!;
}

/** The PBX calls a registered phone: Request-URI its private Contact, Route its Path. */
function inviteFromPbx(ctx: Context, user: string, path: string, callId: string): string {
  return request({ user, peer: ctx.pbx, proxyPort: ctx.port, callId, uri: `sip:${user}@192.168.1.100:5060`, routes: [path] });
}

test('REGISTER reaches the registrar with a Path carrying a flow token; the phone is told the short expiry, the registrar asked the long one', async (ctx) => {
  const phone = await SipPeer.udp(PHONE_A);
  try {
    phone.send(register(phone, ctx.port, { user: '1001', callId: 'reg-a', cseq: 1, expires: 600 }), ctx.port);
    const req = await ctx.pbx.waitFor(isRegister('reg-a', 1));
    assert.match(req.get('path') ?? '', new RegExp(`^<sip:[0-9a-f]{54}@${PROXY}:${ctx.port};lr;ob>$`));
    assert.is(req.uriText, `sip:${PBX}:${ctx.pbx.port}`, 'sent to the registrar');
    assert.is(req.get('expires'), '3600', 'the registrar is asked for the long expiry');
    ctx.pbx.sendMessage(registered(req, 3600), ctx.port, PROXY);
    const ok = await phone.waitFor(isResponse('reg-a', 'REGISTER'));
    assert.is(ok.status, 200);
    assert.match(ok.get('contact') ?? '', /;expires=60$/);
    const listing = ctx.proxy.phones!.listing();
    assert.equal(listing.map((b) => [b.aor, b.contact, b.flow.address, b.flow.port, b.alive]), [
      ['sip:1001@pbx.example', 'sip:1001@192.168.1.100:5060', PHONE_A, phone.port, true],
    ]);
  } finally {
    phone.close();
  }
});

test('throttling: a refresh continuing the accepted registration is answered here; a new Call-ID or Contact goes to the registrar', async (ctx) => {
  const phone = await SipPeer.udp(PHONE_A);
  try {
    await registerPhone(ctx, phone, '1002', 'reg-t');
    const seen = () => ctx.pbx.received.filter(isRegister('reg-t')).length;
    for (const cseq of [2, 3, 4]) {
      phone.send(register(phone, ctx.port, { user: '1002', callId: 'reg-t', cseq, expires: 60 }), ctx.port);
      const ok = await phone.waitFor((m) => isResponse('reg-t', 'REGISTER')(m) && m.cseq?.seq === cseq);
      assert.is(ok.kind === 'response' && ok.status, 200);
      assert.match(ok.get('contact') ?? '', /;expires=60$/);
    }
    assert.is(seen(), 1, 'the registrar saw only the first REGISTER');
    phone.send(register(phone, ctx.port, { user: '1002', callId: 'reg-t', cseq: 5, contactHost: '192.168.1.101' }), ctx.port);
    const changed = await ctx.pbx.waitFor(isRegister('reg-t', 5));
    ctx.pbx.sendMessage(registered(changed, 3600), ctx.port, PROXY);
    await phone.waitFor((m) => isResponse('reg-t', 'REGISTER')(m) && m.cseq?.seq === 5);
    assert.is(ctx.proxy.phones!.registrar.counters.answeredLocally >= 3, true);
  } finally {
    phone.close();
  }
});

test("the PBX's INVITE for a phone goes to its NAT mapping, not its private Contact; BYE follows the dialog", async (ctx) => {
  const phone = await SipPeer.udp(PHONE_A);
  try {
    const path = await registerPhone(ctx, phone, '1003', 'reg-c');
    ctx.pbx.send(inviteFromPbx(ctx, '1003', path, 'call-c'), ctx.port);
    const invite = await phone.waitFor(isRequest('INVITE', 'call-c'));
    assert.is(invite.uriText, 'sip:1003@192.168.1.100:5060', 'the Request-URI stays the Contact');
    const ok = createResponse(invite, 200, { toTag: 'ph' });
    for (const rr of invite.getAll('record-route')) ok.append('Record-Route', rr);
    ok.set('Contact', '<sip:1003@192.168.1.100:5060>');
    phone.sendMessage(ok, ctx.port, PROXY);
    const answered = await ctx.pbx.waitFor(isResponse('call-c'));
    assert.is(answered.status, 200);
    const routes = answered.getAll('record-route').reverse();
    ctx.pbx.send(request({ method: 'BYE', user: '1003', peer: ctx.pbx, proxyPort: ctx.port, callId: 'call-c', toTag: 'ph', cseq: 2, uri: 'sip:1003@192.168.1.100:5060', routes }), ctx.port);
    const bye = await phone.waitFor(isRequest('BYE', 'call-c'));
    phone.sendMessage(createResponse(bye, 200), ctx.port, PROXY);
    assert.is((await ctx.pbx.waitFor(isResponse('call-c', 'BYE'))).status, 200);
  } finally {
    phone.close();
  }
});

test('a forged or altered flow token is refused 403 and reaches no one', async (ctx) => {
  const phone = await SipPeer.udp(PHONE_A);
  try {
    const path = await registerPhone(ctx, phone, '1004', 'reg-f');
    const token = /sip:([^@]+)@/.exec(path)![1]!;
    const raw = Buffer.from(token, 'hex');
    raw[5] ^= 1;
    const forged = path.replace(token, raw.toString('hex'));
    ctx.pbx.send(inviteFromPbx(ctx, '1004', forged, 'call-f'), ctx.port);
    assert.is((await ctx.pbx.waitFor(isResponse('call-f'))).status, 403);
    await new Promise((r) => setTimeout(r, 200));
    assert.not.ok(phone.received.some(isRequest('INVITE', 'call-f')));
  } finally {
    phone.close();
  }
});

test('a phone that stops answering keepalives has a dead flow: the next INVITE for it gets 430 at once', async (ctx) => {
  const phone = await SipPeer.udp(PHONE_B);
  try {
    const path = await registerPhone(ctx, phone, '1005', 'reg-k');
    // The phone is gone (its NAT mapping too): pings go unanswered.
    const options = await phone.waitFor(isRequest('OPTIONS'), 8000);
    assert.is(options.uriText, 'sip:1005@192.168.1.100:5060');
    const deadline = Date.now() + 10_000;
    while (ctx.proxy.phones!.listing().find((b) => b.aor === 'sip:1005@pbx.example')?.alive !== false && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
    }
    ctx.pbx.send(inviteFromPbx(ctx, '1005', path, 'call-k'), ctx.port);
    const refused = await ctx.pbx.waitFor(isResponse('call-k'));
    assert.is(refused.status, 430);
    // Registering again brings the flow back (a throttled refresh: answered here, at once).
    phone.send(register(phone, ctx.port, { user: '1005', callId: 'reg-k', cseq: 2 }), ctx.port);
    await phone.waitFor((m) => isResponse('reg-k', 'REGISTER')(m) && m.cseq?.seq === 2);
    assert.is(ctx.proxy.phones!.listing().find((b) => b.aor === 'sip:1005@pbx.example')?.alive, true);
  } finally {
    phone.close();
  }
});

test('a keepalive leaves from the listen point the phone registered through: the only one its NAT mapping admits', async (ctx) => {
  const phone = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => phone.bind(0, PHONE_P, resolve));
  const got: Array<{ text: string; port: number }> = [];
  phone.on('message', (data, from) => got.push({ text: data.toString('latin1'), port: from.port }));
  try {
    phone.send(register({ transport: 'UDP' }, ctx.port2, { user: '1009', callId: 'reg-p', cseq: 1 }), ctx.port2, PROXY);
    const req = await ctx.pbx.waitFor(isRegister('reg-p', 1));
    ctx.pbx.sendMessage(registered(req, 3600), ctx.port, PROXY);
    await until(() => got.some((m) => m.text.startsWith('OPTIONS ')), 8000, 'a keepalive OPTIONS');
    const ok = got.find((m) => m.text.startsWith('SIP/2.0 200'));
    const ping = got.find((m) => m.text.startsWith('OPTIONS '))!;
    assert.is(ok?.port, ctx.port2, 'the 200 came from the second listen point');
    assert.is(ping.port, ctx.port2, `the ping came from the second listen point too, not from ${ctx.port}`);
    assert.match(ping.text, new RegExp(`^Via: SIP/2\\.0/UDP ${PROXY.replaceAll('.', '\\.')}:${ctx.port2};branch=`, 'm'));
  } finally {
    phone.close();
  }
});

/** A phone behind NAT as a bare UDP socket: what it receives and from which proxy port. */
class PortWatchingPhone {
  readonly got: Array<{ message: SipMessage; port: number }> = [];

  private constructor(readonly socket: dgram.Socket) {
    socket.on('message', (data, from) => this.got.push({ message: parseMessage(data, { framing: 'datagram' }), port: from.port }));
  }

  static async bind(address: string): Promise<PortWatchingPhone> {
    const socket = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => socket.bind(0, address, resolve));
    return new PortWatchingPhone(socket);
  }

  /** The first `method` request of `callId` it received, and the proxy port it came from. */
  async arrived(method: string, callId: string, ms = 5000): Promise<{ message: SipRequest; port: number }> {
    await until(() => this.got.some((m) => isRequest(method, callId)(m.message)), ms, `the ${method} at the phone`);
    const found = this.got.find((m) => isRequest(method, callId)(m.message))!;
    return { message: found.message as SipRequest, port: found.port };
  }

  send(message: SipMessage | string, port: number): void {
    this.socket.send(typeof message === 'string' ? Buffer.from(message, 'latin1') : message.ensureContentLength().serialize(), port, PROXY);
  }

  close(): void {
    this.socket.close();
  }
}

/** pinlatch's Via toward the phone names the second listen point. */
const viaOf = (port: number) => new RegExp(`^SIP/2\\.0/UDP ${PROXY.replaceAll('.', '\\.')}:${port};`);

/**
 * The phone registers through the second listen point, the PBX calls it (with `body` as offer) and
 * it answers: the INVITE must reach it from that point, Via and the Record-Route it uses naming
 * it. Returns the Record-Route the PBX got, in the PBX's Route order.
 */
async function answeredThroughPort2(sut: Pick<Context, 'port' | 'port2' | 'pbx'>, phone: PortWatchingPhone, user: string, callId: string, body?: string): Promise<string[]> {
  phone.send(register({ transport: 'UDP' }, sut.port2, { user, callId: `reg-${callId}`, cseq: 1 }), sut.port2);
  const req = await sut.pbx.waitFor(isRegister(`reg-${callId}`, 1));
  sut.pbx.sendMessage(registered(req, 3600), sut.port, PROXY);
  await until(() => phone.got.some((m) => m.message.kind === 'response' && m.message.callId === `reg-${callId}`), 5000, 'the 200 to the REGISTER');
  sut.pbx.send(request({ user, peer: sut.pbx, proxyPort: sut.port, callId, uri: `sip:${user}@192.168.1.100:5060`, routes: [req.get('path')!], body }), sut.port);
  const invite = await phone.arrived('INVITE', callId);
  assert.is(invite.port, sut.port2, `the INVITE came from the second listen point, not from ${sut.port}`);
  assert.match(invite.message.get('via') ?? '', viaOf(sut.port2));
  const recordRoutes = invite.message.getAll('record-route');
  assert.match(recordRoutes[0] ?? '', `<sip:${PROXY}:${sut.port2};lr;`, 'the Record-Route the phone uses names the second listen point');
  assert.match(recordRoutes[1] ?? '', `<sip:${PROXY}:${sut.port};lr;`, 'the one the PBX uses names the first');
  const ok = createResponse(invite.message, 200, { toTag: 'pq' });
  for (const rr of recordRoutes) ok.append('Record-Route', rr);
  ok.set('Contact', `<sip:${user}@192.168.1.100:5060>`);
  if (body) ok.setBody(Buffer.from(sdp('192.168.1.100', 5000), 'latin1'), 'application/sdp');
  phone.send(ok, sut.port2);
  const answered = await sut.pbx.waitFor(isResponse(callId));
  assert.is(answered.status, 200);
  return answered.getAll('record-route').reverse();
}

test("a PBX call to a phone registered through the second listen point leaves from it: INVITE, ACK, BYE, their Via and the Record-Route facing the phone", async (ctx) => {
  const phone = await PortWatchingPhone.bind(PHONE_Q);
  try {
    const routes = await answeredThroughPort2(ctx, phone, '1010', 'call-q');
    for (const method of ['ACK', 'BYE']) {
      ctx.pbx.send(request({ method, user: '1010', peer: ctx.pbx, proxyPort: ctx.port, callId: 'call-q', toTag: 'pq', cseq: method === 'ACK' ? 1 : 2, uri: 'sip:1010@192.168.1.100:5060', routes }), ctx.port);
      const atPhone = await phone.arrived(method, 'call-q');
      assert.is(atPhone.port, ctx.port2, `the ${method} came from the second listen point, not from ${ctx.port}`);
      assert.match(atPhone.message.get('via') ?? '', viaOf(ctx.port2));
    }
    phone.send(createResponse((await phone.arrived('BYE', 'call-q')).message, 200), ctx.port2);
    assert.is((await ctx.pbx.waitFor(isResponse('call-q', 'BYE'))).status, 200);
  } finally {
    phone.close();
  }
});

test("a phone calling out through the second listen point: the PBX's BYE back to it leaves from that point", async (ctx) => {
  const phone = await PortWatchingPhone.bind(PHONE_Q);
  const port = phone.socket.address().port;
  try {
    phone.send(request({ user: '4930124', peer: { address: PHONE_Q, port, transport: 'UDP' }, proxyPort: ctx.port2, callId: 'out-q' }), ctx.port2);
    const invite = await ctx.pbx.waitFor(isRequest('INVITE', 'out-q'));
    ctx.pbx.sendMessage(answer(invite, 200, ctx.pbx, undefined, 'pb'), ctx.port, PROXY);
    await until(() => phone.got.some((m) => m.message.kind === 'response' && m.message.callId === 'out-q'), 5000, 'the 200 at the phone');
    const bye = [
      `BYE sip:caller@${PHONE_Q}:${port} SIP/2.0`,
      `Via: SIP/2.0/UDP ${PBX}:${ctx.pbx.port};branch=z9hG4bK${randomBytes(6).toString('hex')};rport`,
      ...invite.getAll('record-route').map((r) => `Route: ${r}`),
      'Max-Forwards: 70',
      `From: ${invite.get('to')};tag=pb`,
      `To: ${invite.get('from')}`,
      'Call-ID: out-q',
      'CSeq: 1 BYE',
      'Content-Length: 0',
      '',
      '',
    ].join('\r\n');
    ctx.pbx.send(bye, ctx.port);
    const atPhone = await phone.arrived('BYE', 'out-q');
    assert.is(atPhone.port, ctx.port2, `the BYE came from the second listen point, not from ${ctx.port}`);
    assert.match(atPhone.message.get('via') ?? '', viaOf(ctx.port2));
    phone.send(createResponse(atPhone.message, 200), ctx.port2);
    assert.is((await ctx.pbx.waitFor(isResponse('out-q', 'BYE'))).status, 200);
  } finally {
    phone.close();
  }
});

test("pinlatch's own BYE (media timeout) toward a phone registered through the second listen point leaves from it", async (ctx) => {
  const port = await freeSipPort();
  const port2 = await freeSipPort();
  const ports = await freePortRange(8);
  // A proxy of its own: a 1 s media timeout would end the other tests' calls.
  const sut = await startProxy(`
sip:
  listen:
    - { transport: udp, address: ${PROXY}, port: ${port} }
    - { transport: udp, address: ${PROXY}, port: ${port2} }
  timers: { t1Ms: 20, t2Ms: 200, t4Ms: 200, inviteTimeoutMs: 10000 }
media:
  address: ${PROXY}
  ports: { min: ${ports.min}, max: ${ports.max} }
  shards: 1
  timeoutSec: 1
upstream: sip:${PBX}:${ctx.pbx.port}
phones:
  keepalive: { intervalSec: 30, maxMissed: 1 }
log: { level: silent }
`);
  const phone = await PortWatchingPhone.bind(PHONE_Q);
  try {
    await answeredThroughPort2({ port, port2, pbx: ctx.pbx }, phone, '1011', 'call-mt', sdp(PBX, 4000));
    const bye = await phone.arrived('BYE', 'call-mt', 8000);
    assert.match(bye.message.get('reason') ?? '', 'media timeout');
    assert.is(bye.port, port2, `the BYE came from the second listen point, not from ${port}`);
    assert.match(bye.message.get('via') ?? '', viaOf(port2));
    phone.send(createResponse(bye.message, 200), port2);
  } finally {
    phone.close();
    await stopProxy(sut);
  }
});

test('a TCP phone: the INVITE comes back over its connection; once it closes, 430', async (ctx) => {
  const phone = await SipPeer.tcp(PHONE_T, ctx.port);
  const path = await registerPhone(ctx, phone, '1006', 'reg-tcp');
  assert.match(path, /;lr;ob>$/);
  ctx.pbx.send(inviteFromPbx(ctx, '1006', path, 'call-tcp'), ctx.port);
  const invite = await phone.waitFor(isRequest('INVITE', 'call-tcp'));
  phone.sendMessage(createResponse(invite, 486), ctx.port);
  assert.is((await ctx.pbx.waitFor(isResponse('call-tcp'))).status, 486);
  phone.close();
  await new Promise((r) => setTimeout(r, 300));
  ctx.pbx.send(inviteFromPbx(ctx, '1006', path, 'call-tcp2'), ctx.port);
  assert.is((await ctx.pbx.waitFor(isResponse('call-tcp2'))).status, 430);
});

test("a phone's call goes to the PBX, never to the trunk its number would match", async (ctx) => {
  const phone = await SipPeer.udp(PHONE_A);
  try {
    phone.send(request({ user: '4930123', peer: phone, proxyPort: ctx.port, callId: 'ph-out' }), ctx.port);
    const invite = await ctx.pbx.waitFor(isRequest('INVITE', 'ph-out'));
    assert.is(invite.uriText, `sip:4930123@${PBX}:${ctx.pbx.port}`);
    ctx.pbx.sendMessage(createResponse(invite, 486), ctx.port, PROXY);
    assert.is((await phone.waitFor(isResponse('ph-out'))).status, 486);
    assert.not.ok(ctx.gateway.received.some((m) => m.callId === 'ph-out'));
  } finally {
    phone.close();
  }
});

/**
 * What a proxying PBX (Kamailio, no B2BUA) does with a request on its way to a phone registered
 * through pinlatch: its own Via and Record-Route, the Contact as Request-URI, the Path as Route;
 * the same Call-ID and tags, back to pinlatch.
 */
function pbxRelays(ctx: Context, req: SipRequest, uri: string | null, routes: string[] | null): void {
  const out = req.clone();
  if (uri) out.uri = uri;
  if (routes) for (const r of [...routes].reverse()) out.prepend('Route', r);
  else out.popRoute();
  out.pushVia(`SIP/2.0/UDP ${PBX}:${ctx.pbx.port};branch=z9hG4bK${randomBytes(6).toString('hex')}`);
  if (req.method === 'INVITE') out.prepend('Record-Route', `<sip:${PBX}:${ctx.pbx.port};lr>`);
  ctx.pbx.sendMessage(out, ctx.port, PROXY);
}

/** The PBX passes a response on: its own Via off, to the next one (pinlatch's first pass). */
function pbxRelaysResponse(ctx: Context, res: SipMessage): void {
  const out = res.kind === 'response' ? res : null;
  assert.ok(out);
  out.popVia();
  ctx.pbx.sendMessage(out, ctx.port, PROXY);
}

test('a call between two phones spirals through pinlatch via the PBX: each pass its own dialog and media session; ACK and BYE reach the callee', async (ctx) => {
  const a = await SipPeer.udp(PHONE_A);
  const b = await SipPeer.udp(PHONE_B);
  const { relay } = ctx;
  const sessions = relay.size;
  try {
    const path = await registerPhone(ctx, b, '2001', 'reg-sp');
    a.send(request({ user: '2001', peer: a, proxyPort: ctx.port, callId: 'spiral', body: sdp('192.168.1.100', 4000) }), ctx.port);
    const first = await ctx.pbx.waitFor(isRequest('INVITE', 'spiral'));
    pbxRelays(ctx, first, 'sip:2001@192.168.1.100:5060', [path]);
    const invite = await b.waitFor(isRequest('INVITE', 'spiral'));
    assert.is(invite.vias.length, 4, 'pinlatch, the PBX, pinlatch, the phone');
    assert.match(invite.body.toString('latin1'), `c=IN IP4 ${PROXY}`);
    const ok = answer(invite, 200, b, sdp('192.168.1.100', 5000), 'b1');
    b.sendMessage(ok, ctx.port, PROXY);
    pbxRelaysResponse(ctx, await ctx.pbx.waitFor(isResponse('spiral')));
    const answered = await a.waitFor(isResponse('spiral'));
    assert.is(answered.status, 200);
    assert.is(relay.size - sessions, 2, 'one media session per pass');
    assert.ok(sdpPort(answered) !== sdpPort(invite), 'each phone sends to a port of its own pass');
    const routes = answered.getAll('record-route').reverse();
    assert.is(routes.length, 3);
    for (const method of ['ACK', 'BYE']) {
      a.send(request({ method, user: '2001', peer: a, proxyPort: ctx.port, callId: 'spiral', toTag: 'b1', cseq: method === 'ACK' ? 1 : 2, uri: 'sip:gw@192.168.1.100:5060', routes }), ctx.port);
      const atPbx = await ctx.pbx.waitFor(isRequest(method, 'spiral'));
      pbxRelays(ctx, atPbx, null, null);
      await b.waitFor(isRequest(method, 'spiral'));
    }
    const bye = await b.waitFor(isRequest('BYE', 'spiral'));
    b.sendMessage(createResponse(bye, 200), ctx.port, PROXY);
    pbxRelaysResponse(ctx, await ctx.pbx.waitFor(isResponse('spiral', 'BYE')));
    assert.is((await a.waitFor(isResponse('spiral', 'BYE'))).status, 200);
    await until(() => relay.size === sessions, 5000, 'both media sessions released');
  } finally {
    a.close();
    b.close();
  }
});

test('a REGISTER the registrar challenges leaves no flow behind, from however many ports', async (ctx) => {
  const before = ctx.proxy.phones!.registrar.flows.size;
  const phones = await Promise.all([0, 1, 2].map(() => SipPeer.udp(PHONE_B)));
  try {
    for (const [i, phone] of phones.entries()) {
      const callId = `chal-${i}`;
      phone.send(register(phone, ctx.port, { user: '1099', callId, cseq: 1 }), ctx.port);
      const req = await ctx.pbx.waitFor(isRegister(callId, 1));
      ctx.pbx.sendMessage(createResponse(req, 401, { toTag: 'reg' }), ctx.port, PROXY);
      assert.is((await phone.waitFor(isResponse(callId, 'REGISTER'))).status, 401);
    }
    assert.is(ctx.proxy.phones!.registrar.flows.size, before);
  } finally {
    for (const phone of phones) phone.close();
  }
});

test("a phone may not route by the token of its own call once the dialog is unknown: 481, nothing sent", async (ctx) => {
  const phone = await SipPeer.udp(PHONE_A);
  const victim = await SipPeer.udp('127.0.0.47');
  try {
    const route = `<sip:${PROXY}:${ctx.port};lr;${ctx.proxy.gate.routeToken('old-call', null).join('=')}>`;
    phone.send(request({ method: 'BYE', user: 'x', peer: phone, proxyPort: ctx.port, callId: 'old-call', toTag: 'gone', uri: `sip:x@127.0.0.47:${victim.port}`, routes: [route] }), ctx.port);
    assert.is((await phone.waitFor(isResponse('old-call', 'BYE'))).status, 481);
    await new Promise((r) => setTimeout(r, 200));
    assert.is(victim.received.length, 0);
  } finally {
    phone.close();
    victim.close();
  }
});

test('a STUN Binding request on the SIP port gets its XOR-MAPPED-ADDRESS (RFC 5389)', async (ctx) => {
  const socket = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, PHONE_A, resolve));
  try {
    const request = bindingRequest();
    const answer = new Promise<Buffer>((resolve) => socket.once('message', resolve));
    socket.send(request, ctx.port, PROXY);
    const response = await answer;
    assert.is(response.readUInt16BE(0), 0x0101);
    assert.equal(response.subarray(8, 20), request.subarray(8, 20));
    const port = response.readUInt16BE(26) ^ 0x2112;
    const address = [...response.subarray(28, 32)].map((b, i) => b ^ [0x21, 0x12, 0xa4, 0x42][i]!).join('.');
    assert.is(`${address}:${port}`, `${PHONE_A}:${socket.address().port}`);
  } finally {
    socket.close();
  }
});

test('STUN keepalives count toward the source rate: a flood of Binding requests is cut at the burst and the source banned, others answered', async (ctx) => {
  const flooder = dgram.createSocket('udp4');
  const other = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => flooder.bind(0, '127.0.0.45', resolve));
  await new Promise<void>((resolve) => other.bind(0, '127.0.0.46', resolve));
  try {
    let answers = 0;
    flooder.on('message', () => answers++);
    // limits.sourceRate defaults: burst 400, 200/s, ban 60 s.
    for (let i = 0; i < 1000; i++) flooder.send(bindingRequest(), ctx.port, PROXY);
    await new Promise((r) => setTimeout(r, 500));
    assert.ok(answers >= 400 && answers < 1000, `${answers} of 1000 answered`);
    const afterFlood = answers;
    flooder.send(bindingRequest(), ctx.port, PROXY);
    const answered = new Promise<boolean>((resolve) => {
      other.once('message', () => resolve(true));
      setTimeout(() => resolve(false), 2000);
    });
    other.send(bindingRequest(), ctx.port, PROXY);
    assert.ok(await answered, 'another source is answered');
    assert.is(answers, afterFlood, 'the banned source gets no answer');
    assert.ok(ctx.proxy.stats().sourceRate.bans >= 1);
  } finally {
    flooder.close();
    other.close();
  }
});

test.run();
