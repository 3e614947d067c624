/**
 * Toll fraud, tried the way a SIP scanner does it, in the real NAT topology: a host on the
 * Internet that is neither the PBX nor a trunk (the carrier's address, not configured here) sends
 * an INVITE for a PSTN number straight to pinlatch. It gets 403 and the gateway behind the NAT
 * sees nothing; the PBX's own call right after goes through.
 */
import * as assert from 'uvu/assert';
import { suite } from '../support/suite.ts';
import { createNatTopology, type NatTopology } from '../support/netns.ts';
import { startSipp } from '../support/sipp.ts';
import { E2eRun, hostport, pinlatchYaml } from './harness.ts';

const test = suite<{ topo?: NatTopology }>('e2e/admission', { timeoutMs: 60_000 });

test.before(async (ctx) => {
  ctx.topo = await createNatTopology();
});
test.after(async (ctx) => {
  await ctx.topo?.destroy();
});

test("a stranger's INVITE to a trunk number gets 403 and never reaches the gateway; the PBX's call does", async ({ topo }) => {
  const run = new E2eRun(topo!);
  try {
    await run.startPinlatch(pinlatchYaml(topo!, { host: topo!.addr.natPublic, pinRoute: true }));
    const gw = run.gateway('uas.xml');
    await new Promise((r) => setTimeout(r, 300));
    const stranger = startSipp(topo!, {
      host: 'carrier',
      scenario: 'uac-forbidden.xml',
      localIp: topo!.addr.carrier,
      localPort: 5062,
      remote: hostport(topo!.addr.edge, 5060),
      service: '00882123456789',
      timeoutMs: 15_000,
      vars: run.rtpVars(22000, 'stranger', 0),
    });
    const s = await stranger.done;
    assert.is(s.code, 0, `stranger scenario failed:\n${s.errors}\n${s.messages.slice(-3000)}\n${run.pinlatchLog}`);
    assert.not.match(s.messages, /SIP\/2\.0 100 /, 'no 100 Trying: the refusal holds no transaction');

    const caller = run.caller('uac.xml');
    const [c, g] = await Promise.all([caller.done, gw.done]);
    assert.is(c.code, 0, `caller failed:\n${c.errors}\n${c.messages.slice(-3000)}\n${run.pinlatchLog}`);
    assert.is(g.code, 0, `gateway failed:\n${g.errors}\n${g.messages.slice(-3000)}`);
    assert.not.match(g.messages, /00882123456789|sip:stranger@/, "nothing of the stranger's call reached the gateway");
    assert.match(run.pinlatchLog, /request refused: source may not use this route/);
  } finally {
    await run.close();
  }
});

test.run();
