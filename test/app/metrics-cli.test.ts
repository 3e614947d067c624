/**
 * A running pinlatch (the real CLI) with calls up through its SIP side (sipp on loopback, the
 * callee a trunk on 127.0.0.2), scraped over HTTP: the SIP counters and gauges, the media shards'
 * native packet, byte and drop counters after real RTP, the ports; NG `list` and `query` show the
 * SIP calls; /healthz and /readyz, before and during a drain (which keeps the calls in the
 * metrics); and the Grafana dashboard of examples/ uses only metrics this scrape has.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer } from 'node:net';
import { once } from 'node:events';
import * as assert from 'uvu/assert';
import { suite } from '../support/suite.ts';
import { PinlatchProcess, countRequests, startCalls, type CallPair, type EdgeSetup } from '../support/pinlatch-cli.ts';
import { freeUdpPort } from '../control/child.ts';
import { freePortRange, rtpPacket, UdpPeer } from '../media/udp-peer.ts';
import { scrapeMetrics, valueOf, type Exposition } from '../support/scrape.ts';
import { NgClient } from '../../src/control/NgClient.ts';
import type { BencodeDict } from '../../src/control/bencode.ts';

const CALLS = 3;
const RTP_PACKETS = 10;
const GARBAGE = 3;

interface Context {
  dir: string;
  edge: EdgeSetup;
  ngPort: number;
  base: string;
  pinlatch: PinlatchProcess;
  calls: CallPair;
  ng: NgClient;
  media: { min: number; max: number };
  /** Streams the start-up's warm-up calls opened (src/sip/warmup/SelfCalls.ts). */
  warmUpStreams: number;
}

const test = suite<Context>('app: metrics, health and NG view of a running pinlatch', { timeoutMs: 120_000 });

test.before(async (ctx) => {
  ctx.dir = mkdtempSync(join(tmpdir(), 'pinlatch-metrics-'));
  const sipPort = await freeUdpPort();
  const calleePort = await freeUdpPort();
  ctx.ngPort = await freeUdpPort();
  const metricsPort = await freeTcpPort();
  ctx.media = await freePortRange(40);
  const file = join(ctx.dir, 'pinlatch.yaml');
  writeFileSync(file, [
    'sip:',
    `  listen: [{ transport: udp, address: 127.0.0.1, port: ${sipPort} }]`,
    '  drainSec: 60',
    'media:',
    '  address: 127.0.0.1',
    `  ports: { min: ${ctx.media.min}, max: ${ctx.media.max} }`,
    '  shards: 2',
    '  timeoutSec: 3600',
    'trunks:',
    `  - { name: callee, host: 127.0.0.2, port: ${calleePort} }`,
    'routes:',
    '  - { trunk: callee }',
    'upstream: "sip:127.0.0.1:5060"',
    // Phones behind a network no test peer is in: their metrics exist, the calls are not theirs.
    'phones: { registrar: "sip:127.0.0.9:5060", networks: [127.0.0.50/32] }',
    `ng: { address: 127.0.0.1, port: ${ctx.ngPort} }`,
    `metrics: { address: 127.0.0.1, port: ${metricsPort} }`,
    // Not a test of load shedding: a machine busy with other work must not shed these calls.
    'limits: { overload: { maxQueueMs: 10000, maxLagMs: 10000 } }',
    '',
  ].join('\n'));
  ctx.edge = { file, sipPort, calleePort };
  ctx.base = `http://127.0.0.1:${metricsPort}`;
  ctx.pinlatch = await PinlatchProcess.start(file);
  ctx.ng = await NgClient.connect({ host: '127.0.0.1', port: ctx.ngPort, timeoutMs: 5000 });
});

test.after(async (ctx) => {
  ctx.ng?.close();
  ctx.calls?.caller.kill();
  ctx.calls?.callee.kill();
  ctx.pinlatch?.kill();
  await ctx.pinlatch?.exited;
  if (ctx.dir) rmSync(ctx.dir, { recursive: true, force: true });
});

async function get(ctx: Context, path: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`${ctx.base}${path}`);
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

async function until(what: string, timeoutMs: number, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** A TCP port on 127.0.0.1 free right now (bound to 0, then released). */
async function freeTcpPort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

function text(value: unknown): string {
  return Buffer.isBuffer(value) ? value.toString('latin1') : String(value);
}

test('/healthz and /readyz answer 200 once the relay runs', async (ctx) => {
  const health = await get(ctx, '/healthz');
  assert.is(health.status, 200);
  const ready = await get(ctx, '/readyz');
  assert.is(ready.status, 200, JSON.stringify(ready.body));
  assert.equal(ready.body, { ready: true, media: true, sip: true, draining: false });
  const empty = await scrapeMetrics(ctx.base);
  assert.is(valueOf(empty, 'pinlatch_ready'), 1);
  assert.is(valueOf(empty, 'pinlatch_media_shard_up'), 2, 'both shards answer');
  assert.is(valueOf(empty, 'pinlatch_media_port_pairs', { state: 'in_use' }), 0);
  // The warm-up's calls, placed before SIP opened, hold no pair now; theirs may still be quarantined.
  const free = ['available', 'quarantined'].reduce((n, state) => n + (valueOf(empty, 'pinlatch_media_port_pairs', { state }) ?? 0), 0);
  assert.is(free, (ctx.media.max - ctx.media.min + 1) / 2);
  ctx.warmUpStreams = valueOf(empty, 'pinlatch_media_streams_opened_total') ?? 0;
  assert.is(valueOf(empty, 'pinlatch_media_sessions'), 0);
});

test(`${CALLS} sipp calls up: the SIP counters and gauges show them`, async (ctx) => {
  ctx.calls = await startCalls(ctx.edge, CALLS, 'hold-uac.xml', undefined, () => ctx.pinlatch.output.slice(-3000));
  const m = await scrapeMetrics(ctx.base);
  assert.is(valueOf(m, 'pinlatch_sip_calls', { state: 'answered' }), CALLS);
  assert.is(valueOf(m, 'pinlatch_sip_calls', { state: 'ringing' }), 0);
  assert.is(valueOf(m, 'pinlatch_sip_trunk_calls', { trunk: 'callee' }), CALLS);
  assert.is(valueOf(m, 'pinlatch_sip_calls_started_total', { trunk: 'callee' }), CALLS);
  assert.is(valueOf(m, 'pinlatch_sip_calls_answered_total', { trunk: 'callee' }), CALLS);
  assert.is(valueOf(m, 'pinlatch_sip_calls_failed_total'), undefined, 'no call failed');
  assert.is(valueOf(m, 'pinlatch_sip_dialogs'), CALLS);
  // Retransmissions are counted too: over loopback there should be none, but a slow machine may add some.
  const atLeast = (name: string, labels: Record<string, string>, n: number) => {
    const value = valueOf(m, name, labels) ?? 0;
    assert.ok(value >= n, `${name}${JSON.stringify(labels)} = ${value}, expected >= ${n}`);
  };
  atLeast('pinlatch_sip_requests_received_total', { method: 'INVITE' }, CALLS);
  atLeast('pinlatch_sip_requests_received_total', { method: 'ACK' }, CALLS);
  atLeast('pinlatch_sip_requests_sent_total', { method: 'INVITE' }, CALLS);
  atLeast('pinlatch_sip_requests_sent_total', { method: 'ACK' }, CALLS);
  atLeast('pinlatch_sip_responses_received_total', { class: '2xx' }, CALLS);
  atLeast('pinlatch_sip_responses_sent_total', { class: '2xx' }, CALLS);
  atLeast('pinlatch_sip_responses_sent_total', { class: '1xx' }, CALLS);
  assert.is(valueOf(m, 'pinlatch_sip_admission_refused_total'), 0);
  assert.is(valueOf(m, 'pinlatch_sip_in_dialog_refused_total'), 0);
  assert.is(valueOf(m, 'pinlatch_media_sessions'), CALLS);
  assert.is(valueOf(m, 'pinlatch_media_streams'), CALLS, 'one audio stream per call, over both shards');
  assert.is(valueOf(m, 'pinlatch_media_streams_opened_total'), ctx.warmUpStreams + CALLS);
  assert.is(valueOf(m, 'pinlatch_media_command_errors_total'), 0);
  assert.is(valueOf(m, 'pinlatch_media_port_pairs', { state: 'in_use' }), 2 * CALLS, 'two port pairs (leg A, leg B) per stream');
  assert.is(valueOf(m, 'pinlatch_phones_bindings'), 0);
});

test('NG list and query show the calls set up through SIP', async (ctx) => {
  const trace = ctx.calls.callee.messagesSoFar();
  const callIds = new Set([...trace.matchAll(/^Call-ID: (\S+)/gim)].map((match) => match[1]!));
  assert.is(callIds.size, CALLS, 'the callee saw three calls');
  const list = await ctx.ng.request({ command: 'list' });
  assert.is(text(list['result']), 'ok');
  const listed = (list['calls'] as unknown[]).map(text);
  assert.equal(new Set(listed), callIds);

  for (const callId of callIds) {
    const reply = await ctx.ng.request({ command: 'query', 'call-id': callId });
    assert.is(text(reply['result']), 'ok', JSON.stringify(reply));
    const tags = reply['tags'] as BencodeDict;
    assert.is(Object.keys(tags).length, 2, 'caller and callee');
    for (const entry of Object.values(tags) as BencodeDict[]) {
      const medias = entry['medias'] as BencodeDict[];
      assert.is(medias.length, 1, 'one audio stream');
      const port = Number((medias[0]!['streams'] as BencodeDict[])[0]!['local port']);
      assert.ok(port >= ctx.media.min && port <= ctx.media.max, `local port ${port} in the media range`);
    }
  }
  const statistics = await ctx.ng.request({ command: 'statistics' });
  const current = (statistics['statistics'] as BencodeDict)['currentstatistics'] as BencodeDict;
  assert.is(Number(current['sessionstotal']), CALLS);
  const m = await scrapeMetrics(ctx.base);
  assert.is(valueOf(m, 'pinlatch_ng_commands_total', { command: 'list' }), 1);
  assert.is(valueOf(m, 'pinlatch_ng_commands_total', { command: 'query' }), CALLS);
});

test('RTP through one call: the shards count packets, bytes, strangers and invalid datagrams', async (ctx) => {
  const [callId] = (await ctx.ng.request({ command: 'list' }))['calls'] as unknown[];
  const reply = await ctx.ng.request({ command: 'query', 'call-id': text(callId) });
  const ports = (Object.values(reply['tags'] as BencodeDict) as BencodeDict[]).map((entry) =>
    Number(((entry['medias'] as BencodeDict[])[0]!['streams'] as BencodeDict[])[0]!['local port']),
  );
  // From 127.0.0.1, the caller's SDP address: leg A (facing the caller) accepts it and relays it
  // toward the callee's SDP address; leg B (facing the callee, 127.0.0.2) refuses it.
  const phone = await UdpPeer.open('127.0.0.1');
  try {
    for (let seq = 0; seq < RTP_PACKETS; seq++) {
      for (const port of ports) await phone.send(rtpPacket(0x1234, seq), port);
    }
    for (let n = 0; n < GARBAGE; n++) await phone.send(Buffer.from('not rtp'), ports[0]!);
    let m: Exposition | undefined;
    await until('the media counters', 20_000, async () => {
      m = await scrapeMetrics(ctx.base);
      return (valueOf(m, 'pinlatch_media_packets_total', { direction: 'out' }) ?? 0) >= RTP_PACKETS &&
        (valueOf(m, 'pinlatch_media_dropped_total') ?? 0) >= RTP_PACKETS + GARBAGE;
    });
    const bytes = rtpPacket(0x1234, 0).length * RTP_PACKETS;
    assert.is(valueOf(m!, 'pinlatch_media_packets_total', { direction: 'in' }), RTP_PACKETS);
    assert.is(valueOf(m!, 'pinlatch_media_packets_total', { direction: 'out' }), RTP_PACKETS);
    assert.is(valueOf(m!, 'pinlatch_media_bytes_total', { direction: 'in' }), bytes);
    assert.is(valueOf(m!, 'pinlatch_media_bytes_total', { direction: 'out' }), bytes);
    assert.is(valueOf(m!, 'pinlatch_media_dropped_total', { reason: 'stranger' }), RTP_PACKETS);
    assert.is(valueOf(m!, 'pinlatch_media_refused_total'), RTP_PACKETS, 'refused by the address rule of leg B');
    assert.is(valueOf(m!, 'pinlatch_media_dropped_total', { reason: 'invalid' }), GARBAGE);
    assert.is(valueOf(m!, 'pinlatch_media_dropped_total', { reason: 'no_peer' }), 0);
    assert.is(valueOf(m!, 'pinlatch_media_latch_changes_total'), 1, 'leg A latched onto the phone');
    // The per-shard series: all of it on the one shard that holds this call.
    const shards = m!.samples.filter((s) => s.name === 'pinlatch_media_packets_total' && s.labels['direction'] === 'in' && s.value > 0);
    assert.is(shards.length, 1);
  } finally {
    await phone.close();
  }
});

test('the Grafana dashboard parses and uses only metrics a real scrape has', async (ctx) => {
  const dashboard = JSON.parse(readFileSync(new URL('../../examples/grafana-dashboard.json', import.meta.url), 'utf8')) as { panels: Array<{ targets?: Array<{ expr: string }> }> };
  const exprs = dashboard.panels.flatMap((p) => p.targets ?? []).map((t) => t.expr);
  assert.ok(exprs.length > 20, `${exprs.length} queries`);
  const used = new Set(exprs.flatMap((e) => e.match(/pinlatch_[a-z0-9_]+/g) ?? []));
  const m = await scrapeMetrics(ctx.base);
  const missing = [...used].filter((name) => !m.names.has(name));
  assert.equal(missing, [], 'every metric of the dashboard is exposed');
});

test('SIGTERM: /readyz says draining, the metrics keep the running calls; a second signal ends them', async (ctx) => {
  ctx.pinlatch.signal('SIGTERM');
  await ctx.pinlatch.waitFor('"msg":"draining: new calls refused"');
  const ready = await get(ctx, '/readyz');
  assert.is(ready.status, 503);
  assert.equal(ready.body, { ready: false, media: true, sip: true, draining: true });
  assert.is((await get(ctx, '/healthz')).status, 200, 'the process is up');
  const m = await scrapeMetrics(ctx.base);
  assert.is(valueOf(m, 'pinlatch_ready'), 0);
  assert.is(valueOf(m, 'pinlatch_sip_draining'), 1);
  assert.is(valueOf(m, 'pinlatch_sip_calls', { state: 'answered' }), CALLS, 'the calls still run');
  assert.is(valueOf(m, 'pinlatch_media_sessions'), CALLS);
  ctx.pinlatch.signal('SIGTERM');
  assert.is(await ctx.pinlatch.exited, 0, ctx.pinlatch.output.slice(-3000));
  const calleeDone = await ctx.calls.callee.done;
  assert.is(countRequests(calleeDone.messages, 'BYE'), CALLS, 'the callee got a BYE per call');
});

test.run();
