import * as assert from 'uvu/assert';
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import { suite } from '../support/suite.ts';
import { ShardOutbox } from '../../src/media/ShardOutbox.ts';
import { DEFER_MAX_MS, decodeRequests, type EncodedRequests, type ShardRequest } from '../../src/media/shard-protocol.ts';

const test = suite('media/ShardOutbox');

/** Every message the far end of the port receives, as it arrives. */
function receiver(port: MessagePort): ShardRequest[][] {
  const received: ShardRequest[][] = [];
  port.on('message', (batch: EncodedRequests) => received.push(decodeRequests(batch)));
  return received;
}

const settle = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Waits (bounded) until `count` messages have arrived. */
async function arrived(received: ShardRequest[][], count: number): Promise<void> {
  const deadline = Date.now() + 2000;
  while (received.length < count && Date.now() < deadline) await settle(1);
}
const ids = (batches: ShardRequest[][]) => batches.map((batch) => batch.map((r) => r.id));
const stats = (id: number): ShardRequest => ({ id, op: 'stats', args: {} });
const close = (id: number): ShardRequest => ({ id, op: 'close', args: { ids: [id] } });

test('the requests of one task arrive as one message, in order', async () => {
  const { port1, port2 } = new MessageChannel();
  const received = receiver(port2);
  try {
    const outbox = new ShardOutbox(port1);
    outbox.push(stats(1));
    outbox.push(close(2));
    outbox.push(stats(3));
    await arrived(received, 1);
    outbox.push(stats(4));
    await arrived(received, 2);
    assert.equal(ids(received), [[1, 2, 3], [4]]);
    assert.equal(received[0]![1], close(2), 'a request arrives as it was pushed');
  } finally {
    port1.close();
  }
});

test('a deferrable request rides with the next batch, or goes on its own after DEFER_MAX_MS', async () => {
  const { port1, port2 } = new MessageChannel();
  const received = receiver(port2);
  try {
    const outbox = new ShardOutbox(port1);
    outbox.push(close(1));
    await settle(1);
    assert.equal(ids(received), [], 'a close alone does not post at the end of its turn');
    outbox.push(stats(2));
    await arrived(received, 1);
    assert.equal(ids(received), [[1, 2]]);
    const pushed = performance.now();
    outbox.push(close(3));
    await arrived(received, 2);
    assert.ok(performance.now() - pushed >= DEFER_MAX_MS - 1, 'the lone close waited for DEFER_MAX_MS');
    assert.equal(ids(received), [[1, 2], [3]]);
  } finally {
    port1.close();
  }
});

test('discard drops the queue and cancels its post', async () => {
  const { port1, port2 } = new MessageChannel();
  const received = receiver(port2);
  try {
    const outbox = new ShardOutbox(port1);
    outbox.push(stats(1));
    outbox.push(close(2));
    outbox.discard();
    outbox.push(close(3));
    outbox.discard();
    await settle(DEFER_MAX_MS + 20);
    assert.equal(received, []);
  } finally {
    port1.close();
  }
});

test.run();
