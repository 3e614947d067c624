/**
 * A real UA behind NAT through pinlatch: Debian's baresip (test/support/baresip.ts) as phone 2,
 * a sipp phone as phone 1, each behind its own masquerading router, both registering through
 * pinlatch in `edge` (test/support/pinlatch-edge.ts) to Kamailio (digest auth, Path, no NAT
 * handling of its own), and calling each other through the PBX both ways with media anchored by
 * pinlatch. baresip's media is measured at the sipp phone's RTP endpoint (baresip starts at a
 * random sequence number: the share counts the span of sequence numbers received); the sipp
 * phone's media at baresip by an nft counter in baresip's router of the packets it forwards to
 * baresip's RTP ports (baresip 1.0 prints no receive statistics).
 */
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from '../support/suite.ts';
import { createPhonesTopology, type PhonesTopology } from '../support/phones-topology.ts';
import { KamailioRegistrar } from '../support/kamailio-registrar.ts';
import { Baresip } from '../support/baresip.ts';
import { answerPhone, callPhone, registerPhone, rtpResult, type PhoneRtpResult } from '../support/phone-sipp.ts';
import { PinlatchEdge } from '../support/pinlatch-edge.ts';
import type { SippResult } from '../support/sipp.ts';

interface Ctx {
  topo?: PhonesTopology;
  pbx?: KamailioRegistrar;
  edge?: PinlatchEdge;
  phone?: Baresip;
  dir?: string;
}

const test = suite<Ctx>('e2e/baresip-edge', { timeoutMs: 60_000 });
const EDGE = '203.0.113.10:5060';
const USERS = [
  { user: '1001', password: 'secret-1001' },
  { user: '1002', password: 'secret-1002' },
] as const;
const RTP_PACKETS = 150;
const BARESIP_RTP = { min: 10000, max: 10009 };
const MEDIA_SHARE = 0.95;

function failure(name: string, r: SippResult, ctx: Ctx): string {
  return `${name}: sipp exit ${r.code ?? r.signal}\n${r.output.slice(-1500)}\n--- messages:\n${r.messages.slice(-4000)}\n--- baresip:\n${ctx.phone?.output.slice(-3000)}\n--- kamailio:\n${ctx.pbx?.log.slice(-2500)}\n--- pinlatch:\n${ctx.edge?.log.slice(-3000)}`;
}

/** baresip's media at the sipp phone: >= 95 % of the sequence numbers from its first to its last packet. */
function assertFromBaresip(received: PhoneRtpResult | null): void {
  assert.ok(received && received.received > 0, `media from baresip: ${JSON.stringify(received)}`);
  // The RTP endpoint listens for its own stream's length and a tail: baresip sends all call long.
  assert.ok(received!.span >= RTP_PACKETS * 0.8, `baresip's stream was heard for ${received!.span} packets`);
  const share = received!.received / received!.span;
  assert.ok(share >= MEDIA_SHARE, `${(share * 100).toFixed(1)} % of baresip's packets arrived: ${JSON.stringify(received)}`);
}

function startBaresip(ctx: Ctx, extra: { commands?: string[]; quitAfterSec?: number } = {}): Promise<Baresip> {
  const t = ctx.topo!;
  return Baresip.start(t, {
    host: 'phone2',
    localIp: t.addr.phone2,
    user: '1002',
    password: USERS[1].password,
    outbound: EDGE,
    regint: 60,
    rtpPorts: BARESIP_RTP,
    dnsServer: t.addr.pbx,
    ...extra,
  });
}

test.before(async (ctx) => {
  ctx.dir = mkdtempSync(join(tmpdir(), 'pinlatch-baresip-edge-'));
  ctx.topo = await createPhonesTopology();
  ctx.pbx = await KamailioRegistrar.start(ctx.topo, 'pbx', { address: ctx.topo.addr.pbx, users: USERS, nat: false, minExpires: 5 });
  ctx.edge = await PinlatchEdge.start(ctx.topo);
});

test.after(async (ctx) => {
  await ctx.phone?.stop();
  await ctx.edge?.stop();
  await ctx.pbx?.stop();
  await ctx.topo?.destroy();
  if (ctx.dir) rmSync(ctx.dir, { recursive: true, force: true });
});

test('baresip registers through pinlatch: digest auth passes through, the registrar stores the Path with its flow token', async (ctx) => {
  const { topo, pbx, edge } = ctx as Required<Ctx>;
  ctx.phone = await startBaresip(ctx);
  const phone = ctx.phone;
  await phone.waitFor(() => phone.registered(), 15_000, 'the registration');
  assert.ok(pbx.events('CHALLENGE').some((e) => e.fields['user'] === '1002' && e.fields['src'] === EDGE), 'the 401 came back through pinlatch');
  const contacts = (await pbx.registrations()).filter((c) => c.aor === '1002');
  assert.is(contacts.length, 1, JSON.stringify(contacts));
  assert.match(contacts[0]!.contact, `@${topo.addr.phone2}:5060`);
  assert.match(contacts[0]!.path, /^<sip:[0-9a-f]+@203\.0\.113\.10:5060;lr;ob>$/);
  assert.is(await edge.metric('pinlatch_phones_bindings'), 1);
  const r = await registerPhone(topo, { phone: 1, user: '1001', password: USERS[0].password, remote: EDGE }).done;
  assert.is(r.code, 0, failure('register 1001', r, ctx));
});

test('the sipp phone calls baresip through pinlatch and the PBX: answered, media both ways, BYE', async (ctx) => {
  const { topo, phone } = ctx as Required<Ctx>;
  assert.ok(phone, 'baresip runs (previous test)');
  const out = join(ctx.dir!, 'to-baresip');
  const toBaresip = await topo.countToPhone(2, BARESIP_RTP);
  const r = await callPhone(topo, {
    phone: 1,
    user: '1001',
    password: USERS[0].password,
    callee: '1002',
    remote: EDGE,
    durationMs: 6000,
    rtpDelayMs: 300,
    rtp: { port: 20000, count: RTP_PACKETS, out },
  }).done;
  assert.is(r.code, 0, failure('caller', r, ctx));
  await phone.waitFor(() => phone.establishedCalls() === 1 && phone.closedCalls() >= 1, 10_000, 'the call to end in baresip');
  assert.match(phone.output, /answering call/);
  const media = await rtpResult(out, 'caller');
  assertFromBaresip(media);
  assert.match(media!.remote, /^203\.0\.113\.10:30\d{3}$/, 'the sipp phone sends to pinlatch');
  const delivered = await toBaresip.read();
  console.log(`sipp -> baresip: ${delivered} of ${media!.sent} delivered; baresip -> sipp: ${JSON.stringify(media)}`);
  assert.ok(delivered >= media!.sent * MEDIA_SHARE && delivered <= media!.sent, `the sipp phone's packets delivered to baresip: ${delivered} of ${media!.sent}`);
});

test('baresip calls the sipp phone through pinlatch and the PBX (407 answered by baresip): answered, media both ways, BYE', async (ctx) => {
  const { topo } = ctx as Required<Ctx>;
  await ctx.phone!.stop();
  const out = join(ctx.dir!, 'from-baresip');
  // phone 1 registers again (its mapping fresh), then waits for the call on the same port.
  const reg = await registerPhone(topo, { phone: 1, user: '1001', password: USERS[0].password, remote: EDGE }).done;
  assert.is(reg.code, 0, failure('register 1001', reg, ctx));
  const toBaresip = await topo.countToPhone(2, BARESIP_RTP);
  const callee = answerPhone(topo, { phone: 1, user: '1001', rtp: { port: 16000, count: RTP_PACKETS, out } });
  await new Promise((r) => setTimeout(r, 300));
  // baresip dials at once and quits (hanging up: BYE) 12 s after it started; the sipp phone's
  // stream lasts 3 s after the ACK.
  ctx.phone = await startBaresip(ctx, { commands: ['/dial sip:1001@pbx.test'], quitAfterSec: 12 });
  const phone = ctx.phone;
  await phone.waitFor(() => phone.establishedCalls() === 1, 20_000, 'the call to be established');
  const re = await callee.done;
  await phone.exited(10_000);
  assert.is(re.code, 0, failure('callee', re, ctx));
  assert.match(re.messages, `INVITE sip:1001@${topo.addr.phone1}:5060 SIP/2.0`);
  const media = await rtpResult(out, 'callee');
  assertFromBaresip(media);
  const delivered = await toBaresip.read();
  console.log(`sipp -> baresip: ${delivered} of ${media!.sent} delivered; baresip -> sipp: ${JSON.stringify(media)}`);
  assert.ok(delivered >= media!.sent * MEDIA_SHARE && delivered <= media!.sent, `the sipp phone's packets delivered to baresip: ${delivered} of ${media!.sent}`);
});

test.run();
