/**
 * Interop with a real NG client: Kamailio (Debian `kamailio`, its `rtpengine` module) proxies a
 * sipp call on 127.0.0.1 with `rtpengine_sock` pointed at pinlatch's NG socket. The test's own RTP
 * sockets are the phones' media ports (sipp's SDP advertises them); media must pass through the
 * ports pinlatch allocated, latch to the phones, and the call must be gone after the BYE.
 */
import * as assert from 'uvu/assert';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { suite } from '../support/suite.ts';
import { KAMAILIO_MODULES, kamailioProxyConfig, sipAlive } from '../support/kamailio.ts';
import { MediaRelay } from '../../src/media/MediaRelay.ts';
import { NgController } from '../../src/control/NgController.ts';
import { NgServer } from '../../src/control/NgServer.ts';
import { NgClient, replyText } from '../../src/control/NgClient.ts';
import type { BencodeDict, BencodeValue } from '../../src/control/bencode.ts';
import { Child, freeUdpPort } from './child.ts';
import { freePortRange } from '../media/udp-peer.ts';
import { RtpPeer, waitFor } from './rtp-peer.ts';

const KAMAILIO = '/usr/sbin/kamailio';
const SIPP = '/usr/bin/sipp';
const SCENARIOS = fileURLToPath(new URL('./scenarios/', import.meta.url));

const test = suite('control/Kamailio rtpengine module -> pinlatch NG', { timeoutMs: 60_000 });


const text = (v: BencodeValue | undefined): string | undefined => replyText(v);
const dict = (v: BencodeValue | undefined): BencodeDict => v as BencodeDict;

/** local port and latched endpoint port of the RTP stream of one tag, from a query reply. */
function rtpStream(query: BencodeDict, tag: string): BencodeDict {
  const medias = dict(dict(query['tags'])[tag])['medias'] as BencodeValue[];
  return dict((dict(medias[0])['streams'] as BencodeValue[])[0]);
}

const tools = [KAMAILIO, `${KAMAILIO_MODULES}/rtpengine.so`, SIPP].filter((f) => !existsSync(f));

test('a sipp call through Kamailio: media through pinlatch, latched, gone after BYE', async () => {
  assert.equal(tools, [], `missing (install Debian kamailio and sip-tester): ${tools.join(', ')}`);
  const dir = mkdtempSync(join(tmpdir(), 'pinlatch-kamailio-'));
  const children: Child[] = [];
  const relay = await MediaRelay.start({ address: '127.0.0.1', ports: { min: 47400, max: 47599 }, shards: 1, quarantineMs: 100 });
  const problems: string[] = [];
  const controller = new NgController(relay);
  const seen: string[] = [];
  const handler = {
    handle: (request: Parameters<NgController['handle']>[0], peer: Parameters<NgController['handle']>[1]) => {
      seen.push(`${request.command} ${request.callId ?? ''} ${request.fromTag ?? ''} ${request.toTag ?? ''} flags=${[...request.flags].join(',')}`);
      return controller.handle(request, peer);
    },
  };
  const server = new NgServer(handler, {
    address: '127.0.0.1',
    port: 0,
    onProblem: (p) => problems.push(`${p.code}: ${p.message}`),
  });
  let client: NgClient | undefined;
  const caller = await RtpPeer.open(0xca11e2);
  const callee = await RtpPeer.open(0xca11ee);
  let sending: NodeJS.Timeout | undefined;
  try {
    await server.listen();
    client = await NgClient.connect({ host: '127.0.0.1', port: server.udpPort });
    const [sipPort, uasPort, uacPort] = [await freeUdpPort(), await freeUdpPort(), await freeUdpPort()];
    const cfg = join(dir, 'kamailio.cfg');
    writeFileSync(cfg, kamailioProxyConfig({
      address: '127.0.0.1', sipPort, ngAddress: '127.0.0.1', ngPort: server.udpPort,
      nextHop: { address: '127.0.0.1', port: uasPort }, logMessages: true,
    }));

    const kamailio = new Child(KAMAILIO, ['-f', cfg, '-D', '-E', '-m', '32', '-M', '4', '-Y', dir, '-w', dir]);
    children.push(kamailio);
    assert.ok(await sipAlive(sipPort, 10_000), `kamailio did not answer OPTIONS:\n${kamailio.output.slice(-3000)}`);

    // sipp binds its -mp port and the three above it (audio and video RTP/RTCP): a whole free range.
    const sippCommon = ['-i', '127.0.0.1', '-m', '1', '-nostdin', '-timeout', '30s', '-timeout_error'];
    const uas = new Child(SIPP, [...sippCommon, '-sf', join(SCENARIOS, 'ng-uas.xml'), '-p', String(uasPort),
      '-mp', String((await freePortRange(4)).min), '-set', 'rtpPort', String(callee.port)], { cwd: dir });
    children.push(uas);
    await new Promise((r) => setTimeout(r, 300));
    const uac = new Child(SIPP, [...sippCommon, '-sf', join(SCENARIOS, 'ng-uac.xml'), '-p', String(uacPort),
      '-mp', String((await freePortRange(4)).min), '-set', 'rtpPort', String(caller.port),
      `127.0.0.1:${sipPort}`], { cwd: dir });
    children.push(uac);

    // Wait until Kamailio has sent offer and answer: the call has both tags.
    let callId = '';
    let query: BencodeDict = {};
    await waitFor(() => {
      const call = [...controller.calls.values()].find((c) => c.tags.b !== null);
      if (call !== undefined) callId = call.callId;
      return call !== undefined;
    }, 25_000, 'offer and answer from kamailio');
    const list = await client.request({ command: 'list' });
    assert.equal((list['calls'] as BencodeValue[]).map(text), [callId]);
    query = await client.request({ command: 'query', 'call-id': callId });
    assert.is(text(query['result']), 'ok', text(query['error-reason']));
    const tags = Object.keys(dict(query['tags']));
    assert.is(tags.length, 2, `tags: ${tags.join(',')}`);
    const callerTag = tags.find((t) => t.includes('caller'))!;
    const calleeTag = tags.find((t) => t.includes('callee'))!;
    assert.ok(callerTag && calleeTag, `tags ${tags.join(',')}`);
    const callerTarget = rtpStream(query, callerTag)['local port'] as number;
    const calleeTarget = rtpStream(query, calleeTag)['local port'] as number;
    assert.ok(callerTarget >= 47400 && callerTarget <= 47599 && calleeTarget >= 47400 && calleeTarget <= 47599);

    // Both phones talk (20 ms would do; 5 ms keeps the test short).
    sending = setInterval(() => {
      caller.send(callerTarget);
      callee.send(calleeTarget);
    }, 5);
    await waitFor(() => caller.received >= 30 && callee.received >= 30, 5000, 'media both ways through pinlatch');
    assert.equal([...caller.sources], [`127.0.0.1:${callerTarget}`]);
    assert.equal([...callee.sources], [`127.0.0.1:${calleeTarget}`]);

    query = await client.request({ command: 'query', 'call-id': callId });
    const c = rtpStream(query, callerTag);
    const e = rtpStream(query, calleeTag);
    assert.is(dict(c['endpoint'])['port'], caller.port, 'caller leg latched');
    assert.is(dict(e['endpoint'])['port'], callee.port, 'callee leg latched');
    assert.ok((dict(c['stats'])['packets'] as number) >= 30);
    assert.ok((dict(e['stats'])['packets'] as number) >= 30);

    // sipp sends the BYE after its pause; Kamailio's rtpengine_delete() removes the call.
    const uacResult = await uac.done;
    assert.is(uacResult.code, 0, `sipp uac failed:\n${uacResult.output.slice(-3000)}\n--- kamailio:\n${kamailio.output.slice(-3000)}`);
    clearInterval(sending);
    await waitFor(() => relay.get(`ng:${callId}`) === undefined, 3000, 'session released after BYE');
    const after = await client.request({ command: 'list' });
    assert.equal(after['calls'], []);
    const uasResult = await uas.done;
    assert.is(uasResult.code, 0, uasResult.output.slice(-3000));
  } catch (err) {
    // What the processes said is the only clue when an interop step fails.
    for (const child of children) console.error(`--- pid ${child.pid} output (tail):\n${child.output.slice(-4000)}`);
    console.error(`--- NG problems:\n${problems.join('\n')}\n--- NG commands:\n${seen.join('\n')}`);
    throw err;
  } finally {
    clearInterval(sending);
    for (const child of children.reverse()) await child.stop();
    client?.close();
    caller.close();
    callee.close();
    await server.close();
    await relay.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
