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
import { fileURLToPath } from 'node:url';
import { suite } from '../support/suite.ts';
import { createPhonesTopology, type PhoneIndex, type PhonesTopology } from '../support/phones-topology.ts';
import { KamailioRegistrar } from '../support/kamailio-registrar.ts';
import { answerPhone, callPhone, mediaShare, registerPhone, rtpResult, type PhoneRtpResult } from '../support/phone-sipp.ts';
import { PinlatchEdge } from '../support/pinlatch-edge.ts';
import { probeInvite, startListener, TcpPhone } from '../support/phone-probe.ts';
import { startSipp, type SippResult } from '../support/sipp.ts';

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
/** A trunk on the public side, next to the PBX: numbers starting 00 are routed to it. */
const TRUNK = '203.0.113.40';
const TRUNK_NUMBER = '0049301234567';
/** Where the PBX side's own test requests come from (trusted by Kamailio: no 407). */
const PBX_PROBE_PORT = 5071;
const RTP_ENDPOINT = fileURLToPath(new URL('./rtp-endpoint.mjs', import.meta.url));
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
    durationMs: 6000,
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
    trusted: [ctx.topo.addr.pbx],
  });
  await ctx.topo.addPublicAddress('pbx', TRUNK);
  ctx.edge = await PinlatchEdge.start(ctx.topo, { trunks: [{ name: 'carrier', host: TRUNK, user: '^00[0-9]+$' }] });
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
    assert.match(contacts[0]!.path, new RegExp(`^<sip:[0-9a-f]+@203\\.0\\.113\\.10:5060;lr;ob>$`));
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

/** The Path Kamailio stored for a user (the Route of every request it sends that user). */
async function pathOf(ctx: Ctx, user: string): Promise<string> {
  const contacts = (await ctx.pbx!.registrations()).filter((c) => c.aor === user);
  assert.is(contacts.length, 1, JSON.stringify(contacts));
  return contacts[0]!.path;
}

/** A request from the PBX's host straight to pinlatch, as Kamailio would send one for a phone. */
function inviteFromPbxSide(ctx: Ctx, route: string, uri = `sip:1001@${ctx.topo!.addr.phone1}:5060`) {
  const t = ctx.topo!;
  return probeInvite(t, { host: 'pbx', localIp: t.addr.pbx, localPort: PBX_PROBE_PORT, remote: { address: t.addr.edge, port: 5060 }, uri, route });
}

/** A request for a user sent to Kamailio from the PBX's host (trusted: no 407). */
function inviteThroughPbx(ctx: Ctx, user: string) {
  const t = ctx.topo!;
  return probeInvite(t, { host: 'pbx', localIp: t.addr.pbx, localPort: PBX_PROBE_PORT, remote: { address: t.addr.pbx, port: 5060 }, uri: `sip:${user}@pbx.test` });
}

const finalStatus = (lines: Array<Record<string, unknown>>) => lines.map((l) => Number(l['status'])).find((s) => s === 0 || s >= 200);

test('a forged or altered flow token in the Route is refused 403 and nothing reaches the phone; the genuine one does', async (ctx) => {
  const { topo, edge } = ctx as Required<Ctx>;
  await register(ctx, 1);
  const path = await pathOf(ctx, '1001');
  const token = /^<sip:([0-9a-f]+)@/.exec(path)![1]!;
  const phone = await startListener(topo, 'phone1', topo.addr.phone1, 5060);
  try {
    const forgedBefore = await edge.metric('pinlatch_phones_forged_tokens_total');
    // One hex digit of the MAC changed; one of the flow part changed; a token of pinlatch's form made up.
    const at = (i: number) => (token[i] === '0' ? '1' : '0');
    const altered = [
      `${token.slice(0, -3)}${at(token.length - 3)}${token.slice(-2)}`,
      `${token.slice(0, 6)}${at(6)}${token.slice(7)}`,
      `010011${'0'.repeat(48)}`,
    ];
    for (const bad of altered) {
      const lines = await inviteFromPbxSide(ctx, path.replace(token, bad));
      assert.is(finalStatus(lines), 403, `${bad}: ${JSON.stringify(lines)}`);
    }
    assert.is(await edge.metric('pinlatch_phones_forged_tokens_total') - forgedBefore, altered.length);
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(phone.lines.filter((l) => l['line']), [], 'nothing reached the phone');
    // The same request with the genuine token reaches the phone through its NAT mapping.
    const lines = await inviteFromPbxSide(ctx, path);
    assert.is(finalStatus(lines), 486, JSON.stringify(lines));
    const got = await phone.waitFor((l) => /^INVITE /.test(String(l['line'])), 5000, 'the genuine INVITE');
    assert.is(got['from'], EDGE, 'sent by pinlatch');
  } finally {
    await phone.stop();
  }
});

test("a phone dialling a trunk's number reaches the PBX only, never the trunk", async (ctx) => {
  const { topo, pbx } = ctx as Required<Ctx>;
  const trunk = await startListener(topo, 'pbx', TRUNK, 5060);
  try {
    const r = await callPhone(topo, {
      phone: 1,
      user: '1001',
      password: USERS[0].password,
      callee: TRUNK_NUMBER,
      remote: EDGE,
      timeoutMs: 6000,
      rtp: { port: 20030, count: 1, out: join(ctx.dir!, 'trunk') },
    }).done;
    assert.is.not(r.code, 0, 'the PBX has no such user: 404');
    assert.match(r.messages, /SIP\/2\.0 404/);
    const invites = pbx.events('INVITE').filter((e) => e.fields['to'] === TRUNK_NUMBER);
    assert.ok(invites.length >= 1 && invites.every((e) => e.fields['src'] === EDGE), JSON.stringify(invites));
    assert.ok(pbx.events('NOTFOUND').some((e) => e.fields['to'] === TRUNK_NUMBER));
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(trunk.lines.filter((l) => l['line']), [], 'the trunk received nothing');
  } finally {
    await trunk.stop();
  }
});

test('NAT mapping change: the next REGISTER comes from a new public port, and the next call from the PBX reaches the phone there', async (ctx) => {
  const { topo, pbx, edge } = ctx as Required<Ctx>;
  // 1002 registered afresh: no binding can expire during this test, so the count shows a move.
  await register(ctx, 2);
  const saved = pbx.savedRegistrations('1001').length;
  const run = registerPhone(topo, { phone: 1, user: '1001', password: USERS[0].password, remote: EDGE, registrations: 2, refreshMs: 1500 });
  await pbx.waitForEvents(() => pbx.savedRegistrations('1001').length > saved, 10_000, 'the first registration');
  const before = await pathOf(ctx, '1001');
  const bindingsBefore = await edge.metric('pinlatch_phones_bindings');
  const oldMapping = (await topo.mappings(1)).find((m) => m.remoteAddress === topo.addr.edge && m.privatePort === 5060);
  assert.is(oldMapping?.publicPort, 5060);
  await topo.remap(1);
  const r = await run.done;
  assert.is(r.code, 0, failure('register', r, ctx));
  const mapping = (await topo.mappings(1)).find((m) => m.remoteAddress === topo.addr.edge && m.privatePort === 5060);
  assert.ok(mapping && mapping.publicPort >= 20000 && mapping.publicPort < 21000, `new public port: ${JSON.stringify(mapping)}`);
  const after = await pathOf(ctx, '1001');
  assert.is.not(after, before, 'the registrar was given the new flow');
  assert.is(await edge.metric('pinlatch_phones_bindings'), bindingsBefore, 'the binding moved to the new flow, none is left on the old one');
  // The PBX calls the phone: Kamailio routes by the new Path, pinlatch sends to the new mapping.
  const out = join(ctx.dir!, 'remap');
  const callee = answerPhone(topo, { phone: 1, user: '1001', rtp: { port: 16010, count: 50, out } });
  await new Promise((res) => setTimeout(res, 300));
  const caller = startSipp(topo, {
    host: 'pbx',
    scenario: 'uac.xml',
    localIp: topo.addr.pbx,
    localPort: PBX_PROBE_PORT,
    remote: `${topo.addr.pbx}:5060`,
    service: '1001',
    durationMs: 3000,
    timeoutMs: 30_000,
    vars: { rtpPort: 22000, rtpCount: 50, rtpCmd: `node ${RTP_ENDPOINT}`, rtpOut: out },
  });
  const [rc, re] = await Promise.all([caller.done, callee.done]);
  assert.is(rc.code, 0, failure('PBX-side caller', rc, ctx));
  assert.is(re.code, 0, failure('phone 1', re, ctx));
  assert.is(pbx.events('LOOKUP').at(-1)!.fields['du'], after.slice(1, -1));
  const media = await rtpResult(out, 'callee');
  const { share } = mediaShare(media!, 50);
  assert.ok(share >= MEDIA_SHARE, `PBX -> phone media: ${JSON.stringify(media)}`);
});

test('TCP phone: registers over TCP, the INVITE comes back over that connection; once it is closed, 430 Flow Failed', async (ctx) => {
  const { topo, pbx, edge } = ctx as Required<Ctx>;
  const phone = TcpPhone.start(topo, { host: 'phone2', localIp: topo.addr.phone2, remote: { address: topo.addr.edge, port: 5060 }, user: '1003', password: USERS[2].password });
  try {
    await phone.waitFor((l) => l['registered'] === true, 10_000, 'the TCP registration');
    assert.ok(pbx.events('CHALLENGE').some((e) => e.fields['user'] === '1003' && e.fields['src'] === EDGE), 'the 401 came through pinlatch');
    const path = await pathOf(ctx, '1003');
    assert.match(path, /@203\.0\.113\.10:5060;lr;ob>$/);
    const first = await inviteThroughPbx(ctx, '1003');
    assert.is(finalStatus(first), 486, `the phone answered over its connection: ${JSON.stringify(first)}\n${phone.output}`);
    const invite = phone.lines.find((l) => l['request'] === 'INVITE');
    assert.match(String(invite?.['uri']), new RegExp(`^sip:1003@${topo.addr.phone2.replaceAll('.', '\\.')}:\\d+;transport=tcp$`), 'its own Contact, over its connection');
    const failedBefore = await edge.metric('pinlatch_phones_flow_failed_total');
    phone.close();
    await phone.waitFor((l) => l['closed'] === true, 5000, 'the connection to close');
    await new Promise((r) => setTimeout(r, 300));
    const second = await inviteThroughPbx(ctx, '1003');
    assert.is(finalStatus(second), 430, JSON.stringify(second));
    assert.ok(pbx.events('REPLY').some((e) => e.fields['status'] === '430' && e.fields['src'] === EDGE), 'pinlatch answered the PBX 430');
    assert.is(phone.lines.filter((l) => l['request'] === 'INVITE').length, 1, 'only the first INVITE reached the phone');
    assert.is(await edge.metric('pinlatch_phones_flow_failed_total') - failedBefore, 1);
  } finally {
    await phone.stop();
  }
});

test('an expired registration is cleaned up: the binding leaves pinlatch, a call for it is answered 404 by the PBX', async (ctx) => {
  const { topo, pbx, edge } = ctx as Required<Ctx>;
  // 1001 and 1003 were registered seconds ago for 60 s: only 1002 can expire during this test.
  await register(ctx, 2, 1, { expires: 6 });
  const bindings = await edge.metric('pinlatch_phones_bindings');
  assert.ok((await pbx.registrations()).some((c) => c.aor === '1002'));
  // The phone's lease (6 s) plus pinlatch's 5 s sweep.
  const deadline = Date.now() + 20_000;
  while ((await edge.metric('pinlatch_phones_bindings')) !== bindings - 1) {
    assert.ok(Date.now() < deadline, 'the binding of 1002 left pinlatch');
    await new Promise((r) => setTimeout(r, 500));
  }
  assert.not.ok((await pbx.registrations()).some((c) => c.aor === '1002'), 'the registrar expired it too');
  const phone = await startListener(topo, 'phone2', topo.addr.phone2, 5060);
  try {
    const lines = await inviteThroughPbx(ctx, '1002');
    assert.is(finalStatus(lines), 404, JSON.stringify(lines));
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(phone.lines.filter((l) => l['line']), [], 'nothing reached the phone');
  } finally {
    await phone.stop();
  }
});

test.run();
