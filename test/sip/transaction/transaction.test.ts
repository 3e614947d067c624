/**
 * Client and server transaction state machines (RFC 3261 §17, RFC 6026) with short real timers:
 * T1 = 10 ms, T2 = 40 ms, so Timer B/F/H = 640 ms. Counts are bounds, not exact, because timers
 * on a shared machine fire late, never early.
 */
import * as assert from 'uvu/assert';
import { suite } from '../../support/suite.ts';
import { ClientTransaction } from '../../../src/sip/transaction/ClientTransaction.ts';
import { ServerTransaction } from '../../../src/sip/transaction/ServerTransaction.ts';
import { transactionTimers } from '../../../src/sip/transaction/timers.ts';

const test = suite('sip/transaction', { timeoutMs: 10_000 });
const timers = { ...transactionTimers({ t1Ms: 10, t2Ms: 40, t4Ms: 50, inviteTimeoutMs: 5000 }), timerD: 200 };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const req = Buffer.from('INVITE');

function client(method: string, reliable = false) {
  const sent: string[] = [];
  const responses: number[] = [];
  const events: string[] = [];
  const link = { send: (d: Buffer) => void sent.push(d.toString()), onTerminated: () => void events.push('terminated') };
  const tx = new ClientTransaction<string>('k', method, Buffer.from(method), reliable, timers, link, {
    onResponse: (_r, status) => responses.push(status),
    onTimeout: () => events.push('timeout'),
    onTransportError: () => events.push('transport-error'),
    buildAck: (r) => Buffer.from(`ACK for ${r}`),
  });
  return { tx, sent, responses, events };
}

test('Timer A doubles INVITE retransmissions over UDP; Timer B times out with no response', async () => {
  const c = client('INVITE');
  c.tx.start();
  await sleep(900);
  // Sends at 0, 10, 30, 70, 150, 310, 630 ms; Timer B at 640 ms.
  assert.ok(c.sent.length >= 5 && c.sent.length <= 7, String(c.sent.length));
  assert.equal(c.events, ['terminated', 'timeout']);
  assert.is(c.tx.state, 'terminated');
});

test('an INVITE that got a provisional response outlives Timer B (§17.1.1.2: Timer B runs in Calling only)', async () => {
  const c = client('INVITE');
  c.tx.start();
  c.tx.receiveResponse('180', 180);
  await sleep(900);
  assert.is(c.tx.state, 'proceeding');
  assert.not.ok(c.events.includes('timeout'));
  c.tx.receiveResponse('200', 200);
  assert.is(c.tx.state, 'accepted');
  c.tx.terminate();
});

test('a retransmission due while the socket holds a backlog waits for it (at most T2), and none goes if the answer was in it', async () => {
  let backlog = 30;
  const sent: string[] = [];
  const tx = new ClientTransaction<string>('k', 'INVITE', Buffer.from('INVITE'), false, { ...timers, inboundBacklogMs: () => backlog }, { send: (d) => void sent.push(d.toString()) }, {
    onResponse: () => undefined,
    onTimeout: () => undefined,
    onTransportError: () => undefined,
    buildAck: (r) => Buffer.from(`ACK for ${r}`),
  });
  tx.start();
  await sleep(25);
  assert.is(sent.length, 1, 'Timer A (10 ms) waits while 30 ms of datagrams are unread');
  tx.receiveResponse('180', 180);
  await sleep(100);
  assert.is(sent.length, 1, 'the 180 was in the backlog: no duplicate INVITE');
  tx.terminate();
  // A backlog that never clears delays each retransmission by T2 at most.
  backlog = 1000;
  const stuck: string[] = [];
  const tx2 = new ClientTransaction<string>('k2', 'INVITE', Buffer.from('INVITE'), false, { ...timers, inboundBacklogMs: () => backlog }, { send: (d) => void stuck.push(d.toString()) }, {
    onResponse: () => undefined,
    onTimeout: () => undefined,
    onTransportError: () => undefined,
    buildAck: (r) => Buffer.from(`ACK for ${r}`),
  });
  tx2.start();
  await sleep(300);
  assert.ok(stuck.length >= 2, `retransmitted after T1 + T2 at the latest (${stuck.length} sent)`);
  tx2.terminate();
});

test('no retransmissions over a reliable transport', async () => {
  const c = client('INVITE', true);
  c.tx.start();
  await sleep(100);
  assert.is(c.sent.length, 1);
  c.tx.terminate();
});

test('a provisional response stops INVITE retransmissions; non-2xx final is ACKed hop-by-hop, again on retransmission', async () => {
  const c = client('INVITE');
  c.tx.start();
  c.tx.receiveResponse('100', 100);
  const afterProvisional = c.sent.length;
  await sleep(120);
  assert.is(c.sent.length, afterProvisional);
  c.tx.receiveResponse('486', 486);
  assert.is(c.tx.state, 'completed');
  assert.is(c.sent.at(-1), 'ACK for 486');
  c.tx.receiveResponse('486', 486);
  assert.is(c.sent.filter((s) => s === 'ACK for 486').length, 2);
  assert.equal(c.responses, [100, 486]);
  await sleep(300); // Timer D (200 ms here)
  assert.is(c.tx.state, 'terminated');
});

test('2xx to INVITE: accepted (RFC 6026), every 2xx retransmission passed up, no ACK from the transaction', async () => {
  const c = client('INVITE');
  c.tx.start();
  c.tx.receiveResponse('200', 200);
  c.tx.receiveResponse('200', 200);
  c.tx.receiveResponse('180', 180);
  assert.is(c.tx.state, 'accepted');
  assert.equal(c.responses, [200, 200]);
  assert.ok(!c.sent.some((s) => s.startsWith('ACK')));
  c.tx.terminate();
});

test('Timer E caps at T2 for non-INVITE and Timer F times out', async () => {
  const c = client('BYE');
  c.tx.start();
  await sleep(900);
  // 0, 10, 30, 70, 110, ... every 40 ms until Timer F at 640: at most 18 sends (the last at 630);
  // fewer when a loaded machine delays timers.
  assert.ok(c.sent.length >= 8 && c.sent.length <= 18, String(c.sent.length));
  assert.equal(c.events, ['terminated', 'timeout']);
});

test('a transport error ends the transaction with onTransportError (503)', () => {
  const events: string[] = [];
  const unreachable = {
    send: () => {
      throw new Error('ENETUNREACH');
    },
  };
  const tx = new ClientTransaction<string>('k', 'INVITE', req, false, timers, unreachable, {
    onResponse: () => events.push('response'),
    onTimeout: () => events.push('timeout'),
    onTransportError: () => events.push('transport-error'),
  });
  tx.start();
  assert.equal(events, ['transport-error']);
  assert.is(tx.state, 'terminated');
});

function server(method: string) {
  const sent: string[] = [];
  const events: string[] = [];
  const tx = new ServerTransaction('k', method, false, timers, {
    send: (d) => void sent.push(d.toString()),
    onAckTimeout: () => events.push('ack-timeout'),
    onAnswered: (kept) => events.push(`answered, ${kept} B kept`),
    onTerminated: () => events.push('terminated'),
  });
  return { tx, sent, events };
}

test('server INVITE: retransmitted request gets the last provisional again', () => {
  const s = server('INVITE');
  s.tx.receiveRetransmission();
  assert.equal(s.sent, []);
  s.tx.respond(100, Buffer.from('100'));
  s.tx.receiveRetransmission();
  assert.equal(s.sent, ['100', '100']);
  s.tx.terminate();
});

test('server INVITE non-2xx: Timer G retransmits until the ACK, then confirmed and quiet', async () => {
  const s = server('INVITE');
  s.tx.respond(486, Buffer.from('486'));
  await sleep(60);
  const before = s.sent.length;
  assert.ok(before >= 2, String(before));
  s.tx.receiveAck();
  assert.is(s.tx.state, 'confirmed');
  await sleep(100);
  assert.is(s.sent.length, before);
  assert.is(s.tx.state, 'terminated');
});

test('server INVITE non-2xx without ACK: Timer H', async () => {
  const s = server('INVITE');
  s.tx.respond(503, Buffer.from('503'));
  await sleep(900);
  assert.equal(s.events, ['answered, 3 B kept', 'terminated', 'ack-timeout']);
});

test('server INVITE 2xx: accepted, later 2xx retransmissions still go out, retransmitted INVITEs absorbed', () => {
  const s = server('INVITE');
  s.tx.respond(200, Buffer.from('200'));
  s.tx.respond(200, Buffer.from('200'));
  s.tx.receiveRetransmission();
  s.tx.respond(486, Buffer.from('486'));
  assert.equal(s.sent, ['200', '200']);
  assert.is(s.tx.state, 'accepted');
  s.tx.terminate();
});

test('server non-INVITE: final response repeated for retransmissions, Timer J ends it', async () => {
  const s = server('BYE');
  s.tx.respond(200, Buffer.from('200'));
  s.tx.receiveRetransmission();
  assert.equal(s.sent, ['200', '200']);
  assert.is(s.tx.state, 'completed');
  await sleep(900);
  assert.is(s.tx.state, 'terminated');
});

test('answered once: by the final response (2xx, non-2xx, non-INVITE), its bytes kept, or by ending without one; provisionals leave it pending', () => {
  const ringing = server('INVITE');
  ringing.tx.respond(100, Buffer.from('100'));
  ringing.tx.respond(180, Buffer.from('180'));
  assert.equal(ringing.events, [], 'pending while only provisionals went out');
  ringing.tx.respond(200, Buffer.from('200'));
  ringing.tx.respond(200, Buffer.from('200'));
  ringing.tx.terminate();
  assert.equal(ringing.events, ['answered, 3 B kept', 'terminated']);

  const refused = server('INVITE');
  refused.tx.respond(486, Buffer.from('486'));
  refused.tx.receiveAck();
  refused.tx.terminate();
  assert.equal(refused.events, ['answered, 3 B kept', 'terminated']);

  const bye = server('BYE');
  bye.tx.respond(200, Buffer.from('200 OK'));
  assert.equal(bye.events, ['answered, 6 B kept']);
  bye.tx.terminate();

  const abandoned = server('INVITE');
  abandoned.tx.respond(100, Buffer.from('100'));
  abandoned.tx.terminate();
  assert.equal(abandoned.events, ['answered, 0 B kept', 'terminated'], 'ended without a final response');
});

test.run();
