/**
 * A leg whose address rule rests on its SDP address may also carry the SDP port: media toward it
 * is sent there until the peer's own packets latch it (early media), then follows the latch. A
 * leg without a signalled port keeps dropping until it latches.
 */
import * as assert from 'uvu/assert';
import { suite } from '../support/suite.ts';
import { addon } from '../../src/native.ts';
import { UdpPeer, counters, openStream, policy, rtp, rtcpReceiverReport, until } from './rtp-peer.ts';

const test = suite('native signalled destination', { timeoutMs: 15_000 });
const LOCAL = '127.0.0.1';

test('media goes to the SDP port before latching, then to the latched source', async () => {
  const relay = addon.createRelay();
  const { id, aPort, bPort } = openStream(relay, LOCAL);
  const caller = await UdpPeer.bind(LOCAL);
  const calleeSdp = await UdpPeer.bind(LOCAL);
  const calleeNat = await UdpPeer.bind(LOCAL);
  try {
    relay.setLeg(id, 'a', policy({}));
    relay.setLeg(id, 'b', policy({ port: calleeSdp.port }));
    await caller.send(rtp({ ssrc: 0xa, seq: 1 }), aPort, LOCAL);
    await until('callee SDP port got early media', () => calleeSdp.received.length === 1);
    const before = counters(relay, id).b;
    assert.is(before.rtpPeer, null, 'nothing latched yet');
    assert.is(before.dropNoPeer, 0);

    await calleeNat.send(rtp({ ssrc: 0xb, seq: 1 }), bPort, LOCAL);
    await until('B latched on the real source', () => counters(relay, id).b.rtpPeer === calleeNat.endpoint);
    await caller.send(rtp({ ssrc: 0xa, seq: 2 }), aPort, LOCAL);
    await until('latched source got media', () => calleeNat.received.length === 1);
    assert.is(calleeSdp.received.length, 1, 'the SDP port gets nothing once latched');
  } finally {
    relay.close();
    await Promise.all([caller.close(), calleeSdp.close(), calleeNat.close()]);
  }
});

test('RTCP goes to the signalled RTCP port before its own latch', async () => {
  const relay = addon.createRelay();
  const { id, aPort } = openStream(relay, LOCAL);
  const caller = await UdpPeer.bind(LOCAL);
  const calleeRtcp = await UdpPeer.bind(LOCAL);
  try {
    relay.setLeg(id, 'a', policy({}));
    relay.setLeg(id, 'b', policy({ port: 40000, rtcpPort: calleeRtcp.port }));
    await caller.send(rtcpReceiverReport(0xa), aPort + 1, LOCAL);
    await until('callee RTCP port got the report', () => calleeRtcp.received.length === 1);
  } finally {
    relay.close();
    await Promise.all([caller.close(), calleeRtcp.close()]);
  }
});

test('without a signalled port, traffic toward an unlatched leg is dropped and counted', async () => {
  const relay = addon.createRelay();
  const { id, aPort } = openStream(relay, LOCAL);
  const caller = await UdpPeer.bind(LOCAL);
  try {
    relay.setLeg(id, 'a', policy({}));
    relay.setLeg(id, 'b', policy({}));
    await caller.send(rtp({ ssrc: 0xa, seq: 1 }), aPort, LOCAL);
    await until('dropped toward B', () => counters(relay, id).b.dropNoPeer === 1);
  } finally {
    relay.close();
    await caller.close();
  }
});

test.run();
