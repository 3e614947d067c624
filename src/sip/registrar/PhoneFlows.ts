/**
 * The proxy's part in a phone's flow (RFC 5626): the flow a request came over, the flow token
 * carried toward the registrar in a Path entry (RFC 3327 §4) or in each Contact (for registrars
 * without Path), and the keepalive OPTIONS sent to a phone over its flow (Phones.ts).
 */
import { randomBytes } from 'node:crypto';
import type { PhonesConfig } from '../../config/types.js';
import type { OwnAddresses } from '../proxy/OwnAddresses.js';
import type { OwnRequestSender } from '../proxy/OwnRequestSender.js';
import { BRANCH_PREFIX } from '../proxy/identifiers.js';
import { keepaliveOptions } from '../proxy/OwnRequests.js';
import type { Endpoint, ListenPoint } from '../transport/SipTransport.js';
import type { SipRequest } from '../wire/message.js';
import { aliasContact } from './ContactAlias.js';
import { rewriteContacts } from './contacts.js';
import type { Flow } from './Flow.js';

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
  ping(flow: Flow, contact: string): Promise<boolean> {
    const destination: Endpoint = { transport: flow.transport, address: flow.address, port: flow.port };
    const branch = `${BRANCH_PREFIX}ka.${randomBytes(8).toString('hex')}`;
    const options = keepaliveOptions(contact, this.deps.own.viaFor(destination, branch), this.deps.own.advertisedHost(this.deps.own.localFor(destination)));
    return new Promise((resolve) => this.deps.ownRequests.sendOwnRequest(`${branch}|OPTIONS`, 'OPTIONS', options, destination, resolve));
  }
}
