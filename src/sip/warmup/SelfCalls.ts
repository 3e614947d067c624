/**
 * Calls through a private SIP proxy on loopback, before the real SIP sockets open: a caller and a
 * callee of this module's own (UDP sockets on 127.0.0.2 and 127.0.0.1) place whole calls —
 * INVITE with SDP, 180, 200 with SDP, ACK, BYE, 200 — through a SipProxy that shares the running
 * media relay, so every piece of the path a real call takes (transport, transactions, dialogs,
 * routing, SDP anchoring, media sessions in the shard worker, dgram sends, timers) has run, and
 * been compiled by V8, before the first real call arrives.
 *
 * Why not only messages through the parser (JitWarmUp.ts): a fresh process confined to one CPU
 * refused a fifth of a 400 calls/s load while its main thread was half idle; the other half of the
 * CPU went to V8's compiler threads optimising the transaction, proxy and media code on first use
 * (the parser alone was warm) and to the shard worker's own first calls.
 */
import { createSocket, type Socket } from 'node:dgram';
import { isIPv6 } from 'node:net';
import type { Logger } from 'pino';
import { buildConfig, type PinlatchConfig } from '../../config/index.js';
import type { MediaEvents, MediaRelayApi } from '../../media/api.js';
import { SipProxy } from '../proxy/Proxy.js';
import { parseMessage } from '../wire/parser.js';
import { createResponse, type SipMessage, type SipRequest, type SipResponse } from '../wire/message.js';

const CALLEE_ADDRESS = '127.0.0.1';
const CALLER_ADDRESS = '127.0.0.2';
/** Calls in flight at once: the tables hold several calls, as they do under load. */
const CONCURRENCY = 4;
/** One message exchange over loopback takes well under this even unoptimised; longer is a failure. */
const ANSWER_TIMEOUT_MS = 2000;
/** An OPTIONS to the proxy itself before every this many calls. */
const OPTIONS_EVERY = 16;
/** The NATed callers' Via hosts: 127.0.0.3 and on, loopback addresses nothing is ever sent to. */
const NATTED_VIA_HOSTS = 64;

export class SelfCallError extends Error {
  readonly code = 'ERR_PINLATCH_WARMUP_CALL';
}

export interface SelfCallsOptions {
  config: PinlatchConfig;
  media: MediaRelayApi;
  /** How many calls to place. */
  calls: number;
  /** No call is begun after this time (performance.now(), ms). */
  deadline: number;
  logger?: Logger;
}

/**
 * The media relay as the private proxy sees it: the real one, whose event listeners the proxy
 * adds are taken off again when the warm-up ends, so that only the real proxy hears of timeouts
 * and lost shards afterwards.
 */
class BorrowedMedia implements MediaRelayApi {
  readonly #listeners: Array<[keyof MediaEvents, MediaEvents[keyof MediaEvents]]> = [];
  constructor(readonly relay: MediaRelayApi & { off(event: string, listener: (...args: never[]) => void): unknown }) {}
  get advertise(): string {
    return this.relay.advertise;
  }
  get size(): number {
    return this.relay.size;
  }
  ensureSession: MediaRelayApi['ensureSession'] = (...args) => this.relay.ensureSession(...args);
  setLeg: MediaRelayApi['setLeg'] = (...args) => this.relay.setLeg(...args);
  stats: MediaRelayApi['stats'] = (key) => this.relay.stats(key);
  get: MediaRelayApi['get'] = (key) => this.relay.get(key);
  keys: MediaRelayApi['keys'] = () => this.relay.keys();
  release: MediaRelayApi['release'] = (key) => this.relay.release(key);
  on<E extends keyof MediaEvents>(event: E, listener: MediaEvents[E]): this {
    this.#listeners.push([event, listener]);
    this.relay.on(event, listener);
    return this;
  }
  close(): Promise<void> {
    throw new SelfCallError('the warm-up does not own the media relay');
  }
  /** Takes the borrower's listeners off the relay. */
  giveBack(): void {
    for (const [event, listener] of this.#listeners.splice(0)) this.relay.off(event, listener as (...args: never[]) => void);
  }
}

/** A UDP socket that parses what it receives and hands each message to the call waiting for it. */
class Peer {
  readonly #waiting = new Map<string, (m: SipMessage) => void>();
  readonly #timers = new Set<NodeJS.Timeout>();
  private constructor(readonly socket: Socket, readonly address: string, readonly port: number) {
    socket.on('message', (data) => {
      const m = parseMessage(data, { framing: 'datagram' });
      const key = `${m.callId}|${m.kind === 'request' ? m.method : `${m.cseq?.method}:${m.status >= 200 ? 'final' : m.status}`}`;
      const take = this.#waiting.get(key);
      if (take) {
        this.#waiting.delete(key);
        take(m);
      }
    });
  }

  static async open(address: string): Promise<Peer> {
    const socket = createSocket('udp4');
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(0, address, () => resolve());
    });
    return new Peer(socket, address, socket.address().port);
  }

  /**
   * The next `what` (a method, or `CSEQ-METHOD:final`) of call `callId`. Awaited later than it
   * is asked for (the message it waits for answers a send that comes after), so its failure is
   * marked handled here: a call that fails earlier never awaits it, and must not crash the process.
   */
  next(callId: string, what: string): Promise<SipMessage> {
    const waiting = new Promise<SipMessage>((resolve, reject) => {
      const key = `${callId}|${what}`;
      const timer = setTimeout(() => {
        this.#timers.delete(timer);
        this.#waiting.delete(key);
        reject(new SelfCallError(`warm-up call ${callId}: no ${what} within ${ANSWER_TIMEOUT_MS} ms`));
      }, ANSWER_TIMEOUT_MS);
      this.#timers.add(timer);
      this.#waiting.set(key, (m) => {
        clearTimeout(timer);
        this.#timers.delete(timer);
        resolve(m);
      });
    });
    waiting.catch(() => undefined);
    return waiting;
  }

  send(data: Buffer, port: number, address = CALLEE_ADDRESS): void {
    this.socket.send(data, port, address);
  }

  /** Closes the socket; what still waits is forgotten (its call has failed already). */
  close(): void {
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
    this.#waiting.clear();
    this.socket.close();
  }
}

/** An offer or answer; `short`: one codec and a=ptime, as sipp and many gateways write theirs. */
function sdp(address: string, port: number, id: number, short: boolean): string {
  const family = isIPv6(address) ? 'IP6' : 'IP4';
  const media = short
    ? [`m=audio ${port} RTP/AVP 0`, 'a=rtpmap:0 PCMU/8000', 'a=ptime:20']
    : [`m=audio ${port} RTP/AVP 0 8 101`, 'a=rtpmap:0 PCMU/8000', 'a=rtpmap:8 PCMA/8000', 'a=rtpmap:101 telephone-event/8000'];
  return ['v=0', `o=- ${id} 1 IN ${family} ${address}`, 's=-', `c=IN ${family} ${address}`, 't=0 0', ...media, 'a=sendrecv', ''].join('\r\n');
}

/** `padded`: Content-Length with its value right-aligned (as sipp and some gateways write it). */
function message(lines: string[], body = '', padded = false): Buffer {
  const length = padded ? String(Buffer.byteLength(body)).padStart(5) : String(Buffer.byteLength(body));
  return Buffer.from([...lines, ...(body ? ['Content-Type: application/sdp'] : []), `Content-Length: ${length}`, '', body].join('\r\n'), 'latin1');
}

/**
 * A response written the way many user agents write it (sipp among them): the request's Via
 * entries joined in one header field (RFC 3261 §7.3.1), its Record-Route echoed, Content-Length
 * padded. The other calls' responses come from createResponse, one Via field per entry.
 */
function joinedResponse(request: SipRequest, status: number, reason: string, toTag: string, extra: string[], body = ''): Buffer {
  const recordRoutes = request.getAll('record-route');
  return message([
    `SIP/2.0 ${status} ${reason}`, `Via: ${request.getAll('via').join(', ')}`,
    ...(recordRoutes.length > 0 ? [`Record-Route: ${recordRoutes.join(', ')}`] : []),
    `From: ${request.get('from')}`, `To: ${request.get('to')}${request.to?.tag === undefined ? `;tag=${toTag}` : ''}`,
    `Call-ID: ${request.callId}`, `CSeq: ${request.get('cseq')}`, ...extra,
  ], body, true);
}

/** The configuration of the private proxy: the caller is its upstream, the callee its one trunk. */
function selfCallConfig(config: PinlatchConfig, caller: Peer, callee: Peer): PinlatchConfig {
  const built = buildConfig({
    sip: { listen: [{ transport: 'udp', address: CALLEE_ADDRESS, port: 5060 }], timers: config.sip?.timers, warmUpRounds: 0 },
    media: { address: config.media.address, ports: config.media.ports },
    trunks: [{ name: 'warmup', host: callee.address, port: callee.port }],
    routes: [{ trunk: 'warmup' }],
    upstream: `sip:${caller.address}:${caller.port}`,
    // Four calls at a time are no overload; a host busy with other work must not shed them.
    limits: { overload: { maxQueueMs: 60_000, maxLagMs: 60_000 } },
  }, '<warm-up>');
  // Port 0 (any free port), which a configuration file may not say: nothing else is to be disturbed.
  return { ...built, sip: { ...built.sip!, listen: [{ ...built.sip!.listen[0]!, port: 0 }] } };
}

/**
 * One call from `caller` through the proxy at `proxyPort` to `callee`, ended by the caller.
 *
 * Every other call is written the way sipp and many gateways write theirs (no rport in the
 * caller's Via, the callee's Via entries joined in one field, padded Content-Length, a Contact in
 * ACK and BYE, an SDP of one codec with a=ptime), and every other one of those names a host in
 * its Via that is not its source (a caller behind NAT: the proxy adds received=), a new one each
 * time for a while; every OPTIONS_EVERY-th call is preceded by an OPTIONS to the proxy itself (a
 * PBX's keepalive). What the first real calls send then runs code that has run already: warmed on
 * one form only, the proxy's hottest functions were compiled for that form and thrown away by V8
 * at the first other message (a deoptimisation), then compiled again under load — and the
 * address caches were never missed once their code was compiled, so the first new address did it.
 */
async function placeCall(n: number, caller: Peer, callee: Peer, proxyPort: number, mediaAddress: string): Promise<void> {
  const joined = n % 2 === 1;
  const viaHost = joined && n % 4 === 3 ? `127.0.0.${3 + ((n >> 2) % NATTED_VIA_HOSTS)}` : caller.address;
  const callId = `warmup-${n}@${caller.address}`;
  const from = `From: <sip:caller@${caller.address}:${caller.port}>;tag=w${n}`;
  const via = (branch: string): string => `Via: SIP/2.0/UDP ${viaHost}:${caller.port};branch=z9hG4bK${branch}${n.toString(36)}${joined ? '' : ';rport'}`;
  const callerContact = `Contact: <sip:caller@${caller.address}:${caller.port}>`;
  const offerAddress = isIPv6(mediaAddress) ? '::1' : caller.address;

  if (n % OPTIONS_EVERY === 0) {
    const pinged = caller.next(callId, 'OPTIONS:final');
    caller.send(message([`OPTIONS sip:${CALLEE_ADDRESS}:${proxyPort} SIP/2.0`, via('o'), 'Max-Forwards: 70', from, `To: <sip:${CALLEE_ADDRESS}:${proxyPort}>`,
      `Call-ID: ${callId}`, 'CSeq: 1 OPTIONS']), proxyPort);
    const pong = (await pinged) as SipResponse;
    if (pong.status !== 200) throw new SelfCallError(`warm-up OPTIONS ${callId}: answered ${pong.status}`);
  }
  const invited = callee.next(callId, 'INVITE');
  const answered = caller.next(callId, 'INVITE:final');
  caller.send(message([`INVITE sip:callee@${callee.address}:${callee.port} SIP/2.0`, via('i'), 'Max-Forwards: 70', from, `To: <sip:callee@${callee.address}>`,
    `Call-ID: ${callId}`, 'CSeq: 1 INVITE', callerContact], sdp(offerAddress, 40000 + 2 * (n % 1000), n, joined), joined), proxyPort);
  // The proxy may refuse the call (a final response to the caller) instead of forwarding it.
  const first = await Promise.race([invited, answered]);
  if (first.kind === 'response') throw new SelfCallError(`warm-up call ${callId}: refused ${first.status} ${first.reason}`);
  const invite = first as SipRequest;
  const toTag = `c${n}`;
  const contact = `<sip:callee@${callee.address}:${callee.port}>`;
  const answerSdp = sdp(isIPv6(mediaAddress) ? '::1' : callee.address, 42000 + 2 * (n % 1000), n, joined);
  if (joined) {
    callee.send(joinedResponse(invite, 180, 'Ringing', toTag, [`Contact: ${contact}`]), proxyPort);
    callee.send(joinedResponse(invite, 200, 'OK', toTag, [`Contact: ${contact}`], answerSdp), proxyPort);
  } else {
    callee.send(createResponse(invite, 180, { toTag }).set('Contact', contact).serialize(), proxyPort);
    const ok = createResponse(invite, 200, { toTag }).set('Contact', contact);
    for (const rr of invite.getAll('record-route')) ok.append('Record-Route', rr);
    callee.send(ok.setBody(answerSdp, 'application/sdp').serialize(), proxyPort);
  }
  const answer = (await answered) as SipResponse;
  if (answer.status !== 200) throw new SelfCallError(`warm-up call ${callId}: answered ${answer.status}`);

  // §12.1.2: the caller's route set is the 200's Record-Route, reversed; its remote target the Contact.
  const routes = answer.getAll('record-route').reverse().map((r) => `Route: ${r}`);
  const inDialog = (method: string, seq: number, branch: string): Buffer =>
    message([`${method} ${contact.slice(1, -1)} SIP/2.0`, via(branch), ...routes, ...(joined ? [] : ['Max-Forwards: 70']), from,
      `To: <sip:callee@${callee.address}>;tag=${toTag}`, `Call-ID: ${callId}`, `CSeq: ${seq} ${method}`,
      ...(joined ? [callerContact, 'Max-Forwards: 70'] : [])], '', joined);
  const acked = callee.next(callId, 'ACK');
  caller.send(inDialog('ACK', 1, 'a'), proxyPort);
  await acked;
  const byeReceived = callee.next(callId, 'BYE');
  const byeAnswered = caller.next(callId, 'BYE:final');
  caller.send(inDialog('BYE', 2, 'b'), proxyPort);
  const bye = (await byeReceived) as SipRequest;
  callee.send(joined ? joinedResponse(bye, 200, 'OK', toTag, []) : createResponse(bye, 200).serialize(), proxyPort);
  await byeAnswered;
}

/**
 * Private proxies the calls alternate between. V8 optimises a call through a function value for
 * the one function it has seen there: after a warm-up through one proxy, every call through one of
 * that proxy's own closures (the handlers it gives its transactions, dialogs and media anchor) was
 * compiled for that closure alone, and the real proxy's closure — made by the same code, but
 * another function object — threw the code away at its first call ("wrong call target"). Having
 * seen two closures made by the same code, V8 compiles for any closure that code makes, the real
 * proxy's included.
 */
const PROXIES = 2;

/**
 * Places `calls` calls (fewer when the deadline comes first) through private proxies on
 * loopback, CONCURRENCY at a time, then stops them. Resolves with the calls completed; when one
 * fails, no further call begins, and once those in flight have ended it throws that failure.
 */
export async function runSelfCalls(options: SelfCallsOptions): Promise<number> {
  const caller = await Peer.open(CALLER_ADDRESS);
  const callee = await Peer.open(CALLEE_ADDRESS);
  const media = new BorrowedMedia(options.media as BorrowedMedia['relay']);
  const config = selfCallConfig(options.config, caller, callee);
  const proxies = Array.from({ length: PROXIES }, () => new SipProxy({ config, media, ...(options.logger ? { logger: options.logger } : {}) }));
  let completed = 0;
  try {
    for (const proxy of proxies) await proxy.start();
    const ports = proxies.map((proxy) => Number(proxy.listenPoints[0]!.port));
    let next = 0;
    let failure: unknown = null;
    const chain = async (): Promise<void> => {
      while (failure === null && next < options.calls && performance.now() < options.deadline) {
        const n = next++;
        try {
          // Pairs of calls per proxy: each proxy sees both forms of message (placeCall alternates them).
          await placeCall(n, caller, callee, ports[(n >> 1) % PROXIES]!, options.media.advertise);
          completed += 1;
        } catch (err) {
          failure ??= err;
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(CONCURRENCY, options.calls) }, chain));
    if (failure !== null) throw failure;
    return completed;
  } finally {
    await Promise.all(proxies.map((proxy) => proxy.stop()));
    media.giveBack();
    caller.close();
    callee.close();
  }
}
