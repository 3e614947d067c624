/**
 * pinlatch as the edge proxy of phones behind NAT, end to end (docs/phones.md): two homes with the
 * same private network and phone address behind their own masquerading routers
 * (test/support/phones-topology.ts), sipp phones (phone-sipp.ts) sending everything to pinlatch
 * in `edge` (pinlatch-edge.ts), Kamailio as the PBX and registrar behind it with Path support and
 * digest authentication and NO NAT handling of its own (kamailio-registrar.ts, `nat: false`):
 * every request that reaches a phone does so because pinlatch sent it over the phone's flow.
 */
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from '../support/suite.ts';
import { createPhonesTopology, type PhoneIndex, type PhonesTopology } from '../support/phones-topology.ts';
import { KamailioRegistrar } from '../support/kamailio-registrar.ts';
import { answerPhone, callPhone, mediaShare, registerPhone, rtpResult, type PhoneRtpResult } from '../support/phone-sipp.ts';
import { PinlatchEdge, phonesEdgeYaml } from '../support/pinlatch-edge.ts';
import type { SippResult } from '../support/sipp.ts';

interface Ctx {
  topo?: PhonesTopology;
  pbx?: KamailioRegistrar;
  edge?: PinlatchEdge;
  dir?: string;
}

const test = suite<Ctx>('e2e/phones-edge', { timeoutMs: 60_000 });

const USERS = [
  { user: '1001', password: 'secret-1001' },
  { user: '1002', password: 'secret-1002' },
  { user: '1003', password: 'secret-1003' },
] as const;
const EDGE = '203.0.113.10:5060';
/** RTP packets each side sends per call (20 ms apart), and the share that must arrive. */
const RTP_PACKETS = 150;
const MEDIA_SHARE = 0.95;
/** Packets a peer may send before a phone's own first packet opened its NAT mapping (0.5 s). */
const STARTUP_PACKETS = 25;

/** Media of one direction: >= 95 % of what the peer sent once the receiver's mapping was open. */
function assertMedia(received: PhoneRtpResult, peer: PhoneRtpResult, what: string): void {
  const { share, firstSeq } = mediaShare(received, peer.sent);
  const detail = `${what}: ${JSON.stringify(received)}, peer sent ${peer.sent}`;
  assert.is(peer.sent, RTP_PACKETS, detail);
  assert.ok(firstSeq <= STARTUP_PACKETS, `the first packet arrived late (seq ${firstSeq}): ${detail}`);
  assert.ok(share >= MEDIA_SHARE, `${(share * 100).toFixed(1)} % arrived: ${detail}`);
}

function failure(name: string, r: SippResult, ctx: Ctx): string {
  return `${name}: sipp exit ${r.code ?? r.signal}\n${r.output.slice(-1500)}\n--- errors:\n${r.errors.slice(-1500)}\n--- messages:\n${r.messages.slice(-4000)}\n--- kamailio:\n${ctx.pbx?.log.slice(-3000)}\n--- pinlatch:\n${ctx.edge?.log.slice(-4000)}`;
}

async function register(ctx: Ctx, phone: PhoneIndex, userIndex = phone - 1, extra: { expires?: number } = {}): Promise<void> {
  const u = USERS[userIndex]!;
  const r = await registerPhone(ctx.topo!, { phone, user: u.user, password: u.password, remote: EDGE, ...extra }).done;
  assert.is(r.code, 0, failure(`register ${u.user}`, r, ctx));
}

/** A call from one phone to the other through pinlatch and the PBX, with RTP both ways. */
async function call(ctx: Ctx, from: PhoneIndex, to: PhoneIndex, label: string): Promise<{ caller: PhoneRtpResult; callee: PhoneRtpResult; calleeTrace: string }> {
  const t = ctx.topo!;
  const out = join(ctx.dir!, label);
  const callee = answerPhone(t, { phone: to, user: USERS[to - 1]!.user, rtp: { port: 16000, count: RTP_PACKETS, out } });
  await new Promise((r) => setTimeout(r, 300));
  const caller = callPhone(t, {
    phone: from,
    user: USERS[from - 1]!.user,
    password: USERS[from - 1]!.password,
    callee: USERS[to - 1]!.user,
    remote: EDGE,
    durationMs: 4500,
    // Both phones are behind NAT: each receives only after its own first packet opened its
    // mapping, so both start sending together (the callee 300 ms after the ACK arrives).
    rtpDelayMs: 300,
    rtp: { port: 20000, count: RTP_PACKETS, out },
  });
  const [rc, re] = await Promise.all([caller.done, callee.done]);
  assert.is(rc.code, 0, failure(`caller phone${from}`, rc, ctx));
  assert.is(re.code, 0, failure(`callee phone${to}`, re, ctx));
  const [a, b] = await Promise.all([rtpResult(out, 'caller'), rtpResult(out, 'callee')]);
  assert.ok(a && b, 'both RTP endpoints wrote their results');
  return { caller: a!, callee: b!, calleeTrace: re.messages };
}

test.before(async (ctx) => {
  ctx.dir = mkdtempSync(join(tmpdir(), 'pinlatch-phones-edge-'));
  ctx.topo = await createPhonesTopology();
  ctx.pbx = await KamailioRegistrar.start(ctx.topo, 'pbx', {
    address: ctx.topo.addr.pbx,
    users: USERS,
    nat: false,
    minExpires: 5,
  });
  ctx.edge = await PinlatchEdge.start(ctx.topo, phonesEdgeYaml(ctx.topo));
});

test.after(async (ctx) => {
  await ctx.edge?.stop();
  await ctx.pbx?.stop();
  await ctx.topo?.destroy();
  if (ctx.dir) rmSync(ctx.dir, { recursive: true, force: true });
});

test('both phones register through pinlatch: the 401 passes through, the registrar stores a Path with a flow token', async (ctx) => {
  const { topo, pbx } = ctx as Required<Ctx>;
  await register(ctx, 1);
  await register(ctx, 2);
  for (const [phone, u] of [[1, USERS[0]], [2, USERS[1]]] as const) {
    const events = pbx.events('REGISTER').filter((e) => e.fields['user'] === u.user);
    assert.is(events.length, 2, 'one challenged REGISTER, one with credentials');
    assert.ok(events.every((e) => e.fields['src'] === EDGE), 'the registrar hears the REGISTERs from pinlatch only');
    assert.ok(pbx.events('CHALLENGE').some((e) => e.fields['user'] === u.user && e.fields['src'] === EDGE));
    const contacts = (await pbx.registrations()).filter((c) => c.aor === u.user);
    assert.is(contacts.length, 1, JSON.stringify(contacts));
    assert.match(contacts[0]!.contact, `sip:${u.user}@${topo.addr[`phone${phone}`]}:5060`);
    assert.match(contacts[0]!.path, new RegExp(`^<sip:[A-Za-z0-9_-]+@203\\.0\\.113\\.10:5060;lr;ob>$`));
  }
});

test('phone 1 calls phone 2 through the PBX: set up, ACK, BYE, media anchored by pinlatch >= 95 % both ways', async (ctx) => {
  const { topo } = ctx as Required<Ctx>;
  const r = await call(ctx, 1, 2, 'call-1-2');
  assertMedia(r.caller, r.callee, 'callee -> caller');
  assertMedia(r.callee, r.caller, 'caller -> callee');
  assert.match(r.caller.remote, /^203\.0\.113\.10:30\d{3}$/, 'the caller sends its media to pinlatch');
  assert.match(r.callee.remote, /^203\.0\.113\.10:30\d{3}$/, 'the callee sends its media to pinlatch');
  assert.equal(r.caller.sources, [r.caller.remote]);
  assert.equal(r.callee.sources, [r.callee.remote]);
  assert.match(r.calleeTrace, `INVITE sip:1002@${topo.addr.phone2}:5060 SIP/2.0`);
  assert.match(r.calleeTrace, /^ACK /m);
  assert.match(r.calleeTrace, /^BYE /m);
});

test('phone 2 calls phone 1: the same both ways', async (ctx) => {
  const r = await call(ctx, 2, 1, 'call-2-1');
  assertMedia(r.caller, r.callee, 'callee -> caller');
  assertMedia(r.callee, r.caller, 'caller -> callee');
  assert.match(r.caller.remote, /^203\.0\.113\.10:30\d{3}$/);
  assert.match(r.callee.remote, /^203\.0\.113\.10:30\d{3}$/);
});

test.run();
