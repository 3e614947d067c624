/** SipTransport over real sockets on 127.0.0.1 and ::1: UDP and TCP, connection reuse, errors. */
import dgram from 'node:dgram';
import { once } from 'node:events';
import net from 'node:net';
import * as assert from 'uvu/assert';
import type { SipRequest } from '../../../src/sip/wire/message.ts';
import { createResponse } from '../../../src/sip/wire/message.ts';
import { responseForParseError } from '../../../src/sip/wire/parseError.ts';
import { parseMessage } from '../../../src/sip/wire/parser.ts';
import { SipTransport, type InboundMessage, type InboundParseError } from '../../../src/sip/transport/SipTransport.ts';
import { suite } from '../../support/suite.ts';

const options = (host: string, port: number, branch = 'z9hG4bK-t1'): Buffer =>
  Buffer.from(
    [
      'OPTIONS sip:pinlatch@example.com SIP/2.0',
      `Via: SIP/2.0/UDP ${host.includes(':') ? `[${host}]` : host}:${port};branch=${branch};rport`,
      'Max-Forwards: 70',
      'From: <sip:t@example.com>;tag=1',
      'To: <sip:pinlatch@example.com>',
      'Call-ID: transport-test',
      'CSeq: 1 OPTIONS',
      'Content-Length: 0',
      '',
      '',
    ].join('\r\n'),
  );

async function withTransport(host: string, fn: (t: SipTransport) => Promise<void>): Promise<void> {
  const transport = new SipTransport({ listen: [{ transport: 'udp', address: host, port: 0 }, { transport: 'tcp', address: host, port: 0 }], tcpIdleTimeoutMs: 2000 });
  await transport.start();
  try {
    await fn(transport);
  } finally {
    await transport.close();
  }
}

const test = suite('SipTransport', { timeoutMs: 10_000 });

for (const host of ['127.0.0.1', '::1']) {
  test(`UDP ${host}: receive with source and local point, answer to the source`, async () => {
    await withTransport(host, async (transport) => {
      const udp = transport.listenPoints.find((p) => p.transport === 'udp')!;
      const peer = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4');
      await new Promise<void>((resolve) => peer.bind(0, host, resolve));
      try {
        const received = once(transport, 'message') as Promise<[InboundMessage]>;
        peer.send(options(host, peer.address().port), udp.port, host);
        const [inbound] = await received;
        assert.is(inbound.source.transport, 'udp');
        assert.is(inbound.source.address, host);
        assert.is(inbound.source.port, peer.address().port);
        assert.equal(inbound.local, udp);
        const request = inbound.message as SipRequest;
        assert.is(request.method, 'OPTIONS');
        const reply = once(peer, 'message') as Promise<[Buffer]>;
        await transport.send(inbound.source, createResponse(request, 200, { toTag: 'x' }));
        const [data] = await reply;
        assert.is(parseMessage(data).kind, 'response');
        assert.is(transport.stats.messagesReceived, 1);
        assert.is(transport.stats.messagesSent, 1);
      } finally {
        peer.close();
      }
    });
  });

  test(`UDP ${host}: datagrams to an IP literal leave in order${host.includes(':') ? '' : '; a host name is still looked up'}`, async () => {
    await withTransport(host, async (transport) => {
      const peer = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4');
      await new Promise<void>((resolve) => peer.bind(0, host, resolve));
      try {
        // localhost is in every hosts file (its IPv6 name is not): the lookup reaches no resolver.
        const names = host.includes(':') ? [host, host, host] : [host, host, 'localhost'];
        const got: string[] = [];
        const all = new Promise<void>((resolve) =>
          peer.on('message', (data: Buffer) => {
            got.push(data.toString('latin1'));
            if (got.length === names.length) resolve();
          }),
        );
        const port = peer.address().port;
        await Promise.all(names.map((address, i) => transport.send({ transport: 'udp', address, port }, Buffer.from(`datagram ${i}`))));
        await all;
        assert.equal(got.slice(0, 2), ['datagram 0', 'datagram 1']);
        assert.equal([...got].sort(), ['datagram 0', 'datagram 1', 'datagram 2']);
        assert.is(transport.stats.messagesSent, 3);
      } finally {
        peer.close();
      }
    });
  });

  test(`TCP ${host}: framing over a real stream, reply on the same connection, pong`, async () => {
    await withTransport(host, async (transport) => {
      const tcp = transport.listenPoints.find((p) => p.transport === 'tcp')!;
      const client = net.connect({ host, port: tcp.port });
      await once(client, 'connect');
      try {
        const received = once(transport, 'message') as Promise<[InboundMessage]>;
        const data = options(host, client.localPort!);
        client.write(data.subarray(0, 50));
        await new Promise((r) => setTimeout(r, 20));
        client.write(Buffer.concat([data.subarray(50), Buffer.from('\r\n\r\n')]));
        const [inbound] = await received;
        assert.is(inbound.source.port, client.localPort);
        const replies: Buffer[] = [];
        client.on('data', (chunk: Buffer) => replies.push(chunk));
        await transport.send(inbound.source, createResponse(inbound.message as SipRequest, 200, { toTag: 'y' }));
        assert.is(transport.stats.tcpConnectionsOpen, 1);
        await new Promise((r) => setTimeout(r, 50));
        // The pong (a single CRLF, RFC 5626 §4.4.1) and the response, in that order.
        const all = Buffer.concat(replies).toString();
        assert.ok(all.startsWith('\r\nSIP/2.0 200 OK\r\n'), all);
        assert.is(transport.stats.keepalives, 1);
      } finally {
        client.destroy();
      }
    });
  });

  test(`TCP ${host}: outbound connect, then the peer's request comes back on it`, async () => {
    await withTransport(host, async (transport) => {
      const server = net.createServer();
      await new Promise<void>((resolve) => server.listen(0, host, resolve));
      const port = (server.address() as net.AddressInfo).port;
      try {
        const accepted = once(server, 'connection') as Promise<[net.Socket]>;
        await transport.send({ transport: 'tcp', address: host, port }, options(host, 5060, 'z9hG4bK-out'));
        const [socket] = await accepted;
        const [chunk] = (await once(socket, 'data')) as [Buffer];
        assert.ok(chunk.toString().startsWith('OPTIONS sip:pinlatch@example.com SIP/2.0'));
        const back = once(transport, 'message') as Promise<[InboundMessage]>;
        socket.write(options(host, port, 'z9hG4bK-back'));
        const [inbound] = await back;
        assert.is(inbound.source.port, port);
        assert.is(inbound.message.topVia!.branch, 'z9hG4bK-back');
        await transport.send({ transport: 'tcp', address: host, port }, options(host, 5060, 'z9hG4bK-again'));
        assert.is(transport.stats.tcpConnectionsOpen, 1);
        socket.destroy();
      } finally {
        server.close();
      }
    });
  });
}

test('malformed request: parseError with a replyable error; garbage only counted; bad stream closed', async () => {
  await withTransport('127.0.0.1', async (transport) => {
    const udp = transport.listenPoints.find((p) => p.transport === 'udp')!;
    const tcp = transport.listenPoints.find((p) => p.transport === 'tcp')!;
    const peer = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => peer.bind(0, '127.0.0.1', resolve));
    try {
      const failed = once(transport, 'parseError') as Promise<[InboundParseError]>;
      peer.send(Buffer.from('\x00\x01garbage'), udp.port, '127.0.0.1');
      peer.send(Buffer.from('\r\n\r\n'), udp.port, '127.0.0.1');
      const bad = options('127.0.0.1', peer.address().port).toString().replace('CSeq: 1 OPTIONS', 'CSeq: 1 INVITE');
      peer.send(Buffer.from(bad), udp.port, '127.0.0.1');
      const [report] = await failed;
      assert.is(report.error.reason, 'CSeq method does not match the request method');
      const answer = responseForParseError(report.error)!;
      const reply = once(peer, 'message') as Promise<[Buffer]>;
      await transport.send(report.source, answer);
      const [data] = await reply;
      assert.ok(data.toString().startsWith('SIP/2.0 400 CSeq method does not match the request method\r\n'));
      assert.is(transport.stats.garbageDropped, 1);
      assert.is(transport.stats.keepalives, 1);
      assert.is(transport.stats.parseErrors, 1);
    } finally {
      peer.close();
    }
    const client = net.connect({ host: '127.0.0.1', port: tcp.port });
    await once(client, 'connect');
    client.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    await once(client, 'close');
    for (let i = 0; i < 50 && transport.stats.tcpConnectionsOpen > 0; i++) await new Promise((r) => setTimeout(r, 10));
    assert.is(transport.stats.framingErrors, 1);
    assert.is(transport.stats.tcpConnectionsOpen, 0);
  });
});

test('idle TCP connections are closed; bind failure is a typed error', async () => {
  const transport = new SipTransport({ listen: [{ transport: 'tcp', address: '127.0.0.1', port: 0 }], tcpIdleTimeoutMs: 100 });
  await transport.start();
  try {
    const client = net.connect({ host: '127.0.0.1', port: transport.listenPoints[0]!.port });
    await once(client, 'connect');
    await once(client, 'close');
    for (let i = 0; i < 50 && transport.stats.tcpConnectionsOpen > 0; i++) await new Promise((r) => setTimeout(r, 10));
    assert.is(transport.stats.tcpConnectionsOpen, 0);
    const clash = new SipTransport({ listen: [{ transport: 'tcp', address: '127.0.0.1', port: transport.listenPoints[0]!.port }] });
    try {
      await clash.start();
      assert.unreachable('bind should fail');
    } catch (error) {
      assert.is((error as { code?: string }).code, 'ERR_PINLATCH_SIP_TRANSPORT');
    }
  } finally {
    await transport.close();
  }
});

test.run();
