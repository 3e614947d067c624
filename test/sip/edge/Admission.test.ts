import * as assert from 'uvu/assert';
import { suite } from '../../support/suite.ts';
import { admitInitial, type AdmissionPolicy, type InitialRequest } from '../../../src/sip/edge/Admission.ts';

const test = suite('sip/edge/Admission');

const policy: AdmissionPolicy = { strangers: 'reject', options: 'anyone', scannerUserAgents: /friendly-scanner|sipvicious/i };
const req = (over: Partial<InitialRequest>): InitialRequest => ({
  source: 'stranger', optionsToUs: false, userAgent: undefined, strangerRoute: false, ...over,
});

test('the upstream follows the routes; a trunk goes to the upstream', () => {
  assert.equal(admitInitial(policy, req({ source: 'upstream' })), { kind: 'route' });
  assert.equal(admitInitial(policy, req({ source: 'trunk' })), { kind: 'to-upstream' });
});

test('a stranger gets 403, or nothing when strangers are dropped; a from-route admits it', () => {
  assert.equal(admitInitial(policy, req({})), { kind: 'refuse', status: 403, reason: 'Forbidden' });
  assert.equal(admitInitial({ ...policy, strangers: 'drop' }, req({})), { kind: 'drop', reason: 'stranger' });
  assert.equal(admitInitial(policy, req({ strangerRoute: true })), { kind: 'route' });
});

test('a scanner is dropped whoever it claims to be, even from a trusted address', () => {
  assert.equal(admitInitial(policy, req({ userAgent: 'friendly-scanner' })), { kind: 'drop', reason: 'scanner' });
  assert.equal(admitInitial(policy, req({ source: 'upstream', userAgent: 'SIPVicious 0.3' })), { kind: 'drop', reason: 'scanner' });
  assert.equal(admitInitial({ ...policy, scannerUserAgents: null }, req({ source: 'upstream', userAgent: 'friendly-scanner' })), { kind: 'route' });
});

test('OPTIONS to pinlatch itself: anyone by default, trusted sources only when configured', () => {
  assert.equal(admitInitial(policy, req({ optionsToUs: true })), { kind: 'answer-options' });
  const trusted = { ...policy, options: 'trusted' as const };
  assert.equal(admitInitial(trusted, req({ optionsToUs: true })).kind, 'refuse');
  assert.equal(admitInitial(trusted, req({ optionsToUs: true, strangerRoute: true })).kind, 'refuse');
  assert.equal(admitInitial(trusted, req({ source: 'trunk', optionsToUs: true })), { kind: 'answer-options' });
  assert.equal(admitInitial(trusted, req({ source: 'upstream', optionsToUs: true })), { kind: 'answer-options' });
});

test.run();
