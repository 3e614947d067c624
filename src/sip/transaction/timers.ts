import { LingerQueue } from './LingerQueue.js';

/**
 * RFC 3261 §17 timer values (Table 4), derived from T1/T2/T4 of the configuration. Timer C (the
 * proxy's INVITE timeout, §16.6 step 11) comes from the configuration as well.
 */
export interface TransactionTimers {
  t1: number;
  t2: number;
  t4: number;
  /** Timer B / F / H / L / M (RFC 6026): 64*T1, transaction timeout and 2xx absorption. */
  timeout: number;
  /** Timer D: wait for response retransmissions after a non-2xx INVITE response (>= 32 s, UDP). */
  timerD: number;
  /** Timer C: a proxied INVITE with no final response is cancelled. */
  timerC: number;
  /**
   * How long datagrams are known to be waiting unread in the SIP socket now (ms), 0 when the
   * queue is short: a retransmission then waits that long (at most T2 in all), because the
   * response it would make up for may be among them (src/sip/edge/LoadShedder.ts measures it).
   */
  inboundBacklogMs?: () => number;
  /** Ends the transactions that linger after their final response (one timer for all of them). */
  linger: LingerQueue;
}

export function transactionTimers(cfg: { t1Ms: number; t2Ms: number; t4Ms: number; inviteTimeoutMs: number }): TransactionTimers {
  return {
    t1: cfg.t1Ms,
    t2: cfg.t2Ms,
    t4: cfg.t4Ms,
    timeout: 64 * cfg.t1Ms,
    timerD: Math.max(32_000, 64 * cfg.t1Ms),
    timerC: cfg.inviteTimeoutMs,
    linger: new LingerQueue(),
  };
}
