import * as assert from 'uvu/assert';
import { suite } from '../../support/suite.ts';
import { parseNameAddrList } from '../../../src/sip/wire/headers/nameAddr.ts';
import type { SipRequest } from '../../../src/sip/wire/message.ts';
import { parseMessage } from '../../../src/sip/wire/parser.ts';
import { nextHop } from '../../../src/sip/proxy/RoutePin.ts';
import {
  isOwnRecordRouteUri,
  requestUriForm,
  restoreRequestUri,
  routeToStrictRouter,
  strictRewrite,
  undoStrictRouting,
} from '../../../src/sip/proxy/StrictRoute.ts';
import { parseUri, uriRefersTo, type SipUri } from '../../../src/sip/wire/uri.ts';

const test = suite('sip/StrictRoute');

// The proxy at 198.51.100.1:5060; its Record-Route URI is <sip:198.51.100.1;lr> (pin optional).
const isOwn = (uri: SipUri) => uriRefersTo(uri, '198.51.100.1', 5060);
const routes = (text: string) => parseNameAddrList(text, 'Route');
const texts = (list: readonly { toString(): string }[]) => list.map(String);

function requestWith(uri: string, routeLines: string[]): SipRequest {
  const text = [
    `BYE ${uri} SIP/2.0`,
    'Via: SIP/2.0/UDP 203.0.113.9:5060;branch=z9hG4bKstrict1',
    ...routeLines.map((r) => `Route: ${r}`),
    'Max-Forwards: 70',
    'From: <sip:a@example.com>;tag=a1',
    'To: <sip:b@example.com>;tag=b1',
    'Call-ID: strict-unit-1',
    'CSeq: 2 BYE',
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');
  return parseMessage(Buffer.from(text)) as SipRequest;
}

test('our Record-Route URI: names the proxy, no user part, lr', () => {
  assert.ok(isOwnRecordRouteUri(parseUri('sip:198.51.100.1;lr'), isOwn));
  assert.ok(isOwnRecordRouteUri(parseUri('sip:198.51.100.1:5060;lr;pin=gateway;transport=tcp'), isOwn));
  assert.not.ok(isOwnRecordRouteUri(parseUri('sip:4930123@198.51.100.1'), isOwn), 'an initial request to the proxy');
  assert.not.ok(isOwnRecordRouteUri(parseUri('sip:198.51.100.1'), isOwn), 'no lr: not a URI we record-route');
  assert.not.ok(isOwnRecordRouteUri(parseUri('sip:198.51.100.1:5080;lr'), isOwn), 'another port');
  assert.not.ok(isOwnRecordRouteUri(parseUri('sip:192.0.2.7;lr'), isOwn), 'another host');
  assert.not.ok(isOwnRecordRouteUri(parseUri('tel:+4930123'), isOwn));
});

test('§19.1.1: the method parameter and headers do not go into a Request-URI; the rest stays', () => {
  const uri = requestUriForm(parseUri('sip:sr.example.com:5070;maddr=192.0.2.4;transport=tcp;method=INVITE?Subject=x'));
  assert.is(uri.toString(), 'sip:sr.example.com:5070;maddr=192.0.2.4;transport=tcp');
  const plain = parseUri('sip:gw@192.0.2.4');
  const copy = requestUriForm(plain);
  assert.is(copy.toString(), 'sip:gw@192.0.2.4');
  assert.is.not(copy, plain, 'a copy, never the original object');
});

test('§16.4 upstream strict router: the last Route becomes the Request-URI again', () => {
  const restore = restoreRequestUri(parseUri('sip:198.51.100.1;lr'), routes('<sip:p2.example.com;lr>, <sip:gw@192.0.2.4:5080>'), isOwn);
  assert.is(restore.kind, 'restored');
  if (restore.kind !== 'restored') return;
  assert.is(restore.requestUri.toString(), 'sip:gw@192.0.2.4:5080');
  assert.equal(texts(restore.routes), ['<sip:p2.example.com;lr>']);
  assert.is(restore.pin, null);
});

test('§16.4: the pin parameter arriving in the Request-URI is reported', () => {
  const restore = restoreRequestUri(parseUri('sip:198.51.100.1;lr;pin=gateway'), routes('<sip:gw@10.0.0.5>'), isOwn);
  assert.equal(
    restore.kind === 'restored' ? [restore.requestUri.toString(), restore.routes.length, restore.pin] : restore.kind,
    ['sip:gw@10.0.0.5', 0, 'gateway'],
  );
});

test('§16.4: a Request-URI that is not ours is left alone; ours without any Route is reported', () => {
  assert.equal(restoreRequestUri(parseUri('sip:gw@192.0.2.4'), routes('<sip:198.51.100.1;lr>'), isOwn), { kind: 'none' });
  const missing = restoreRequestUri(parseUri('sip:198.51.100.1;lr;pin=gw'), [], isOwn);
  assert.equal([missing.kind, missing.kind === 'missing-route' ? [missing.pin, missing.ours.toString()] : null], ['missing-route', ['gw', 'sip:198.51.100.1;lr;pin=gw']]);
});

test('§16.6 step 6 downstream strict router: Request-URI to the end of Route, first Route into the Request-URI', () => {
  const rewrite = strictRewrite(parseUri('sip:gw@192.0.2.4:5080'), routes('<sip:sr.example.com;maddr=192.0.2.9;method=BYE>, <sip:p3.example.com;lr>'));
  assert.ok(rewrite);
  assert.is(rewrite!.requestUri.toString(), 'sip:sr.example.com;maddr=192.0.2.9');
  assert.equal(texts(rewrite!.routes), ['<sip:p3.example.com;lr>', '<sip:gw@192.0.2.4:5080>']);
});

test('§16.6 step 6: a loose next hop or no Route at all → no rewrite', () => {
  assert.is(strictRewrite(parseUri('sip:gw@192.0.2.4'), routes('<sip:p2.example.com;lr>, <sip:sr.example.com>')), null);
  assert.is(strictRewrite(parseUri('sip:gw@192.0.2.4'), []), null);
});

test('the next hop chosen before the rewrite is the new Request-URI after it', () => {
  const uri = parseUri('sip:gw@192.0.2.4:5080') as SipUri;
  const set = routes('<sip:192.0.2.9:5070;transport=tcp>');
  const hopOf = (u: SipUri) => ({ host: u.host, port: u.port ?? null, transport: u.transport ?? null });
  const before = nextHop(hopOf(uri), set.map((r) => hopOf(r.uri as SipUri)));
  const rewrite = strictRewrite(uri, set)!;
  assert.equal(nextHop(hopOf(rewrite.requestUri as SipUri), []), before);
  assert.equal(before, { host: '192.0.2.9', port: 5070, transport: 'tcp', pinned: false });
});

test('on a request: restore, then rewrite toward a strict router, Route written back in order', () => {
  // Arrived through a strict router: our RR URI in the Request-URI, a strict hop next, remote target last.
  const request = requestWith('sip:198.51.100.1;lr;pin=gateway', ['<sip:192.0.2.9:5070>', '<sip:gw@10.0.0.5>']);
  const restore = undoStrictRouting(request, isOwn);
  assert.is(restore.kind, 'restored');
  assert.is(request.uriText, 'sip:gw@10.0.0.5');
  assert.equal(texts(request.routes), ['<sip:192.0.2.9:5070>']);
  assert.ok(routeToStrictRouter(request));
  assert.is(request.uriText, 'sip:192.0.2.9:5070');
  assert.equal(texts(request.routes), ['<sip:gw@10.0.0.5>']);
  assert.match(request.toString(), /^BYE sip:192\.0\.2\.9:5070 SIP\/2\.0\r\n/);
  assert.match(request.toString(), '\r\nRoute: <sip:gw@10.0.0.5>\r\n');
});

test('on a request: nothing to do leaves the request byte for byte as received', () => {
  const request = requestWith('sip:gw@192.0.2.4', ['<sip:p2.example.com;lr>']);
  const before = request.toString();
  assert.is(undoStrictRouting(request, isOwn).kind, 'none');
  assert.not.ok(routeToStrictRouter(request));
  assert.is(request.toString(), before);
  const missing = requestWith('sip:198.51.100.1;lr', []);
  assert.is(undoStrictRouting(missing, isOwn).kind, 'missing-route');
  assert.is(missing.uriText, 'sip:198.51.100.1;lr', 'left as it was');
});

test.run();
