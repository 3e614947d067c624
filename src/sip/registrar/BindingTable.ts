/**
 * The registrations pinlatch has relayed: one entry per address-of-record and Contact, on the flow
 * it came over. Bounded (`phones.maxBindings`): a new binding beyond the bound is refused (503)
 * while refreshes of existing ones go on. Entries end with the phone's lease (an expired
 * registration is cleaned up), are replaced when the phone registers again from another NAT
 * mapping, and are removed with a REGISTER of expires 0.
 */
import type { Binding } from './RegisterThrottle.js';
import type { FlowTable } from './FlowTable.js';

export class BindingTable {
  private readonly bindings = new Map<string, Binding>();
  /** The keys of each address-of-record's bindings: a `Contact: *` finds them without a scan. */
  private readonly byAor = new Map<string, Set<string>>();

  constructor(
    private readonly flows: FlowTable,
    readonly max: number,
  ) {}

  get size(): number {
    return this.bindings.size;
  }

  static key(aor: string, contact: string): string {
    return `${aor}|${contact}`;
  }

  get(aor: string, contact: string): Binding | undefined {
    return this.bindings.get(BindingTable.key(aor, contact));
  }

  /** True when a binding for (aor, contact) may be added now. */
  hasRoom(aor: string, contact: string): boolean {
    return this.bindings.has(BindingTable.key(aor, contact)) || this.bindings.size < this.max;
  }

  /** Enters or replaces a binding (moving it to another flow when the NAT mapping changed). */
  set(binding: Binding): void {
    const key = BindingTable.key(binding.aor, binding.contact);
    const previous = this.bindings.get(key);
    if (previous && previous.flowKey !== binding.flowKey) this.unlinkFlow(previous.flowKey);
    const flow = this.flows.get(binding.flowKey);
    if (flow) {
      if (!previous || previous.flowKey !== binding.flowKey) flow.bindings += 1;
      flow.contact = binding.contact;
    }
    this.bindings.set(key, binding);
    let keys = this.byAor.get(binding.aor);
    if (keys === undefined) this.byAor.set(binding.aor, (keys = new Set()));
    keys.add(key);
  }

  delete(aor: string, contact: string): void {
    const key = BindingTable.key(aor, contact);
    const binding = this.bindings.get(key);
    if (!binding) return;
    this.bindings.delete(key);
    const keys = this.byAor.get(aor);
    keys?.delete(key);
    if (keys?.size === 0) this.byAor.delete(aor);
    this.unlinkFlow(binding.flowKey);
  }

  /** Every binding of an address-of-record (a wildcard `Contact: *` removes them all). */
  ofAor(aor: string): Binding[] {
    const keys = this.byAor.get(aor);
    return keys === undefined ? [] : [...keys].map((key) => this.bindings.get(key)!);
  }

  /** Removes the bindings whose phone lease ended; returns how many. */
  expire(now: number): number {
    let removed = 0;
    for (const binding of [...this.bindings.values()]) {
      if (binding.phoneExpiresAt <= now) {
        this.delete(binding.aor, binding.contact);
        removed += 1;
      }
    }
    return removed;
  }

  values(): IterableIterator<Binding> {
    return this.bindings.values();
  }

  private unlinkFlow(key: string): void {
    const flow = this.flows.get(key);
    if (!flow) return;
    flow.bindings -= 1;
    this.flows.release(key);
  }
}
