/**
 * A flow (RFC 5626 §3.1): the path a phone's requests take to pinlatch — transport, the phone's
 * public address and port as the NAT presents them, and pinlatch's own socket they arrived on.
 * Requests toward the phone must leave through the same flow: from the same UDP socket to the NAT
 * mapping the phone opened, or over the same TCP connection (the phone accepts no new one).
 */
export interface Flow {
  readonly transport: 'udp' | 'tcp';
  /** The phone's address and port as seen by pinlatch (after the NAT). */
  readonly address: string;
  readonly port: number;
  /** pinlatch's listen point the phone talks to. */
  readonly localAddress: string;
  readonly localPort: number;
}

/** One text per flow: the key of the flow table. */
export function flowKey(flow: Flow): string {
  return `${flow.transport}|${flow.address}|${flow.port}|${flow.localAddress}|${flow.localPort}`;
}
