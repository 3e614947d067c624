/**
 * Restricted latching through the media plane's API: a leg hint carries a LatchRestriction to the
 * shard, and a leg whose media comes only from refused sources is logged once (source, rule) and
 * counted — collected by the shards on a timer, never per packet. Real sockets on loopback: the
 * peer behind "another public address" sends from 127.0.0.2 while its signalling came from
 * 127.0.0.1.
 */
import * as assert from 'uvu/assert';
import { pino } from 'pino';
import { suite } from '../support/suite.ts';
import { MediaRelay } from '../../src/media/MediaRelay.ts';
import { MetricsServer } from '../../src/app/MetricsServer.ts';
import type { LatchRestriction, LegHint } from '../../src/media/api.ts';
import { UdpPeer, freePortRange, rtpPacket } from './udp-peer.ts';

interface Ctx {
  relay: MediaRelay;
  warnings: Array<Record<string, unknown>>;
}
const ctx = {} as Ctx;
const test = suite('media/MediaRelay: refused media', { timeoutMs: 20_000 });

test.before(async () => {
  ctx.warnings = [];
  const sink = { write: (line: string) => ctx.warnings.push(JSON.parse(line) as Record<string, unknown>) };
  ctx.relay = await MediaRelay.start({
    address: '127.0.0.1',
    ports: await freePortRange(40),
    shards: 1,
    refusalCheckMs: 50,
    logger: pino({ level: 'warn' }, sink),
  });
});
test.after(async () => {
  await ctx.relay?.close();
});

/** A NATed leg: private SDP address, signalling from 127.0.0.1. */
function natHint(restriction?: LatchRestriction): LegHint {
  return { sdpAddress: '10.0.0.5', sdpPort: 4000, rtcpMux: false, signalSource: '127.0.0.1', ...(restriction ? { restriction } : {}) };
}

const CALLEE: LegHint = { sdpAddress: '127.0.0.1', sdpPort: 0, rtcpMux: false, signalSource: '127.0.0.1' };

async function until(what: string, condition: () => boolean | Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

test('the default rule: media from 127.0.0.2 is refused, the leg is logged once with source and rule, and counted', async () => {
  const key = 'refused-default';
  const session = await ctx.relay.ensureSession(key, 1, [
    { index: 0, leg: 'a', hint: natHint({ prefixV4: 32, prefixV6: 128, networks: [], origin: 'media.latching.endpoints' }) },
  ]);
  const peer = await UdpPeer.open('127.0.0.2');
  const before = ctx.relay.refusedLegs;
  try {
    for (let seq = 1; seq <= 5; seq++) await peer.send(rtpPacket(0xa, seq), session.streams[0]!.a.rtp);
    await until('the refusal report', () => ctx.relay.refusedLegs === before + 1);
    const warning = ctx.warnings.find((w) => w['key'] === key);
    assert.ok(warning, 'a warning for the leg');
    assert.is(warning!['leg'], 'a');
    assert.is(warning!['index'], 0);
    assert.is(warning!['source'], `127.0.0.2:${peer.port}`);
    assert.is(warning!['rule'], '127.0.0.1 (media.latching.endpoints)');
    assert.is(warning!['refused'], 5);
    assert.match(String(warning!['msg']), /media refused/);
    const [stats] = (await ctx.relay.stats(key))!;
    assert.is(stats!.a.dropRefused, 5);
    assert.is(stats!.a.packetsIn, 0);
    // More refused packets: still one warning for the leg.
    for (let seq = 6; seq <= 8; seq++) await peer.send(rtpPacket(0xa, seq), session.streams[0]!.a.rtp);
    await until('8 refused', async () => (await ctx.relay.stats(key))![0]!.a.dropRefused === 8);
    await new Promise((r) => setTimeout(r, 200));
    assert.is(ctx.warnings.filter((w) => w['key'] === key).length, 1);
    assert.is(ctx.relay.refusedLegs, before + 1);
    const metrics = await new MetricsServer({ media: ctx.relay }).registry.metrics();
    assert.match(metrics, new RegExp(`^pinlatch_media_refused_legs_total ${before + 1}$`, 'm'));
  } finally {
    await peer.close();
    await ctx.relay.release(key);
  }
});

test('a network rule lets the same media through both ways, and nothing is reported', async () => {
  const key = 'refused-network';
  const restriction: LatchRestriction = { prefixV4: 32, prefixV6: 128, networks: ['127.0.0.2/32'], origin: 'trunks[gw].latching' };
  const session = await ctx.relay.ensureSession(key, 1, [{ index: 0, leg: 'a', hint: natHint(restriction) }]);
  const caller = await UdpPeer.open('127.0.0.2');
  const callee = await UdpPeer.open('127.0.0.1');
  const before = ctx.relay.refusedLegs;
  try {
    await ctx.relay.setLeg(key, 0, 'b', CALLEE);
    const stream = session.streams[0]!;
    await callee.send(rtpPacket(0xb, 1), stream.b.rtp);
    await until('B latched', async () => (await ctx.relay.stats(key))![0]!.b.rtpPeer !== null);
    for (let seq = 1; seq <= 5; seq++) await caller.send(rtpPacket(0xa, seq), stream.a.rtp);
    await callee.waitFor((r) => r.length === 5, 3000, 'caller media at the callee');
    for (let seq = 2; seq <= 4; seq++) await callee.send(rtpPacket(0xb, seq), stream.b.rtp);
    await caller.waitFor((r) => r.length === 3, 3000, 'callee media back at 127.0.0.2');
    await new Promise((r) => setTimeout(r, 200));
    assert.is(ctx.relay.refusedLegs, before);
    assert.not.ok(ctx.warnings.some((w) => w['key'] === key));
  } finally {
    await caller.close();
    await callee.close();
    await ctx.relay.release(key);
  }
});

test.run();
