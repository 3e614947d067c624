/**
 * The SIP gauges of the metrics endpoint (pinlatch_sip_server_transactions, pinlatch_sip_client_transactions, pinlatch_sip_dialogs): read
 * from the proxy when scraped, over a real HTTP socket, while one call is set up and torn down;
 * the ACK and BYE of that call go where the trunk's route pin says and are counted; calls the
 * gateway refuses or never answers are counted by reason.
 */
import * as assert from 'uvu/assert';
import { suite } from '../support/suite.ts';
import { freePortRange } from '../media/udp-peer.ts';
import { MetricsServer } from '../../src/app/MetricsServer.ts';
import { createResponse, type SipResponse } from '../../src/sip/wire/message.ts';
import { scrapeMetrics, valueOf } from '../support/scrape.ts';
import {
  PROXY, SipPeer, answer, freeSipPort, isRequest, isResponse, request, sdp, startProxy, stopProxy, until, type ProxyUnderTest,
} from '../support/sip-peer.ts';

const CALLER = '127.0.0.2';
const GATEWAY = '127.0.0.3';

interface Context extends Partial<ProxyUnderTest> {
  port: number;
  gateway: SipPeer;
  metrics: MetricsServer;
  metricsPort: number;
}

const test = suite<Context>('app/metrics-sip', { timeoutMs: 20_000 });

test.before(async (ctx) => {
  ctx.port = await freeSipPort();
  const ports = await freePortRange(20);
  ctx.gateway = await SipPeer.udp(GATEWAY);
  Object.assign(ctx, await startProxy(`
sip:
  listen: [{ transport: udp, address: ${PROXY}, port: ${ctx.port} }]
  advertise: ${PROXY}
  timers: { t1Ms: 40, t2Ms: 400, t4Ms: 500, inviteTimeoutMs: 10000 }
media:
  address: ${PROXY}
  ports: { min: ${ports.min}, max: ${ports.max} }
  shards: 1
trunks:
  - { name: gateway, host: ${GATEWAY}, port: ${ctx.gateway.port}, pinRoute: true }
routes:
  - { trunk: gateway }
admission: { upstreamNetworks: [${CALLER}] }
# Not a test of load shedding: a machine busy with other work must not shed these calls.
limits: { overload: { maxQueueMs: 10000, maxLagMs: 10000 } }
log: { level: silent }
`));
  ctx.metrics = new MetricsServer({ media: ctx.relay!, sip: ctx.proxy! });
  ctx.metricsPort = await ctx.metrics.listen(PROXY, 0);
});

test.after(async (ctx) => {
  await ctx.metrics?.close();
  await stopProxy(ctx);
  ctx.gateway?.close();
});

/** The value of one sample line of the exposition text (`name{labels} value`). */
async function scrape(ctx: Context, sample: string): Promise<number> {
  const text = await (await fetch(`http://${PROXY}:${ctx.metricsPort}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${sample} `));
  assert.ok(line, `${sample} is exposed`);
  return Number(line.slice(sample.length + 1));
}

const SERVER = 'pinlatch_sip_server_transactions';
const CLIENT = 'pinlatch_sip_client_transactions';
const DIALOGS = 'pinlatch_sip_dialogs';

test('idle proxy: no transactions, no dialogs', async (ctx) => {
  assert.is(await scrape(ctx, SERVER), 0);
  assert.is(await scrape(ctx, CLIENT), 0);
  assert.is(await scrape(ctx, DIALOGS), 0);
});

test('a call in progress counts its transactions and its dialog; after BYE and the timers, all are 0 again', async (ctx) => {
  const { port, gateway } = ctx;
  const caller = await SipPeer.udp(CALLER);
  try {
    caller.send(request({ user: '4930123', peer: caller, proxyPort: port, callId: 'm1', body: sdp(CALLER, 40000) }), port);
    const invite = await gateway.waitFor(isRequest('INVITE', 'm1'));
    assert.is(await scrape(ctx, SERVER), 1, 'the INVITE server transaction');
    assert.is(await scrape(ctx, `${SERVER}_pending`), 1, 'not answered yet');
    assert.is(await scrape(ctx, 'pinlatch_sip_calls{state="ringing"}'), 1, 'the call rings');
    assert.is(await scrape(ctx, CLIENT), 1, 'the forwarded INVITE');

    gateway.sendMessage(answer(invite, 200, gateway, sdp(GATEWAY, 42000)), port);
    const ok = await caller.waitFor(isResponse('m1'));
    const routes = ok.getAll('record-route').reverse();
    const uri = `sip:gw@${GATEWAY}:${gateway.port}`;
    caller.send(request({ method: 'ACK', user: '4930123', peer: caller, proxyPort: port, callId: 'm1', toTag: 'gw1', uri, routes }), port);
    await gateway.waitFor(isRequest('ACK', 'm1'));
    assert.is(await scrape(ctx, DIALOGS), 1, 'the confirmed dialog');
    assert.is(await scrape(ctx, `${DIALOGS}_active`), 1);
    assert.is(await scrape(ctx, `${SERVER}_pending`), 0, 'the INVITE answered, its transaction lingers (Timer L)');

    caller.send(request({ method: 'BYE', user: '4930123', peer: caller, proxyPort: port, callId: 'm1', toTag: 'gw1', cseq: 2, uri, routes }), port);
    const bye = await gateway.waitFor(isRequest('BYE', 'm1'));
    gateway.sendMessage(createResponse(bye, 200), port);
    assert.is((await caller.waitFor(isResponse('m1', 'BYE'))).status, 200);
    assert.is(await scrape(ctx, `${DIALOGS}_active`), 0, 'ended: kept for late requests, no longer counted toward limits.dialogs');
    // Non-INVITE transactions linger for Timer J/K (64·T1 = 2.56 s here), the dialog as long.
    await until(async () => (await scrape(ctx, SERVER)) + (await scrape(ctx, CLIENT)) + (await scrape(ctx, DIALOGS)) === 0, 10_000,
      'transactions and dialogs back to 0');
    const m = await scrapeMetrics(`http://${PROXY}:${ctx.metricsPort}`);
    assert.is(valueOf(m, 'pinlatch_sip_pinned_requests_total'), 2, 'the ACK and the BYE toward the pinned trunk');
    assert.is(valueOf(m, 'pinlatch_sip_calls_started_total', { trunk: 'gateway' }), 1);
    assert.is(valueOf(m, 'pinlatch_sip_calls_answered_total', { trunk: 'gateway' }), 1);
    assert.is(valueOf(m, 'pinlatch_sip_calls'), 0, 'no call held any more');
  } finally {
    caller.close();
  }
});

test('calls the gateway refuses (486, 503), never answers (Timer B: 408) or the caller cancels (487) are counted by reason', async (ctx) => {
  const { port, gateway } = ctx;
  const caller = await SipPeer.udp(CALLER);
  try {
    for (const [callId, status] of [['f486', 486], ['f503', 503]] as const) {
      caller.send(request({ user: '4930123', peer: caller, proxyPort: port, callId, body: sdp(CALLER, 40010) }), port);
      const invite = await gateway.waitFor(isRequest('INVITE', callId));
      gateway.sendMessage(answer(invite, status, gateway), port);
      const final = await caller.waitFor(isResponse(callId));
      assert.is(final.status, status === 503 ? 500 : status, 'a 503 from downstream goes upstream as 500 (RFC 3261 §16.7 step 6)');
    }
    caller.send(request({ user: '4930123', peer: caller, proxyPort: port, callId: 'f408', body: sdp(CALLER, 40020) }), port);
    await gateway.waitFor(isRequest('INVITE', 'f408'));
    const timedOut = await caller.waitFor(isResponse('f408'), 15_000);
    assert.is(timedOut.status, 408);
    // The caller gives up while it rings: CANCEL (same branch as its INVITE, §9.1), 487 from the gateway.
    const ringing = request({ user: '4930123', peer: caller, proxyPort: port, callId: 'f487', body: sdp(CALLER, 40030) });
    caller.send(ringing, port);
    const rung = await gateway.waitFor(isRequest('INVITE', 'f487'));
    gateway.sendMessage(answer(rung, 180, gateway), port);
    await caller.waitFor((m): m is SipResponse => isResponse('f487', 'INVITE', false)(m) && m.status === 180);
    const head = ringing.slice(0, ringing.indexOf('\r\n\r\n'));
    caller.send(`${head.replace(/^INVITE /, 'CANCEL ').replace('CSeq: 1 INVITE', 'CSeq: 1 CANCEL').replace(/\r\nContent-Type: [^\r]*/, '').replace(/Content-Length: \d+/, 'Content-Length: 0')}\r\n\r\n`, port);
    const cancel = await gateway.waitFor(isRequest('CANCEL', 'f487'));
    gateway.sendMessage(createResponse(cancel, 200), port);
    gateway.sendMessage(answer(rung, 487, gateway), port);
    assert.is((await caller.waitFor(isResponse('f487'))).status, 487);
    const m = await scrapeMetrics(`http://${PROXY}:${ctx.metricsPort}`);
    assert.is(valueOf(m, 'pinlatch_sip_calls_failed_total', { reason: 'cancelled' }), 1);
    assert.is(valueOf(m, 'pinlatch_sip_calls_failed_total', { reason: '4xx' }), 1);
    assert.is(valueOf(m, 'pinlatch_sip_calls_failed_total', { reason: '5xx' }), 1);
    assert.is(valueOf(m, 'pinlatch_sip_calls_failed_total', { reason: 'timeout' }), 1);
    assert.is(valueOf(m, 'pinlatch_sip_calls_started_total', { trunk: 'gateway' }), 5);
    assert.ok((valueOf(m, 'pinlatch_sip_responses_received_total', { class: '4xx' }) ?? 0) >= 1);
    assert.ok((valueOf(m, 'pinlatch_sip_responses_sent_total', { class: '5xx' }) ?? 0) >= 1);
    assert.ok((valueOf(m, 'pinlatch_sip_responses_sent_total', { class: '4xx' }) ?? 0) >= 2, 'the 486 and the 408');
  } finally {
    caller.close();
  }
});

test('admission: a stranger refused, a scanner dropped, an in-dialog request of no known dialog refused', async (ctx) => {
  const { port } = ctx;
  const stranger = await SipPeer.udp('127.0.0.9');
  try {
    stranger.send(request({ user: '4930123', peer: stranger, proxyPort: port, callId: 'adm1' }), port);
    assert.is((await stranger.waitFor(isResponse('adm1'))).status, 403);
    const scanner = request({ method: 'OPTIONS', user: '100', peer: stranger, proxyPort: port, callId: 'adm2' })
      .replace('Max-Forwards:', 'User-Agent: friendly-scanner\r\nMax-Forwards:');
    stranger.send(scanner, port);
    stranger.send(request({ method: 'BYE', user: '4930123', peer: stranger, proxyPort: port, callId: 'adm3', toTag: 'nobody' }), port);
    const refused = await stranger.waitFor(isResponse('adm3', 'BYE'));
    assert.ok(refused.status === 403 || refused.status === 481, `BYE answered ${refused.status}`);
    const m = await scrapeMetrics(`http://${PROXY}:${ctx.metricsPort}`);
    assert.is(valueOf(m, 'pinlatch_sip_admission_refused_total'), 1);
    assert.is(valueOf(m, 'pinlatch_sip_admission_scanners_total'), 1);
    assert.is(valueOf(m, 'pinlatch_sip_in_dialog_refused_total'), 1);
    assert.not.ok(stranger.received.some(isResponse('adm2', 'OPTIONS')), 'the scanner gets no answer');
  } finally {
    stranger.close();
  }
});

test.run();
