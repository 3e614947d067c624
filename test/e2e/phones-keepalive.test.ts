/**
 * Keepalives and dead UDP flows end to end (docs/phones.md, `phones.keepalive`): a sipp phone
 * behind its masquerading NAT (test/support/phones-topology.ts) registers through pinlatch
 * (pinlatch-edge.ts) to Kamailio (digest auth, Path, no NAT handling of its own:
 * kamailio-registrar.ts) and answers pinlatch's keepalive OPTIONS (sipp -aa). Then the phone is
 * gone (sipp killed by PID): after `maxMissed` unanswered pings its flow is dead, and an INVITE the
 * PBX sends for it is answered 430 Flow Failed by pinlatch at once (RFC 5626 §5.3), so the PBX can
 * try the phone's other registrations instead of waiting out Timer B. The phone registering again
 * brings its flow back.
 *
 * pinlatch's T1 is 100 ms here, so an unanswered ping ends after Timer F = 64·T1 = 6.4 s: two
 * missed pings take ~13 s instead of ~32 s with the other tests' 250 ms.
 */
import * as assert from 'uvu/assert';
import { suite } from '../support/suite.ts';
import { createPhonesTopology, type PhonesTopology } from '../support/phones-topology.ts';
import { KamailioRegistrar } from '../support/kamailio-registrar.ts';
import { registerPhone } from '../support/phone-sipp.ts';
import { PinlatchEdge } from '../support/pinlatch-edge.ts';
import { probeInvite, startListener } from '../support/phone-probe.ts';
import { startSipp, type SippResult, type SippRun } from '../support/sipp.ts';

interface Ctx {
  topo?: PhonesTopology;
  pbx?: KamailioRegistrar;
  edge?: PinlatchEdge;
  phone?: SippRun;
}

const USER = { user: '1001', password: 'secret-1001' } as const;
const EDGE = '203.0.113.10:5060';
/** Where the PBX side's own test requests come from (trusted by Kamailio: no 407). */
const PBX_PROBE_PORT = 5071;
const KEEPALIVE_SEC = 1;
const MAX_MISSED = 2;
const T1_MS = 100;
/** Timer F (RFC 3261 §17.1.2.2): how long one unanswered ping takes to count as missed. */
const TIMER_F_MS = 64 * T1_MS;

const test = suite<Ctx>('e2e/phones-keepalive', { timeoutMs: 90_000 });

interface Listed {
  aor: string;
  contact: string;
  alive: boolean;
  flow: { transport: string; address: string; port: number };
}

/** pinlatch's `/registrations` listing, read with curl inside the edge namespace. */
async function listing(ctx: Ctx): Promise<Listed[]> {
  const { stdout } = await ctx.topo!.exec('edge', ['curl', '-sf', '--max-time', '5', `http://${ctx.topo!.addr.edge}:9090/registrations`]);
  return (JSON.parse(stdout) as { registrations: Listed[] }).registrations;
}

async function bindingOf(ctx: Ctx): Promise<Listed | undefined> {
  return (await listing(ctx)).find((b) => b.aor === `sip:${USER.user}@pbx.test`);
}

/** Polls `check` every 250 ms until it holds; fails with `what` after `timeoutMs`. */
async function waitUntil(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    assert.ok(Date.now() < deadline, `timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

function failure(name: string, r: SippResult, ctx: Ctx): string {
  return `${name}: sipp exit ${r.code ?? r.signal}\n${r.output.slice(-1500)}\n--- messages:\n${r.messages.slice(-3000)}\n--- kamailio:\n${ctx.pbx?.log.slice(-2000)}\n--- pinlatch:\n${ctx.edge?.log.slice(-3000)}`;
}

/** An INVITE for the user sent to Kamailio from the PBX's host: Kamailio routes it by the stored Path. */
function inviteThroughPbx(ctx: Ctx) {
  const t = ctx.topo!;
  return probeInvite(t, { host: 'pbx', localIp: t.addr.pbx, localPort: PBX_PROBE_PORT, remote: { address: t.addr.pbx, port: 5060 }, uri: `sip:${USER.user}@pbx.test` });
}

const finalStatus = (lines: Array<Record<string, unknown>>) => lines.map((l) => Number(l['status'])).find((s) => s === 0 || s >= 200);

test.before(async (ctx) => {
  ctx.topo = await createPhonesTopology();
  ctx.pbx = await KamailioRegistrar.start(ctx.topo, 'pbx', { address: ctx.topo.addr.pbx, users: [USER], nat: false, minExpires: 5, trusted: [ctx.topo.addr.pbx] });
  ctx.edge = await PinlatchEdge.start(ctx.topo, {
    phones: `{ keepalive: { intervalSec: ${KEEPALIVE_SEC}, maxMissed: ${MAX_MISSED} } }`,
    sipTimers: `{ t1Ms: ${T1_MS}, t2Ms: 2000, t4Ms: 2500, inviteTimeoutMs: 30000 }`,
  });
});

test.after(async (ctx) => {
  ctx.phone?.kill();
  await ctx.phone?.done;
  await ctx.edge?.stop();
  await ctx.pbx?.stop();
  await ctx.topo?.destroy();
});

test('a UDP phone that stops answering keepalives: its flow is dead after maxMissed pings, and the PBX gets 430 for it at once', async (ctx) => {
  const { topo, pbx, edge } = ctx as Required<Omit<Ctx, 'phone'>>;
  // phone-register.xml registering once and then holding its registration (the second round is
  // a minute away): meanwhile sipp's -aa answers the keepalive OPTIONS, which carry Call-IDs of
  // their own, 200.
  const phone = startSipp(topo, {
    host: 'phone1',
    scenario: 'phone-register.xml',
    localIp: topo.addr.phone1,
    localPort: 5060,
    mediaPort: 46010,
    remote: EDGE,
    durationMs: 60_000,
    timeoutMs: 80_000,
    vars: { user: USER.user, domain: 'pbx.test', expires: 120, registrations: 2 },
    extraArgs: ['-au', USER.user, '-ap', USER.password, '-aa'],
  });
  ctx.phone = phone;
  await pbx.waitForEvents(() => pbx.savedRegistrations(USER.user).length > 0, 10_000, 'the registration');
  await waitUntil(async () => (await bindingOf(ctx)) !== undefined, 5000, 'the binding in /registrations');

  // Alive: pinlatch pings the phone every second it is silent, and every ping is answered.
  const sentBefore = await edge.metric('pinlatch_phones_keepalives_sent_total');
  await waitUntil(async () => (await edge.metric('pinlatch_phones_keepalives_sent_total')) >= sentBefore + 3, 10_000, 'three keepalives');
  const answeredPings = (phone.messagesSoFar().match(/^OPTIONS sip:1001@/gm) ?? []).length;
  assert.ok(answeredPings >= 3, `the phone received the pings:\n${phone.messagesSoFar().slice(-2000)}`);
  assert.is(await edge.metric('pinlatch_phones_keepalives_missed_total'), 0, 'no ping went unanswered');
  assert.is((await bindingOf(ctx))!.alive, true);
  assert.is(await edge.metric('pinlatch_phones_flows{state="alive"}'), 1);

  // The phone is gone (powered off, unplugged): nothing answers at its NAT mapping any more.
  phone.kill();
  await phone.done;
  const goneAt = Date.now();
  await waitUntil(async () => (await bindingOf(ctx))?.alive === false, MAX_MISSED * TIMER_F_MS + 10_000, 'the flow marked dead');
  const deadAfterMs = Date.now() - goneAt;
  assert.is(await edge.metric('pinlatch_phones_keepalives_missed_total'), MAX_MISSED, `dead after exactly ${MAX_MISSED} missed pings`);
  assert.ok(deadAfterMs >= (MAX_MISSED - 1) * TIMER_F_MS, `dead after ${deadAfterMs} ms: not before the pings could time out`);
  assert.is(await edge.metric('pinlatch_phones_flows{state="dead"}'), 1);
  assert.is(await edge.metric('pinlatch_phones_flows{state="alive"}'), 0);
  assert.equal(edge.logs('phone flow dead: keepalives unanswered').length, 1);

  // The PBX calls the phone: Kamailio routes by the Path, pinlatch answers 430 without sending
  // anything toward the phone. The probe gives up after 10 s; an INVITE sent to the dead mapping
  // would have ended 408 after Timer B (6.4 s) at the earliest.
  const listener = await startListener(topo, 'phone1', topo.addr.phone1, 5060);
  try {
    const failedBefore = await edge.metric('pinlatch_phones_flow_failed_total');
    const lines = await inviteThroughPbx(ctx);
    assert.is(finalStatus(lines), 430, JSON.stringify(lines));
    assert.ok(pbx.events('REPLY').some((e) => e.fields['status'] === '430' && e.fields['src'] === EDGE), 'the 430 came from pinlatch');
    assert.is(await edge.metric('pinlatch_phones_flow_failed_total') - failedBefore, 1);
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(listener.lines.filter((l) => l['line']), [], 'nothing reached the phone');
  } finally {
    await listener.stop();
  }

  // The phone is back and registers again: its flow is alive, the PBX's INVITE reaches it.
  const again = await registerPhone(topo, { phone: 1, user: USER.user, password: USER.password, remote: EDGE, expires: 120 }).done;
  assert.is(again.code, 0, failure('register again', again, ctx));
  assert.is((await bindingOf(ctx))!.alive, true);
  const back = await startListener(topo, 'phone1', topo.addr.phone1, 5060);
  try {
    const lines = await inviteThroughPbx(ctx);
    assert.is(finalStatus(lines), 486, `the listener's answer: ${JSON.stringify(lines)}`);
    await back.waitFor((l) => /^INVITE /.test(String(l['line'])), 5000, 'the INVITE at the phone');
  } finally {
    await back.stop();
  }
});

test.run();
