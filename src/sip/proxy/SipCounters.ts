/**
 * What the SIP proxy has seen and done, counted where it happens and read by the metrics endpoint
 * at scrape time: messages in and out by method and status class, calls started, answered and
 * failed, in-dialog requests sent along a route pin. Pure bookkeeping: no I/O, no timers.
 *
 * Label values come from closed sets (a method pinlatch does not know counts as `other`, a trunk
 * is one of the configured ones), so a peer cannot grow the number of series.
 */

/** The methods counted under their own name (RFC 3261 §27.4 and the extensions pinlatch carries). */
export const COUNTED_METHODS: readonly string[] = [
  'INVITE', 'ACK', 'CANCEL', 'BYE', 'OPTIONS', 'REGISTER', 'UPDATE', 'INFO', 'PRACK', 'REFER', 'NOTIFY', 'SUBSCRIBE', 'MESSAGE', 'PUBLISH',
];
const KNOWN_METHODS: ReadonlySet<string> = new Set(COUNTED_METHODS);

/** Status classes of responses (RFC 3261 §21). */
export type StatusClass = '1xx' | '2xx' | '3xx' | '4xx' | '5xx' | '6xx';

/**
 * Why a call did not reach or keep its answer: its final response (by class; 408 is `timeout`,
 * 487 is `cancelled`), or, once answered, no media for `media.timeoutSec` (`media_timeout`) or
 * its media session lost with a shard that could not restore it (`media_lost`).
 */
export type CallFailure = '3xx' | '4xx' | '5xx' | '6xx' | 'timeout' | 'cancelled' | 'media_timeout' | 'media_lost';
export const CALL_FAILURES: readonly CallFailure[] = ['3xx', '4xx', '5xx', '6xx', 'timeout', 'cancelled', 'media_timeout', 'media_lost'];

/** Label value of a call with no trunk on either side (phones, the upstream, plain proxying). */
export const NO_TRUNK = 'none';

export function methodLabel(method: string): string {
  return KNOWN_METHODS.has(method) ? method : 'other';
}

export function statusClass(status: number): StatusClass {
  if (status < 200) return '1xx';
  if (status < 300) return '2xx';
  if (status < 400) return '3xx';
  if (status < 500) return '4xx';
  if (status < 600) return '5xx';
  return '6xx';
}

/** The failure reason of an initial INVITE answered `status` (>= 300). */
export function callFailureOf(status: number): CallFailure {
  if (status === 408) return 'timeout';
  if (status === 487) return 'cancelled';
  return statusClass(status) as CallFailure;
}

const SIP_VERSION = Buffer.from('SIP/2.0 ');
const SPACE = 0x20;
/** Longest method name looked at in an outgoing request line (longer ones count as `other`). */
const MAX_METHOD_CHARS = 16;

/**
 * The start line of a serialized message: a response's status, or a request's method. Reads at
 * most the first 16 bytes, so counting what is sent costs no parse.
 */
export function startLineOf(data: Buffer): { status: number } | { method: string } | null {
  if (data.length >= 12 && data.compare(SIP_VERSION, 0, SIP_VERSION.length, 0, SIP_VERSION.length) === 0) {
    const status = (data[8]! - 0x30) * 100 + (data[9]! - 0x30) * 10 + (data[10]! - 0x30);
    return status >= 100 && status <= 699 ? { status } : null;
  }
  const end = data.subarray(0, MAX_METHOD_CHARS + 1).indexOf(SPACE);
  return end > 0 ? { method: data.toString('latin1', 0, end) } : null;
}

function bump(map: Map<string, number>, key: string, by = 1): void {
  map.set(key, (map.get(key) ?? 0) + by);
}

export class SipCounters {
  /** Requests received (retransmissions included), by method. */
  readonly requestsReceived = new Map<string, number>();
  /** Responses received (retransmissions included), by status class. */
  readonly responsesReceived = new Map<StatusClass, number>();
  /** Requests sent (retransmissions, keepalives, CANCEL and BYE of the proxy's own included), by method. */
  readonly requestsSent = new Map<string, number>();
  /** Responses sent (retransmissions included), by status class. */
  readonly responsesSent = new Map<StatusClass, number>();
  /** Initial INVITEs taken on (admitted and forwarded), by trunk (the calling one, else the first called). */
  readonly callsStarted = new Map<string, number>();
  /** Calls answered (2xx passed to the caller), by trunk (the answering one, else the calling one). */
  readonly callsAnswered = new Map<string, number>();
  /** Calls that failed, by reason. */
  readonly callsFailed = new Map<CallFailure, number>();
  /** In-dialog requests (ACK included) whose destination a route pin decided. */
  pinnedRequests = 0;
  /** Requests and responses received, all of them: how busy signalling is (app/IdleCollector). */
  messagesReceived = 0;

  received(message: { kind: 'request'; method: string } | { kind: 'response'; status: number }): void {
    this.messagesReceived += 1;
    if (message.kind === 'request') bump(this.requestsReceived, methodLabel(message.method));
    else bump(this.responsesReceived, statusClass(message.status));
  }

  sent(data: Buffer): void {
    const line = startLineOf(data);
    if (line === null) return;
    if ('status' in line) bump(this.responsesSent, statusClass(line.status));
    else bump(this.requestsSent, methodLabel(line.method));
  }

  callStarted(trunk: string | null): void {
    bump(this.callsStarted, trunk ?? NO_TRUNK);
  }

  callAnswered(trunk: string | null): void {
    bump(this.callsAnswered, trunk ?? NO_TRUNK);
  }

  callFailed(reason: CallFailure): void {
    bump(this.callsFailed, reason);
  }
}
