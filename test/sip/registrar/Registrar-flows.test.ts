/**
 * The registrar's flow table keeps each flow's token (src/sip/registrar/FlowTable.ts): the token
 * a REGISTER is forwarded with is the one the flow already has, a request naming it finds the
 * flow (alive or dead) through the table, and the index ends with the flow. A token the table
 * does not hold is still checked by its HMAC (pinlatch restarted: the registrar kept the Path).
 */
import * as assert from 'uvu/assert';
import { suite } from '../../support/suite.ts';
import { FlowTokens } from '../../../src/sip/registrar/FlowToken.ts';
import { Registrar, type RegisterAction } from '../../../src/sip/registrar/Registrar.ts';
import type { Flow } from '../../../src/sip/registrar/Flow.ts';
import { parseMessage } from '../../../src/sip/wire/parser.ts';
import { createResponse, type SipRequest } from '../../../src/sip/wire/message.ts';

const test = suite('sip/registrar/Registrar-flows');

const tokens = new FlowTokens(Buffer.from('a key of the test, long enough'));
const flow: Flow = { transport: 'udp', address: '198.51.100.7', port: 40123, localAddress: '203.0.113.10', localPort: 5060 };

function register(cseq: number, expires: number): SipRequest {
  const text = [
    'REGISTER sip:pbx.test SIP/2.0',
    `Via: SIP/2.0/UDP 192.168.1.2:5060;branch=z9hG4bK-r${cseq};rport`,
    'From: <sip:1001@pbx.test>;tag=phone',
    'To: <sip:1001@pbx.test>',
    'Call-ID: reg-1001',
    `CSeq: ${cseq} REGISTER`,
    'Contact: <sip:1001@192.168.1.2:5060>',
    `Expires: ${expires}`,
    'Max-Forwards: 70',
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');
  return parseMessage(Buffer.from(text)) as SipRequest;
}

/** The REGISTER forwarded and accepted by the registrar for `expires` seconds. */
function registered(registrar: Registrar, cseq: number, expires: number, now: number): Extract<RegisterAction, { kind: 'forward' }> {
  const request = register(cseq, expires);
  const action = registrar.onRegister(request, flow, now);
  assert.is(action.kind, 'forward');
  const forward = action as Extract<RegisterAction, { kind: 'forward' }>;
  const ok = createResponse(request, 200, { toTag: 'registrar' });
  ok.set('Contact', `<sip:1001@192.168.1.2:5060>;expires=${expires}`);
  registrar.onRegistered(forward, ok, now);
  return forward;
}

test('a flow keeps its token: refreshes are forwarded with it, requests naming it find the flow, alive or dead', () => {
  const registrar = new Registrar(tokens, { maxBindings: 10, throttle: null });
  const first = registered(registrar, 1, 60, 0);
  assert.equal(tokens.decode(first.token), flow, 'a genuine token of the flow');
  const state = registrar.flows.withToken(first.token);
  assert.ok(state, 'the table holds the flow under its token');
  assert.is(registered(registrar, 2, 60, 1000).token, first.token);
  assert.equal(registrar.lookup(first.token), { kind: 'flow', flow });
  registrar.flows.markDead(state!.key);
  assert.equal(registrar.lookup(first.token), { kind: 'dead', flow });
  assert.is(registrar.counters.flowFailed, 1);
});

test('the token index ends with the flow; a genuine token not in the table is still followed, a forged one is not', () => {
  const registrar = new Registrar(tokens, { maxBindings: 10, throttle: null });
  const { token } = registered(registrar, 1, 60, 0);
  registered(registrar, 2, 0, 1000);
  assert.is(registrar.bindings.size, 0);
  assert.is(registrar.flows.size, 0);
  assert.is(registrar.flows.withToken(token), undefined);
  assert.equal(registrar.lookup(token), { kind: 'flow', flow });
  assert.equal(registrar.lookup(`${token.slice(0, -1)}${token.endsWith('A') ? 'B' : 'A'}`), { kind: 'forged' });
});

test.run();
