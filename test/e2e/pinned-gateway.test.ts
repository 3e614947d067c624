/**
 * The scenario in a real NAT topology: a hosted PBX calls through pinlatch a PSTN
 * gateway on 192.168.50.20 behind a NAT router that forwards only UDP 5060. With pinRoute the
 * call completes and media flows both ways through the NAT (>= 95 % of packets); without it,
 * plain RFC 3261 follows the gateway's private Contact and the call fails.
 */
import * as assert from 'uvu/assert';
import { suite } from '../support/suite.ts';
import { createNatTopology, type NatTopology } from '../support/netns.ts';
import { E2eRun, pinlatchYaml } from './harness.ts';

const test = suite<{ topo?: NatTopology }>('e2e/pinned-gateway', { timeoutMs: 60_000 });

test.before(async (ctx) => {
  ctx.topo = await createNatTopology();
});
test.after(async (ctx) => {
  await ctx.topo?.destroy();
});

test('pinRoute: ACK and BYE reach the gateway through the NAT, media >= 95 % both ways', async ({ topo }) => {
  const run = new E2eRun(topo!);
  try {
    await run.startPinlatch(pinlatchYaml(topo!, { host: topo!.addr.natPublic, pinRoute: true }));
    const gw = run.gateway('uas.xml');
    await new Promise((r) => setTimeout(r, 300));
    const caller = run.caller('uac.xml');
    const [c, g] = await Promise.all([caller.done, gw.done]);
    assert.is(c.code, 0, `caller failed:\n${c.errors}\n${c.messages.slice(-3000)}\n${run.pinlatchLog}`);
    assert.is(g.code, 0, `gateway failed:\n${g.errors}\n${g.messages.slice(-3000)}`);
    // The gateway saw its own private Contact as the Request-URI of the ACK and the BYE.
    assert.match(g.messages, /ACK sip:gw@192\.168\.50\.20:5060 SIP\/2\.0/);
    assert.match(g.messages, /BYE sip:gw@192\.168\.50\.20:5060 SIP\/2\.0/);
    // Every SDP each side received names pinlatch, never the other side.
    assert.not.match(c.messages, /c=IN IP4 192\.168\.50\.20/);
    assert.not.match(g.messages, new RegExp(`c=IN IP4 ${topo!.addr.pbx.replace(/\./g, '\\.')}`));
    const callerRtp = await run.rtpResult('pbx', 'caller');
    const gwRtp = await run.rtpResult('gw', 'gw');
    assert.ok(callerRtp && gwRtp, 'RTP endpoints reported');
    if (process.env.PINLATCH_E2E_LOG) console.log(JSON.stringify({ callerRtp, gwRtp }), run.pinlatchLog);
    assert.ok(callerRtp!.received >= 0.95 * gwRtp!.sent, `gateway→caller ${callerRtp!.received}/${gwRtp!.sent}`);
    assert.ok(gwRtp!.received >= 0.95 * callerRtp!.sent, `caller→gateway ${gwRtp!.received}/${callerRtp!.sent}`);
    // The gateway's media came through the NAT from pinlatch, the caller's from pinlatch too.
    assert.equal(gwRtp!.sources.map((s) => s.split(':')[0]), [topo!.addr.edge]);
    assert.equal(callerRtp!.sources.map((s) => s.split(':')[0]), [topo!.addr.edge]);
  } finally {
    await run.close();
  }
});

test('without pinRoute the private Contact is followed and the call fails (negative test)', async ({ topo }) => {
  const run = new E2eRun(topo!);
  try {
    await run.startPinlatch(pinlatchYaml(topo!, { host: topo!.addr.natPublic, pinRoute: false }));
    const gw = run.gateway('uas.xml', { timeoutMs: 8000, vars: run.rtpVars(16000, 'gw', 0) });
    await new Promise((r) => setTimeout(r, 300));
    const caller = run.caller('uac.xml', { timeoutMs: 8000, durationMs: 500, vars: run.rtpVars(20000, 'pbx', 0) });
    const [c, g] = await Promise.all([caller.done, gw.done]);
    assert.is.not(g.code, 0, 'the gateway must never see the ACK');
    assert.not.match(g.messages, /ACK sip:gw@/);
    assert.is.not(c.code, 0, 'the caller must not get its BYE answered');
  } finally {
    await run.close();
  }
});

test.run();
