/**
 * Calls over IPv6 end to end, in the NAT topology built on IPv6 only (test/support/netns.ts,
 * `family: 6`): sipp as the PBX calls through pinlatch (the real CLI) a sipp gateway, with RTP
 * both ways through pinlatch.
 *   - a carrier trunk on a public IPv6 address (no NAT);
 *   - the issue's scenario over NAT66: the gateway on a unique-local address behind a router that
 *     masquerades and forwards only UDP 5060; pinRoute gets ACK, BYE and media through.
 */
import * as assert from 'uvu/assert';
import { suite } from '../support/suite.ts';
import { createNatTopology, type NatTopology } from '../support/netns.ts';
import { E2eRun, pinlatchYaml, type RtpResult } from './harness.ts';

const test = suite<{ topo?: NatTopology }>('e2e/ipv6-call', { timeoutMs: 60_000 });

test.before(async (ctx) => {
  ctx.topo = await createNatTopology({ family: 6 });
});
test.after(async (ctx) => {
  await ctx.topo?.destroy();
});

/** The address part of an `address:port` source (IPv6 addresses contain colons). */
const sourceAddress = (source: string) => source.slice(0, source.lastIndexOf(':'));
const escape = (text: string) => text.replace(/[.:[\]]/g, '\\$&');

/** Media both ways, >= 95 % delivered, every packet each side received came from pinlatch. */
function assertMediaThroughPinlatch(topo: NatTopology, callerRtp: RtpResult | null, gwRtp: RtpResult | null): void {
  assert.ok(callerRtp && gwRtp, 'RTP endpoints reported');
  assert.is(callerRtp!.sendError, null);
  assert.is(gwRtp!.sendError, null);
  assert.ok(callerRtp!.sent > 0 && gwRtp!.sent > 0, 'both sides sent');
  assert.ok(callerRtp!.received >= 0.95 * gwRtp!.sent, `gateway→caller ${callerRtp!.received}/${gwRtp!.sent}`);
  assert.ok(gwRtp!.received >= 0.95 * callerRtp!.sent, `caller→gateway ${gwRtp!.received}/${callerRtp!.sent}`);
  assert.equal(gwRtp!.sources.map(sourceAddress), [topo.addr.edge]);
  assert.equal(callerRtp!.sources.map(sourceAddress), [topo.addr.edge]);
  // Each side was told to send to pinlatch's IPv6 media address.
  assert.is(sourceAddress(callerRtp!.remote), topo.addr.edge);
  assert.is(sourceAddress(gwRtp!.remote), topo.addr.edge);
}

test('a call to a carrier trunk on a public IPv6 address: SIP and RTP through pinlatch over IPv6', async ({ topo }) => {
  const run = new E2eRun(topo!);
  try {
    await run.startPinlatch(pinlatchYaml(topo!, { host: topo!.addr.carrier, pinRoute: false }));
    const gw = run.gateway('uas.xml', {}, 'carrier');
    await new Promise((r) => setTimeout(r, 300));
    const caller = run.caller('uac.xml');
    const [c, g] = await Promise.all([caller.done, gw.done]);
    assert.is(c.code, 0, `caller failed:\n${c.errors}\n${c.messages.slice(-3000)}\n${run.pinlatchLog}`);
    assert.is(g.code, 0, `gateway failed:\n${g.errors}\n${g.messages.slice(-3000)}`);
    const edge = escape(`[${topo!.addr.edge}]:5060`);
    // pinlatch's Via and Record-Route name it by its bracketed IPv6 address.
    assert.match(g.messages, new RegExp(`Via: SIP/2\\.0/UDP ${edge};branch=z9hG4bK`));
    assert.match(g.messages, new RegExp(`Record-Route: <sip:${edge};lr;plt=[0-9a-f]{24}>`));
    // ACK and BYE reach the carrier at its Contact, over the route set.
    assert.match(g.messages, new RegExp(`ACK sip:gw@${escape(`[${topo!.addr.carrier}]:5060`)} SIP/2\\.0`));
    assert.match(g.messages, new RegExp(`BYE sip:gw@${escape(`[${topo!.addr.carrier}]:5060`)} SIP/2\\.0`));
    // Every SDP each side received is anchored on pinlatch's IPv6 media address.
    assert.match(c.messages, new RegExp(`c=IN IP6 ${escape(topo!.addr.edge)}\\r?\\n`));
    assert.match(g.messages, new RegExp(`c=IN IP6 ${escape(topo!.addr.edge)}\\r?\\n`));
    assert.not.match(c.messages, `c=IN IP6 ${topo!.addr.carrier}`);
    assert.not.match(g.messages, `c=IN IP6 ${topo!.addr.pbx}`);
    assert.not.match(c.messages + g.messages, 'IN IP4');
    // o= passes through with each endpoint's own IPv6 origin (pinlatch does not replace origins).
    assert.match(g.messages, new RegExp(`o=pbx 53655765 2353687637 IN IP6 ${escape(topo!.addr.pbx)}\\r?\\n`));
    assert.match(c.messages, new RegExp(`o=gw 53655765 2353687637 IN IP6 ${escape(topo!.addr.carrier)}\\r?\\n`));
    assertMediaThroughPinlatch(topo!, await run.rtpResult('pbx', 'caller'), await run.rtpResult('gw', 'gw'));
  } finally {
    await run.close();
  }
});

test('NAT66: pinRoute gets ACK, BYE and media to a gateway on a unique-local address behind the router', async ({ topo }) => {
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
    const gwContact = escape(`[${topo!.addr.gw}]:5060`);
    assert.match(g.messages, new RegExp(`ACK sip:gw@${gwContact} SIP/2\\.0`));
    assert.match(g.messages, new RegExp(`BYE sip:gw@${gwContact} SIP/2\\.0`));
    assert.not.match(c.messages, `c=IN IP6 ${topo!.addr.gw}`);
    assert.not.match(g.messages, `c=IN IP6 ${topo!.addr.pbx}`);
    assertMediaThroughPinlatch(topo!, await run.rtpResult('pbx', 'caller'), await run.rtpResult('gw', 'gw'));
  } finally {
    await run.close();
  }
});

test.run();
