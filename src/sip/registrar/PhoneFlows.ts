/**
 * The proxy's part in a phone's flow (RFC 5626): the flow a request came over, the flow token
 * carried toward the registrar in a Path entry (RFC 3327 §4) or in each Contact (for registrars
 * without Path), and the keepalive OPTIONS sent to a phone over its flow (Phones.ts).
 */
import type { PhonesConfig } from '../../config/types.js';
import type { OwnAddresses } from '../proxy/OwnAddresses.js';
import type { OwnRequestSender } from '../proxy/OwnRequestSender.js';
import type { Endpoint, ListenPoint } from '../transport/SipTransport.js';
import type { SipRequest } from '../wire/message.js';
import { aliasContact } from './ContactAlias.js';
import { rewriteContacts } from './contacts.js';
import type { Flow } from './Flow.js';
import type { Ping, PingOrigin } from './KeepalivePing.js';

export interface PhoneFlowsDeps {
  /** Where the registrar keeps a phone's flow token (`phones.flowIn`). */
  flowIn(): PhonesConfig['flowIn'];
  own: OwnAddresses;
  ownRequests: OwnRequestSender;
}

/** The flow a request came over: its source and the listen point it reached. */
export function flowOf(source: Endpoint, local: ListenPoint): Flow {
  return { transport: source.transport, address: source.address, port: source.port, localAddress: local.address, localPort: local.port };
}

export class PhoneFlows {
  constructor(private readonly deps: PhoneFlowsDeps) {}

  /** Puts a phone's flow token where the registrar keeps it: a Path entry, or each Contact. */
  carryFlow(register: SipRequest, token: string, point: ListenPoint): void {
    if (this.deps.flowIn() === 'path') {
      register.prepend('Path', this.deps.own.pathFor(token, point));
      return;
    }
    const at = { host: this.deps.own.advertisedHost(point), port: point.port, transport: point.transport };
    rewriteContacts(register, (c) => {
      c.uri = aliasContact(c.uri, token, at);
      return true;
    });
  }

  /** A keepalive OPTIONS to a phone over its flow (Phones.ts): true when anything answered. */
  ping(flow: Flow, ping: Ping): Promise<boolean> {
    const destination: Endpoint = { transport: flow.transport, address: flow.address, port: flow.port };
    return new Promise((resolve) =>
      this.deps.ownRequests.sendOwnRequest(`${ping.branch}|OPTIONS`, 'OPTIONS', ping.bytes, destination, resolve, this.flowPoint(flow)),
    );
  }

  /** pinlatch's address in a ping over `flow`: the listen point the flow came in on. */
  pingOrigin(flow: Flow): PingOrigin {
    const point = this.flowPoint(flow);
    return { transport: flow.transport === 'tcp' ? 'TCP' : 'UDP', host: this.deps.own.advertisedHost(point), port: point.port };
  }

  /**
   * The listen point a flow came in on: a ping must leave from it to pass the phone's NAT, whose
   * mapping admits only the address and port the phone sent to (RFC 5626 §3.1, §4.4).
   */
  private flowPoint(flow: Flow): ListenPoint {
    const own = this.deps.own.listenPoints.find((p) => p.transport === flow.transport && p.address === flow.localAddress && p.port === flow.localPort);
    return own ?? this.deps.own.localFor({ transport: flow.transport, address: flow.address, port: flow.port });
  }
}
