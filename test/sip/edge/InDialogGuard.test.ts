import * as assert from 'uvu/assert';
import { suite } from '../../support/suite.ts';
import { decideInDialog, type InDialogFacts } from '../../../src/sip/edge/InDialogGuard.ts';

const test = suite('sip/edge/InDialogGuard');

const facts = (over: Partial<InDialogFacts>): InDialogFacts => ({
  token: 'valid', dialogKnown: true, nextHopInDialog: true, sourceTrusted: false, ...over,
});

test('a known dialog, our signed route, a next hop the dialog knows: forwarded', () => {
  assert.equal(decideInDialog(facts({})), { kind: 'forward' });
});

test('a forged or tampered token is refused 403 whoever sends it', () => {
  assert.equal(decideInDialog(facts({ token: 'invalid' })), { kind: 'refuse', status: 403, reason: 'Invalid Route Token' });
  assert.equal(decideInDialog(facts({ token: 'invalid', sourceTrusted: true, dialogKnown: false })).kind, 'refuse');
});

test('no route of ours: 481 for an unknown dialog (a made-up To tag), 403 for a known one', () => {
  assert.equal(decideInDialog(facts({ token: 'none', dialogKnown: false })), { kind: 'refuse', status: 481, reason: 'Call/Transaction Does Not Exist' });
  assert.equal(decideInDialog(facts({ token: 'none', dialogKnown: false, sourceTrusted: true })).kind, 'refuse');
  assert.equal(decideInDialog(facts({ token: 'none' })), { kind: 'refuse', status: 403, reason: 'Not Routed Through This Proxy' });
});

test('a known dialog with a next hop it does not know (a redirected Request-URI): 403', () => {
  assert.equal(decideInDialog(facts({ nextHopInDialog: false })), { kind: 'refuse', status: 403, reason: 'Next Hop Not In Dialog' });
});

test('an unknown dialog with a valid token: trusted sources only (a BYE after a restart)', () => {
  assert.equal(decideInDialog(facts({ dialogKnown: false, sourceTrusted: true, nextHopInDialog: false })), { kind: 'forward' });
  assert.equal(decideInDialog(facts({ dialogKnown: false })).kind, 'refuse');
});

test.run();
