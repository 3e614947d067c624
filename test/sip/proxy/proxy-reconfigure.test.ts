/**
 * SipProxy.reconfigure over real sockets on loopback: admission lists, limits and trunks of a
 * reloaded configuration apply to the next new request; a call answered before keeps going
 * (its in-dialog requests pass whatever the new lists and limits say).
 */
import * as assert from 'uvu/assert';
import { suite } from '../../support/suite.ts';
import { freePortRange } from '../../media/udp-peer.ts';
import { parseConfig } from '../../../src/config/index.ts';
import { createResponse } from '../../../src/sip/wire/message.ts';
import { PROXY, SipPeer, answer, freeSipPort, isRequest, isResponse, request, startProxy, stopProxy, type ProxyUnderTest } from '../../support/sip-peer.ts';

const PBX = '127.0.0.40';
const GATEWAY = '127.0.0.41';
const PARTNER = '127.0.0.42';
const GATEWAY2 = '127.0.0.43';

const test = suite('sip/proxy/reconfigure', { timeoutMs: 30_000 });

test('admission, limits and trunks change for new requests; a call up keeps working', async () => {
  const port = await freeSipPort();
  const ports = await freePortRange(16);
  const pbx = await SipPeer.udp(PBX);
  const gateway = await SipPeer.udp(GATEWAY);
  const partner = await SipPeer.udp(PARTNER);
  const gateway2 = await SipPeer.udp(GATEWAY2);
  const yaml = (extra: { upstreamNetworks?: string; dialogs?: number; trunk?: 'gw' | 'gw2' }) => `
sip:
  listen: [{ transport: udp, address: ${PROXY}, port: ${port} }]
  timers: { t1Ms: 40, t2Ms: 400, t4Ms: 500, inviteTimeoutMs: 10000 }
media:
  address: ${PROXY}
  ports: { min: ${ports.min}, max: ${ports.max} }
  shards: 1
trunks:
  - { name: gw, host: ${GATEWAY}, port: ${gateway.port} }
  - { name: gw2, host: ${GATEWAY2}, port: ${gateway2.port} }
routes:
  - { trunk: ${extra.trunk ?? 'gw'} }
upstream: sip:${PBX}:${pbx.port}
admission: { upstreamNetworks: [${extra.upstreamNetworks ?? ''}] }
limits: { dialogs: ${extra.dialogs ?? 100} }
log: { level: silent }
`;
  let sut: Partial<ProxyUnderTest> = {};
  try {
    sut = await startProxy(yaml({}));
    const proxy = sut.proxy!;

    // The partner is a stranger: 403.
    partner.send(request({ user: '15550100', peer: partner, proxyPort: port, callId: 'p1' }), port);
    assert.is((await partner.waitFor(isResponse('p1'))).status, 403);

    // A call from the PBX, answered (one dialog).
    pbx.send(request({ user: '15550100', peer: pbx, proxyPort: port, callId: 'up' }), port);
    const inv = await gateway.waitFor(isRequest('INVITE', 'up'));
    gateway.sendMessage(answer(inv, 200, gateway), port);
    const ok = await pbx.waitFor(isResponse('up'));
    assert.is(ok.status, 200);

    // Reload: the partner's network counts as the upstream, one dialog at most, calls to gw2.
    await proxy.reconfigure(parseConfig(yaml({ upstreamNetworks: `${PARTNER}/32`, dialogs: 1, trunk: 'gw2' })));

    // The dialog table is full (the call up): a new INVITE gets 503, now that the bound is 1.
    partner.send(request({ user: '15550100', peer: partner, proxyPort: port, callId: 'p2' }), port);
    const full = await partner.waitFor(isResponse('p2'));
    assert.is(full.status, 503);
    assert.is(full.reason, 'Limit Reached');

    // The call up ends: its BYE passes and reaches the gateway it was routed to.
    const routes = ok.getAll('record-route').reverse();
    pbx.send(
      request({ method: 'BYE', user: '15550100', peer: pbx, proxyPort: port, callId: 'up', toTag: ok.to!.tag, cseq: 2, uri: `sip:gw@${GATEWAY}:${gateway.port}`, routes }),
      port,
    );
    const bye = await gateway.waitFor(isRequest('BYE', 'up'));
    gateway.sendMessage(createResponse(bye, 200), port);
    assert.is((await pbx.waitFor(isResponse('up', 'BYE'))).status, 200);

    // Room again once the dialog is gone (Timer J keeps its entries for 64 x T1): the partner,
    // now the upstream, is routed to gw2.
    await new Promise((r) => setTimeout(r, 64 * 40 + 500));
    partner.send(request({ user: '15550100', peer: partner, proxyPort: port, callId: 'p3' }), port);
    const routed = await gateway2.waitFor(isRequest('INVITE', 'p3'));
    gateway2.sendMessage(answer(routed, 486, gateway2), port);
    assert.is((await partner.waitFor(isResponse('p3'))).status, 486);
    assert.not.ok(gateway.received.some(isRequest('INVITE', 'p3')));
  } finally {
    await stopProxy(sut);
    for (const peer of [pbx, gateway, partner, gateway2]) peer.close();
  }
});

test.run();
