/**
 * pinlatch_media_socket_buffer_bytes: what media.socketBuffers asks for and what the kernel grants,
 * for a receive size beyond net.core.rmem_max (capped) and a send size within wmem_max.
 */
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { suite } from '../support/suite.ts';
import { freePortRange } from '../media/udp-peer.ts';
import { MetricsServer } from '../../src/app/MetricsServer.ts';
import { mediaRelayOptions } from '../../src/app/Pinlatch.ts';
import { parseConfig } from '../../src/config/index.ts';
import { MediaRelay } from '../../src/media/MediaRelay.ts';

const test = suite('app/metrics-socket-buffers', { timeoutMs: 20_000 });

test('requested and granted sizes per direction, the receive side capped at net.core.rmem_max', async () => {
  const rmemMax = Number(readFileSync('/proc/sys/net/core/rmem_max', 'utf8'));
  const wmemMax = Number(readFileSync('/proc/sys/net/core/wmem_max', 'utf8'));
  const receive = Math.min(2 * rmemMax, 268_435_456);
  const send = Math.min(65_536, wmemMax);
  assert.ok(receive > rmemMax, 'net.core.rmem_max is below the largest accepted request');
  const ports = await freePortRange(4);
  const config = parseConfig(
    `media: { address: 127.0.0.1, ports: { min: ${ports.min}, max: ${ports.max} }, shards: 1, socketBuffers: { receiveBytes: ${receive}, sendBytes: ${send} } }\n`,
  );
  const relay = await MediaRelay.start(mediaRelayOptions(config.media));
  const metrics = new MetricsServer({ media: relay });
  try {
    const port = await metrics.listen('127.0.0.1', 0);
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    const read = (direction: string, size: string): number => {
      const line = text.split('\n').find((l) => l.startsWith(`pinlatch_media_socket_buffer_bytes{direction="${direction}",size="${size}"} `));
      assert.ok(line, `${direction}/${size} is exposed`);
      return Number(line!.split(' ')[1]);
    };
    assert.is(read('receive', 'requested'), receive);
    assert.is(read('receive', 'granted'), rmemMax);
    assert.is(read('send', 'requested'), send);
    assert.is(read('send', 'granted'), send);
  } finally {
    await metrics.close();
    await relay.close();
  }
});

test.run();
