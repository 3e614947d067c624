/**
 * Call flows through pinlatch toward the pinned gateway behind NAT, each with sipp on both ends:
 * CANCEL while ringing, 486 busy, re-INVITE hold/resume, BYE from the gateway, a gateway on a
 * non-standard port, a trunk given by host name whose address changes between calls (from
 * /etc/hosts on the interval, and from DNS — dnsmasq — when the record's TTL runs out), and
 * several concurrent calls.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as assert from 'uvu/assert';
import { suite } from '../support/suite.ts';
import { createNatTopology, type NatTopology } from '../support/netns.ts';
import type { SippRun } from '../support/sipp.ts';
import { E2eRun, pinlatchYaml } from './harness.ts';

const test = suite<{ topo?: NatTopology }>('e2e/call-flows', { timeoutMs: 60_000 });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test.before(async (ctx) => {
  ctx.topo = await createNatTopology({ forwards: [{ port: 5060 }, { port: 5080 }] });
});
test.after(async (ctx) => {
  await ctx.topo?.destroy();
});

async function both(run: E2eRun, caller: SippRun, gw: SippRun): Promise<void> {
  const [c, g] = await Promise.all([caller.done, gw.done]);
  assert.is(c.code, 0, `caller failed:\n${c.errors}\n${c.messages.slice(-2500)}\n${run.pinlatchLog}`);
  assert.is(g.code, 0, `gateway failed:\n${g.errors}\n${g.messages.slice(-2500)}`);
}

test('CANCEL while the gateway rings: 200 for the CANCEL, 487 for the INVITE', async ({ topo }) => {
  const run = new E2eRun(topo!);
  try {
    await run.startPinlatch(pinlatchYaml(topo!, { host: topo!.addr.natPublic, pinRoute: true }));
    const gw = run.gateway('uas-ring.xml');
    await sleep(300);
    await both(run, run.caller('uac-cancel.xml'), gw);
  } finally {
    await run.close();
  }
});

test('486 Busy Here is relayed and ACKed hop by hop', async ({ topo }) => {
  const run = new E2eRun(topo!);
  try {
    await run.startPinlatch(pinlatchYaml(topo!, { host: topo!.addr.natPublic, pinRoute: true }));
    const gw = run.gateway('uas-busy.xml');
    await sleep(300);
    const caller = run.caller('uac-reject.xml');
    await both(run, caller, gw);
    assert.match((await caller.done).messages, /SIP\/2\.0 486 Busy Here/);
  } finally {
    await run.close();
  }
});

test('re-INVITE hold and resume, anchored both ways, to the pinned address', async ({ topo }) => {
  const run = new E2eRun(topo!);
  try {
    await run.startPinlatch(pinlatchYaml(topo!, { host: topo!.addr.natPublic, pinRoute: true }));
    const gw = run.gateway('uas-hold.xml');
    await sleep(300);
    const caller = run.caller('uac-hold.xml');
    await both(run, caller, gw);
    const g = await gw.done;
    const offers = [...g.messages.matchAll(/c=IN IP4 ([0-9.]+)/g)].map((m) => m[1]);
    assert.ok(offers.length >= 3, 'three offers seen by the gateway');
    assert.ok(offers.every((a) => a === topo!.addr.edge || a === topo!.addr.gw), offers.join(','));
  } finally {
    await run.close();
  }
});

test('BYE from the gateway reaches the caller; media flowed both ways', async ({ topo }) => {
  const run = new E2eRun(topo!);
  try {
    await run.startPinlatch(pinlatchYaml(topo!, { host: topo!.addr.natPublic, pinRoute: true }));
    const gw = run.gateway('uas-bye.xml', { vars: run.rtpVars(16000, 'gwbye') });
    await sleep(300);
    const caller = run.caller('uac-wait-bye.xml', { vars: run.rtpVars(20000, 'pbxbye') });
    await both(run, caller, gw);
    const c = await run.rtpResult('pbxbye', 'caller');
    const g = await run.rtpResult('gwbye', 'gw');
    assert.ok(c && g, 'RTP endpoints reported');
    assert.ok(c!.received >= 0.95 * g!.sent, `gateway→caller ${c!.received}/${g!.sent}`);
    assert.ok(g!.received >= 0.95 * c!.sent, `caller→gateway ${g!.received}/${c!.sent}`);
  } finally {
    await run.close();
  }
});

test('a gateway on a non-standard port (NAT forwards 5080)', async ({ topo }) => {
  const run = new E2eRun(topo!);
  try {
    await run.startPinlatch(pinlatchYaml(topo!, { host: topo!.addr.natPublic, port: 5080, pinRoute: true }));
    const gw = run.gateway('uas.xml', { localPort: 5080, vars: run.rtpVars(16000, 'gw', 0) });
    await sleep(300);
    const caller = run.caller('uac.xml', { durationMs: 1000, vars: run.rtpVars(20000, 'pbx', 0) });
    await both(run, caller, gw);
    assert.match((await gw.done).messages, /BYE sip:gw@192\.168\.50\.20:5080 SIP\/2\.0/);
  } finally {
    await run.close();
  }
});

test('a trunk given by host name: a new address is used for the next call', async ({ topo }) => {
  const run = new E2eRun(topo!);
  try {
    topo!.setHosts('edge', { 'gateway.test': topo!.routerAddress });
    // pinlatch asks DNS for the record's TTL too: nothing answers on the edge's own loopback.
    topo!.setResolvConf('edge', '127.0.0.1');
    await run.startPinlatch(pinlatchYaml(topo!, { host: 'gateway.test', pinRoute: true, resolveIntervalSec: 1 }));
    let gw = run.gateway('uas.xml', { vars: run.rtpVars(16000, 'gw', 0) });
    await sleep(300);
    await both(run, run.caller('uac.xml', { durationMs: 500, vars: run.rtpVars(20000, 'pbx', 0) }), gw);
    await sleep(1500); // the forked sipp holding the gateway's port exits with its RTP endpoint
    await topo!.changeRouterAddress('203.0.113.2');
    topo!.setHosts('edge', { 'gateway.test': '203.0.113.2' });
    await sleep(2500); // resolveIntervalSec: 1
    gw = run.gateway('uas.xml', { vars: run.rtpVars(16000, 'gw2', 0) });
    await sleep(300);
    await both(run, run.caller('uac.xml', { durationMs: 500, vars: run.rtpVars(20000, 'pbx2', 0) }), gw);
  } finally {
    await run.close();
    await topo!.changeRouterAddress(topo!.addr.natPublic);
  }
});

test('a trunk given by a DNS name: re-resolved when its record expires, long before the interval', async ({ topo }) => {
  const run = new E2eRun(topo!);
  const records = join(run.dir, 'dns-records');
  writeFileSync(records, `${topo!.routerAddress} gateway.dns.test\n`);
  // The name is DNS's alone: no /etc/hosts entry, queries go to dnsmasq on the edge's loopback.
  topo!.setHosts('edge', {});
  topo!.setResolvConf('edge', '127.0.0.1');
  const dns = topo!.spawn('edge', [
    'dnsmasq', '--keep-in-foreground', '--conf-file=/dev/null', '--no-resolv', '--no-hosts', `--addn-hosts=${records}`,
    '--local-ttl=2', '--listen-address=127.0.0.1', '--bind-interfaces', '--port=53', '--user=root', '--pid-file=',
  ]);
  let dnsLog = '';
  dns.stderr?.on('data', (d: Buffer) => (dnsLog += d.toString()));
  try {
    let answered = '';
    for (let i = 0; i < 30 && !answered.includes(topo!.routerAddress); i += 1) {
      await sleep(100);
      answered = await topo!.exec('edge', ['getent', 'hosts', 'gateway.dns.test']).then((r) => r.stdout, () => '');
    }
    assert.match(answered, topo!.routerAddress, `dnsmasq answers in the edge namespace\n${dnsLog}`);
    await run.startPinlatch(pinlatchYaml(topo!, { host: 'gateway.dns.test', pinRoute: true, resolveIntervalSec: 3600 }));
    let gw = run.gateway('uas.xml', { vars: run.rtpVars(16000, 'gw', 0) });
    await sleep(300);
    await both(run, run.caller('uac.xml', { durationMs: 500, vars: run.rtpVars(20000, 'pbx', 0) }), gw);
    await sleep(1500); // the forked sipp holding the gateway's port exits with its RTP endpoint
    await topo!.changeRouterAddress('203.0.113.2');
    writeFileSync(records, '203.0.113.2 gateway.dns.test\n');
    dns.kill('SIGHUP'); // dnsmasq reads its hosts files again
    await sleep(3500); // the 2 s TTL runs out (the interval is an hour)
    gw = run.gateway('uas.xml', { vars: run.rtpVars(16000, 'gw2', 0) });
    await sleep(300);
    await both(run, run.caller('uac.xml', { durationMs: 500, vars: run.rtpVars(20000, 'pbx2', 0) }), gw);
    assert.match(run.pinlatchLog, /"addresses":\["203\.0\.113\.2"\]/, 'the trunk address changed once the record expired');
  } finally {
    await run.close();
    dns.kill('SIGTERM');
    await topo!.changeRouterAddress(topo!.addr.natPublic);
  }
});

test('several concurrent calls', async ({ topo }) => {
  const run = new E2eRun(topo!);
  try {
    await run.startPinlatch(pinlatchYaml(topo!, { host: topo!.addr.natPublic, pinRoute: true }));
    const gw = run.gateway('uas.xml', { calls: 10, vars: run.rtpVars(16000, 'gwc', 0) });
    await sleep(300);
    const caller = run.caller('uac.xml', { calls: 10, rate: 20, limit: 10, durationMs: 2000, vars: run.rtpVars(20000, 'pbxc', 0) });
    await both(run, caller, gw);
    const stats = (await caller.done).stats;
    assert.equal(stats && { ok: stats.successful, failed: stats.failed }, { ok: 10, failed: 0 });
  } finally {
    await run.close();
  }
});

test.run();
