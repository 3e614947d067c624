/**
 * A client transaction's link (ClientLink) as the proxy makes it: the transaction sends toward
 * its next hop from a listen point, and leaves the proxy's table of client transactions when it
 * ends. One object with methods instead of two closures and their context: it stays for the
 * transaction's whole life, Timer D/K/M included (32 s), tens of thousands at once under load.
 */
import type { ClientLink } from '../transaction/ClientTransaction.js';
import type { Endpoint, ListenPoint } from '../transport/SipTransport.js';

export type SendToward = (data: Buffer, to: Endpoint, local?: ListenPoint) => Promise<void>;

export class ClientTransactionLink implements ClientLink {
  constructor(
    private readonly table: Map<string, unknown>,
    private readonly key: string,
    private readonly sendToward: SendToward,
    private readonly destination: Endpoint,
    private readonly local: ListenPoint | undefined,
  ) {}

  send(data: Buffer): Promise<void> {
    return this.sendToward(data, this.destination, this.local);
  }

  onTerminated(): void {
    this.table.delete(this.key);
  }
}
