import * as assert from 'uvu/assert';
import { suite } from '../../support/suite.ts';
import { BindingTable } from '../../../src/sip/registrar/BindingTable.ts';
import { FlowTable } from '../../../src/sip/registrar/FlowTable.ts';
import type { Binding } from '../../../src/sip/registrar/RegisterThrottle.ts';

const test = suite('sip/registrar/BindingTable');

const binding = (aor: string, contact: string, phoneExpiresAt = 60_000): Binding => ({
  aor, contact, callId: `${aor}-reg`, cseq: 1, flowKey: `udp|192.0.2.1|${contact.length}`, registrarExpiresAt: 60_000, phoneExpiresAt,
});

test("an address-of-record's bindings, as they are added, replaced, removed and expired", () => {
  const table = new BindingTable(new FlowTable(), 100);
  table.set(binding('sip:alice@example.com', '<sip:alice@192.0.2.1:5060>'));
  table.set(binding('sip:alice@example.com', '<sip:alice@192.0.2.1:5062>', 10_000));
  table.set(binding('sip:bob@example.com', '<sip:bob@192.0.2.2:5060>'));
  table.set(binding('sip:alice@example.com', '<sip:alice@192.0.2.1:5060>'));
  const contacts = (aor: string) => table.ofAor(aor).map((b) => b.contact).sort();
  assert.equal(contacts('sip:alice@example.com'), ['<sip:alice@192.0.2.1:5060>', '<sip:alice@192.0.2.1:5062>'], 'a refresh replaces, it does not add');
  assert.equal(contacts('sip:bob@example.com'), ['<sip:bob@192.0.2.2:5060>']);
  assert.equal(contacts('sip:carol@example.com'), []);
  assert.is(table.expire(20_000), 1);
  assert.equal(contacts('sip:alice@example.com'), ['<sip:alice@192.0.2.1:5060>'], 'the expired one is gone from its AOR too');
  for (const b of table.ofAor('sip:alice@example.com')) table.delete(b.aor, b.contact);
  assert.equal(contacts('sip:alice@example.com'), []);
  assert.is(table.size, 1);
});

test.run();
