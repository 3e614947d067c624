/**
 * What a transaction keeps while it lingers after its final response (Timer D/J/K/L/M, 32 s on
 * UDP): the handlers that pass responses up are let go once nothing more goes up, and the bytes it
 * may send again are a memory block of their own, not a slice of a shared pool block. Checked
 * with the real garbage collector: an object only the handlers reach is collected while the
 * transaction is still alive.
 */
import * as assert from 'uvu/assert';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { suite } from '../../support/suite.ts';
import { ClientTransaction, type ClientTransactionHandlers } from '../../../src/sip/transaction/ClientTransaction.ts';
import { ServerTransaction } from '../../../src/sip/transaction/ServerTransaction.ts';
import { transactionTimers } from '../../../src/sip/transaction/timers.ts';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const test = suite('sip/transaction retention', { timeoutMs: 10_000 });
// Linger timers long enough that the transactions are still in Completed/Accepted when checked.
const timers = { ...transactionTimers({ t1Ms: 10, t2Ms: 40, t4Ms: 5000, inviteTimeoutMs: 5000 }), timerD: 5000 };
const tick = () => new Promise((r) => setImmediate(r));

/** A stand-in for the proxy's parsed request and response context, reachable only from the handlers. */
interface Context {
  parsed: number[];
}

/** The handlers of one transaction, the response context in their closures (as the proxy makes them). */
function handlersOver(context: Context): ClientTransactionHandlers<string> {
  return {
    onResponse: () => void context.parsed.length,
    onTimeout: () => void context.parsed.length,
    onTransportError: () => void context.parsed.length,
    buildAck: (r) => Buffer.from(`ACK for ${r} of ${context.parsed.length}`),
  };
}

/** A client transaction whose handlers alone reach a context; a WeakRef tells when it is collected. */
function clientOver(method: string, sent: Buffer[]): { tx: ClientTransaction<string>; context: WeakRef<Context> } {
  const context: Context = { parsed: Array.from({ length: 1000 }, (_, i) => i) };
  const tx = new ClientTransaction<string>('k', method, Buffer.from(method), false, timers, { send: (d) => void sent.push(d) }, handlersOver(context));
  return { tx, context: new WeakRef(context) };
}

test('a non-INVITE client transaction lets its handlers go in Completed (Timer K) and absorbs the retransmitted final response', async () => {
  const sent: Buffer[] = [];
  const { tx, context } = clientOver('BYE', sent);
  tx.start();
  tx.receiveResponse('200', 200);
  await tick();
  gc();
  assert.is(tx.state, 'completed');
  assert.is(context.deref(), undefined, 'the context is collected while the transaction lingers');
  tx.receiveResponse('200', 200);
  assert.is(sent.length, 1, 'only the request was sent');
  tx.terminate();
});

test('an INVITE client transaction with a non-2xx keeps only its ACK in Completed (Timer D), in a block of its own', async () => {
  const sent: Buffer[] = [];
  const { tx, context } = clientOver('INVITE', sent);
  tx.start();
  tx.receiveResponse('486', 486);
  await tick();
  gc();
  assert.is(tx.state, 'completed');
  assert.is(context.deref(), undefined);
  tx.receiveResponse('486', 486);
  assert.equal(sent.map((d) => d.toString()), ['INVITE', 'ACK for 486 of 1000', 'ACK for 486 of 1000']);
  assert.is(sent[2]!.buffer.byteLength, sent[2]!.length, 'the ACK kept is not a slice of a pool block');
  tx.terminate();
});

test('an INVITE client transaction keeps its handlers in Accepted: 2xx retransmissions still go up (RFC 6026 §8.4)', async () => {
  const sent: Buffer[] = [];
  const { tx, context } = clientOver('INVITE', sent);
  tx.start();
  tx.receiveResponse('200', 200);
  await tick();
  gc();
  assert.is(tx.state, 'accepted');
  assert.ok(context.deref(), 'the handlers are still needed');
  tx.terminate();
  await tick();
  gc();
  assert.is(context.deref(), undefined, 'a terminated transaction holds nothing');
});

test('in Accepted, lingerWith trades the handlers for the function that relays 2xx retransmissions', async () => {
  const sent: Buffer[] = [];
  const { tx, context } = clientOver('INVITE', sent);
  const relayed: number[] = [];
  tx.start();
  tx.receiveResponse('200', 200);
  tx.lingerWith((_r, status) => relayed.push(status));
  await tick();
  gc();
  assert.is(context.deref(), undefined, 'the context is collected while Timer M runs');
  tx.receiveResponse('200', 200);
  tx.receiveResponse('180', 180);
  assert.equal(relayed, [200], 'only the 2xx retransmission goes to it');
  tx.terminate();
});

test('a server transaction answers a retransmission in Completed (Timer J) from bytes of its own, and its 2xx in Accepted', async () => {
  const sent: Buffer[] = [];
  const server = (method: string) => new ServerTransaction('k', method, false, timers, { send: (d) => void sent.push(d) });
  // Buffer.from of a short string is a slice of the shared 8 KiB pool: the case the copy is for.
  const ok = Buffer.from('SIP/2.0 200 OK\r\n\r\n');
  assert.ok(ok.buffer.byteLength > ok.length, 'a pool slice to begin with');
  const bye = server('BYE');
  bye.respond(200, ok);
  bye.receiveRetransmission();
  assert.is(sent.length, 2);
  assert.is(sent[1]!.toString(), ok.toString());
  assert.is(sent[1]!.buffer.byteLength, sent[1]!.length, 'the response kept for Timer J is its own block');
  bye.terminate();

  sent.length = 0;
  const invite = server('INVITE');
  invite.respond(200, Buffer.from('SIP/2.0 200 OK\r\nCSeq: 1 INVITE\r\n\r\n'));
  invite.receiveRetransmission();
  assert.is(invite.state, 'accepted');
  assert.is(sent.length, 1, 'a retransmitted INVITE in Accepted is absorbed without an answer');
  invite.resendAccepted();
  assert.is(sent.length, 2, 'a retransmission of the 2xx from downstream: the same 2xx again');
  assert.is(sent[1]!.toString(), sent[0]!.toString());
  assert.is(sent[1]!.buffer.byteLength, sent[1]!.length, 'the 2xx kept for Timer L is its own block');
  invite.terminate();
  invite.resendAccepted();
  assert.is(sent.length, 2, 'nothing once terminated');
});

test.run();
