/**
 * NativeRelay.totals(): the counters of every stream a relay has had, summed — the closed
 * streams' counters survive their close (the metrics endpoint reads them per shard), the open
 * ones are added at the call. Real UDP over loopback, both data paths.
 */
import * as assert from 'uvu/assert';
import { suite } from '../support/suite.ts';
import { addon } from '../../src/native.ts';
import { UdpPeer, counters, ioPaths, openStream, policy, rtp, until } from './rtp-peer.ts';

const test = suite('native totals', { timeoutMs: 10_000 });

for (const io of ioPaths()) {
  test(`${io}: totals add up open and closed streams, drops by reason and latch changes`, async () => {
    const relay = addon.createRelay({ io });
    const caller = await UdpPeer.bind('127.0.0.1');
    const callee = await UdpPeer.bind('127.0.0.1');
    try {
      const empty = relay.totals();
      assert.equal(empty, {
        packetsIn: 0, bytesIn: 0, packetsOut: 0, bytesOut: 0, rtcpIn: 0, rtcpOut: 0, dropInvalid: 0, dropStranger: 0,
        dropNoPeer: 0, dropSendError: 0, dropRefused: 0, latchChanges: 0, streamsOpened: 0, streams: 0, commandErrors: 0,
      });
      const first = openStream(relay, '127.0.0.1');
      const second = openStream(relay, '127.0.0.1');
      for (const { id } of [first, second]) {
        relay.setLeg(id, 'a', policy());
        relay.setLeg(id, 'b', policy());
      }
      // First stream: the callee latches leg B, then the caller's 3 packets cross to it; 2 invalid datagrams.
      await callee.send(rtp({ ssrc: 2, seq: 1 }), first.bPort, '127.0.0.1');
      await until('B latched', () => counters(relay, first.id).b.rtpPeer !== null);
      for (let seq = 1; seq <= 3; seq++) await caller.send(rtp({ ssrc: 1, seq }), first.aPort, '127.0.0.1');
      await caller.send(Buffer.from('junk'), first.aPort, '127.0.0.1');
      await caller.send(Buffer.from('junk'), first.aPort, '127.0.0.1');
      await until('first stream counted', () => counters(relay, first.id).a.packetsIn === 3 && counters(relay, first.id).a.dropInvalid === 2);
      // Second stream: one packet toward a leg with no peer.
      await caller.send(rtp({ ssrc: 3, seq: 1 }), second.aPort, '127.0.0.1');
      await until('second stream counted', () => counters(relay, second.id).b.dropNoPeer === 1);

      const packet = rtp({ ssrc: 1, seq: 1 }).length;
      const open = relay.totals();
      assert.is(open.streams, 2);
      assert.is(open.streamsOpened, 2);
      assert.is(open.packetsIn, 1 + 3 + 1, "the callee's, the caller's 3, the second stream's");
      assert.is(open.bytesIn, 5 * packet);
      assert.is(open.packetsOut, 3, 'the 3 that crossed to the latched callee');
      assert.is(open.bytesOut, 3 * packet);
      assert.is(open.dropInvalid, 2);
      assert.is(open.dropNoPeer, 1 + 1, "the callee's first packet (leg A had no peer yet) and the second stream's");
      assert.is(open.latchChanges, 3, 'B and A of the first stream, A of the second');

      relay.closeStream(first.id);
      const closed = relay.totals();
      assert.equal({ ...closed, streams: open.streams }, open, 'the closed stream still counts');
      assert.is(closed.streams, 1);
      relay.closeStream(first.id);
      assert.equal(relay.totals(), closed, 'closing an unknown id adds nothing');
    } finally {
      relay.close();
      await Promise.all([caller.close(), callee.close()]);
    }
  });
}

test.run();
