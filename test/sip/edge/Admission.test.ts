import * as assert from 'uvu/assert';
import { suite } from '../../support/suite.ts';
import { admitInitial, type AdmissionPolicy, type InitialRequest } from '../../../src/sip/edge/Admission.ts';

const test = suite('sip/edge/Admission');

const policy: AdmissionPolicy = { strangers: 'reject', options: 'anyone', scannerUserAgents: /friendly-scanner|sipvicious/i };
const req = (over: Partial<InitialRequest>): InitialRequest => ({
  source: 'stranger', method: 'INVITE', flowRoute: false, optionsToUs: false, userAgent: undefined, strangerRoute: false, ...over,
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

test('phones register with the registrar and call the upstream, never a trunk; a Path route from the upstream goes to the phone', () => {
  assert.equal(admitInitial(policy, req({ source: 'phone', method: 'REGISTER' })), { kind: 'register' });
  assert.equal(admitInitial(policy, req({ source: 'phone', method: 'INVITE' })), { kind: 'to-upstream' });
  assert.equal(admitInitial(policy, req({ source: 'phone', method: 'MESSAGE', strangerRoute: true })), { kind: 'to-upstream' });
  assert.equal(admitInitial(policy, req({ source: 'upstream', flowRoute: true })), { kind: 'to-flow' });
  assert.equal(admitInitial(policy, req({ source: 'stranger', flowRoute: true })).kind, 'refuse');
  assert.equal(admitInitial(policy, req({ source: 'phone', userAgent: 'sipvicious' })).kind, 'drop');
});

test.run();
