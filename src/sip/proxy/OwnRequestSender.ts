/**
 * Requests the proxy sends on its own behalf (CANCEL, BYE, keepalive OPTIONS): each gets a
 * client transaction of its own (§17.1), kept with the forwarded requests' so that its responses
 * find it.
 */
import { ClientTransaction } from '../transaction/ClientTransaction.js';
import type { TransactionTimers } from '../transaction/timers.js';
import { ClientTransactionLink } from './ClientTransactionLink.js';
import type { Endpoint, ListenPoint } from '../transport/SipTransport.js';
import type { SipRequest, SipResponse } from '../wire/message.js';

export interface OwnRequestSenderDeps {
  timers: TransactionTimers;
  /** Client transactions by key (responses are matched to them there). */
  clientTx: Map<string, ClientTransaction<SipResponse>>;
  send(data: Buffer, to: Endpoint, local?: ListenPoint): Promise<void>;
}

export class OwnRequestSender {
  constructor(private readonly deps: OwnRequestSenderDeps) {}

  /**
   * A request the proxy originates itself (CANCEL §9.1, BYE on media timeout, keepalive OPTIONS):
   * a client transaction gives it UDP retransmissions and absorbs the response; `answered`
   * learns whether any final response came. `request` may come as its bytes already; `local`
   * names the listen point it leaves from (default: the transport's choice toward `destination`).
   */
  sendOwnRequest(
    key: string,
    method: string,
    request: SipRequest | Buffer,
    destination: Endpoint,
    answered?: (yes: boolean) => void,
    local?: ListenPoint,
  ): void {
    const bytes = Buffer.isBuffer(request) ? request : request.serialize();
    const link = new ClientTransactionLink(this.deps.clientTx, key, this.deps.send, destination, local);
    const tx = new ClientTransaction<SipResponse>(key, method, bytes, destination.transport === 'tcp', this.deps.timers, link, {
      onResponse: (_response, status) => {
        if (status >= 200) answered?.(true);
      },
      onTimeout: () => answered?.(false),
      onTransportError: () => answered?.(false),
    });
    this.deps.clientTx.set(key, tx);
    tx.start();
  }
}
