/**
 * SipTransport's TCP bounds over real sockets on loopback: a slowloris client is disconnected after
 * the message timeout, a garbage stream closes its connection long before 10 MB, one source gets
 * only so many connections, a peer that does not read is disconnected; the UDP queue probe
 * measures the socket's queueing time.
 */
import dgram from 'node:dgram';
import { once } from 'node:events';
import net from 'node:net';
import * as assert from 'uvu/assert';
import { SipTransport, type SipTransportOptions } from '../../../src/sip/transport/SipTransport.ts';
import { suite } from '../../support/suite.ts';
import { until } from '../../support/sip-peer.ts';

const HOST = '127.0.0.1';

async function withTransport(options: Partial<SipTransportOptions>, fn: (t: SipTransport, port: number) => Promise<void>): Promise<void> {
  const transport = new SipTransport({ listen: [{ transport: 'udp', address: HOST, port: 0 }, { transport: 'tcp', address: HOST, port: 0 }], ...options });
  transport.on('error', () => undefined);
  await transport.start();
  try {
    await fn(transport, transport.listenPoints.find((p) => p.transport === 'tcp')!.port);
  } finally {
    await transport.close();
  }
}

async function connect(port: number, localAddress = HOST): Promise<net.Socket> {
  const socket = net.connect({ host: HOST, port, localAddress });
  await once(socket, 'connect');
  socket.on('error', () => undefined);
  return socket;
}

/**
 * Resolves when the socket has closed, however: a server that cuts a connection with unread bytes
 * in it resets it (the client sees ECONNRESET before 'close'), which events.once would reject on.
 */
const closed = (socket: net.Socket): Promise<void> =>
  socket.closed ? Promise.resolve() : new Promise((resolve) => socket.once('close', () => resolve()));

const test = suite('SipTransport limits', { timeoutMs: 20_000 });

test('slowloris: a message trickling in is cut off after the message timeout, though bytes keep coming', async () => {
  await withTransport({ tcpMessageTimeoutMs: 400, tcpIdleTimeoutMs: 60_000 }, async (transport, port) => {
    const socket = await connect(port);
    const head = `OPTIONS sip:x@${HOST} SIP/2.0\r\nVia: SIP/2.0/TCP ${HOST}:9;branch=z9hG4bKslow\r\nX-Slow: `;
    let sent = 0;
    // One byte every 50 ms: the idle timeout never fires, only the message timeout can end it.
    const trickle = setInterval(() => {
      if (!socket.destroyed && sent < head.length + 200) socket.write(head[sent++] ?? 'a');
    }, 50);
    try {
      await Promise.race([closed(socket), new Promise((_, reject) => setTimeout(() => reject(new Error('still connected after 8 s')), 8000))]);
    } finally {
      clearInterval(trickle);
    }
    assert.is(transport.stats.tcpMessageTimeouts, 1);
    await until(() => transport.stats.tcpConnectionsOpen === 0, 2000, 'connection not counted off');
  });
});

test('a 10 MB garbage stream closes its connection: random bytes, and an endless header section', async () => {
  await withTransport({}, async (transport, port) => {
    for (const [name, first, chunk] of [
      ['random', Buffer.alloc(0), Buffer.from(Array.from({ length: 65536 }, (_, i) => (i * 7919 + 13) & 0xff))],
      ['endless headers', Buffer.from(`INVITE sip:x@${HOST} SIP/2.0\r\n`), Buffer.from('X-Garbage: 0123456789abcdef\r\n'.repeat(2048))],
    ] as const) {
      const socket = await connect(port);
      let written = 0;
      socket.write(first);
      // At most 10 MB, 64 kB at a time, each write waiting for the previous one to drain.
      while (written < 10 * 1024 * 1024 && !socket.destroyed) {
        const ok = socket.write(chunk);
        written += chunk.length;
        if (!ok) await new Promise<void>((resolve) => { socket.once('drain', resolve); socket.once('close', () => resolve()); });
      }
      await Promise.race([closed(socket), new Promise((_, reject) => setTimeout(() => reject(new Error(`${name}: still open`)), 5000))]);
      assert.ok(written < 10 * 1024 * 1024, `${name}: closed after ${written} bytes`);
    }
    assert.is(transport.stats.framingErrors, 2);
    await until(() => transport.stats.tcpConnectionsOpen === 0, 2000, 'connections not gone');
  });
});

test('connections per source: the one over the bound is closed at once, other sources still connect', async () => {
  await withTransport({ maxTcpConnectionsPerSource: 2 }, async (transport, port) => {
    const a1 = await connect(port, '127.0.0.2');
    const a2 = await connect(port, '127.0.0.2');
    await until(() => transport.stats.tcpConnectionsOpen === 2, 2000, 'two connections');
    const a3 = await connect(port, '127.0.0.2');
    await Promise.race([closed(a3), new Promise((_, reject) => setTimeout(() => reject(new Error('third connection not closed')), 3000))]);
    const b1 = await connect(port, '127.0.0.3');
    await until(() => transport.stats.tcpConnectionsOpen === 3, 2000, 'another source connects');
    assert.is(transport.stats.tcpRefusedPerSource, 1);
    a1.destroy();
    await until(() => transport.stats.tcpConnectionsOpen === 2, 2000, 'a closed connection is counted off');
    const a4 = await connect(port, '127.0.0.2');
    await until(() => transport.stats.tcpConnectionsOpen === 3, 2000, 'its source may connect again');
    for (const s of [a2, a4, b1]) s.destroy();
  });
});

test('a peer that does not read is disconnected once the unsent bytes pass the bound', async () => {
  await withTransport({ tcpBufferBytes: 65536 }, async (transport) => {
    const server = net.createServer((socket) => socket.pause());
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.4', resolve));
    const port = (server.address() as net.AddressInfo).port;
    try {
      const big = Buffer.from(`MESSAGE sip:x@127.0.0.4 SIP/2.0\r\nContent-Length: 60000\r\n\r\n${'x'.repeat(60000)}`);
      let failed = false;
      // Loopback socket buffers take a few MB before anything stays in Node's buffer: at most 64 MB.
      for (let i = 0; i < 1100 && !failed; i++) {
        await Promise.race([
          transport.send({ transport: 'tcp', address: '127.0.0.4', port }, big).catch(() => { failed = true; }),
          new Promise((r) => setTimeout(r, 5)),
        ]);
      }
      await until(() => transport.stats.tcpBufferOverflows === 1, 5000, 'no overflow');
      await until(() => transport.stats.tcpConnectionsOpen === 0, 2000, 'connection not closed');
    } finally {
      server.close();
    }
  });
});

test('the UDP queue probe measures the socket\'s queueing time, a blocked loop included', async () => {
  await withTransport({}, async (transport) => {
    transport.probeQueues();
    await until(() => transport.queueDelayMs(performance.now()) < 50, 2000, 'an idle socket has a short queue');
    const peer = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => peer.bind(0, HOST, resolve));
    try {
      transport.probeQueues();
      // The probe waits in the queue while the loop is busy for 300 ms.
      const until300 = performance.now() + 300;
      while (performance.now() < until300);
      assert.ok(transport.queueDelayMs() >= 300, 'the probe in flight counts by its age');
      await new Promise((r) => setTimeout(r, 50));
      assert.ok(transport.queueDelayMs() >= 300, `the probe came back after ≥ 300 ms (${transport.queueDelayMs()})`);
      transport.probeQueues();
      await until(() => transport.queueDelayMs() < 50, 2000, 'the next probe is fast again');
    } finally {
      peer.close();
    }
  });
});

test.run();
