/** The phones' metrics: the registrar's counters, the bindings and flows held, the keepalives. */
import type { Registry } from 'prom-client';
import type { Phones } from '../../sip/registrar/Phones.js';
import { counterFrom, gaugeFrom, gaugesFrom } from './from.js';

export function registerPhonesMetrics(registry: Registry, phones: Phones): void {
  const { registrar } = phones;
  const c = registrar.counters;
  counterFrom(registry, 'pinlatch_phones_registers_total', 'REGISTER requests from phones', () => c.registers);
  counterFrom(registry, 'pinlatch_phones_registers_answered_locally_total', 'REGISTERs answered by pinlatch itself within phones.throttle (not sent to the registrar)', () => c.answeredLocally);
  counterFrom(registry, 'pinlatch_phones_registers_refused_full_total', 'REGISTERs refused because phones.maxBindings was reached', () => c.refusedFull);
  counterFrom(registry, 'pinlatch_phones_flow_failed_total', 'Requests toward a phone answered 430 Flow Failed (its flow is dead)', () => c.flowFailed);
  counterFrom(registry, 'pinlatch_phones_forged_tokens_total', 'Requests carrying a flow token that does not verify (answered 403)', () => c.forgedTokens);
  gaugeFrom(registry, 'pinlatch_phones_bindings', 'Phone bindings (AOR + contact) held (bound: phones.maxBindings)', () => registrar.bindings.size);
  gaugesFrom(registry, 'pinlatch_phones_flows', 'Phone flows (transport, address, port) held, by state (dead: keepalives unanswered or connection closed)', ['state'], () => {
    let alive = 0;
    let dead = 0;
    for (const flow of registrar.flows.values()) {
      if (flow.alive) alive += 1;
      else dead += 1;
    }
    return [[{ state: 'alive' }, alive], [{ state: 'dead' }, dead]];
  });
  counterFrom(registry, 'pinlatch_phones_keepalives_sent_total', 'Keepalive OPTIONS sent to silent UDP phones', () => phones.keepalives.sent);
  counterFrom(registry, 'pinlatch_phones_keepalives_missed_total', 'Keepalive OPTIONS left unanswered', () => phones.keepalives.missed);
}
