/**
 * Scale-out (docs/operations.md): two pinlatch processes as one rtpengine relay set behind
 * Kamailio's rtpengine module (Debian `kamailio`), on loopback. Relay A has NG on 127.0.0.1 and
 * media on 127.0.0.1, relay B NG and media on 127.0.0.2, with disjoint port ranges, so the SDP a
 * phone receives tells which relay carries its call. sipp calls through Kamailio must spread over
 * both (the module picks a relay by hashing the Call-ID, by weight); then B is killed (SIGKILL, by
 * PID) and calls whose Call-ID hashed to B before must now be set up on A and carry RTP both ways;
 * the module must have tried B once and then left it out (rtpengine_disable_tout).
 */
import * as assert from 'uvu/assert';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { suite } from '../support/suite.ts';
import { KAMAILIO_MODULES, kamailioProxyConfig, sipAlive } from '../support/kamailio.ts';
import { PinlatchProcess, loopbackSipp } from '../support/pinlatch-cli.ts';
import type { SippRun } from '../support/sipp.ts';
import { Child, freeUdpPort } from '../control/child.ts';
import { freePortRange } from '../media/udp-peer.ts';
import { NgClient } from '../../src/control/NgClient.ts';

const KAMAILIO = '/usr/sbin/kamailio';
const NG_SCENARIOS = fileURLToPath(new URL('../control/scenarios/', import.meta.url));
const RTP_ENDPOINT = fileURLToPath(new URL('./rtp-endpoint.mjs', import.meta.url));
const SPREAD_CALLS = 20;
const RTP_PACKETS = 50;

const test = suite('e2e/scale-out: two pinlatch relays in one Kamailio rtpengine set', { timeoutMs: 240_000 });

interface Relay {
  name: 'A' | 'B';
  address: string;
  ngPort: number;
  ports: { min: number; max: number };
  process: PinlatchProcess;
}

async function startRelay(dir: string, name: 'A' | 'B', address: string): Promise<Relay> {
  const ngPort = await freeUdpPort();
  const ports = await freePortRange(200);
  const file = join(dir, `relay-${name}.yaml`);
  writeFileSync(file, [
    'media:',
    `  address: ${address}`,
    `  ports: { min: ${ports.min}, max: ${ports.max} }`,
    '  shards: 1',
    'ng:',
    `  address: ${address}`,
    `  port: ${ngPort}`,
    '',
  ].join('\n'));
  return { name, address, ngPort, ports, process: await PinlatchProcess.start(file) };
}

/** Call-ID and SDP m=audio port of each 200 OK with SDP in a sipp message trace. */
function answeredPorts(trace: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const block of trace.split(/^-{20,}.*$/m)) {
    if (!/^SIP\/2\.0 200 OK/m.test(block) || !/^CSeq: \d+ INVITE/im.test(block)) continue;
    const callId = /^Call-ID:\s*(\S+)/im.exec(block)?.[1];
    const port = /^m=audio (\d+)/m.exec(block)?.[1];
    if (callId && port) out.set(callId, Number(port));
  }
  return out;
}

const relayOf = (relays: Relay[], port: number): Relay | undefined => relays.find((r) => port >= r.ports.min && port <= r.ports.max);

async function ngCalls(relay: Relay): Promise<number> {
  const client = await NgClient.connect({ host: relay.address, port: relay.ngPort });
  try {
    return ((await client.request({ command: 'list' }))['calls'] as unknown[]).length;
  } finally {
    client.close();
  }
}

interface RtpResult {
  sent: number;
  received: number;
  sources: string[];
}

async function rtpResult(path: string, waitMs: number): Promise<RtpResult> {
  const deadline = Date.now() + waitMs;
  while (!existsSync(path) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  assert.ok(existsSync(path), `no RTP result ${path}`);
  return JSON.parse(readFileSync(path, 'utf8')) as RtpResult;
}

const tools = [KAMAILIO, `${KAMAILIO_MODULES}/rtpengine.so`, '/usr/bin/sipp'].filter((f) => !existsSync(f));

test('calls spread over both relays; after one is killed, new calls go to the survivor with media', async () => {
  assert.equal(tools, [], `missing (install Debian kamailio and sip-tester): ${tools.join(', ')}`);
  const dir = mkdtempSync(join(tmpdir(), 'pinlatch-scaleout-'));
  const relays: Relay[] = [];
  const children: Child[] = [];
  const sipps: SippRun[] = [];
  let kamailio: Child | undefined;
  try {
    relays.push(await startRelay(dir, 'A', '127.0.0.1'), await startRelay(dir, 'B', '127.0.0.2'));
    const [a, b] = relays as [Relay, Relay];
    const [sipPort, uasPort] = [await freeUdpPort(), await freeUdpPort()];
    const cfg = join(dir, 'kamailio.cfg');
    writeFileSync(cfg, kamailioProxyConfig({
      address: '127.0.0.1', sipPort, ngAddress: a.address, ngPort: a.ngPort,
      relaySet: {
        relays: relays.map((r) => ({ address: r.address, port: r.ngPort, weight: 1 })),
        // 2 s: a loaded test machine must not make the live relay look dead.
        timeoutMs: 2000, retries: 1, disableSec: 600,
      },
      nextHop: { address: '127.0.0.1', port: uasPort }, logMessages: true,
    }));
    kamailio = new Child(KAMAILIO, ['-f', cfg, '-D', '-E', '-m', '32', '-M', '4', '-Y', dir, '-w', dir]);
    children.push(kamailio);
    assert.ok(await sipAlive(sipPort, 15_000), `kamailio did not answer OPTIONS:\n${kamailio.output.slice(-3000)}`);

    // 1. Spread: 20 calls (no media), Call-IDs scaleout-1..20, each held 4 s.
    const spreadUas = loopbackSipp({
      scenario: join(NG_SCENARIOS, 'ng-uas.xml'), localIp: '127.0.0.1', localPort: uasPort,
      calls: SPREAD_CALLS, timeoutMs: 90_000, mediaPort: (await freePortRange(4)).min, vars: { rtpPort: 9 },
    });
    sipps.push(spreadUas);
    await new Promise((r) => setTimeout(r, 300));
    const spreadUac = loopbackSipp({
      scenario: join(NG_SCENARIOS, 'ng-uac.xml'), localIp: '127.0.0.1', localPort: await freeUdpPort(),
      remote: `127.0.0.1:${sipPort}`, calls: SPREAD_CALLS, rate: 10, limit: SPREAD_CALLS, timeoutMs: 90_000,
      mediaPort: (await freePortRange(4)).min, vars: { rtpPort: 9 }, extraArgs: ['-cid_str', 'scaleout-%u'],
    });
    sipps.push(spreadUac);
    const spread = await spreadUac.done;
    assert.is(spread.code, 0, `spread calls failed:\n${spread.output}\n${spread.errors}\n--- kamailio:\n${kamailio.output.slice(-3000)}`);
    assert.is(spread.stats?.successful, SPREAD_CALLS);
    assert.is((await spreadUas.done).code, 0);
    const ports = answeredPorts(spread.messages);
    assert.is(ports.size, SPREAD_CALLS, [...ports.keys()].join(','));
    const onRelay = new Map<string, string[]>([['A', []], ['B', []]]);
    for (const [callId, port] of ports) {
      const relay = relayOf(relays, port);
      assert.ok(relay, `${callId}: port ${port} is in neither relay's range`);
      onRelay.get(relay!.name)!.push(callId);
    }
    const onA = onRelay.get('A')!;
    const onB = onRelay.get('B')!;
    console.log(`spread of ${SPREAD_CALLS} calls: A ${onA.length}, B ${onB.length}`);
    assert.ok(onA.length > 0 && onB.length > 0, `all calls on one relay: A ${onA.length}, B ${onB.length}`);
    // Every BYE reached the relay that held the call: both are empty again.
    assert.is(await ngCalls(a), 0);
    assert.is(await ngCalls(b), 0);

    // 2. Relay B dies.
    b.process.kill();
    await b.process.exited;

    // 3. Calls with the Call-IDs that went to B (the module hashes to B first) and one of A's,
    // one after the other, each with RTP both ways: all on A.
    const again = [...onB.slice(0, 2), onA[0]!];
    const uas = loopbackSipp({
      scenario: 'uas.xml', localIp: '127.0.0.1', localPort: uasPort, calls: again.length, timeoutMs: 120_000,
      mediaPort: (await freePortRange(4)).min,
      vars: { rtpPort: (await freePortRange(2)).min, rtpCount: RTP_PACKETS, rtpCmd: `node ${RTP_ENDPOINT}`, rtpOut: join(dir, 'gw') },
    });
    sipps.push(uas);
    await new Promise((r) => setTimeout(r, 300));
    for (const [i, callId] of again.entries()) {
      const label = join(dir, `caller${i}`);
      const uac = loopbackSipp({
        scenario: 'uac.xml', localIp: '127.0.0.1', localPort: await freeUdpPort(), remote: `127.0.0.1:${sipPort}`,
        service: 'callee', calls: 1, timeoutMs: 60_000, durationMs: 4000, mediaPort: (await freePortRange(4)).min,
        vars: { rtpPort: (await freePortRange(2)).min, rtpCount: RTP_PACKETS, rtpCmd: `node ${RTP_ENDPOINT}`, rtpOut: label },
        extraArgs: ['-cid_str', callId],
      });
      sipps.push(uac);
      const r = await uac.done;
      assert.is(r.code, 0, `call ${callId} after B died:\n${r.output}\n${r.errors}\n--- kamailio:\n${kamailio.output.slice(-4000)}`);
      const port = answeredPorts(r.messages).get(callId);
      assert.ok(port !== undefined, `no 200 with SDP for ${callId}`);
      assert.is(relayOf(relays, port!)?.name, 'A', `${callId} answered with port ${port}`);
      const caller = await rtpResult(`${label}-caller-1.json`, 15_000);
      const gw = await rtpResult(join(dir, `gw-gw-${i + 1}.json`), 15_000);
      // Loopback loses nothing; a few late packets may miss the BYE on a loaded machine.
      assert.ok(caller.received >= RTP_PACKETS * 0.9, `${callId}: caller received ${caller.received}/${RTP_PACKETS}`);
      assert.ok(gw.received >= RTP_PACKETS * 0.9, `${callId}: callee received ${gw.received}/${RTP_PACKETS}`);
      for (const source of [...caller.sources, ...gw.sources]) {
        const [address, p] = [source.slice(0, source.lastIndexOf(':')), Number(source.slice(source.lastIndexOf(':') + 1))];
        assert.is(address, a.address, source);
        assert.is(relayOf(relays, p)?.name, 'A', source);
      }
    }
    assert.is((await uas.done).code, 0);
    assert.is(await ngCalls(a), 0);
    // The module asked B once (rtpengine_tout_ms x rtpengine_retr), then left it out for
    // rtpengine_disable_tout: the second call that hashes to B went to A at once.
    const timeouts = kamailio.output.split('\n').filter((l) => l.includes(`timeout waiting reply for command "offer" from RTPEngine <udp:${b.address}:${b.ngPort}>`));
    assert.is(timeouts.length, 1, timeouts.join('\n'));
  } catch (err) {
    for (const r of relays) console.error(`--- relay ${r.name} (tail):\n${r.process.output.slice(-3000)}`);
    if (kamailio) console.error(`--- kamailio (tail):\n${kamailio.output.slice(-6000)}`);
    throw err;
  } finally {
    for (const s of sipps) s.kill();
    await Promise.all(sipps.map((s) => s.done));
    for (const child of children.reverse()) await child.stop();
    for (const r of relays) {
      r.process.signal('SIGTERM');
      const exited = await Promise.race([r.process.exited.then(() => true), new Promise((res) => setTimeout(() => res(false), 10_000))]);
      if (!exited) r.process.kill();
    }
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
