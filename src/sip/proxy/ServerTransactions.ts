/**
 * The proxy's server transactions (RFC 3261 §17.2) and what they hold: the table by key, how many
 * are not answered yet (what limits.serverTransactions bounds) and the bytes they keep (what
 * limits.transactionBytes bounds: each request as received, and the final response an answered
 * one keeps for retransmissions — it comes from the callee, up to sip.maxMessageBytes).
 *
 * A transaction's handlers are one small object of its own (ServerLink) rather than closures: an
 * answered transaction lingers for Timer J/L (32 s on UDP), so at hundreds of calls per second
 * tens of thousands of handler sets are alive at once, each a survivor every young-generation
 * collection copies. Three closures, their shared context and the object holding them cost about
 * four times what one object with five fields does. And its fields are the request's source and
 * listen point, not the parsed request: nothing else of the request stays alive with it.
 */
import { ServerTransaction, type ServerTransactionHandlers } from '../transaction/ServerTransaction.js';
import type { TransactionTimers } from '../transaction/timers.js';
import type { Endpoint, ListenPoint } from '../transport/SipTransport.js';

export type SendResponse = (data: Buffer, to: Endpoint, local: ListenPoint) => Promise<void>;

export class ServerTransactions {
  readonly #table = new Map<string, ServerTransaction>();
  /** Transactions not answered yet. */
  pending = 0;
  /** Bytes of the requests and kept responses of the open transactions. */
  bytes = 0;

  constructor(readonly send: SendResponse) {}

  /** Open transactions, answered and lingering ones included. */
  get size(): number {
    return this.#table.size;
  }

  get(key: string): ServerTransaction | undefined {
    return this.#table.get(key);
  }

  has(key: string): boolean {
    return this.#table.has(key);
  }

  /** A new transaction for a request of `size` bytes from `source`, received on `local`. */
  open(key: string, method: string, timers: TransactionTimers, source: Endpoint, local: ListenPoint, size: number): ServerTransaction {
    this.bytes += size;
    this.pending += 1;
    const tx = new ServerTransaction(key, method, source.transport === 'tcp', timers, new ServerLink(this, key, source, local, size));
    this.#table.set(key, tx);
    return tx;
  }

  /** Ends every transaction (the proxy stops). */
  terminateAll(): void {
    for (const tx of this.#table.values()) tx.terminate();
  }

  /** The transaction `key` ended: it leaves the table with the bytes it held. */
  ended(key: string, bytes: number): void {
    this.#table.delete(key);
    this.bytes -= bytes;
  }
}

/** One transaction's handlers: where its responses go, and its share of the accounting. */
class ServerLink implements ServerTransactionHandlers {
  #kept = 0;

  constructor(
    private readonly transactions: ServerTransactions,
    private readonly key: string,
    private readonly source: Endpoint,
    private readonly local: ListenPoint,
    private readonly size: number,
  ) {}

  send(data: Buffer): Promise<void> {
    return this.transactions.send(data, this.source, this.local);
  }

  onAnswered(keptBytes: number): void {
    this.transactions.pending -= 1;
    this.#kept = keptBytes;
    this.transactions.bytes += keptBytes;
  }

  onTerminated(): void {
    this.transactions.ended(this.key, this.size + this.#kept);
  }
}
