/**
 * Registration throttling end to end (docs/phones.md, `phones.throttle`): sipp phones behind their
 * NATs refresh through pinlatch (test/support/pinlatch-edge.ts) to Kamailio (digest auth, Path),
 * and the REGISTERs Kamailio actually receives (its own log) are counted against those the phones
 * sent (pinlatch's pinlatch_phones_registers_total) and those pinlatch answered itself.
 *
 * The case of the issue — phone expiry 60 s, registrar 3600 s, 10 minutes: the registrar sees the
 * initial REGISTER per phone and no refresh — runs time-scaled by 1/6 with the same ratios: phone
 * 10 s (the schema's minimum), registrar 600 s, 100 s, the phone refreshing every 5 s (half its
 * expiry, as phones do). Beside it, a second pinlatch with the registrar expiry at the schema's
 * minimum of 60 s shows the refreshes that ARE needed being forwarded: pinlatch sends a refresh on
 * once the registrar's binding would not outlive two more phone leases (RegisterThrottle.ts), so
 * over 100 s the registrar sees the initial registration plus at most ceil(100 / (60 - 2·10)) = 3
 * renewals, and its binding never lapses.
 */
import * as assert from 'uvu/assert';
import { suite } from '../support/suite.ts';
import { createPhonesTopology, type PhoneIndex, type PhonesTopology } from '../support/phones-topology.ts';
import { KamailioRegistrar } from '../support/kamailio-registrar.ts';
import { registerPhone } from '../support/phone-sipp.ts';
import { PinlatchEdge } from '../support/pinlatch-edge.ts';
import type { SippResult } from '../support/sipp.ts';

interface Ctx {
  topo?: PhonesTopology;
  pbx?: KamailioRegistrar;
  /** Registrar expiry 600 s (phone 1) and 60 s (phone 2). */
  scaled?: PinlatchEdge;
  short?: PinlatchEdge;
}

const WINDOW_SEC = 100;
const PHONE_EXPIRES_SEC = 10;
const REFRESH_MS = 5000;
/** The first REGISTER and its refreshes over the window. */
const REGISTRATIONS = WINDOW_SEC * 1000 / REFRESH_MS + 1;

const test = suite<Ctx>('e2e/phones-throttle', { timeoutMs: (WINDOW_SEC + 60) * 1000 });

const USERS = [
  { user: '1001', password: 'secret-1001' },
  { user: '1002', password: 'secret-1002' },
] as const;

test.before(async (ctx) => {
  ctx.topo = await createPhonesTopology();
  ctx.pbx = await KamailioRegistrar.start(ctx.topo, 'pbx', { address: ctx.topo.addr.pbx, users: USERS, nat: false, minExpires: 5 });
  ctx.scaled = await PinlatchEdge.start(ctx.topo, { phones: `{ throttle: { phoneExpiresSec: ${PHONE_EXPIRES_SEC}, registrarExpiresSec: 600 } }` });
  ctx.short = await PinlatchEdge.start(ctx.topo, {
    phones: `{ throttle: { phoneExpiresSec: ${PHONE_EXPIRES_SEC}, registrarExpiresSec: 60 } }`,
    sipPort: 5062,
    mediaPorts: { min: 31000, max: 31999 },
    metricsPort: 9091,
  });
});

test.after(async (ctx) => {
  await ctx.scaled?.stop();
  await ctx.short?.stop();
  await ctx.pbx?.stop();
  await ctx.topo?.destroy();
});

function failure(name: string, r: SippResult, ctx: Ctx): string {
  return `${name}: sipp exit ${r.code ?? r.signal}\n${r.output.slice(-1500)}\n--- messages:\n${r.messages.slice(-3000)}\n--- kamailio:\n${ctx.pbx?.log.slice(-3000)}`;
}

test(`over ${WINDOW_SEC} s, the registrar sees each phone's initial registration plus only the refreshes its binding needs`, async (ctx) => {
  const { topo, pbx, scaled, short } = ctx as Required<Ctx>;
  const started = Date.now();
  const phone = (index: PhoneIndex, port: number) =>
    registerPhone(topo, {
      phone: index,
      user: USERS[index - 1].user,
      password: USERS[index - 1].password,
      remote: `${topo.addr.edge}:${port}`,
      expires: 60,
      registrations: REGISTRATIONS,
      refreshMs: REFRESH_MS,
      timeoutMs: (WINDOW_SEC + 30) * 1000,
    });
  const runs = [phone(1, 5060), phone(2, 5062)];
  // The registrar's binding of phone 2 must never lapse: sample it while the phones refresh.
  let lapsed = 0;
  let samples = 0;
  const sampler = setInterval(() => {
    void pbx.registrations().then((contacts) => {
      if (Date.now() - started < 5000) return;
      samples += 1;
      if (!contacts.some((c) => c.aor === '1002' && c.expires > 0)) lapsed += 1;
    }, () => undefined);
  }, 2000);
  const [r1, r2] = await Promise.all(runs.map((r) => r.done));
  clearInterval(sampler);
  assert.is(r1!.code, 0, failure('phone 1', r1!, ctx));
  assert.is(r2!.code, 0, failure('phone 2', r2!, ctx));
  const elapsedSec = (Date.now() - started) / 1000;

  // What the phones sent: every registration round is one REGISTER, two when it was challenged.
  const sent1 = await scaled.metric('pinlatch_phones_registers_total');
  const local1 = await scaled.metric('pinlatch_phones_registers_answered_locally_total');
  const sent2 = await short.metric('pinlatch_phones_registers_total');
  const local2 = await short.metric('pinlatch_phones_registers_answered_locally_total');
  const seen1 = pbx.registerCount('1001');
  const seen2 = pbx.registerCount('1002');
  const saved1 = pbx.savedRegistrations('1001').length;
  const saved2 = pbx.savedRegistrations('1002').length;
  const report = { elapsedSec, registrations: REGISTRATIONS, phone1: { sent: sent1, answeredLocally: local1, registrarSaw: seen1, saved: saved1 }, phone2: { sent: sent2, answeredLocally: local2, registrarSaw: seen2, saved: saved2 }, samples, lapsed };
  console.log(`throttle: ${JSON.stringify(report)}`);

  // Every REGISTER a phone sent either reached the registrar or was answered by pinlatch.
  assert.is(sent1, seen1 + local1, JSON.stringify(report));
  assert.is(sent2, seen2 + local2, JSON.stringify(report));
  // Registrar 600 s over 100 s (the 3600 s over 10 min): the initial registration only,
  // challenged once (2 REGISTERs); the 20 refreshes were answered by pinlatch.
  assert.is(saved1, 1, JSON.stringify(report));
  assert.is(seen1, 2, JSON.stringify(report));
  assert.is(local1, REGISTRATIONS - 1, JSON.stringify(report));
  // Registrar 60 s over 100 s: the initial registration and the renewals its binding needed
  // (each challenged by Kamailio, so 2 REGISTERs per saved registration).
  const needed = Math.ceil(WINDOW_SEC / (60 - 2 * PHONE_EXPIRES_SEC));
  assert.ok(saved2 >= 2 && saved2 <= 1 + needed, JSON.stringify(report));
  assert.is(seen2, 2 * saved2, JSON.stringify(report));
  assert.ok(samples >= 20, `sampled the registrar's binding ${samples} times`);
  assert.is(lapsed, 0, "the registrar's binding of phone 2 never lapsed");
  // The registrar holds the long expiry; the phones were told the short one.
  const contacts = await pbx.registrations();
  const c1 = contacts.find((c) => c.aor === '1001');
  assert.ok(c1 && c1.expires > 600 - elapsedSec - 15, JSON.stringify(contacts));
  assert.match(r1!.messages, `;expires=${PHONE_EXPIRES_SEC}`);
});

test.run();
