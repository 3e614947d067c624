import * as assert from 'uvu/assert';
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import { suite } from '../support/suite.ts';
import { ShardOutbox } from '../../src/media/ShardOutbox.ts';
import { decodeRequests, type EncodedRequests, type ShardRequest } from '../../src/media/shard-protocol.ts';

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
const totals = (id: number): ShardRequest => ({ id, op: 'totals', args: {} });

test('the requests of one task arrive as one message, in order', async () => {
  const { port1, port2 } = new MessageChannel();
  const received = receiver(port2);
  try {
    const outbox = new ShardOutbox(port1);
    outbox.push(stats(1));
    outbox.push(totals(2));
    outbox.push(stats(3));
    await arrived(received, 1);
    outbox.push(stats(4));
    await arrived(received, 2);
    assert.equal(ids(received), [[1, 2, 3], [4]]);
    assert.equal(received[0]![1], totals(2), 'a request arrives as it was pushed');
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
    outbox.push(totals(2));
    outbox.discard();
    outbox.push(totals(3));
    outbox.discard();
    await settle(20);
    assert.equal(received, []);
  } finally {
    port1.close();
  }
});

test.run();
