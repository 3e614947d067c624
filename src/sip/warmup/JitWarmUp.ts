/**
 * JIT warm-up of the SIP message path: the messages of a typical call (INVITE with SDP, 100, 180,
 * 200 with SDP, ACK, BYE, its 200) are parsed, read, edited as the proxy edits them, their SDP
 * described and anchored, and answered (100 Trying, 503 with Retry-After), over and over in short
 * slices; warmUpBeforeListening.ts runs it at start, after the calls over loopback.
 *
 * Why: until V8 has optimised this code, each message costs about ten times as much (measured:
 * parsing an INVITE and building its 503 took ~500 µs each over a fresh process's first thousand,
 * ~50 µs warm). A freshly started relay hit by a burst of calls would spend its first seconds
 * slow, its SIP queue would pass the shedding target, and it would refuse calls a warm process
 * carries; even its refusals would be slow. Nothing here touches a socket, a table or the relay:
 * the results are thrown away.
 */
import { hash } from 'node:crypto';
import { anchorParsed, describeParsed, parseSdp } from '../../sdp/index.js';
import { parseMessage } from '../wire/parser.js';
import { createResponse, type SipMessage, type SipRequest } from '../wire/message.js';

const SDP = [
  'v=0', 'o=- 1 1 IN IP4 192.0.2.10', 's=-', 'c=IN IP4 192.0.2.10', 't=0 0',
  'm=audio 40000 RTP/AVP 0 8 101', 'a=rtpmap:0 PCMU/8000', 'a=rtpmap:8 PCMA/8000', 'a=rtpmap:101 telephone-event/8000', 'a=sendrecv', '',
].join('\r\n');
/** The odd rounds' SDP: one codec and a=ptime. */
const SHORT_SDP = [
  'v=0', 'o=- 1 1 IN IP4 192.0.2.10', 's=-', 'c=IN IP4 192.0.2.10', 't=0 0',
  'm=audio 40000 RTP/AVP 0', 'a=rtpmap:0 PCMU/8000', 'a=ptime:20', 'a=sendrecv', '',
].join('\r\n');

/**
 * The messages of one call, numbered so that no two rounds parse the same text. Odd rounds are
 * written as sipp and many gateways write them (SelfCalls.ts says why): no rport, the responses'
 * Via entries joined in one field, Content-Length padded, an SDP of one codec with a=ptime.
 */
function callMessages(n: number): Buffer[] {
  const joined = n % 2 === 1;
  const sdp = joined ? SHORT_SDP : SDP;
  const callId = `warmup-${n}@192.0.2.10`;
  const ownVia = `SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKpl${n.toString(36)}.1`;
  const via = `Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK${n.toString(36)}w${joined ? '' : ';rport'}`;
  const vias = joined ? [`Via: ${ownVia}, ${via.slice(5)}`] : [`Via: ${ownVia}`, via];
  const from = `From: "Caller" <sip:caller@192.0.2.10>;tag=f${n}`;
  const to = 'To: <sip:callee@192.0.2.20>';
  const rr = 'Record-Route: <sip:192.0.2.1:5060;lr;pl=abc>';
  const msg = (lines: string[], body = ''): Buffer => {
    const length = String(Buffer.byteLength(body));
    return Buffer.from([...lines, ...(body ? ['Content-Type: application/sdp'] : []), `Content-Length: ${joined ? length.padStart(5) : length}`, '', body].join('\r\n'), 'latin1');
  };
  return [
    msg([`INVITE sip:callee@192.0.2.1:5060 SIP/2.0`, via, 'Max-Forwards: 70', from, to, `Call-ID: ${callId}`, 'CSeq: 1 INVITE',
      'Contact: <sip:caller@192.0.2.10:5060>', 'User-Agent: warmup'], sdp),
    msg(['SIP/2.0 100 Trying', ...vias, from, to, `Call-ID: ${callId}`, 'CSeq: 1 INVITE']),
    msg(['SIP/2.0 180 Ringing', ...vias, rr, from, `${to};tag=t${n}`, `Call-ID: ${callId}`, 'CSeq: 1 INVITE', 'Contact: <sip:callee@192.0.2.20:5060>']),
    msg(['SIP/2.0 200 OK', ...vias, rr, from, `${to};tag=t${n}`, `Call-ID: ${callId}`, 'CSeq: 1 INVITE', 'Contact: <sip:callee@192.0.2.20:5060>'], sdp),
    msg([`ACK sip:callee@192.0.2.20:5060 SIP/2.0`, via, 'Route: <sip:192.0.2.1:5060;lr;pl=abc>', 'Max-Forwards: 70', from, `${to};tag=t${n}`, `Call-ID: ${callId}`, 'CSeq: 1 ACK']),
    msg([`BYE sip:callee@192.0.2.20:5060 SIP/2.0`, via, 'Route: <sip:192.0.2.1:5060;lr;pl=abc>', 'Max-Forwards: 70', from, `${to};tag=t${n}`, `Call-ID: ${callId}`, 'CSeq: 2 BYE']),
    msg(['SIP/2.0 200 OK', ...vias, from, `${to};tag=t${n}`, `Call-ID: ${callId}`, 'CSeq: 2 BYE']),
  ];
}

/** Reads what the proxy reads of every message (the typed headers are parsed lazily). */
function read(m: SipMessage): number {
  let n = m.vias.length + m.recordRoutes.length + m.routes.length + (m.callId?.length ?? 0) + (m.cseq?.seq ?? 0);
  n += (m.from?.tag?.length ?? 0) + (m.to?.tag?.length ?? 0) + (m.contact ? 1 : 0) + m.body.length;
  if (m.kind === 'request') n += m.uri.kind.length + (m.maxForwards ?? 0);
  return n;
}

/** One call's worth of the signalling path; returns a number so that nothing is optimised away. */
export function warmUpRound(n: number): number {
  let sink = 0;
  for (const data of callMessages(n)) {
    const m = parseMessage(data, { framing: 'datagram' });
    sink += read(m);
    if (m.body.length > 0) {
      const sdp = parseSdp(m.body.toString('latin1'));
      sink += describeParsed(sdp).media.length;
      sink += anchorParsed(sdp, { address: '192.0.2.1', streams: [{ rtpPort: 30000 }], replaceOrigin: true }).length;
    }
    if (m.kind === 'request' && m.method === 'INVITE') {
      const request = m as SipRequest;
      const toTag = hash('sha1', `${request.callId}|${request.from?.tag}|${request.topVia?.branch}`, 'hex').slice(0, 12);
      sink += createResponse(request, 100).serialize().length;
      sink += createResponse(request, 503, { reason: 'Overloaded', toTag, headers: [['Retry-After', '5']] }).serialize().length;
      const out = request.clone();
      out.decrementMaxForwards();
      out.pushVia(`SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKpl${n.toString(36)}.1`);
      out.prepend('Record-Route', '<sip:192.0.2.1:5060;lr;pl=abc>');
      sink += out.serialize().length;
    } else if (m.kind === 'response') {
      const out = m.clone();
      out.popVia();
      sink += out.serialize().length;
    }
  }
  return sink;
}

/**
 * Rounds run back to back in one slice: a few ms at most warm, so what is already listening (the
 * NG control socket, the media shards' messages) is never held up long.
 */
const ROUNDS_PER_SLICE = 4;

/**
 * Runs `rounds` warm-up rounds in slices (one per event-loop turn, after the I/O waiting then),
 * none begun after `deadline` (performance.now(), ms); resolves with the rounds run.
 */
export function runJitWarmUp(rounds: number, deadline = Infinity): Promise<number> {
  let n = 0;
  return new Promise<number>((resolve) => {
    const slice = (): void => {
      if (n >= rounds || performance.now() >= deadline) {
        resolve(n);
        return;
      }
      for (let i = 0; i < ROUNDS_PER_SLICE && n < rounds; i++) warmUpRound(n++);
      setImmediate(slice);
    };
    slice();
  });
}
