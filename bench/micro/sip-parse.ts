/**
 * Micro benchmark of the SIP parser (src/sip/wire/parser.ts) on the two messages every call carries:
 * an INVITE with an SDP offer and a 200 OK with the answer. "parse" is what the transport does per
 * datagram (split + frame + validate the proxy's headers); "parse + proxy edits + serialize" adds a
 * forwarding hop's work (pop Route, decrement Max-Forwards, push Via, add Record-Route, write out).
 * `register(bench)` adds the tasks to a shared tinybench Bench; run this file directly
 * (`node --import tsx bench/micro/sip-parse.ts`) for a standalone table.
 *
 * A/B against another checkout (e.g. main exported with `git archive main src package.json
 * tsconfig.json | tar -x -C DIR` and node_modules linked into DIR; tsx reads both files, and an
 * export of `src` alone ran 1.2-1.4x slower than this checkout with the very same source):
 * `node --import tsx bench/micro/sip-parse.ts --against DIR [--rounds 15] [--iterations 3000]`
 * runs the operations with both parsers in interleaved rounds in this one process and prints the
 * best round of each as CPU time per operation (process.cpuUsage: on a shared machine, time spent
 * waiting for a CPU does not count, which wall-clock rounds would).
 */
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Bench } from 'tinybench';
import { parseMessage } from '../../src/sip/wire/parser.ts';
import type { SipMessage, SipRequest } from '../../src/sip/wire/message.ts';

const SDP = [
  'v=0',
  'o=caller 2890844526 2890844526 IN IP4 192.0.2.10',
  's=-',
  'c=IN IP4 192.0.2.10',
  't=0 0',
  'm=audio 49170 RTP/AVP 0 8 101',
  'a=rtpmap:0 PCMU/8000',
  'a=rtpmap:8 PCMA/8000',
  'a=rtpmap:101 telephone-event/8000',
  'a=fmtp:101 0-15',
  'a=ptime:20',
  'a=sendrecv',
  '',
].join('\r\n');

const message = (lines: string[]): Buffer => Buffer.from(`${lines.join('\r\n')}\r\n\r\n${SDP}`);

const INVITE = message([
  'INVITE sip:+15551234567@198.51.100.20:5060;user=phone SIP/2.0',
  'Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK776asdhds;rport',
  'Route: <sip:198.51.100.1;lr>',
  'Max-Forwards: 70',
  'From: "Alice" <sip:alice@example.com>;tag=1928301774',
  'To: <sip:+15551234567@example.com;user=phone>',
  'Call-ID: a84b4c76e66710@pc33.example.com',
  'CSeq: 314159 INVITE',
  'Contact: <sip:alice@192.0.2.10:5060;transport=udp>',
  'Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, UPDATE, INFO, REFER, NOTIFY',
  'Supported: replaces, timer, 100rel',
  'Session-Expires: 1800;refresher=uac',
  'User-Agent: pinlatch-bench/1.0',
  'Content-Type: application/sdp',
  `Content-Length: ${Buffer.byteLength(SDP)}`,
]);

const OK = message([
  'SIP/2.0 200 OK',
  'Via: SIP/2.0/UDP 198.51.100.1:5060;branch=z9hG4bK-pl-1;received=198.51.100.1',
  'Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK776asdhds;rport=5060;received=192.0.2.10',
  'Record-Route: <sip:198.51.100.1;lr>',
  'From: "Alice" <sip:alice@example.com>;tag=1928301774',
  'To: <sip:+15551234567@example.com;user=phone>;tag=a6c85cf',
  'Call-ID: a84b4c76e66710@pc33.example.com',
  'CSeq: 314159 INVITE',
  'Contact: <sip:+15551234567@192.168.50.20:5060>',
  'Allow: INVITE, ACK, CANCEL, BYE, OPTIONS',
  'Supported: timer',
  'Session-Expires: 1800;refresher=uac',
  'Server: gateway/2.1',
  'Content-Type: application/sdp',
  `Content-Length: ${Buffer.byteLength(SDP)}`,
]);

type Parse = (data: Buffer) => SipMessage;

/** The operations measured, each on a parser given as argument (so that two builds compare). */
const OPERATIONS: ReadonlyArray<readonly [string, (parse: Parse) => void]> = [
  [`parse INVITE+SDP (${INVITE.length} B)`, (parse) => void parse(INVITE)],
  [`parse 200 OK+SDP (${OK.length} B)`, (parse) => void parse(OK)],
  [
    'parse INVITE + proxy edits + serialize',
    (parse) => {
      const request = parse(INVITE) as SipRequest;
      request.popRoute();
      request.decrementMaxForwards();
      request.prepend('Record-Route', '<sip:198.51.100.1;lr>');
      request.pushVia('SIP/2.0/UDP 198.51.100.1:5060;branch=z9hG4bK-pl-1');
      request.serialize();
    },
  ],
  [
    'parse 200 OK + pop Via + serialize',
    (parse) => {
      const response = parse(OK);
      response.popVia();
      response.serialize();
    },
  ],
  // What the proxy does with a response it relays: the received copy stays with the transaction.
  [
    'parse 200 OK + clone + read tags/CSeq + pop Via + serialize',
    (parse) => {
      const out = parse(OK).clone();
      void out.cseq;
      void out.to?.tag;
      out.popVia();
      out.serialize();
    },
  ],
];

/** Interleaved rounds of every operation with parser A and B (order alternating); best CPU µs per operation. */
function compare(a: Parse, b: Parse, rounds: number, iterations: number): Array<{ operation: string; a: number; b: number }> {
  const best = OPERATIONS.map(([operation]) => ({ operation, a: Infinity, b: Infinity }));
  for (let round = 0; round < rounds; round++) {
    OPERATIONS.forEach(([, run], i) => {
      for (const side of round % 2 === 0 ? (['a', 'b'] as const) : (['b', 'a'] as const)) {
        const parse = side === 'a' ? a : b;
        const before = process.cpuUsage();
        for (let n = 0; n < iterations; n++) run(parse);
        const used = process.cpuUsage(before);
        best[i]![side] = Math.min(best[i]![side], (used.user + used.system) / iterations);
      }
    });
  }
  return best;
}

export function register(bench: Bench): void {
  for (const [operation, run] of OPERATIONS) bench.add(`SIP ${operation}`, () => run(parseMessage));
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({
    options: { against: { type: 'string' }, rounds: { type: 'string', default: '15' }, iterations: { type: 'string', default: '3000' } },
  });
  if (values.against === undefined) {
    const bench = new Bench({ name: 'sip-parse', time: 500 });
    register(bench);
    await bench.run();
    console.table(bench.table());
  } else {
    const other = (await import(resolve(values.against, 'src/sip/wire/parser.ts'))) as { parseMessage: Parse };
    const rows = compare(other.parseMessage, parseMessage, Number(values.rounds), Number(values.iterations));
    console.table(
      rows.map((row) => ({
        operation: row.operation,
        [`${values.against} µs`]: row.a.toFixed(2),
        'this checkout µs': row.b.toFixed(2),
        ratio: `${(row.a / row.b).toFixed(2)}x`,
      })),
    );
  }
}
