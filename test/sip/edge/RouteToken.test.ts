import { createHmac } from 'node:crypto';
import * as assert from 'uvu/assert';
import { suite } from '../../support/suite.ts';
import { RouteTokens } from '../../../src/sip/edge/RouteToken.ts';

const test = suite('sip/edge/RouteToken');

test('a token verifies for its Call-ID and pin only', () => {
  const tokens = new RouteTokens('a secret of sixteen+ chars');
  const token = tokens.sign('call-1@host', 'gateway');
  assert.match(token, /^[0-9a-f]{24}$/);
  assert.ok(tokens.verify(token, 'call-1@host', 'gateway'));
  assert.not.ok(tokens.verify(token, 'call-2@host', 'gateway'), 'another dialog');
  assert.not.ok(tokens.verify(token, 'call-1@host', null), 'pin removed');
  assert.not.ok(tokens.verify(token, 'call-1@host', 'backup'), 'pin swapped');
});

test('tampered, truncated or garbage tokens are refused', () => {
  const tokens = new RouteTokens('a secret of sixteen+ chars');
  const token = tokens.sign('c', null);
  const flipped = (token[0] === 'a' ? 'b' : 'a') + token.slice(1);
  const notHex = `${token.slice(0, 22)}zz`;
  for (const bad of [flipped, notHex, token.slice(1), `${token}aa`, '', '!!!!', 'x'.repeat(400), 'x'.repeat(24), 'A'.repeat(16)]) {
    assert.not.ok(tokens.verify(bad, 'c', null), bad);
  }
});

test('a token is read in either case (RFC 3261 §19.1.4: a parameter value compares case-insensitively)', () => {
  const tokens = new RouteTokens('a secret of sixteen+ chars');
  const token = tokens.sign('call-1@host', 'gateway');
  assert.ok(tokens.verify(token.toUpperCase(), 'call-1@host', 'gateway'));
  assert.not.ok(tokens.verify(token.toUpperCase(), 'call-1@host', null), 'pin removed');
});

test('the base64url form earlier versions wrote still verifies: a dialog signed before an upgrade, with the key configured', () => {
  const secret = 'a secret of sixteen+ chars';
  const legacy = createHmac('sha256', secret).update('call-1@host\0gateway').digest().subarray(0, 12).toString('base64url');
  assert.is(legacy.length, 16);
  const tokens = new RouteTokens(secret);
  assert.ok(tokens.verify(legacy, 'call-1@host', 'gateway'));
  assert.not.ok(tokens.verify(legacy, 'call-2@host', 'gateway'), 'another dialog');
  assert.is(Buffer.from(legacy, 'base64url').toString('hex'), tokens.sign('call-1@host', 'gateway'), 'the same 96 bits, written as hex now');
});

test('no token spells a header name: only digits and a-f (sipp looks for "CSeq" anywhere in a message)', () => {
  const tokens = new RouteTokens();
  for (let i = 0; i < 2000; i++) assert.match(tokens.sign(`call-${i}`, i % 2 === 0 ? null : 'gateway'), /^[0-9a-f]{24}$/);
});

test('the same secret gives the same tokens (dialogs survive a restart); a drawn key does not', () => {
  assert.is(new RouteTokens('a secret of sixteen+ chars').sign('c', null), new RouteTokens('a secret of sixteen+ chars').sign('c', null));
  assert.is.not(new RouteTokens().sign('c', null), new RouteTokens().sign('c', null));
});

test('remembered or not, a token gets the same answer: another instance with the secret, a token long forgotten', () => {
  const signer = new RouteTokens('a secret of sixteen+ chars');
  const token = signer.sign('call-1@host', 'gateway');
  const restarted = new RouteTokens('a secret of sixteen+ chars');
  for (let i = 0; i < 2; i++) {
    assert.ok(restarted.verify(token, 'call-1@host', 'gateway'), `pass ${i}: computed, then remembered`);
    assert.not.ok(restarted.verify(token, 'call-1@host', 'backup'), `pass ${i}: pin swapped`);
    assert.not.ok(restarted.verify(token, 'call-2@host', 'gateway'), `pass ${i}: another dialog`);
  }
  for (let i = 0; i < 10_000; i++) signer.sign(`other-${i}`, null);
  assert.ok(signer.verify(token, 'call-1@host', 'gateway'), 'forgotten, computed again');
  assert.not.ok(signer.verify(token, 'call-1@host', null));
});

test('at most 4096 tokens are remembered, each once however often it is signed', () => {
  const tokens = new RouteTokens('a secret of sixteen+ chars');
  const recent = (tokens as unknown as { recent: Map<string, string> }).recent;
  for (let i = 0; i < 3; i++) tokens.sign('call-1@host', 'gateway');
  assert.is(recent.size, 1);
  for (let i = 0; i < 10_000; i++) tokens.sign(`other-${i}`, null);
  assert.is(recent.size, 4096);
  assert.ok(tokens.verify(tokens.sign('other-9999', null), 'other-9999', null), 'the newest is remembered');
  assert.is(recent.size, 4096);
});

test.run();
