/**
 * The phones on the management endpoint, over real sockets on loopback: after a phone registers
 * through the proxy, `GET /registrations` lists its binding with its flow, and the phone metrics
 * count the REGISTER, the binding and the live flow; when the phone stops answering keepalives its
 * flow shows dead in both, and a request for it counts a 430. A forged flow token is counted too.
 */
import { randomBytes } from 'node:crypto';
import * as assert from 'uvu/assert';
import { suite } from '../support/suite.ts';
import { freePortRange } from '../media/udp-peer.ts';
import { MetricsServer } from '../../src/app/MetricsServer.ts';
import { createResponse, type SipMessage, type SipRequest } from '../../src/sip/wire/message.ts';
import { PROXY, SipPeer, freeSipPort, isRequest, isResponse, request, startProxy, stopProxy, type ProxyUnderTest } from '../support/sip-peer.ts';
import { scrapeMetrics, valueOf } from '../support/scrape.ts';

const PBX = '127.0.0.60';
const PHONE = '127.0.0.61';

interface Context extends Partial<ProxyUnderTest> {
  port: number;
  pbx: SipPeer;
  metrics: MetricsServer;
  base: string;
}

const test = suite<Context>('app/metrics-phones', { timeoutMs: 30_000 });

test.before(async (ctx) => {
  ctx.port = await freeSipPort();
  const ports = await freePortRange(8);
  ctx.pbx = await SipPeer.udp(PBX);
  Object.assign(ctx, await startProxy(`
sip:
  listen: [{ transport: udp, address: ${PROXY}, port: ${ctx.port} }]
  timers: { t1Ms: 20, t2Ms: 200, t4Ms: 200, inviteTimeoutMs: 10000 }
media:
  address: ${PROXY}
  ports: { min: ${ports.min}, max: ${ports.max} }
  shards: 1
upstream: sip:${PBX}:${ctx.pbx.port}
phones:
  keepalive: { intervalSec: 1, maxMissed: 1 }
  throttle: { phoneExpiresSec: 60, registrarExpiresSec: 3600 }
# Not a test of load shedding: a machine busy with other work must not shed these requests.
limits: { overload: { maxQueueMs: 10000, maxLagMs: 10000 } }
log: { level: silent }
`));
  ctx.metrics = new MetricsServer({ media: ctx.relay!, sip: ctx.proxy!, phones: ctx.proxy!.phones });
  ctx.base = `http://${PROXY}:${await ctx.metrics.listen(PROXY, 0)}`;
});

test.after(async (ctx) => {
  await ctx.metrics?.close();
  await stopProxy(ctx);
  ctx.pbx?.close();
});

function register(phone: SipPeer, port: number, user: string, callId: string): string {
  return [
    `REGISTER sip:${PROXY}:${port} SIP/2.0`,
    `Via: SIP/2.0/UDP 192.168.1.100:5060;branch=z9hG4bK${randomBytes(6).toString('hex')};rport`,
    'Max-Forwards: 70',
    `From: <sip:${user}@pbx.example>;tag=r${callId}`,
    `To: <sip:${user}@pbx.example>`,
    `Call-ID: ${callId}`,
    'CSeq: 1 REGISTER',
    `Contact: <sip:${user}@192.168.1.100:5060>`,
    'Expires: 3600',
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');
}

function registered(req: SipRequest): SipMessage {
  const ok = createResponse(req, 200, { toTag: 'reg' });
  ok.set('Contact', `${req.get('contact')};expires=3600`);
  ok.set('Path', req.get('path')!);
  return ok;
}

interface Listing {
  registrations: Array<{ aor: string; contact: string; flow: { transport: string; address: string; port: number }; alive: boolean; expiresInSec: number }>;
}

async function registrations(ctx: Context): Promise<Listing> {
  const response = await fetch(`${ctx.base}/registrations`);
  assert.is(response.status, 200);
  assert.is(response.headers.get('content-type'), 'application/json');
  return (await response.json()) as Listing;
}

test('no phone yet: an empty listing, zero bindings and flows', async (ctx) => {
  assert.equal(await registrations(ctx), { registrations: [] });
  const m = await scrapeMetrics(ctx.base);
  assert.is(valueOf(m, 'pinlatch_phones_bindings'), 0);
  assert.is(valueOf(m, 'pinlatch_phones_flows'), 0);
  assert.is(valueOf(m, 'pinlatch_phones_registers_total'), 0);
});

test('a registered phone is listed with its flow; a silent one turns dead, and a call for it counts a 430', async (ctx) => {
  const phone = await SipPeer.udp(PHONE);
  try {
    phone.send(register(phone, ctx.port, '2001', 'reg-m'), ctx.port);
    const req = await ctx.pbx.waitFor(isRequest('REGISTER', 'reg-m'));
    ctx.pbx.sendMessage(registered(req), ctx.port, PROXY);
    assert.is((await phone.waitFor(isResponse('reg-m', 'REGISTER'))).status, 200);

    const listed = await registrations(ctx);
    assert.is(listed.registrations.length, 1);
    const [binding] = listed.registrations;
    assert.is(binding!.aor, 'sip:2001@pbx.example');
    assert.is(binding!.contact, 'sip:2001@192.168.1.100:5060');
    assert.equal([binding!.flow.transport, binding!.flow.address, binding!.flow.port], ['udp', PHONE, phone.port]);
    assert.is(binding!.alive, true);
    assert.ok(binding!.expiresInSec > 50 && binding!.expiresInSec <= 60, `phone lease ${binding!.expiresInSec} s`);
    let m = await scrapeMetrics(ctx.base);
    assert.is(valueOf(m, 'pinlatch_phones_registers_total'), 1);
    assert.is(valueOf(m, 'pinlatch_phones_bindings'), 1);
    assert.is(valueOf(m, 'pinlatch_phones_flows', { state: 'alive' }), 1);
    assert.is(valueOf(m, 'pinlatch_phones_flows', { state: 'dead' }), 0);

    // The phone answers nothing: its keepalive goes unanswered and the flow dies.
    await phone.waitFor(isRequest('OPTIONS'), 8000);
    const deadline = Date.now() + 10_000;
    while ((await registrations(ctx)).registrations[0]?.alive !== false) {
      assert.ok(Date.now() < deadline, 'the flow turned dead');
      await new Promise((r) => setTimeout(r, 100));
    }
    m = await scrapeMetrics(ctx.base);
    assert.is(valueOf(m, 'pinlatch_phones_flows', { state: 'dead' }), 1);
    assert.is(valueOf(m, 'pinlatch_phones_flows', { state: 'alive' }), 0);
    assert.ok((valueOf(m, 'pinlatch_phones_keepalives_sent_total') ?? 0) >= 1);
    assert.ok((valueOf(m, 'pinlatch_phones_keepalives_missed_total') ?? 0) >= 1);

    const path = req.get('path')!;
    ctx.pbx.send(request({ user: '2001', peer: ctx.pbx, proxyPort: ctx.port, callId: 'call-dead', uri: 'sip:2001@192.168.1.100:5060', routes: [path] }), ctx.port);
    assert.is((await ctx.pbx.waitFor(isResponse('call-dead'))).status, 430);
    const token = /sip:([^@]+)@/.exec(path)![1]!;
    const raw = Buffer.from(token, 'hex');
    raw[5]! ^= 1;
    ctx.pbx.send(request({ user: '2001', peer: ctx.pbx, proxyPort: ctx.port, callId: 'call-forged', uri: 'sip:2001@192.168.1.100:5060', routes: [path.replace(token, raw.toString('hex'))] }), ctx.port);
    assert.is((await ctx.pbx.waitFor(isResponse('call-forged'))).status, 403);
    m = await scrapeMetrics(ctx.base);
    assert.is(valueOf(m, 'pinlatch_phones_flow_failed_total'), 1);
    assert.is(valueOf(m, 'pinlatch_phones_forged_tokens_total'), 1);
  } finally {
    phone.close();
  }
});

test('without phones, /registrations answers 404; other paths 404, other methods 405', async (ctx) => {
  const bare = new MetricsServer({ media: ctx.relay! });
  try {
    const base = `http://${PROXY}:${await bare.listen(PROXY, 0)}`;
    assert.is((await fetch(`${base}/registrations`)).status, 404);
    assert.is((await fetch(`${base}/nothing`)).status, 404);
    assert.is((await fetch(`${base}/metrics`, { method: 'POST' })).status, 405);
    const ready = await fetch(`${base}/readyz`);
    assert.is(ready.status, 200, 'without a readiness source /readyz answers as /healthz');
  } finally {
    await bare.close();
  }
});

test.run();
