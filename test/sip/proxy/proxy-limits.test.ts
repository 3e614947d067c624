/**
 * The proxy's edge limits over real sockets on loopback: a flooding source is answered 503 once and
 * then ignored for its ban while another source's calls complete; a full transaction table answers
 * 503 with Retry-After and takes requests again once transactions end; while the SIP socket's queue
 * is behind, new INVITEs are refused at once but retransmissions and in-dialog requests of an
 * accepted call pass; a burst larger than the proxy can take ends every call, completed or refused.
 */
import * as assert from 'uvu/assert';
import { suite } from '../../support/suite.ts';
import { freePortRange } from '../../media/udp-peer.ts';
import { createResponse, type SipResponse } from '../../../src/sip/wire/message.ts';
import { PROXY, SipPeer, answer, freeSipPort, isRequest, isResponse, request, sdp, startProxy, stopProxy, until, type ProxyUnderTest } from '../../support/sip-peer.ts';

const FLOODER = '127.0.0.2';
const GATEWAY = '127.0.0.3';
const CALLER = '127.0.0.1';

const test = suite('sip/proxy limits', { timeoutMs: 30_000 });

async function withProxy(limits: string, fn: (sut: ProxyUnderTest, port: number, gateway: SipPeer) => Promise<void>, mediaPorts = 40): Promise<void> {
  const port = await freeSipPort();
  const ports = await freePortRange(mediaPorts);
  const gateway = await SipPeer.udp(GATEWAY);
  let sut: Partial<ProxyUnderTest> = {};
  try {
    sut = await startProxy(`
sip:
  listen: [{ transport: udp, address: ${PROXY}, port: ${port} }]
  timers: { t1Ms: 40, t2Ms: 400, t4Ms: 200, inviteTimeoutMs: ${limits.includes('dialogs: 100') ? 1000 : 10000} }
media:
  address: ${PROXY}
  ports: { min: ${ports.min}, max: ${ports.max} }
  shards: 1
trunks:
  - { name: gateway, host: ${GATEWAY}, port: ${gateway.port} }
routes:
  - { trunk: gateway }
admission: { upstreamNetworks: [${CALLER}] }
limits:
${limits.includes('overload') ? '' : '  overload: { maxQueueMs: 2000, maxLagMs: 2000 }\n'}${limits}
log: { level: silent }
`);
    await fn(sut as ProxyUnderTest, port, gateway);
  } finally {
    await stopProxy(sut);
    gateway.close();
  }
}

/** A whole call from `caller` through the proxy to the gateway: INVITE, 200, ACK, BYE, 200. */
async function call(caller: SipPeer, gateway: SipPeer, port: number, callId: string): Promise<void> {
  caller.send(request({ user: '4930', peer: caller, proxyPort: port, callId, body: sdp(caller.address, 40000) }), port);
  const invite = await gateway.waitFor(isRequest('INVITE', callId));
  gateway.sendMessage(answer(invite, 200, gateway, sdp(GATEWAY, 42000)), port);
  const ok = await caller.waitFor(isResponse(callId));
  assert.is(ok.status, 200);
  const toTag = ok.to!.tag!;
  const routes = ok.getAll('record-route');
  caller.send(request({ method: 'ACK', user: 'gw', peer: caller, proxyPort: port, callId, toTag, routes, uri: `sip:gw@${GATEWAY}:${gateway.port}` }), port);
  await gateway.waitFor(isRequest('ACK', callId));
  caller.send(request({ method: 'BYE', user: 'gw', peer: caller, proxyPort: port, callId, toTag, cseq: 2, routes, uri: `sip:gw@${GATEWAY}:${gateway.port}` }), port);
  const bye = await gateway.waitFor(isRequest('BYE', callId));
  gateway.sendMessage(createResponse(bye, 200), port);
  assert.is((await caller.waitFor(isResponse(callId, 'BYE'))).status, 200);
}

test('a flooding source gets one 503 with Retry-After, then nothing for its ban; another source\'s call completes', async () => {
  await withProxy('  sourceRate: { requestsPerSec: 5, burst: 10, banSec: 2 }', async ({ proxy }, port, gateway) => {
    const flooder = await SipPeer.udp(FLOODER);
    const caller = await SipPeer.udp(CALLER);
    try {
      for (let i = 0; i < 40; i++) {
        flooder.send(request({ method: 'OPTIONS', user: 'x', peer: flooder, proxyPort: port, callId: `flood${i}`, uri: `sip:${PROXY}:${port}` }), port);
      }
      await until(() => flooder.received.some((m) => m.kind === 'response' && m.status === 503), 5000, 'no 503');
      await call(caller, gateway, port, 'other-source');
      await new Promise((r) => setTimeout(r, 300));
      const statuses = flooder.received.map((m) => (m as SipResponse).status);
      assert.is(statuses.filter((s) => s === 200).length, 10, `the burst is answered: ${statuses.join(' ')}`);
      assert.is(statuses.filter((s) => s === 503).length, 1, 'one 503, then silence');
      const refused = flooder.received.find((m) => (m as SipResponse).status === 503)!;
      assert.is(refused.get('retry-after'), '2');
      const stats = proxy.stats().sourceRate;
      assert.equal([stats.refused, stats.dropped, stats.bans, stats.banned], [1, 29, 1, 1]);
      // After the ban the source is heard again.
      await new Promise((r) => setTimeout(r, 2100));
      flooder.send(request({ method: 'OPTIONS', user: 'x', peer: flooder, proxyPort: port, callId: 'after-ban', uri: `sip:${PROXY}:${port}` }), port);
      assert.is((await flooder.waitFor(isResponse('after-ban', 'OPTIONS'))).status, 200);
    } finally {
      flooder.close();
      caller.close();
    }
  });
});

test('a full transaction table answers 503 with Retry-After (its ACK goes nowhere) and takes requests again once they are answered', async () => {
  await withProxy('  serverTransactions: 3\n  overload: { retryAfterSec: 7 }', async ({ proxy }, port, gateway) => {
    const caller = await SipPeer.udp(CALLER);
    try {
      for (let i = 0; i < 3; i++) caller.send(request({ method: 'OPTIONS', user: '4930', peer: caller, proxyPort: port, callId: `held${i}` }), port);
      for (let i = 0; i < 3; i++) await gateway.waitFor(isRequest('OPTIONS', `held${i}`));
      caller.send(request({ user: '4930', peer: caller, proxyPort: port, callId: 'one-too-many', body: sdp(CALLER, 40000) }), port);
      const refused = await caller.waitFor(isResponse('one-too-many'));
      assert.is(refused.status, 503);
      assert.is(refused.get('retry-after'), '7');
      caller.send(request({ method: 'ACK', user: '4930', peer: caller, proxyPort: port, callId: 'one-too-many', toTag: refused.to!.tag! })
        .replace(/branch=[^;\r]+/, `branch=${refused.topVia!.branch}`), port);
      assert.is(proxy.stats().limitReached.serverTransactions, 1);
      assert.is(proxy.stats().serverTransactions, 3);
      assert.is(proxy.stats().pendingServerTransactions, 3);
      const requestBytes = proxy.stats().transactionBytes;
      for (let i = 0; i < 3; i++) {
        gateway.sendMessage(createResponse(gateway.received.find(isRequest('OPTIONS', `held${i}`))!, 200), port);
      }
      for (let i = 0; i < 3; i++) await caller.waitFor(isResponse(`held${i}`, 'OPTIONS'));
      // Answered, they linger for Timer J (64 × T1 = 2.56 s here) without counting toward the bound.
      assert.is(proxy.stats().serverTransactions, 3);
      assert.is(proxy.stats().pendingServerTransactions, 0);
      assert.ok(proxy.stats().transactionBytes > requestBytes + 3 * 200, 'the 200 OKs they keep count toward limits.transactionBytes');
      await call(caller, gateway, port, 'after-the-wave');
      await until(() => proxy.stats().serverTransactions === 0, 8000, 'transactions did not end');
      assert.is(proxy.stats().pendingServerTransactions, 0);
      assert.is(proxy.stats().transactionBytes, 0, 'requests and kept responses all given back');
      assert.not.ok(gateway.received.some(isRequest('INVITE', 'one-too-many')), 'the refused INVITE went nowhere');
      assert.not.ok(gateway.received.some(isRequest('ACK', 'one-too-many')), 'nor did its ACK');
    } finally {
      caller.close();
    }
  });
});

test('overload: INVITEs that waited in the socket past the threshold get 503 at once; the accepted call\'s retransmission and BYE pass', async () => {
  await withProxy('  overload: { maxQueueMs: 100, maxLagMs: 100, retryAfterSec: 3 }', async ({ proxy }, port, gateway) => {
    const caller = await SipPeer.udp(CALLER);
    try {
      const callId = 'accepted';
      const invite = request({ user: '4930', peer: caller, proxyPort: port, callId, body: sdp(CALLER, 40000) });
      caller.send(invite, port);
      const atGateway = await gateway.waitFor(isRequest('INVITE', callId));
      // The proxy's thread (this one) is busy for 600 ms (over four times maxQueueMs: every new
      // request is refused) while a retransmission of the accepted INVITE and three new ones wait in its socket.
      caller.send(invite, port);
      for (let i = 0; i < 3; i++) caller.send(request({ user: '4930', peer: caller, proxyPort: port, callId: `late${i}`, body: sdp(CALLER, 40000) }), port);
      await new Promise((r) => setImmediate(r));
      const busyUntil = performance.now() + 600;
      while (performance.now() < busyUntil);
      for (let i = 0; i < 3; i++) {
        const refused = await caller.waitFor(isResponse(`late${i}`));
        assert.is(refused.status, 503);
        assert.is(refused.get('retry-after'), '3');
      }
      assert.ok(proxy.stats().shed >= 3);
      assert.not.ok(caller.received.some((m) => m.kind === 'response' && m.callId === callId && m.status >= 300), 'the accepted call is not refused');
      assert.not.ok(gateway.received.some(isRequest('INVITE', 'late0')));
      // The call goes on: answered, ACKed and ended through the proxy.
      gateway.sendMessage(answer(atGateway, 200, gateway, sdp(GATEWAY, 42000)), port);
      const ok = await caller.waitFor(isResponse(callId));
      const routes = ok.getAll('record-route');
      const toTag = ok.to!.tag!;
      caller.send(request({ method: 'ACK', user: 'gw', peer: caller, proxyPort: port, callId, toTag, routes, uri: `sip:gw@${GATEWAY}:${gateway.port}` }), port);
      caller.send(request({ method: 'BYE', user: 'gw', peer: caller, proxyPort: port, callId, toTag, cseq: 2, routes, uri: `sip:gw@${GATEWAY}:${gateway.port}` }), port);
      const bye = await gateway.waitFor(isRequest('BYE', callId));
      gateway.sendMessage(createResponse(bye, 200), port);
      assert.is((await caller.waitFor(isResponse(callId, 'BYE'))).status, 200);
      // Once the queue is short again, new calls are taken (a busy test machine may still lag for a while).
      let accepted = '';
      for (let i = 0; i < 50 && !accepted; i++) {
        const probe = `probe${i}`;
        caller.send(request({ method: 'OPTIONS', user: 'x', peer: caller, proxyPort: port, callId: probe, uri: `sip:${PROXY}:${port}` }), port);
        if ((await caller.waitFor(isResponse(probe, 'OPTIONS'))).status === 200) accepted = probe;
        else await new Promise((r) => setTimeout(r, 100));
      }
      assert.ok(accepted, 'new requests are taken again');
      await call(caller, gateway, port, 'after-overload');
    } finally {
      caller.close();
    }
  });
});

test('a burst of calls while the proxy is behind: every call ends, completed or refused with 503, none lost', async () => {
  const CALLS = 80;
  await withProxy('  overload: { maxQueueMs: 100, maxLagMs: 200, retryAfterSec: 2 }', async ({ proxy }, port, gateway) => {
    const caller = await SipPeer.udp(CALLER);
    // The gateway answers every INVITE it gets with 200 at once, a retransmitted one with the same
    // 200 (as a UA does, RFC 3261 §13.3.1.4), and every BYE with 200.
    let seen = 0;
    const answering = setInterval(() => {
      for (; seen < gateway.received.length; seen++) {
        const m = gateway.received[seen]!;
        if (m.kind !== 'request') continue;
        if (m.method === 'INVITE') gateway.sendMessage(answer(m, 200, gateway, sdp(GATEWAY, 42000)), port);
        if (m.method === 'BYE') gateway.sendMessage(createResponse(m, 200), port);
      }
    }, 5);
    try {
      const callIds = Array.from({ length: CALLS }, (_, i) => `burst${i}`);
      for (const callId of callIds) caller.send(request({ user: '4930', peer: caller, proxyPort: port, callId, body: sdp(CALLER, 40000) }), port);
      // The proxy's thread (this one) is busy for 600 ms with the whole burst waiting in its socket.
      await new Promise((r) => setImmediate(r));
      const busyUntil = performance.now() + 600;
      while (performance.now() < busyUntil);
      const outcomes = { completed: 0, refused: 0 };
      for (const callId of callIds) {
        const final = await caller.waitFor(isResponse(callId), 20_000);
        if (final.status === 503) {
          outcomes.refused++;
          assert.is(final.get('retry-after'), '2');
          caller.send(request({ method: 'ACK', user: '4930', peer: caller, proxyPort: port, callId, toTag: final.to!.tag }), port);
          continue;
        }
        assert.is(final.status, 200, `${callId}: 200 or 503, got ${final.status}`);
        const routes = final.getAll('record-route');
        const toTag = final.to!.tag!;
        caller.send(request({ method: 'ACK', user: 'gw', peer: caller, proxyPort: port, callId, toTag, routes, uri: `sip:gw@${GATEWAY}:${gateway.port}` }), port);
        caller.send(request({ method: 'BYE', user: 'gw', peer: caller, proxyPort: port, callId, toTag, cseq: 2, routes, uri: `sip:gw@${GATEWAY}:${gateway.port}` }), port);
        assert.is((await caller.waitFor(isResponse(callId, 'BYE'), 20_000)).status, 200, `${callId}: BYE answered`);
        outcomes.completed++;
      }
      assert.is(outcomes.completed + outcomes.refused, CALLS);
      // How many are taken once the loop runs again depends on the machine; none may be lost.
      assert.ok(outcomes.refused > 0, 'the proxy was behind: calls refused');
      assert.is(proxy.stats().shed, outcomes.refused);
      for (const callId of callIds) {
        const finals = caller.received.filter(isResponse(callId)).map((m) => m.status);
        assert.is(new Set(finals).size, 1, `${callId}: one outcome only, got ${finals.join(', ')}`);
        if (finals[0] === 503) assert.not.ok(gateway.received.some(isRequest('INVITE', callId)), `${callId}: refused, never forwarded`);
      }
    } finally {
      clearInterval(answering);
      caller.close();
    }
  }, 400);
});

test('limits.dialogs counts the calls up, not the ended ones kept for late requests', async () => {
  await withProxy('  dialogs: 1', async ({ proxy }, port, gateway) => {
    const caller = await SipPeer.udp(CALLER);
    try {
      await call(caller, gateway, port, 'first');
      assert.is(proxy.stats().dialogs, 1, 'the ended dialog is kept (64 × T1) for a retransmitted BYE');
      assert.is(proxy.stats().activeDialogs, 0);
      await call(caller, gateway, port, 'second');
      assert.is(proxy.stats().limitReached.dialogs, 0);
      // A call up fills the bound: the next INVITE is refused.
      caller.send(request({ user: '4930', peer: caller, proxyPort: port, callId: 'up', body: sdp(CALLER, 40000) }), port);
      const invite = await gateway.waitFor(isRequest('INVITE', 'up'));
      gateway.sendMessage(answer(invite, 200, gateway, sdp(GATEWAY, 42000)), port);
      assert.is((await caller.waitFor(isResponse('up'))).status, 200);
      assert.is(proxy.stats().activeDialogs, 1);
      caller.send(request({ user: '4930', peer: caller, proxyPort: port, callId: 'over', body: sdp(CALLER, 40002) }), port);
      const refused = await caller.waitFor(isResponse('over'));
      assert.is(refused.status, 503);
      assert.is(refused.reason, 'Limit Reached');
      assert.is(proxy.stats().limitReached.dialogs, 1);
    } finally {
      caller.close();
    }
  });
});

test('an INVITE whose SDP cannot be anchored leaves no dialog and no media session behind', async () => {
  await withProxy('  dialogs: 2', async ({ proxy, relay }, port) => {
    const caller = await SipPeer.udp(CALLER);
    try {
      // Media of the other IP family than the relay's: refused with 488 once its early dialog exists.
      const v6 = sdp(CALLER, 40000).replace('c=IN IP4 127.0.0.1', 'c=IN IP6 ::1');
      for (let i = 0; i < 4; i++) {
        caller.send(request({ user: '4930', peer: caller, proxyPort: port, callId: `v6-${i}`, body: v6 }), port);
        assert.is((await caller.waitFor(isResponse(`v6-${i}`))).status, 488, 'refused for its media, not for a full dialog table');
      }
      assert.is(proxy.stats().dialogs, 0);
      assert.is(relay.size, 0);
    } finally {
      caller.close();
    }
  });
});

test('a callee that rings and ignores CANCEL is given up 64 × T1 after Timer C: the caller gets 408, nothing stays held', async () => {
  await withProxy('  dialogs: 100', async ({ proxy, relay }, port, gateway) => {
    const caller = await SipPeer.udp(CALLER);
    try {
      caller.send(request({ user: '4930', peer: caller, proxyPort: port, callId: 'rings-forever', body: sdp(CALLER, 40000) }), port);
      const invite = await gateway.waitFor(isRequest('INVITE', 'rings-forever'));
      gateway.sendMessage(answer(invite, 180, gateway), port);
      // Timer C is 1 s here (below), 64 × T1 2.56 s; the gateway never answers the CANCEL.
      await gateway.waitFor(isRequest('CANCEL', 'rings-forever'), 5000);
      const final = await caller.waitFor(isResponse('rings-forever'), 8000);
      assert.is(final.status, 408);
      await until(() => relay.size === 0 && proxy.stats().dialogs === 0, 3000, 'session or dialog still held');
    } finally {
      caller.close();
    }
  });
});

test.run();
