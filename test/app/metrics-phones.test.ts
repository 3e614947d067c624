/**
 * The phone metrics of the metrics endpoint (pinlatch_phone_*): read from the proxy's registrar
 * state when scraped, over a real HTTP socket, while a phone registers, refreshes (throttled),
 * and a request with a forged flow token is refused.
 */
import * as assert from 'uvu/assert';
import { randomBytes } from 'node:crypto';
import { suite } from '../support/suite.ts';
import { freePortRange } from '../media/udp-peer.ts';
import { MetricsServer } from '../../src/app/MetricsServer.ts';
import { createResponse, type SipMessage, type SipRequest } from '../../src/sip/wire/message.ts';
import { PROXY, SipPeer, freeSipPort, isRequest, isResponse, request, startProxy, stopProxy, type ProxyUnderTest } from '../support/sip-peer.ts';

const PBX = '127.0.0.50';
const PHONE = '127.0.0.51';

interface Context extends Partial<ProxyUnderTest> {
  port: number;
  pbx: SipPeer;
  metrics: MetricsServer;
  metricsPort: number;
}

const test = suite<Context>('app/metrics-phones', { timeoutMs: 20_000 });

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
  throttle: { phoneExpiresSec: 60, registrarExpiresSec: 3600 }
log: { level: silent }
`));
  ctx.metrics = new MetricsServer({ media: ctx.relay!, sip: ctx.proxy! });
  ctx.metricsPort = await ctx.metrics.listen(PROXY, 0);
});

test.after(async (ctx) => {
  await ctx.metrics?.close();
  await stopProxy(ctx);
  ctx.pbx?.close();
});

async function scrape(ctx: Context, sample: string): Promise<number> {
  const text = await (await fetch(`http://${PROXY}:${ctx.metricsPort}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${sample} `));
  assert.ok(line, `${sample} is exposed`);
  return Number(line.slice(sample.length + 1));
}

function register(phone: SipPeer, port: number, cseq: number): string {
  return [
    `REGISTER sip:${PROXY}:${port} SIP/2.0`,
    `Via: SIP/2.0/UDP 192.168.1.100:5060;branch=z9hG4bK${randomBytes(6).toString('hex')};rport`,
    'Max-Forwards: 70',
    'From: <sip:1001@pbx.example>;tag=m1',
    'To: <sip:1001@pbx.example>',
    'Call-ID: metrics-reg',
    `CSeq: ${cseq} REGISTER`,
    'Contact: <sip:1001@192.168.1.100:5060>',
    'Expires: 60',
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');
}

const isRegister = (m: SipMessage): m is SipRequest => isRequest('REGISTER', 'metrics-reg')(m);

test('bindings, flows, REGISTERs received and answered locally, forged tokens', async (ctx) => {
  const phone = await SipPeer.udp(PHONE);
  try {
    assert.is(await scrape(ctx, 'pinlatch_phone_bindings'), 0);
    phone.send(register(phone, ctx.port, 1), ctx.port);
    const req = await ctx.pbx.waitFor(isRegister);
    const ok = createResponse(req, 200, { toTag: 'reg' });
    ok.set('Contact', `${req.get('contact')};expires=3600`);
    ctx.pbx.sendMessage(ok, ctx.port, PROXY);
    await phone.waitFor((m) => isResponse('metrics-reg', 'REGISTER')(m) && m.cseq?.seq === 1);
    assert.is(await scrape(ctx, 'pinlatch_phone_bindings'), 1);
    assert.is(await scrape(ctx, 'pinlatch_phone_flows'), 1);
    phone.send(register(phone, ctx.port, 2), ctx.port);
    await phone.waitFor((m) => isResponse('metrics-reg', 'REGISTER')(m) && m.cseq?.seq === 2);
    assert.is(await scrape(ctx, 'pinlatch_phone_registers_total'), 2);
    assert.is(await scrape(ctx, 'pinlatch_phone_registers_answered_locally_total'), 1);
    const forged = `<sip:${'A'.repeat(40)}@${PROXY}:${ctx.port};lr;ob>`;
    ctx.pbx.send(request({ user: '1001', peer: ctx.pbx, proxyPort: ctx.port, callId: 'metrics-forged', uri: 'sip:1001@192.168.1.100:5060', routes: [forged] }), ctx.port);
    assert.is((await ctx.pbx.waitFor(isResponse('metrics-forged'))).status, 403);
    assert.is(await scrape(ctx, 'pinlatch_phone_forged_tokens_total'), 1);
    assert.is(await scrape(ctx, 'pinlatch_phone_flow_failed_total'), 0);
  } finally {
    phone.close();
  }
});

test.run();
