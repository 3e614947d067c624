import * as assert from 'uvu/assert';
import { suite } from '../../support/suite.ts';
import { decideRegister, type Binding, type RegisterFacts } from '../../../src/sip/registrar/RegisterThrottle.ts';

const test = suite('sip/registrar/RegisterThrottle');

const policy = { phoneExpiresSec: 60, registrarExpiresSec: 3600 };
const facts = (over: Partial<RegisterFacts> = {}): RegisterFacts => ({
  aor: 'sip:1001@pbx', contacts: ['sip:1001@192.168.1.100:5060'], expiresSec: 60, callId: 'c1', cseq: 5, flowKey: 'udp|a|1', ...over,
});
const binding = (over: Partial<Binding> = {}): Binding => ({
  aor: 'sip:1001@pbx', contact: 'sip:1001@192.168.1.100:5060', callId: 'c1', cseq: 4, flowKey: 'udp|a|1',
  registrarExpiresAt: 3_600_000, phoneExpiresAt: 60_000, ...over,
});

test('off, or nothing to continue: forwarded as sent, or with the long expiry', () => {
  assert.equal(decideRegister(null, binding(), facts(), 0), { kind: 'forward', expiresSec: null });
  assert.equal(decideRegister(policy, undefined, facts(), 0), { kind: 'forward', expiresSec: 3600 });
});

test('a refresh continuing the accepted registration is answered with the short expiry', () => {
  assert.equal(decideRegister(policy, binding(), facts(), 10_000), { kind: 'answer', expiresSec: 60 });
  assert.equal(decideRegister(policy, binding(), facts({ expiresSec: 30 }), 10_000), { kind: 'answer', expiresSec: 30 });
});

test('what the registrar must see is forwarded: change of Call-ID, Contact, flow, an old CSeq, a removal, a wildcard, several Contacts', () => {
  for (const f of [
    facts({ callId: 'c2' }),
    facts({ contacts: ['sip:1001@192.168.1.101:5060'] }),
    facts({ flowKey: 'udp|a|2' }),
    facts({ cseq: 4 }),
  ]) {
    assert.is(decideRegister(policy, binding(), f, 10_000).kind, 'forward');
  }
  assert.equal(decideRegister(policy, binding(), facts({ expiresSec: 0 }), 10_000), { kind: 'forward', expiresSec: null });
  assert.equal(decideRegister(policy, binding(), facts({ contacts: ['*'], expiresSec: 0 }), 10_000), { kind: 'forward', expiresSec: null });
  assert.equal(decideRegister(policy, binding(), facts({ contacts: ['sip:a@x', 'sip:b@x'] }), 10_000), { kind: 'forward', expiresSec: null });
});

test("the refresh that keeps the registrar's binding alive is forwarded in time", () => {
  // Two phone leases before the registrar's binding ends, the refresh goes on.
  assert.is(decideRegister(policy, binding(), facts(), 3_600_000 - 121_000).kind, 'answer');
  assert.equal(decideRegister(policy, binding(), facts(), 3_600_000 - 119_000), { kind: 'forward', expiresSec: 3600 });
});

test('over 10 minutes of 60 s refreshes with 3600 s at the registrar, it sees the first REGISTER only', () => {
  let b: Binding | undefined;
  let forwarded = 0;
  for (let t = 0, cseq = 1; t <= 600_000; t += 55_000, cseq++) {
    const d = decideRegister(policy, b, facts({ cseq }), t);
    if (d.kind === 'forward') {
      forwarded += 1;
      b = binding({ cseq, registrarExpiresAt: t + 3_600_000, phoneExpiresAt: t + 60_000 });
    } else {
      b!.cseq = cseq;
    }
  }
  assert.is(forwarded, 1);
});

test.run();
