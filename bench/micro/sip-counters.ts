/**
 * Micro benchmark of the SIP message counters (src/sip/proxy/SipCounters.ts): what counting one
 * message costs on the proxy's path — the start line of a serialized message read for the sent
 * side, the parsed method or status for the received side — next to parsing the same message, so
 * the two can be compared in one run. `node --import tsx bench/micro/sip-counters.ts` runs it alone.
 */
import { fileURLToPath } from 'node:url';
import { Bench } from 'tinybench';
import { parseMessage } from '../../src/sip/wire/parser.ts';
import { SipCounters } from '../../src/sip/proxy/SipCounters.ts';

const INVITE = Buffer.from([
  'INVITE sip:+15551234567@198.51.100.20:5060;user=phone SIP/2.0',
  'Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK776asdhds;rport',
  'Max-Forwards: 70',
  'From: "Alice" <sip:alice@example.com>;tag=1928301774',
  'To: <sip:+15551234567@example.com;user=phone>',
  'Call-ID: a84b4c76e66710@pc33.example.com',
  'CSeq: 314159 INVITE',
  'Contact: <sip:alice@192.0.2.10:5060;transport=udp>',
  'Content-Length: 0',
  '',
  '',
].join('\r\n'));
const OK = Buffer.from([
  'SIP/2.0 200 OK',
  'Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK776asdhds;rport=5060;received=192.0.2.10',
  'From: "Alice" <sip:alice@example.com>;tag=1928301774',
  'To: <sip:+15551234567@example.com;user=phone>;tag=a6c85cf',
  'Call-ID: a84b4c76e66710@pc33.example.com',
  'CSeq: 314159 INVITE',
  'Content-Length: 0',
  '',
  '',
].join('\r\n'));

export function register(bench: Bench): void {
  const counters = new SipCounters();
  const parsedInvite = parseMessage(INVITE);
  const parsedOk = parseMessage(OK);
  bench
    .add('SipCounters.sent: INVITE + 200 OK buffers', () => {
      counters.sent(INVITE);
      counters.sent(OK);
    })
    .add('SipCounters.received: parsed INVITE + 200 OK', () => {
      counters.received(parsedInvite);
      counters.received(parsedOk);
    })
    .add('SIP parse INVITE + 200 OK (no body), for comparison', () => {
      parseMessage(INVITE);
      parseMessage(OK);
    });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const bench = new Bench({ name: 'sip-counters', time: Number(process.env.PINLATCH_BENCH_MS ?? 500) });
  register(bench);
  await bench.run();
  console.table(bench.table());
}
