/**
 * The NG protocol over real UDP/TCP on 127.0.0.1 against a real MediaRelay (native shards):
 * ping, offer/answer with real SDP, RTP through the returned ports with latching, query, list,
 * statistics, delete, retransmissions, and malformed input answered without a crash.
 */
import * as assert from 'uvu/assert';
import { connect } from 'node:net';
import { createSocket } from 'node:dgram';
import { suite } from '../support/suite.ts';
import { MediaRelay } from '../../src/media/MediaRelay.ts';
import { NgController } from '../../src/control/NgController.ts';
import { NgServer } from '../../src/control/NgServer.ts';
import { NgClient, replyText } from '../../src/control/NgClient.ts';
import { decodePrefix, encode, type BencodeDict, type BencodeValue } from '../../src/control/bencode.ts';
import { RtpPeer, audioPort, waitFor } from './rtp-peer.ts';

interface Ctx {
  relay: MediaRelay;
  server: NgServer;
  client: NgClient;
}

const ctx = {} as Ctx;
const test = suite('control/NG protocol over UDP', { timeoutMs: 15_000 });

const text = (v: BencodeValue | undefined): string | undefined => replyText(v);
const dict = (v: BencodeValue | undefined): BencodeDict => v as BencodeDict;

test.before(async () => {
  ctx.relay = await MediaRelay.start({ address: '127.0.0.1', ports: { min: 47200, max: 47399 }, shards: 1, quarantineMs: 100 });
  const controller = new NgController(ctx.relay);
  ctx.server = new NgServer(controller, { address: '127.0.0.1', port: 0, tcp: true });
  await ctx.server.listen();
  ctx.client = await NgClient.connect({ host: '127.0.0.1', port: ctx.server.udpPort, timeoutMs: 3000 });
});

test.after(async () => {
  ctx.client?.close();
  await ctx.server?.close();
  await ctx.relay?.close();
});

test('ping -> pong, in bencode and in JSON', async () => {
  const r = await ctx.client.request({ command: 'ping' });
  assert.is(text(r['result']), 'pong');
  const cookie = ctx.client.nextCookie();
  const j = await ctx.client.requestRaw(Buffer.from(`${cookie} {"command":"ping"}`), cookie);
  assert.equal(j as unknown, { result: 'pong' });
});

test('offer/answer rewrite SDP to the relay; RTP flows both ways and latches; query, list, delete', async () => {
  const a = await RtpPeer.open(0x1111);
  const b = await RtpPeer.open(0x2222);
  const timer = setInterval(() => {
    if (aTarget) a.send(aTarget);
    if (bTarget) b.send(bTarget);
  }, 5);
  let aTarget = 0;
  let bTarget = 0;
  try {
    const offer = await ctx.client.request({
      command: 'offer',
      'call-id': 'call-1@test',
      'from-tag': 'tag-a',
      sdp: a.sdp(1001),
      flags: ['trust address', 'symmetric'],
      replace: ['origin', 'session name'],
      'received from': ['IP4', '127.0.0.1'],
    });
    assert.is(text(offer['result']), 'ok', text(offer['error-reason']));
    const offerSdp = text(offer['sdp'])!;
    assert.match(offerSdp, /^c=IN IP4 127\.0\.0\.1$/m);
    assert.match(offerSdp, /^o=- 1001 1 IN IP4 127\.0\.0\.1$/m);
    assert.match(offerSdp, /^s=pinlatch$/m);
    bTarget = audioPort(offerSdp);
    assert.ok(bTarget >= 47200 && bTarget <= 47399, `B-facing port ${bTarget}`);

    const answer = await ctx.client.request({
      command: 'answer',
      'call-id': 'call-1@test',
      'from-tag': 'tag-a',
      'to-tag': 'tag-b',
      sdp: b.sdp(2002),
      'received-from': ['IP4', '127.0.0.1'],
    });
    assert.is(text(answer['result']), 'ok', text(answer['error-reason']));
    aTarget = audioPort(text(answer['sdp'])!);
    assert.ok(aTarget !== bTarget);

    await waitFor(() => a.received >= 20 && b.received >= 20, 5000, 'media both ways');
    // Symmetric RTP: each phone hears the relay from the port it sends to.
    assert.equal([...a.sources], [`127.0.0.1:${aTarget}`]);
    assert.equal([...b.sources], [`127.0.0.1:${bTarget}`]);

    const q = await ctx.client.request({ command: 'query', 'call-id': 'call-1@test' });
    assert.is(text(q['result']), 'ok');
    const tags = dict(q['tags']);
    assert.equal(Object.keys(tags).sort(), ['tag-a', 'tag-b']);
    const aMedia = dict((dict(tags['tag-a'])['medias'] as BencodeValue[])[0]);
    assert.is(aMedia['index'], 1);
    assert.is(text(aMedia['type']), 'audio');
    const aRtp = dict((aMedia['streams'] as BencodeValue[])[0]);
    assert.is(aRtp['local port'], aTarget);
    assert.is(dict(aRtp['endpoint'])['port'], a.port, 'A latched to its real source');
    assert.ok((dict(aRtp['stats'])['packets'] as number) > 0);
    const bRtp = dict((dict((dict(tags['tag-b'])['medias'] as BencodeValue[])[0])['streams'] as BencodeValue[])[0]);
    assert.is(dict(bRtp['endpoint'])['port'], b.port, 'B latched to its real source');
    assert.is(text(dict(tags['tag-a'])['in dialogue with']), 'tag-b');
    const totals = dict(dict(q['totals'])['RTP']);
    assert.ok((totals['packets'] as number) >= 40);

    const list = await ctx.client.request({ command: 'list' });
    assert.equal((list['calls'] as BencodeValue[]).map(text), ['call-1@test']);

    const stats = await ctx.client.request({ command: 'statistics' });
    const st = dict(stats['statistics']);
    assert.is(dict(st['currentstatistics'])['sessionsown'], 1);
    assert.ok((dict(st['totalstatistics'])['relayedpackets'] as number) > 0);

    clearInterval(timer);
    const del = await ctx.client.request({ command: 'delete', 'call-id': 'call-1@test', 'from-tag': 'tag-a' });
    assert.is(text(del['result']), 'ok');
    assert.ok(del['tags'] !== undefined, 'delete returns the final counters');
    assert.is(ctx.relay.get('ng:call-1@test'), undefined, 'media session released');
    const list2 = await ctx.client.request({ command: 'list' });
    assert.equal(list2['calls'], []);
    const again = await ctx.client.request({ command: 'delete', 'call-id': 'call-1@test', 'from-tag': 'tag-a' });
    assert.is(text(again['result']), 'ok');
    assert.ok(text(again['warning'])?.includes('not found'));
    const fatal = await ctx.client.request({ command: 'delete', 'call-id': 'call-1@test', flags: ['fatal'] });
    assert.is(text(fatal['result']), 'error');
  } finally {
    clearInterval(timer);
    a.close();
    b.close();
  }
});

test('a retransmitted request (same cookie) is answered from the cache without acting twice', async () => {
  const a = await RtpPeer.open(0x3333);
  try {
    const offer = { command: 'offer', 'call-id': 'call-rtx', 'from-tag': 'x', sdp: a.sdp(7) };
    const cookie = ctx.client.nextCookie();
    const first = await ctx.client.request(offer, cookie);
    const del = await ctx.client.request({ command: 'delete', 'call-id': 'call-rtx' });
    assert.is(text(del['result']), 'ok');
    // The offer arrives again after the delete: it must not re-create the call.
    const second = await ctx.client.request(offer, cookie);
    assert.equal(text(second['sdp']), text(first['sdp']));
    assert.is(ctx.relay.get('ng:call-rtx'), undefined);
    assert.ok(ctx.server.counters.retransmissions >= 1);
  } finally {
    a.close();
  }
});

test('delete delay: the reply comes at once, the call goes after the delay; a new offer revives it', async () => {
  const a = await RtpPeer.open(0x4444);
  try {
    const offer = (id: number) => ({ command: 'offer', 'call-id': 'call-dd', 'from-tag': 'x', sdp: a.sdp(id) });
    assert.is(text((await ctx.client.request(offer(1)))['result']), 'ok');
    const del = await ctx.client.request({ command: 'delete', 'call-id': 'call-dd', 'delete delay': 1 });
    assert.is(text(del['result']), 'ok');
    assert.ok(ctx.relay.get('ng:call-dd') !== undefined, 'still there during the delay');
    assert.is(text((await ctx.client.request(offer(2)))['result']), 'ok');
    await new Promise((r) => setTimeout(r, 1300));
    assert.ok(ctx.relay.get('ng:call-dd') !== undefined, 'the re-offer cancelled the delayed delete');
    await ctx.client.request({ command: 'delete', 'call-id': 'call-dd', 'delete-delay': 1 });
    await waitFor(() => ctx.relay.get('ng:call-dd') === undefined, 3000, 'delayed delete');
  } finally {
    a.close();
  }
});

test('errors are replies: unknown command, missing keys, bad SDP, bad values, SRTP', async () => {
  const cases: Array<[Record<string, unknown>, RegExp]> = [
    [{ command: 'frobnicate' }, /Unrecognized command/],
    [{}, /No command/],
    [{ command: 'offer', 'from-tag': 'a', sdp: 'v=0\r\n' }, /No call-id/],
    [{ command: 'offer', 'call-id': 'e1', sdp: 'v=0\r\n' }, /No from-tag/],
    [{ command: 'offer', 'call-id': 'e1', 'from-tag': 'a' }, /No SDP/],
    [{ command: 'offer', 'call-id': 'e1', 'from-tag': 'a', sdp: 'hello' }, /Failed to parse SDP/],
    [{ command: 'answer', 'call-id': 'nope', 'from-tag': 'a', 'to-tag': 'b', sdp: 'v=0\r\n' }, /SDP|Unknown call/],
    [{ command: 'query', 'call-id': 'nope' }, /Unknown call-id/],
    [{ command: 'offer', 'call-id': 'e1', 'from-tag': 'a', sdp: 'v=0', 'received from': ['IP4'] }, /received from/],
    [{ command: 'offer', 'call-id': 'e1', 'from-tag': 'a', sdp: 'v=0', 'received from': ['IP4', '::1'] }, /not IP4/],
    [{ command: 'offer', 'call-id': 'e1', 'from-tag': 'a', sdp: 'v=0', flags: 5 }, /flags/],
    [{ command: 'offer', 'call-id': 'e1', 'from-tag': 'a', sdp: 'v=0', ICE: 'sideways' }, /ICE mode/],
    [{ command: 'list', limit: 0 }, /limit/],
    [
      {
        command: 'offer',
        'call-id': 'e1',
        'from-tag': 'a',
        sdp: 'v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/SAVP 0\r\n',
      },
      /Unsupported transport protocol RTP\/SAVP/,
    ],
  ];
  for (const [req, reason] of cases) {
    const r = await ctx.client.request(req as never);
    assert.is(text(r['result']), 'error', JSON.stringify(req));
    assert.match(text(r['error-reason']) ?? '', reason);
    assert.equal(Object.keys(r).sort(), ['error-reason', 'result']);
  }
  assert.is(ctx.relay.get('ng:e1'), undefined);
});

test('malformed datagrams: error replies or counted drops, never a crash', async () => {
  const bad: string[] = [
    'd7:command4:ping', // truncated
    'd7:command4:pingeXX', // trailing garbage
    'i-0e',
    'l4:pinge', // not a dictionary
    'd7:commandi01ee',
    'd7:command4:ping7:command4:pinge', // duplicate key
    `${'l'.repeat(5000)}${'e'.repeat(5000)}`, // deep nesting
    '99999999:x',
    '{"command":',
    '{"command":["ping",[[[[[[[[[[[[[[[[[[[["x"]]]]]]]]]]]]]]]]]]]]}',
    '',
  ];
  for (const body of bad) {
    const cookie = ctx.client.nextCookie();
    const r = await ctx.client.requestRaw(Buffer.from(`${cookie} ${body}`), cookie);
    assert.is(replyText((r as Record<string, unknown>)['result'] as BencodeValue), 'error', body.slice(0, 40));
  }
  // Oversized datagram (65 000 bytes).
  const cookie = ctx.client.nextCookie();
  const huge = Buffer.concat([Buffer.from(`${cookie} d3:sdp64980:`), Buffer.alloc(64_980, 0x61), Buffer.from('e')]);
  const r = await ctx.client.requestRaw(huge, cookie);
  assert.is(text(r['result']), 'error');
  // No cookie at all: nothing to answer, the datagram is dropped and counted.
  const dropped = ctx.server.counters.dropped;
  const raw = createSocket('udp4');
  await new Promise<void>((resolve) => raw.send(Buffer.from('nocookie'), ctx.server.udpPort, '127.0.0.1', () => resolve()));
  await new Promise<void>((resolve) => raw.send(Buffer.from(' d7:command4:pinge'), ctx.server.udpPort, '127.0.0.1', () => resolve()));
  raw.close();
  await waitFor(() => ctx.server.counters.dropped >= dropped + 2, 2000, 'drop counted');
  const pong = await ctx.client.request({ command: 'ping' });
  assert.is(text(pong['result']), 'pong');
});

test('NG over TCP: messages back to back in one segment and split across segments', async () => {
  const socket = connect(ctx.server.tcpPort!, '127.0.0.1');
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    let received = Buffer.alloc(0);
    socket.on('data', (d: Buffer) => {
      received = Buffer.concat([received, d]);
    });
    const m1 = Buffer.concat([Buffer.from('c1 '), encode({ command: 'ping' })]);
    const m2 = Buffer.concat([Buffer.from('c2 '), encode({ command: 'list' })]);
    const m3 = Buffer.concat([Buffer.from('c3 '), encode({ command: 'ping' })]);
    socket.write(Buffer.concat([m1, m2, m3.subarray(0, 5)]));
    await new Promise((r) => setTimeout(r, 50));
    socket.write(m3.subarray(5));
    await waitFor(() => received.toString('latin1').includes('c3 '), 3000, 'three TCP replies');
    const replies = new Map<string, BencodeDict>();
    let pos = 0;
    while (pos < received.length) {
      const space = received.indexOf(0x20, pos);
      const { value, end } = decodePrefix(received, undefined, space + 1);
      replies.set(received.toString('latin1', pos, space), value as BencodeDict);
      pos = end;
    }
    assert.is(text(replies.get('c1')!['result']), 'pong');
    assert.is(text(replies.get('c2')!['result']), 'ok');
    assert.is(text(replies.get('c3')!['result']), 'pong');
  } finally {
    socket.destroy();
  }
});

test.run();
