/**
 * The NG allow-list (`ng.allow`): commands from a source outside it are dropped unanswered and
 * counted, over UDP and TCP; sources inside it are served. Real sockets on loopback: the refused
 * client sends from 127.0.0.2 (the whole 127/8 is loopback on Linux), the server allows
 * 127.0.0.1/32 only.
 */
import * as assert from 'uvu/assert';
import { connect } from 'node:net';
import { once } from 'node:events';
import { pino } from 'pino';
import { suite } from '../support/suite.ts';
import { NgServer, type NgRefusal, type NgRequestHandler } from '../../src/control/NgServer.ts';
import { NgClient, replyText } from '../../src/control/NgClient.ts';
import { CidrSet } from '../../src/net/cidr.ts';
import { MediaRelay } from '../../src/media/MediaRelay.ts';
import { MetricsServer } from '../../src/app/MetricsServer.ts';
import { freePortRange } from '../media/udp-peer.ts';

const test = suite('control/NG allow-list', { timeoutMs: 20_000 });

/** Answers ping like NgController; any other command is a test failure. */
const pingOnly: NgRequestHandler = {
  handle: async (request) => {
    if (request.command !== 'ping') throw new Error(`unexpected command ${request.command}`);
    return { result: 'pong' };
  },
};

async function server(allow?: string[], refusals: NgRefusal[] = []): Promise<NgServer> {
  const s = new NgServer(pingOnly, {
    address: '127.0.0.1',
    port: 0,
    tcp: true,
    ...(allow === undefined ? {} : { allow: CidrSet.parse(allow) }),
    onRefused: (r) => refusals.push(r),
  });
  await s.listen();
  return s;
}

test('UDP: a ping from an allowed source is answered; from 127.0.0.2 it is dropped and counted', async () => {
  const refusals: NgRefusal[] = [];
  const s = await server(['127.0.0.1/32'], refusals);
  const allowed = await NgClient.connect({ host: '127.0.0.1', port: s.udpPort, timeoutMs: 5000 });
  const refused = await NgClient.connect({ host: '127.0.0.1', port: s.udpPort, timeoutMs: 1000, localAddress: '127.0.0.2' });
  try {
    const pong = await allowed.request({ command: 'ping' });
    assert.is(replyText(pong['result']), 'pong');
    let error: Error | undefined;
    try {
      await refused.request({ command: 'ping' });
    } catch (err) {
      error = err as Error;
    }
    assert.match(error?.message ?? 'answered', /not answered/);
    assert.is(s.counters.refused, 1);
    assert.is(s.counters.requests, 1, 'the refused datagram never reached the request path');
    assert.is(refusals.length, 1);
    assert.is(refusals[0]!.peer.address, '127.0.0.2');
    assert.is(refusals[0]!.peer.transport, 'udp');
    assert.is(refusals[0]!.count, 1);
    // A flood from the same source is counted, not reported again within the interval.
    await refused.request({ command: 'ping' }).catch(() => undefined);
    assert.is(s.counters.refused, 2);
    assert.is(refusals.length, 1);
    // The allowed source is still served.
    assert.is(replyText((await allowed.request({ command: 'ping' }))['result']), 'pong');
  } finally {
    allowed.close();
    refused.close();
    await s.close();
  }
});

test('TCP: a connection from outside the allow-list is closed without an answer and counted', async () => {
  const refusals: NgRefusal[] = [];
  const s = await server(['127.0.0.1/32'], refusals);
  try {
    const bad = connect({ host: '127.0.0.1', port: s.tcpPort!, localAddress: '127.0.0.2' });
    const received: Buffer[] = [];
    bad.on('data', (d: Buffer) => received.push(d));
    bad.on('error', () => {});
    bad.on('connect', () => bad.write('1_1 d7:command4:pinge'));
    await once(bad, 'close');
    assert.equal(received, []);
    assert.is(s.counters.refused, 1);
    assert.is(refusals[0]?.peer.transport, 'tcp');

    const good = connect({ host: '127.0.0.1', port: s.tcpPort!, localAddress: '127.0.0.1' });
    good.write('2_2 d7:command4:pinge');
    const [reply] = (await once(good, 'data')) as [Buffer];
    assert.is(reply.toString('latin1'), '2_2 d6:result4:ponge');
    good.destroy();
    assert.is(s.counters.refused, 1);
  } finally {
    await s.close();
  }
});

test('without an allow-list the server takes loopback only: 127.0.0.2 is inside 127/8', async () => {
  const s = await server();
  const client = await NgClient.connect({ host: '127.0.0.1', port: s.udpPort, timeoutMs: 5000, localAddress: '127.0.0.2' });
  try {
    assert.equal(s.allow.toJSON(), ['127.0.0.0/8', '::1/128']);
    assert.is(replyText((await client.request({ command: 'ping' }))['result']), 'pong');
    assert.is(s.counters.refused, 0);
  } finally {
    client.close();
    await s.close();
  }
});

test('the refusals are a Prometheus counter', async () => {
  const relay = await MediaRelay.start({ address: '127.0.0.1', ports: await freePortRange(8), shards: 1, logger: pino({ level: 'silent' }) });
  const s = await server(['127.0.0.1/32']);
  const refused = await NgClient.connect({ host: '127.0.0.1', port: s.udpPort, timeoutMs: 500, localAddress: '127.0.0.2' });
  try {
    await refused.request({ command: 'ping' }).catch(() => undefined);
    const metrics = new MetricsServer({ media: relay, ng: s });
    const text = await metrics.registry.metrics();
    assert.match(text, /^pinlatch_ng_refused_total 1$/m);
  } finally {
    refused.close();
    await s.close();
    await relay.close();
  }
});

test.run();
