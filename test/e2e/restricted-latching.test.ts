/**
 * Restricted latching in the real NAT topology: the NAT router has a second public address
 * (203.0.113.2) and sends the gateway's RTP from it, while the gateway's SIP keeps 203.0.113.1.
 * With the default rule (the signalling address alone) the call is up but silent both ways, and
 * pinlatch says so: one warning for the gateway's leg naming the refused source and the rule.
 * With a prefix (`prefixV4: 30`, 203.0.113.0/30) or a listed network (`networks:
 * [203.0.113.2]`) on the trunk, media flows both ways.
 */
import * as assert from 'uvu/assert';
import { suite } from '../support/suite.ts';
import { createNatTopology, type NatTopology } from '../support/netns.ts';
import { E2eRun, pinlatchYaml, type RtpResult } from './harness.ts';

const MEDIA_ADDRESS = '203.0.113.2';

const test = suite<{ topo?: NatTopology }>('e2e/restricted-latching', { timeoutMs: 60_000 });

test.before(async (ctx) => {
  ctx.topo = await createNatTopology();
  await ctx.topo.snatMediaTo(MEDIA_ADDRESS);
});
test.after(async (ctx) => {
  await ctx.topo?.destroy();
});

interface CallResult {
  run: E2eRun;
  caller: RtpResult;
  gw: RtpResult;
}

/** One call from the PBX to the gateway through pinlatch, with the trunk's `latching` text. */
async function call(topo: NatTopology, latching: string | undefined, body: (r: CallResult) => void): Promise<void> {
  const run = new E2eRun(topo);
  try {
    await run.startPinlatch(pinlatchYaml(topo, { host: topo.addr.natPublic, pinRoute: true, ...(latching ? { latching } : {}) }));
    const gw = run.gateway('uas.xml');
    await new Promise((r) => setTimeout(r, 300));
    const caller = run.caller('uac.xml');
    const [c, g] = await Promise.all([caller.done, gw.done]);
    assert.is(c.code, 0, `caller failed:\n${c.errors}\n${c.messages.slice(-3000)}\n${run.pinlatchLog}`);
    assert.is(g.code, 0, `gateway failed:\n${g.errors}\n${g.messages.slice(-3000)}`);
    const callerRtp = await run.rtpResult('pbx', 'caller');
    const gwRtp = await run.rtpResult('gw', 'gw');
    assert.ok(callerRtp && gwRtp, 'RTP endpoints reported');
    if (process.env.PINLATCH_E2E_LOG) console.log(JSON.stringify({ callerRtp, gwRtp }), run.pinlatchLog);
    body({ run, caller: callerRtp!, gw: gwRtp! });
  } finally {
    await run.close();
  }
}

/**
 * Media both ways, as a majority of each side's packets rather than a rate: the two RTP endpoints
 * are separate processes that sipp starts at different moments of the call, and on a loaded
 * machine one may start a second or more after the other. Until the caller's endpoint has bound
 * its port the gateway's packets find none, and until the gateway's first packet has latched its
 * leg the caller's packets have no destination (docs/latching.md rule 3). The refused case gets
 * none at all, in either direction.
 */
function assertMediaBothWays(caller: RtpResult, gw: RtpResult): void {
  assert.ok(caller.received >= 0.5 * gw.sent, `gateway→caller ${caller.received}/${gw.sent}`);
  assert.ok(gw.received >= 0.5 * caller.sent, `caller→gateway ${gw.received}/${caller.sent}`);
}

function refusalWarnings(log: string): Array<Record<string, unknown>> {
  return log
    .split('\n')
    .filter((line) => line.includes('"msg":"media refused'))
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

test('default rule: the media from the second address is refused, the call is silent, and one warning says why', async ({ topo }) => {
  await call(topo!, undefined, ({ run, caller, gw }) => {
    assert.ok(gw.sent > 100 && caller.sent > 100, `both sides sent (${gw.sent}, ${caller.sent})`);
    assert.is(caller.received, 0, 'no gateway media at the caller');
    assert.is(gw.received, 0, 'no caller media at the gateway (its leg never latched)');
    const warnings = refusalWarnings(run.pinlatchLog);
    assert.is(warnings.length, 1, `one warning:\n${run.pinlatchLog}`);
    assert.is(warnings[0]!['leg'], 'b');
    assert.match(String(warnings[0]!['source']), new RegExp(`^${MEDIA_ADDRESS.replace(/\./g, '\\.')}:\\d+$`));
    assert.is(warnings[0]!['rule'], `${topo!.addr.natPublic} (trunks[gateway].latching)`);
    assert.is(warnings[0]!['level'], 40);
  });
});

test('prefixV4: 30 on the trunk: 203.0.113.2 is inside 203.0.113.0/30, media both ways', async ({ topo }) => {
  await call(topo!, '{ prefixV4: 30 }', ({ run, caller, gw }) => {
    assertMediaBothWays(caller, gw);
    assert.equal(refusalWarnings(run.pinlatchLog), []);
  });
});

test('networks: [203.0.113.2] on the trunk: media both ways', async ({ topo }) => {
  await call(topo!, `{ networks: [${MEDIA_ADDRESS}] }`, ({ run, caller, gw }) => {
    assertMediaBothWays(caller, gw);
    assert.equal(refusalWarnings(run.pinlatchLog), []);
  });
});

test.run();
