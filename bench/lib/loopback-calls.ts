/**
 * Calls through a SipProxy in this process, for the bench tools that look inside it
 * (bench/ended-calls-heap.ts, bench/call-allocations.ts): the proxy from dist/ (`npx tsc -p .`
 * first, as the CLI runs it) with one media shard, on loopback addresses of `subnet` (.1 proxy,
 * .2 caller, .3 gateway), the tests' SIP peers as caller and gateway. A call is INVITE with SDP,
 * 200 with SDP, ACK and, unless it is to stay up, BYE and 200.
 */
import { createResponse } from '../../src/sip/wire/message.ts';
import { SipPeer, answer, freeSipPort, isRequest, isResponse, request, sdp } from '../../test/support/sip-peer.ts';
import { parseConfig } from '../../dist/src/config/index.js';
import { mediaRelayOptions } from '../../dist/src/app/Pinlatch.js';
import { MediaRelay } from '../../dist/src/media/MediaRelay.js';
import { SipProxy } from '../../dist/src/sip/proxy/Proxy.js';

export interface LoopbackCalls {
  proxy: SipProxy;
  /** `n` calls named `prefix0`..., 20 at a time; `up`: not ended (no BYE). */
  run(prefix: string, n: number, up?: boolean): Promise<void>;
  close(): Promise<void>;
}

export async function startLoopbackCalls(subnet: string): Promise<LoopbackCalls> {
  const PROXY = `${subnet}.1`;
  const CALLER = `${subnet}.2`;
  const GATEWAY = `${subnet}.3`;
  const port = await freeSipPort();
  const gateway = await SipPeer.udp(GATEWAY, PROXY);
  const caller = await SipPeer.udp(CALLER, PROXY);
  const config = parseConfig(`
sip:
  listen: [{ transport: udp, address: ${PROXY}, port: ${port} }]
  advertise: ${PROXY}
media:
  address: ${PROXY}
  ports: { min: 20000, max: 29999 }
  shards: 1
trunks:
  - { name: gateway, host: ${GATEWAY}, port: ${gateway.port} }
routes:
  - { trunk: gateway }
admission: { upstreamNetworks: [${CALLER}] }
limits: { overload: { maxQueueMs: 10000, maxLagMs: 10000 }, sourceRate: { requestsPerSec: 1000000, burst: 1000000 } }
log: { level: silent }
`);
  const relay = await MediaRelay.start(mediaRelayOptions(config.media));
  const proxy = new SipProxy({ config, media: relay });
  await proxy.start();

  async function call(id: string, up: boolean): Promise<void> {
    caller.send(request({ user: '4930123', peer: caller, proxyPort: port, callId: id, body: sdp(CALLER, 40000) }), port);
    const invite = await gateway.waitFor(isRequest('INVITE', id));
    gateway.sendMessage(answer(invite, 200, gateway, sdp(GATEWAY, 42000)), port);
    const ok = await caller.waitFor(isResponse(id));
    const routes = ok.getAll('record-route').reverse();
    const uri = `sip:gw@${GATEWAY}:${gateway.port}`;
    caller.send(request({ method: 'ACK', user: '4930123', peer: caller, proxyPort: port, callId: id, toTag: 'gw1', uri, routes }), port);
    await gateway.waitFor(isRequest('ACK', id));
    if (up) return;
    caller.send(request({ method: 'BYE', user: '4930123', peer: caller, proxyPort: port, callId: id, toTag: 'gw1', cseq: 2, uri, routes }), port);
    const bye = await gateway.waitFor(isRequest('BYE', id));
    gateway.sendMessage(createResponse(bye, 200), port);
    await caller.waitFor(isResponse(id, 'BYE'));
  }

  return {
    proxy,
    async run(prefix: string, n: number, up = false): Promise<void> {
      for (let i = 0; i < n; i += 20) {
        await Promise.all(Array.from({ length: Math.min(20, n - i) }, (_, j) => call(`${prefix}${i + j}`, up)));
        // The peers' own record of what they received is not the proxy's: dropped as it goes.
        caller.received.length = 0;
        gateway.received.length = 0;
      }
    },
    async close(): Promise<void> {
      caller.close();
      gateway.close();
      await proxy.stop();
      await relay.close();
    },
  };
}
