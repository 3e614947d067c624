/**
 * Sorts a packet's source address into upstream PBX, trunk or stranger — the input of every
 * admission decision. Only the address counts: ports change behind NAT, and nothing a message
 * says about itself (Via, From, Contact) can be trusted.
 *
 * A trunk is recognised by the addresses its host resolves to (TrunkResolver); the upstream by its
 * URI's host, resolved the same way when it is a name, and by any further networks the
 * configuration lists (a PBX cluster, its outbound NAT). When an address is both, trunk wins: a
 * trunk's calls always go to the upstream, never back out through the route rules. With phones
 * configured, any other source (or one within `phones.networks`) is a phone.
 */
import type { TrunkConfig } from '../../config/types.js';
import type { SourceKind } from './Admission.js';

export interface AddressMatcher {
  has(address: string): boolean;
}

export interface SourceClass {
  readonly kind: SourceKind;
  /** The trunk the source belongs to (kind 'trunk'). */
  readonly trunk: TrunkConfig | undefined;
}

const UPSTREAM: SourceClass = { kind: 'upstream', trunk: undefined };
const PHONE: SourceClass = { kind: 'phone', trunk: undefined };
const STRANGER: SourceClass = { kind: 'stranger', trunk: undefined };

export class SourceClassifier {
  constructor(
    private readonly trunkOf: (address: string) => TrunkConfig | undefined,
    private readonly upstream: AddressMatcher,
    /** Sources that are phones (when not trunk or upstream), or null: no phones. */
    private readonly phones: AddressMatcher | null = null,
  ) {}

  classify(address: string): SourceClass {
    const trunk = this.trunkOf(address);
    if (trunk) return { kind: 'trunk', trunk };
    if (this.upstream.has(address)) return UPSTREAM;
    return this.phones?.has(address) ? PHONE : STRANGER;
  }
}
