import * as assert from 'uvu/assert';
import { suite } from '../../support/suite.ts';
import { Dialog, type DialogPeer } from '../../../src/sip/proxy/Dialog.ts';
import { DialogTable } from '../../../src/sip/proxy/DialogTable.ts';

const test = suite('sip/DialogTable');

function peer(tag: string | undefined): DialogPeer {
  return { tag, nameAddr: '', target: undefined, routeSet: [], cseq: 1, source: { transport: 'udp', address: '192.0.2.1', port: 5060 }, pin: null, trunk: null, natted: false };
}

test('a confirmed dialog is found from either side\'s requests', () => {
  const table = new DialogTable();
  const d = new Dialog('c1', peer('a'), peer('b'));
  table.add(d, 'a');
  table.add(d, 'b');
  assert.is(table.find({ callId: 'c1', from: { tag: 'a' }, to: { tag: 'b' } }), d, 'caller → callee');
  assert.is(table.find({ callId: 'c1', from: { tag: 'b' }, to: { tag: 'a' } }), d, 'callee → caller');
  assert.is(table.find({ callId: 'c2', from: { tag: 'a' }, to: { tag: 'b' } }), undefined);
  table.removeAll(d);
  assert.is(table.find({ callId: 'c1', from: { tag: 'a' }, to: { tag: 'b' } }), undefined);
});

test('early dialogs of a forked INVITE share the caller\'s tag; the To tag tells them apart', () => {
  const table = new DialogTable();
  const caller = peer('a');
  const first = new Dialog('c1', caller, peer('x'));
  const second = new Dialog('c1', caller, peer('y'));
  table.add(first, 'a');
  table.add(first, 'x');
  table.add(second, 'y');
  assert.is(table.find({ callId: 'c1', from: { tag: 'a' }, to: { tag: 'y' } }), second);
  assert.is(table.find({ callId: 'c1', from: { tag: 'a' }, to: { tag: 'x' } }), first);
  assert.is(table.find({ callId: 'c1', from: { tag: 'y' }, to: { tag: 'a' } }), second, 'from the second callee');
  // The second one wins: the caller's tag names it from now on; the loser's entry goes.
  table.add(second, 'a');
  table.remove(first, 'x');
  assert.is(table.find({ callId: 'c1', from: { tag: 'a' }, to: { tag: 'x' } }), second, 'an unknown To tag falls back to the caller\'s entry');
  table.remove(first, 'a');
  assert.is(table.find({ callId: 'c1', from: { tag: 'a' }, to: { tag: 'y' } }), second, 'removing another dialog\'s entry does nothing');
});

test('media ownership: the first live claim holds unless replaced; disown forgets it', () => {
  const table = new DialogTable();
  const first = new Dialog('c1', peer('a'), peer('x'));
  const second = new Dialog('c1', peer('a'), peer('y'));
  table.own('m', first, true);
  table.own('m', second, true);
  assert.is(table.ownerOf('m'), first);
  first.state = 'terminated';
  table.own('m', second, true);
  assert.is(table.ownerOf('m'), second, 'a terminated owner (a failed-over branch) hands the session on');
  table.own('m', first);
  assert.is(table.ownerOf('m'), first);
  table.own('m', second);
  assert.is(table.ownerOf('m'), second);
  table.disown('m');
  assert.is(table.ownerOf('m'), undefined);
});

test('ended dialogs leave the table in the order they ended, each after its wait, on one timer', async () => {
  const table = new DialogTable();
  const dialogs = Array.from({ length: 3000 }, (_, i) => new Dialog(`e${i}`, peer(`a${i}`), peer(`b${i}`)));
  for (const d of dialogs) {
    table.add(d, d.caller.tag);
    table.add(d, d.callee.tag);
  }
  const found = (d: Dialog) => table.find({ callId: d.callId, from: { tag: d.caller.tag }, to: { tag: d.callee.tag } }) === d;
  const until = async (check: () => boolean, ms: number) => {
    const deadline = Date.now() + ms;
    while (!check() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  };
  for (const [i, d] of dialogs.entries()) {
    d.terminate();
    table.expireLater(d, i < 2000 ? 30 : 800);
  }
  assert.is(table.ending, 3000);
  assert.is(table.size, 3000);
  assert.is(table.active, 0, 'ended dialogs waiting do not count toward limits.dialogs');
  assert.ok(dialogs.every(found), 'still found while they wait (retransmitted BYE/ACK)');
  await until(() => table.ending === 1000, 700);
  assert.ok(dialogs.slice(0, 2000).every((d) => !found(d)), 'the first two thousand gone');
  assert.ok(dialogs.slice(2000).every(found), 'the last thousand still waiting');
  await until(() => table.ending === 0, 3000);
  assert.is(table.size, 0);
  assert.is(table.ending, 0);
  assert.is(table.active, 0);
});

test('active counts the dialogs not ended, once each, whatever tags they are entered under', () => {
  const table = new DialogTable();
  const caller = peer('a');
  const early = new Dialog('f1', caller, peer('x'));
  const winner = new Dialog('f1', caller, peer('y'));
  table.add(early, 'a');
  table.add(early, 'x');
  table.add(winner, 'y');
  assert.is(table.active, 2);
  // The fork's winner takes the caller's tag; the other early dialog ends and waits.
  table.add(winner, 'a');
  early.terminate();
  table.expireLater(early, 60_000);
  assert.is(table.size, 2);
  assert.is(table.active, 1);
  // Removed early (its last entry gone) it is neither held nor counted as ended.
  table.remove(early, 'x');
  assert.is(table.size, 1);
  assert.is(table.active, 1);
  winner.terminate();
  table.expireLater(winner, 60_000);
  assert.is(table.active, 0);
  table.stopExpiry();
});

test('an ended dialog keeps what routes a late request, not its SDP state or media key', () => {
  const d = new Dialog('t1', peer('a'), peer('b'));
  d.mediaKey = 't1|a';
  assert.ok(d.sdpVersionToward('caller') !== null);
  d.terminate();
  assert.is(d.state, 'terminated');
  assert.is(d.sdpVersionToward('caller'), null);
  assert.is(d.sdpVersionToward('callee'), null);
  assert.is(d.mediaKey, null);
  assert.is(d.callee.tag, 'b');
  assert.is(d.caller.source.address, '192.0.2.1');
});

test.run();
