/** ServerTransactions (src/sip/proxy/ServerTransactions.ts): the table and what limits.serverTransactions/transactionBytes read. */
import * as assert from 'uvu/assert';
import { suite } from '../../support/suite.ts';
import { ServerTransactions } from '../../../src/sip/proxy/ServerTransactions.ts';
import { transactionTimers } from '../../../src/sip/transaction/timers.ts';
import type { Endpoint, ListenPoint } from '../../../src/sip/transport/SipTransport.ts';

const test = suite('sip/proxy/ServerTransactions');

const timers = transactionTimers({ t1Ms: 10, t2Ms: 40, t4Ms: 50, inviteTimeoutMs: 5000 });
const source: Endpoint = { transport: 'udp', address: '192.0.2.10', port: 5060 };
const local: ListenPoint = { transport: 'udp', address: '192.0.2.1', port: 5060 };

test('counts a transaction as pending until answered, its request and kept response as bytes until it ends', () => {
  const sent: Array<[string, Endpoint, ListenPoint]> = [];
  const transactions = new ServerTransactions(async (data, to, from) => void sent.push([data.toString(), to, from]));
  const tx = transactions.open('z9hG4bK1|192.0.2.10:5060|INVITE', 'INVITE', timers, source, local, 800);
  assert.is(transactions.get('z9hG4bK1|192.0.2.10:5060|INVITE'), tx);
  assert.equal([transactions.size, transactions.pending, transactions.bytes], [1, 1, 800]);
  tx.respond(100, Buffer.from('SIP/2.0 100 Trying'));
  assert.equal([transactions.pending, transactions.bytes], [1, 800], 'a provisional response answers nothing');
  tx.respond(200, Buffer.from('x'.repeat(600)));
  assert.equal([transactions.size, transactions.pending, transactions.bytes], [1, 0, 1400], 'answered: the 2xx it keeps counts');
  assert.equal(sent.map(([, to, from]) => [to, from]), [[source, local], [source, local]], 'responses go back to the source, from where it came in');
  tx.terminate();
  assert.equal([transactions.size, transactions.pending, transactions.bytes], [0, 0, 0]);
  assert.not.ok(transactions.has('z9hG4bK1|192.0.2.10:5060|INVITE'));
});

test('a transaction ended unanswered gives back its request bytes and its pending count', () => {
  const transactions = new ServerTransactions(async () => undefined);
  transactions.open('a', 'BYE', timers, source, local, 300);
  transactions.open('b', 'INVITE', timers, source, local, 700);
  assert.equal([transactions.pending, transactions.bytes], [2, 1000]);
  transactions.terminateAll();
  assert.equal([transactions.size, transactions.pending, transactions.bytes], [0, 0, 0]);
});

test.run();
