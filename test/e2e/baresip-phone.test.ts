/**
 * Debian's baresip as a headless phone behind NAT (test/support/baresip.ts) in the phones
 * topology, registering directly to the Kamailio registrar (`nat: true`, no pinlatch): digest
 * authentication, refreshes, auto-answer of a sipp call placed by the other phone, and
 * unregistration when it stops.
 */
import * as assert from 'uvu/assert';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from '../support/suite.ts';
import { createPhonesTopology, type PhonesTopology } from '../support/phones-topology.ts';
import { KamailioRegistrar } from '../support/kamailio-registrar.ts';
import { Baresip, BARESIP, BARESIP_MODULES } from '../support/baresip.ts';
import { callPhone, rtpResult } from '../support/phone-sipp.ts';

interface Ctx {
  topo?: PhonesTopology;
  pbx?: KamailioRegistrar;
  phone?: Baresip;
  dir?: string;
}

const test = suite<Ctx>('e2e/baresip phone', { timeoutMs: 45_000 });
const PBX = '203.0.113.30:5060';

test.before(async (ctx) => {
  ctx.dir = mkdtempSync(join(tmpdir(), 'pinlatch-baresip-test-'));
  ctx.topo = await createPhonesTopology();
  ctx.pbx = await KamailioRegistrar.start(ctx.topo, 'pbx', {
    address: ctx.topo.addr.pbx,
    users: [
      { user: '1001', password: 'secret-1001' },
      { user: '1002', password: 'secret-1002' },
    ],
    nat: true,
    minExpires: 5,
  });
});

test.after(async (ctx) => {
  await ctx.phone?.stop();
  await ctx.pbx?.stop();
  await ctx.topo?.destroy();
  if (ctx.dir) rmSync(ctx.dir, { recursive: true, force: true });
});

test('baresip and its modules are installed', () => {
  const missing = [BARESIP, ...['g711', 'ausine', 'aubridge', 'account', 'menu'].map((m) => `${BARESIP_MODULES}/${m}.so`)].filter(
    (f) => !existsSync(f),
  );
  assert.equal(missing, [], 'install Debian baresip-core');
});

test('baresip registers through its NAT with digest auth and refreshes the registration', async (ctx) => {
  const { topo, pbx } = ctx as Required<Ctx>;
  ctx.phone = await Baresip.start(topo, {
    host: 'phone2',
    localIp: topo.addr.phone2,
    user: '1002',
    password: 'secret-1002',
    outbound: PBX,
    regint: 6,
    dnsServer: topo.addr.pbx,
  });
  const phone = ctx.phone;
  await phone.waitFor(() => phone.registered(), 10_000, 'the registration');
  assert.ok(pbx.events('CHALLENGE').some((e) => e.fields['method'] === 'REGISTER' && e.fields['user'] === '1002'));
  const contacts = (await pbx.registrations()).filter((c) => c.aor === '1002');
  assert.is(contacts.length, 1, JSON.stringify(contacts));
  assert.is(contacts[0]!.received, `sip:${topo.addr.nat2}:5060`);
  // baresip refreshes before the registration expires (regint 6 s); it prints only the first 200.
  await pbx.waitForEvents(() => pbx.savedRegistrations('1002').length >= 2, 15_000, 'the refresh');
}, 40_000);

test('baresip answers a call from the sipp phone automatically; the caller hangs up', async (ctx) => {
  const { topo, pbx, phone, dir } = ctx as Required<Ctx>;
  assert.ok(phone, 'baresip runs (previous test)');
  const out = join(dir, 'call');
  const r = await callPhone(topo, {
    phone: 1,
    user: '1001',
    password: 'secret-1001',
    callee: '1002',
    remote: PBX,
    durationMs: 2000,
    rtp: { port: 20000, count: 50, out },
  }).done;
  assert.is(r.code, 0, `sipp: ${r.output.slice(-1500)}\n${r.messages.slice(-3000)}\n--- baresip:\n${phone.output.slice(-3000)}\n--- kamailio:\n${pbx.log.slice(-2000)}`);
  await phone.waitFor(() => phone.establishedCalls() === 1 && phone.closedCalls() >= 1, 5000, 'the call to end in baresip');
  assert.match(phone.output, /answering call/);
  assert.match(phone.output, /audio tx pipeline:\s+ausine ---> PCMU/);
  assert.is((await rtpResult(out, 'caller'))?.sent, 50);
});

test('baresip unregisters when it stops', async (ctx) => {
  const { pbx, phone } = ctx as Required<Ctx>;
  assert.ok(phone, 'baresip runs (previous tests)');
  await phone.stop();
  ctx.phone = undefined;
  await pbx.waitForEvents(
    (events) => events.some((e) => e.kind === 'SAVED' && e.fields['user'] === '1002' && /expires=0/.test(e.fields['contact'] ?? '')),
    5000,
    'the unregistration',
  );
  const contacts = (await pbx.registrations()).filter((c) => c.aor === '1002');
  assert.equal(contacts, []);
});

test.run();
