/**
 * A 2xx retransmitted by the callee while the proxy's client transaction is Accepted (RFC 6026
 * §8.4, Timer M) reaches the caller again, byte for byte the 2xx the proxy first passed on (its
 * SDP anchored the same), over real sockets on loopback; a 2xx with another To tag on the same
 * branch (a second dialog from a forking proxy downstream) is not passed on.
 */
import * as assert from 'uvu/assert';
import { suite } from '../../support/suite.ts';
import { freePortRange } from '../../media/udp-peer.ts';
import type { SipResponse } from '../../../src/sip/wire/message.ts';
import { PROXY, SipPeer, answer, freeSipPort, isRequest, isResponse, request, sdp, startProxy, stopProxy, type ProxyUnderTest } from '../../support/sip-peer.ts';

const GATEWAY = '127.0.0.3';
const CALLER = '127.0.0.1';

const test = suite('sip/proxy 2xx retransmission', { timeoutMs: 30_000 });

test('the callee\'s retransmitted 2xx goes to the caller as the same bytes; a 2xx of another dialog on the branch does not', async () => {
  const port = await freeSipPort();
  const ports = await freePortRange(20);
  const gateway = await SipPeer.udp(GATEWAY);
  const caller = await SipPeer.udp(CALLER);
  let sut: Partial<ProxyUnderTest> = {};
  try {
    sut = await startProxy(`
sip:
  listen: [{ transport: udp, address: ${PROXY}, port: ${port} }]
media:
  address: ${PROXY}
  ports: { min: ${ports.min}, max: ${ports.max} }
  shards: 1
trunks:
  - { name: gateway, host: ${GATEWAY}, port: ${gateway.port} }
routes:
  - { trunk: gateway }
admission: { upstreamNetworks: [${CALLER}] }
log: { level: silent }
`);
    const callId = 'retrans-2xx';
    caller.send(request({ user: '4930', peer: caller, proxyPort: port, callId, body: sdp(CALLER, 40000) }), port);
    const invite = await gateway.waitFor(isRequest('INVITE', callId));
    const ok = answer(invite, 200, gateway, sdp(GATEWAY, 42000));
    gateway.sendMessage(ok, port);
    const first = await caller.waitFor(isResponse(callId));
    assert.is(first.status, 200);
    const twoxx = () => caller.received.filter((m): m is SipResponse => m.kind === 'response' && m.callId === callId && m.status === 200);

    gateway.sendMessage(ok, port);
    const deadline = Date.now() + 5000;
    while (twoxx().length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    assert.is(twoxx().length, 2, 'the retransmission reached the caller');
    assert.is(twoxx()[1]!.serialize().toString('latin1'), first.serialize().toString('latin1'), 'the same 2xx, SDP anchored the same');

    gateway.sendMessage(answer(invite, 200, gateway, sdp(GATEWAY, 42100), 'gw2'), port);
    await new Promise((r) => setTimeout(r, 500));
    assert.is(twoxx().length, 2, 'the 2xx of a second dialog is not passed on');
  } finally {
    await stopProxy(sut);
    caller.close();
    gateway.close();
  }
});

test.run();
