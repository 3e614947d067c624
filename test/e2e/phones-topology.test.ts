/**
 * The "phones behind NAT" test bed without pinlatch (test/support/phones-topology.ts,
 * kamailio-registrar.ts, phone-sipp.ts): two homes with the same private network and phone
 * address behind their own masquerading routers, Kamailio as the PBX on the public side doing the
 * phones' NAT traversal itself (`nat: true`). Proves the topology, the digest authentication, the
 * sipp phone scenarios and the registrar, what a NAT mapping change looks like to the registrar,
 * and the registrar's Path handling with sipp standing in for the edge proxy.
 */
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from '../support/suite.ts';
import { createPhonesTopology, type PhonesTopology } from '../support/phones-topology.ts';
import { KamailioRegistrar } from '../support/kamailio-registrar.ts';
import { answerPhone, callPhone, registerPhone, rtpResult } from '../support/phone-sipp.ts';
import { startSipp } from '../support/sipp.ts';
import type { SippResult } from '../support/sipp.ts';

interface Ctx {
  topo?: PhonesTopology;
  pbx?: KamailioRegistrar;
  dir?: string;
}

const test = suite<Ctx>('e2e/phones-topology', { timeoutMs: 45_000 });

const USERS = [
  { user: '1001', password: 'secret-1001' },
  { user: '1002', password: 'secret-1002' },
] as const;
const PBX = '203.0.113.30:5060';

/** UDP echo that prints the source of every datagram it answers. */
const ECHO = `const s=require('dgram').createSocket('udp4');
s.on('message',(m,r)=>{console.log(r.address+':'+r.port);s.send(m,r.port,r.address)});
s.bind(+process.argv[2],process.argv[1],()=>console.log('ready'));`;

/** Sends one datagram from host:port to ip:port and prints the reply's source, or 'timeout'/the error. */
const PROBE = `const s=require('dgram').createSocket('udp4');const [la,lp,ra,rp]=process.argv.slice(1);
const t=setTimeout(()=>{console.log('timeout');process.exit(0)},1000);
s.on('message',(m,r)=>{console.log(r.address+':'+r.port);clearTimeout(t);process.exit(0)});
s.bind(+lp,la,()=>s.send('probe',+rp,ra,(e)=>{if(e){console.log(e.code);process.exit(0)}}));`;

function sippFailure(name: string, r: SippResult, pbx: KamailioRegistrar): string {
  return `${name}: sipp exit ${r.code ?? r.signal}\n${r.output.slice(-2000)}\n--- errors:\n${r.errors.slice(-1500)}\n--- messages:\n${r.messages.slice(-3000)}\n--- kamailio:\n${pbx.log.slice(-3000)}`;
}

test.before(async (ctx) => {
  ctx.dir = mkdtempSync(join(tmpdir(), 'pinlatch-phones-'));
  ctx.topo = await createPhonesTopology();
  ctx.pbx = await KamailioRegistrar.start(ctx.topo, 'pbx', {
    address: ctx.topo.addr.pbx,
    users: USERS,
    nat: true,
    minExpires: 5,
  });
});

test.after(async (ctx) => {
  await ctx.pbx?.stop();
  await ctx.topo?.destroy();
  if (ctx.dir) rmSync(ctx.dir, { recursive: true, force: true });
});

test('both homes use 192.168.1.100; each router masquerades it to its own address, nothing comes in unasked', async ({ topo }) => {
  const t = topo!;
  assert.is(t.addr.phone1, t.addr.phone2);
  const echo = t.spawn('edge', ['node', '-e', ECHO, t.addr.edge, '7000']);
  let out = '';
  echo.stdout!.on('data', (d) => (out += d));
  const deadline = Date.now() + 5000;
  while (!out.includes('ready') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  for (const phone of [1, 2] as const) {
    const { stdout } = await t.exec(`phone${phone}`, ['node', '-e', PROBE, t.addr[`phone${phone}`], '7001', t.addr.edge, '7000']);
    assert.is(stdout.trim(), `${t.addr.edge}:7000`, `phone${phone} gets the echo back through its mapping`);
  }
  const sources = out.split('\n').filter((l) => l.includes(':'));
  assert.equal(sources, [`${t.addr.nat1}:7001`, `${t.addr.nat2}:7001`]);
  const mappings = await t.mappings(1);
  assert.ok(
    mappings.some((m) => m.privatePort === 7001 && m.publicAddress === t.addr.nat1 && m.publicPort === 7001 && m.remoteAddress === t.addr.edge),
    JSON.stringify(mappings),
  );
  // A new flow from outside (no mapping for this source/port) is dropped by the router.
  const phoneEcho = t.spawn('phone1', ['node', '-e', ECHO, '0.0.0.0', '7002']);
  await new Promise((r) => setTimeout(r, 300));
  const { stdout } = await t.exec('edge', ['node', '-e', PROBE, t.addr.edge, '7003', t.addr.nat1, '7002']);
  assert.is(stdout.trim(), 'timeout');
  echo.kill('SIGKILL');
  phoneEcho.kill('SIGKILL');
});

test('a REGISTER is challenged (401), the authenticated one is saved with the NAT address as received', async ({ topo, pbx }) => {
  const before = pbx!.registerCount('1001');
  const run = registerPhone(topo!, { phone: 1, user: '1001', password: USERS[0].password, remote: PBX });
  const r = await run.done;
  assert.is(r.code, 0, sippFailure('register', r, pbx!));
  assert.is(pbx!.registerCount('1001') - before, 2, 'one challenged REGISTER, one with credentials');
  assert.ok(pbx!.events('CHALLENGE').some((e) => e.fields['method'] === 'REGISTER' && e.fields['user'] === '1001'));
  const saved = pbx!.savedRegistrations('1001').at(-1)!;
  assert.is(saved.fields['src'], `${topo!.addr.nat1}:5060`);
  const contacts = (await pbx!.registrations()).filter((c) => c.aor === '1001');
  assert.is(contacts.length, 1, JSON.stringify(contacts));
  assert.match(contacts[0]!.contact, `sip:1001@${topo!.addr.phone1}:5060`);
  assert.is(contacts[0]!.received, `sip:${topo!.addr.nat1}:5060`);
});

test('a REGISTER with a wrong password is never saved', async ({ topo, pbx }) => {
  const saved = pbx!.savedRegistrations().length;
  const run = registerPhone(topo!, { phone: 2, user: '1002', password: 'wrong', remote: PBX, timeoutMs: 4000 });
  const r = await run.done;
  assert.is.not(r.code, 0, 'sipp gets a second 401 instead of 200');
  assert.is(pbx!.savedRegistrations().length, saved);
});

test('refreshes: one registration (same Call-ID, CSeq counting up), each REGISTER challenged anew', async ({ topo, pbx }) => {
  const before = pbx!.events('REGISTER').length;
  const run = registerPhone(topo!, {
    phone: 2,
    user: '1002',
    password: USERS[1].password,
    remote: PBX,
    registrations: 3,
    refreshMs: 500,
  });
  const r = await run.done;
  assert.is(r.code, 0, sippFailure('register x3', r, pbx!));
  const registers = pbx!.events('REGISTER').slice(before);
  assert.is(registers.length, 6);
  assert.is(new Set(registers.map((e) => e.fields['callid'])).size, 1);
  const cseqs = registers.map((e) => Number(e.fields['cseq']));
  assert.equal(cseqs, [...cseqs].sort((a, b) => a - b), `CSeq counts up: ${cseqs}`);
  assert.is(new Set(cseqs).size, 6, `CSeq counts up: ${cseqs}`);
  assert.is(pbx!.savedRegistrations('1002').length, 3);
});

test('phone 1 calls phone 2 through the PBX (407 on the INVITE); the PBX reaches phone 2 through its NAT', async ({ topo, pbx, dir }) => {
  const t = topo!;
  // Both phones registered in the tests before; register again so both mappings are fresh.
  for (const [phone, u] of [[1, USERS[0]], [2, USERS[1]]] as const) {
    const r = await registerPhone(t, { phone, user: u.user, password: u.password, remote: PBX }).done;
    assert.is(r.code, 0, sippFailure(`register ${u.user}`, r, pbx!));
  }
  const out = join(dir!, 'call');
  const callee = answerPhone(t, { phone: 2, user: '1002', rtp: { port: 16000, count: 50, out } });
  await new Promise((r) => setTimeout(r, 300));
  const caller = callPhone(t, {
    phone: 1,
    user: '1001',
    password: USERS[0].password,
    callee: '1002',
    remote: PBX,
    durationMs: 1500,
    rtp: { port: 20000, count: 50, out },
  });
  const [rc, re] = await Promise.all([caller.done, callee.done]);
  assert.is(rc.code, 0, sippFailure('caller', rc, pbx!));
  assert.is(re.code, 0, sippFailure('callee', re, pbx!));
  assert.ok(pbx!.events('CHALLENGE').some((e) => e.fields['method'] === 'INVITE' && e.fields['user'] === '1001'));
  const lookup = pbx!.events('LOOKUP').at(-1)!;
  assert.is(lookup.fields['du'], `sip:${t.addr.nat2}:5060`);
  // The phones' SDP carries 192.168.1.100 on both sides and there is no media relay here: each
  // endpoint sent its packets (into its own LAN), which proves the scenarios ran their media.
  const [a, b] = await Promise.all([rtpResult(out, 'caller'), rtpResult(out, 'callee')]);
  assert.is(a?.sent, 50);
  assert.is(b?.sent, 50);
});

test('a call to a user who is not registered gets 404 after the 407 round', async ({ topo, pbx, dir }) => {
  const run = callPhone(topo!, {
    phone: 1,
    user: '1001',
    password: USERS[0].password,
    callee: '1009',
    remote: PBX,
    timeoutMs: 5000,
    rtp: { port: 20010, count: 1, out: join(dir!, 'nobody') },
  });
  const r = await run.done;
  assert.is.not(r.code, 0);
  assert.ok(pbx!.events('NOTFOUND').some((e) => e.fields['to'] === '1009'), pbx!.log.slice(-2000));
});

test('conntrack flush alone: the next REGISTER gets the same public port (port-preserving masquerade)', async ({ topo, pbx }) => {
  const t = topo!;
  const saved = pbx!.savedRegistrations('1002').length;
  const run = registerPhone(t, { phone: 2, user: '1002', password: USERS[1].password, remote: PBX, registrations: 2, refreshMs: 1500 });
  await pbx!.waitForEvents(() => pbx!.savedRegistrations('1002').length > saved, 5000, 'the first registration');
  await t.flushConntrack(2);
  assert.equal(await t.mappings(2), []);
  const r = await run.done;
  assert.is(r.code, 0, sippFailure('register', r, pbx!));
  const [first, second] = pbx!.savedRegistrations('1002').slice(saved);
  assert.is(first!.fields['src'], `${t.addr.nat2}:5060`);
  assert.is(second!.fields['src'], `${t.addr.nat2}:5060`);
});

test('remap: the re-REGISTER after the NAT mapping change comes from a new public port, and the PBX follows it', async ({ topo, pbx }) => {
  const t = topo!;
  const saved = pbx!.savedRegistrations('1001').length;
  const run = registerPhone(t, { phone: 1, user: '1001', password: USERS[0].password, remote: PBX, registrations: 2, refreshMs: 1500 });
  await pbx!.waitForEvents(() => pbx!.savedRegistrations('1001').length > saved, 5000, 'the first registration');
  await t.remap(1);
  const r = await run.done;
  assert.is(r.code, 0, sippFailure('register', r, pbx!));
  const [first, second] = pbx!.savedRegistrations('1001').slice(saved);
  assert.is(first!.fields['src'], `${t.addr.nat1}:5060`);
  const [address, port] = second!.fields['src']!.split(':');
  assert.is(address, t.addr.nat1);
  assert.ok(Number(port) !== 5060 && Number(port) >= 20000 && Number(port) < 21000, `new public port: ${port}`);
  const contact = (await pbx!.registrations()).find((c) => c.aor === '1001');
  assert.is(contact?.received, `sip:${t.addr.nat1}:${port}`);
  const mapping = (await t.mappings(1)).find((m) => m.remoteAddress === t.addr.pbx);
  assert.is(mapping?.publicPort, Number(port));
});

test('Path: a contact registered through an edge is reached through it (Route = Path, sent to the edge)', async ({ topo, pbx, dir }) => {
  const t = topo!;
  const contact = `sip:1002@${t.addr.phone2}:5060`;
  const reg = await startSipp(t, {
    host: 'edge',
    scenario: 'edge-register.xml',
    localIp: t.addr.edge,
    localPort: 5062,
    remote: PBX,
    timeoutMs: 10_000,
    vars: { user: '1002', domain: 'pbx.test', expires: 60, contact },
    extraArgs: ['-au', '1002', '-ap', USERS[1].password],
  }).done;
  assert.is(reg.code, 0, sippFailure('edge register', reg, pbx!));
  const stored = (await pbx!.registrations()).filter((c) => c.aor === '1002');
  assert.is(stored.length, 1, JSON.stringify(stored));
  assert.is(stored[0]!.path, `<sip:${t.addr.edge}:5062;lr>`);
  // The edge's stand-in answers on the Path address.
  const out = join(dir!, 'path');
  const edge = startSipp(t, {
    host: 'edge',
    scenario: 'phone-answer.xml',
    localIp: t.addr.edge,
    localPort: 5062,
    timeoutMs: 20_000,
    vars: { user: '1002', rtpPort: 16000, rtpCount: 1, rtpCmd: 'true', rtpOut: out },
  });
  await new Promise((r) => setTimeout(r, 300));
  const caller = callPhone(t, {
    phone: 1,
    user: '1001',
    password: USERS[0].password,
    callee: '1002',
    remote: PBX,
    durationMs: 500,
    rtp: { port: 20020, count: 1, out },
  });
  const [rc, re] = await Promise.all([caller.done, edge.done]);
  assert.is(rc.code, 0, sippFailure('caller', rc, pbx!));
  assert.is(re.code, 0, sippFailure('edge', re, pbx!));
  assert.match(re.messages, `INVITE ${contact} SIP/2.0`);
  assert.match(re.messages, `Route: <sip:${t.addr.edge}:5062;lr>`);
  assert.is(pbx!.events('LOOKUP').at(-1)!.fields['du'], `sip:${t.addr.edge}:5062;lr`);
  await rtpResult(out, 'caller');
});

test.run();
