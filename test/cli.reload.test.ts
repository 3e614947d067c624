/**
 * Reload on the real CLI (loopback): `pinlatch reload --pidfile` and SIGHUP with calls up. A call
 * answered before the reload keeps its trunk and its media through it and ends cleanly; new
 * calls take the new routes; the log level changes; a file with an error, or one that changes a
 * key fixed at start (media.ports), is refused with its key and line and the running
 * configuration stays in force.
 *
 * The caller (the upstream PBX) is 127.0.0.1; gateway A (trunk a) is 127.0.0.2, gateway B
 * (trunk b) 127.0.0.3: pinlatch tells them apart by source address.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as assert from 'uvu/assert';
import { suite } from './support/suite.ts';
import { PinlatchProcess, runCli } from './support/pinlatch-cli.ts';
import { answer, isRequest, isResponse, request, sdp, sdpPort, SipPeer } from './support/sip-peer.ts';
import { freePortRange, rtpPacket, UdpPeer } from './media/udp-peer.ts';
import { freeUdpPort } from './control/child.ts';
import { createResponse, type SipRequest, type SipResponse } from '../src/sip/wire/message.ts';

const test = suite('cli: reload', { timeoutMs: 150_000 });
const dir = mkdtempSync(join(tmpdir(), 'pinlatch-reload-'));

interface Peers {
  caller: SipPeer;
  gwA: SipPeer;
  gwB: SipPeer;
  callerRtp: UdpPeer;
  gwARtp: UdpPeer;
}

interface Edge {
  file: string;
  pidfile: string;
  sipPort: number;
  media: { min: number; max: number };
}

/** The configuration text: trunks a (pinned) and b, every call routed to `route`. */
function configText(edge: Edge, peers: Peers, options: { route: 'a' | 'b'; trunkA?: boolean; extra?: string }): string {
  return [
    'sip:',
    `  listen: [{ transport: udp, address: 127.0.0.1, port: ${edge.sipPort} }]`,
    '  drainSec: 0',
    'media:',
    '  address: 127.0.0.1',
    `  ports: { min: ${edge.media.min}, max: ${edge.media.max} }`,
    '  shards: 1',
    '  timeoutSec: 3600',
    'trunks:',
    ...(options.trunkA === false ? [] : [`  - { name: a, host: 127.0.0.2, port: ${peers.gwA.port}, pinRoute: true }`]),
    `  - { name: b, host: 127.0.0.3, port: ${peers.gwB.port} }`,
    'routes:',
    `  - { trunk: ${options.route} }`,
    'upstream: "sip:127.0.0.1:5060"',
    ...(options.extra === undefined ? [] : [options.extra]),
    '',
  ].join('\n');
}

async function openPeers(): Promise<Peers> {
  return {
    caller: await SipPeer.udp('127.0.0.1'),
    gwA: await SipPeer.udp('127.0.0.2'),
    gwB: await SipPeer.udp('127.0.0.3'),
    callerRtp: await UdpPeer.open('127.0.0.1'),
    gwARtp: await UdpPeer.open('127.0.0.2'),
  };
}

async function closePeers(peers: Partial<Peers>): Promise<void> {
  peers.caller?.close();
  peers.gwA?.close();
  peers.gwB?.close();
  await peers.callerRtp?.close();
  await peers.gwARtp?.close();
}

async function newEdge(name: string): Promise<Edge> {
  return { file: join(dir, `${name}.yaml`), pidfile: join(dir, `${name}.pid`), sipPort: await freeUdpPort(), media: await freePortRange(40) };
}

let calls = 0;

/** An INVITE with SDP from the caller; resolves with the request as the gateway that got it sees it. */
async function invite(edge: Edge, peers: Peers, gw: SipPeer): Promise<{ callId: string; invite: SipRequest }> {
  const callId = `reload-${process.pid}-${++calls}`;
  peers.caller.send(request({ user: '15550100', peer: peers.caller, proxyPort: edge.sipPort, callId, body: sdp('127.0.0.1', peers.callerRtp.port) }), edge.sipPort);
  return { callId, invite: await gw.waitFor(isRequest('INVITE', callId), 15_000) };
}

/** A call from the caller through trunk a's gateway, answered and ACKed. */
async function answeredCall(edge: Edge, peers: Peers): Promise<{ callId: string; invite: SipRequest; ok: SipResponse; routes: string[] }> {
  const { callId, invite: atGateway } = await invite(edge, peers, peers.gwA);
  peers.gwA.sendMessage(answer(atGateway, 200, peers.gwA, sdp('127.0.0.2', peers.gwARtp.port)), edge.sipPort);
  const ok = await peers.caller.waitFor(isResponse(callId), 15_000);
  assert.is(ok.status, 200);
  // The caller's route set: the Record-Route of the 2xx, reversed (RFC 3261 §12.1.2).
  const routes = ok.getAll('record-route').reverse();
  const contact = /<([^>]+)>/.exec(ok.get('contact')!)![1]!;
  peers.caller.send(
    request({ method: 'ACK', user: '15550100', peer: peers.caller, proxyPort: edge.sipPort, callId, toTag: ok.to!.tag, uri: contact, routes }),
    edge.sipPort,
  );
  await peers.gwA.waitFor(isRequest('ACK', callId), 15_000);
  return { callId, invite: atGateway, ok, routes };
}

/** RTP both ways through the relay until each side has received `more` further packets (bounded). */
async function mediaFlows(peers: Peers, toRelayFromCaller: number, toRelayFromGateway: number, more: number): Promise<void> {
  const callerHad = peers.callerRtp.received.length;
  const gatewayHad = peers.gwARtp.received.length;
  for (let seq = 0; seq < 250; seq++) {
    if (peers.callerRtp.received.length >= callerHad + more && peers.gwARtp.received.length >= gatewayHad + more) return;
    await peers.callerRtp.send(rtpPacket(0x1111, calls * 1000 + seq), toRelayFromCaller);
    await peers.gwARtp.send(rtpPacket(0x2222, calls * 1000 + seq), toRelayFromGateway);
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`media did not flow: caller got ${peers.callerRtp.received.length - callerHad}, gateway ${peers.gwARtp.received.length - gatewayHad}`);
}

/** `pinlatch reload --pidfile` against the running instance. */
function reload(edge: Edge): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return runCli(['reload', '--pidfile', edge.pidfile, '--timeout', '60']);
}

test('a call up during a reload keeps its trunk and media and ends cleanly; new calls take the new routes; the log level changes', async () => {
  const peers = await openPeers();
  const edge = await newEdge('routes');
  let pinlatch: PinlatchProcess | undefined;
  try {
    writeFileSync(edge.file, configText(edge, peers, { route: 'a' }));
    pinlatch = await PinlatchProcess.start(edge.file, ['--pidfile', edge.pidfile]);
    assert.ok(existsSync(edge.pidfile), 'the pidfile is written');

    const call = await answeredCall(edge, peers);
    const toRelayFromCaller = sdpPort(call.ok);
    const toRelayFromGateway = sdpPort(call.invite);
    await mediaFlows(peers, toRelayFromCaller, toRelayFromGateway, 5);
    assert.not.match(pinlatch.output, /"level":20,/, 'log.level info: no debug lines yet');

    // Trunk a is gone from the new file, every route goes to b, and the log level is debug.
    writeFileSync(edge.file, configText(edge, peers, { route: 'b', trunkA: false, extra: 'log: { level: debug }' }));
    const reloaded = await reload(edge);
    assert.is(reloaded.code, 0, reloaded.stderr);
    assert.match(reloaded.stdout, `configuration ${edge.file} reloaded: trunks, routes, log.level`);
    const [done] = pinlatch.logs('configuration reloaded');
    assert.equal(done!.changed, ['trunks', 'routes', 'log.level']);

    // The call up keeps its relay ports and latches: media goes on both ways.
    await mediaFlows(peers, toRelayFromCaller, toRelayFromGateway, 5);

    // A new call goes to trunk b's gateway, and only there; its SDP was anchored with debug logging on.
    const second = await invite(edge, peers, peers.gwB);
    peers.gwB.sendMessage(answer(second.invite, 486, peers.gwB), edge.sipPort);
    const busy = await peers.caller.waitFor(isResponse(second.callId), 15_000);
    assert.is(busy.status, 486);
    assert.not.ok(peers.gwA.received.some(isRequest('INVITE', second.callId)), 'the new call did not go to trunk a');
    await pinlatch.waitFor('"msg":"media leg"');

    // The first call ends with the caller's BYE at gateway A (its pinned trunk) and a 200 back.
    const contact = /<([^>]+)>/.exec(call.ok.get('contact')!)![1]!;
    peers.caller.send(
      request({ method: 'BYE', user: '15550100', peer: peers.caller, proxyPort: edge.sipPort, callId: call.callId, toTag: call.ok.to!.tag, cseq: 2, uri: contact, routes: call.routes }),
      edge.sipPort,
    );
    const bye = await peers.gwA.waitFor(isRequest('BYE', call.callId), 15_000);
    peers.gwA.sendMessage(createResponse(bye, 200), edge.sipPort);
    const byeOk = await peers.caller.waitFor(isResponse(call.callId, 'BYE'), 15_000);
    assert.is(byeOk.status, 200);
    assert.not.ok(peers.gwB.received.some(isRequest('BYE', call.callId)));
    await pinlatch.waitFor('"msg":"dialog ended"');

    pinlatch.signal('SIGTERM');
    assert.is(await pinlatch.exited, 0, pinlatch.output.slice(-3000));
    assert.not.ok(existsSync(edge.pidfile), 'the pidfile is removed at exit');
  } finally {
    pinlatch?.kill();
    await closePeers(peers);
  }
});

test('an invalid file, or a change of media.ports, is refused with key and line: the running configuration stays; SIGHUP reloads as well', async () => {
  const peers = await openPeers();
  const edge = await newEdge('refused');
  let pinlatch: PinlatchProcess | undefined;
  try {
    writeFileSync(edge.file, configText(edge, peers, { route: 'a' }));
    pinlatch = await PinlatchProcess.start(edge.file, ['--pidfile', edge.pidfile]);

    // limits.dialogs: 0 is out of range; the route change beside it must not apply either.
    const invalid = configText(edge, peers, { route: 'b', extra: 'limits:\n  dialogs: 0' });
    const dialogsLine = invalid.split('\n').indexOf('  dialogs: 0') + 1;
    writeFileSync(edge.file, invalid);
    const refused = await reload(edge);
    assert.is(refused.code, 1, refused.stdout + refused.stderr);
    assert.match(refused.stderr, `limits.dialogs: expected an integer 1..10000000 (got number 0) (line ${dialogsLine})`);
    assert.match(refused.stderr, 'the running configuration stays');
    const [logged] = pinlatch.logs('configuration not reloaded: the running one stays');
    assert.equal(logged!.errors, [`limits.dialogs: expected an integer 1..10000000 (got number 0) (line ${dialogsLine})`]);
    const stillA = await invite(edge, peers, peers.gwA);
    peers.gwA.sendMessage(answer(stillA.invite, 486, peers.gwA), edge.sipPort);
    assert.is((await peers.caller.waitFor(isResponse(stillA.callId), 15_000)).status, 486);

    // A valid file that moves the media port range: refused by name and line, routes unchanged.
    const moved = configText(edge, peers, { route: 'b' }).replace(`min: ${edge.media.min}`, `min: ${edge.media.min + 2}`);
    writeFileSync(edge.file, moved);
    const fixed = await reload(edge);
    assert.is(fixed.code, 1, fixed.stdout + fixed.stderr);
    assert.match(fixed.stderr, `configuration ${edge.file} not reloaded: 1 error`);
    assert.match(fixed.stderr, 'media.ports.min: cannot change while pinlatch runs (restart it to apply this change) (line 6)');
    const againA = await invite(edge, peers, peers.gwA);
    peers.gwA.sendMessage(answer(againA.invite, 486, peers.gwA), edge.sipPort);
    assert.is((await peers.caller.waitFor(isResponse(againA.callId), 15_000)).status, 486);

    // SIGHUP (systemctl reload) with a valid file: new calls take trunk b.
    writeFileSync(edge.file, configText(edge, peers, { route: 'b' }));
    pinlatch.signal('SIGHUP');
    await pinlatch.waitFor('"msg":"configuration reloaded"', 60_000);
    const toB = await invite(edge, peers, peers.gwB);
    peers.gwB.sendMessage(answer(toB.invite, 486, peers.gwB), edge.sipPort);
    assert.is((await peers.caller.waitFor(isResponse(toB.callId), 15_000)).status, 486);

    pinlatch.signal('SIGTERM');
    assert.is(await pinlatch.exited, 0, pinlatch.output.slice(-3000));
    const gone = await reload(edge);
    assert.is(gone.code, 3, 'no instance: exit 3');
    assert.match(gone.stderr, `cannot read the pidfile ${edge.pidfile} (ENOENT)`);
  } finally {
    pinlatch?.kill();
    await closePeers(peers);
  }
});

test('usage errors: reload without --pidfile, an unknown command, a bad --log-level', async () => {
  for (const args of [['reload'], ['restart'], ['--log-level', 'loud'], ['reload', '--pidfile', 'x', '--config', 'y']]) {
    const run = await runCli(args);
    assert.is(run.code, 2, `${args.join(' ')}: ${run.stderr}`);
    assert.match(run.stderr, /^pinlatch: /);
  }
});

test('a stale pidfile: another program holding the PID is not signalled, a PID that is gone is reported; exit 3', async () => {
  const other = spawn('sleep', ['60'], { stdio: 'ignore' });
  try {
    const pidfile = join(dir, 'stale.pid');
    writeFileSync(pidfile, `${other.pid}\n`);
    const refused = await runCli(['reload', '--pidfile', pidfile, '--timeout', '2']);
    assert.is(refused.code, 3, refused.stderr);
    assert.match(refused.stderr, `PID ${other.pid} from ${pidfile} is not a pinlatch started with --pidfile`);
    await new Promise((r) => setTimeout(r, 300));
    assert.is(other.exitCode, null, 'sleep got no SIGHUP');
    assert.is(other.signalCode, null);
    other.kill('SIGKILL');
    await once(other, 'exit');
    const gone = await runCli(['reload', '--pidfile', pidfile, '--timeout', '2']);
    assert.is(gone.code, 3, gone.stderr);
    assert.match(gone.stderr, 'a stale pidfile?');
  } finally {
    other.kill('SIGKILL');
  }
});

test.after(() => rmSync(dir, { recursive: true, force: true }));

test.run();
