/**
 * The fallback for registrars without Path: the flow travels in the registered Contact, the
 * registrar's requests for the phone come to pinlatch's address and leave with the phone's own
 * Contact as Request-URI, over the phone's NAT mapping.
 */
import { randomBytes } from 'node:crypto';
import * as assert from 'uvu/assert';
import { suite } from '../../support/suite.ts';
import { freePortRange } from '../../media/udp-peer.ts';
import type { MediaRelay } from '../../../src/media/MediaRelay.ts';
import type { SipProxy } from '../../../src/sip/proxy/Proxy.ts';
import { createResponse, type SipMessage, type SipRequest } from '../../../src/sip/wire/message.ts';
import { PROXY, SipPeer, freeSipPort, isRequest, isResponse, request, startProxy, stopProxy } from '../../support/sip-peer.ts';

const PBX = '127.0.0.45';
const PHONE = '127.0.0.46';

const test = suite<{ relay: MediaRelay; proxy: SipProxy; port: number; pbx: SipPeer }>('sip/registrar/proxy-phones-contact', { timeoutMs: 15_000 });

test.before(async (ctx) => {
  ctx.port = await freeSipPort();
  const ports = await freePortRange(8);
  ctx.pbx = await SipPeer.udp(PBX);
  Object.assign(ctx, await startProxy(`
sip:
  listen: [{ transport: udp, address: ${PROXY}, port: ${ctx.port} }]
  timers: { t1Ms: 20, t2Ms: 200, t4Ms: 200, inviteTimeoutMs: 10000 }
media: { address: ${PROXY}, ports: { min: ${ports.min}, max: ${ports.max} }, shards: 1 }
upstream: sip:${PBX}:${ctx.pbx.port}
phones: { flowIn: contact }
log: { level: silent }
`));
});

test.after(async (ctx) => {
  await stopProxy(ctx);
  ctx.pbx?.close();
});

test('the Contact carries the flow to the registrar; the phone sees its own Contact; the INVITE reaches the phone with it', async (ctx) => {
  const phone = await SipPeer.udp(PHONE);
  try {
    const contact = 'sip:2001@192.168.7.10:5062';
    phone.send(
      [
        `REGISTER sip:${PROXY}:${ctx.port} SIP/2.0`,
        `Via: SIP/2.0/UDP 192.168.7.10:5062;branch=z9hG4bK${randomBytes(6).toString('hex')};rport`,
        'Max-Forwards: 70',
        'From: <sip:2001@pbx.example>;tag=a1',
        'To: <sip:2001@pbx.example>',
        'Call-ID: alias-1',
        'CSeq: 1 REGISTER',
        `Contact: <${contact}>`,
        'Expires: 300',
        'Content-Length: 0',
        '',
        '',
      ].join('\r\n'),
      ctx.port,
    );
    const req = await ctx.pbx.waitFor((m): m is SipRequest => isRequest('REGISTER', 'alias-1')(m));
    assert.is(req.get('path'), undefined, 'no Path');
    const registeredContact = req.contacts[0]!.uri.toString();
    assert.match(registeredContact, new RegExp(`^sip:2001@${PROXY}:${ctx.port};pl-flow=[0-9a-f]{54};pl-contact=[0-9a-f]+`));
    const ok = createResponse(req, 200, { toTag: 'reg' });
    ok.set('Contact', `<${registeredContact}>;expires=300`);
    ctx.pbx.sendMessage(ok, ctx.port, PROXY);
    const answer = await phone.waitFor(isResponse('alias-1', 'REGISTER'));
    assert.is(answer.get('contact'), `<${contact}>;expires=300`);

    // The registrar (no Path) sends the INVITE to the registered Contact: pinlatch.
    ctx.pbx.send(request({ user: '2001', peer: ctx.pbx, proxyPort: ctx.port, callId: 'alias-call', uri: registeredContact }), ctx.port);
    const invite = await phone.waitFor(isRequest('INVITE', 'alias-call'));
    assert.is(invite.uriText, contact);
    phone.sendMessage(createResponse(invite, 486), ctx.port, PROXY);
    assert.is((await ctx.pbx.waitFor((m: SipMessage) => isResponse('alias-call')(m))).status, 486);

    // An altered token in the Contact form is refused like one in a Path.
    // The token's last hex digit changed (in the MAC).
    const forged = registeredContact.replace(/(pl-flow=[0-9a-f]*)([0-9a-f])/, (_m, head: string, last: string) => `${head}${last === '0' ? '1' : '0'}`);
    assert.is.not(forged, registeredContact);
    ctx.pbx.send(request({ user: '2001', peer: ctx.pbx, proxyPort: ctx.port, callId: 'alias-forged', uri: forged }), ctx.port);
    assert.is((await ctx.pbx.waitFor(isResponse('alias-forged'))).status, 403);
  } finally {
    phone.close();
  }
});

test.run();
