/**
 * The flows phones registered through (RFC 5626 §3.1), with their liveness: a flow is dead when
 * its TCP connection closed or its phone stopped answering keepalives; a request for a dead flow
 * fails at once (430 Flow Failed, RFC 5626 §5.3) so the registrar can try the phone's other
 * registrations instead of waiting for a timeout.
 *
 * Each flow keeps the token pinlatch gave the registrar for it: a flow's token is computed (HMAC)
 * once, not for every REGISTER, and a request for a phone whose Route carries that exact token
 * is known to be genuine without checking its HMAC again. The token index is as bounded as the
 * table (one entry per flow, gone with it).
 */
import { flowKey, type Flow } from './Flow.js';

export interface FlowState {
  readonly flow: Flow;
  readonly key: string;
  /** The flow token the registrar holds for it (FlowToken.ts). */
  readonly token: string;
  alive: boolean;
  /** Keepalives sent without an answer since the last one answered. */
  missed: number;
  /** Last time the phone was heard on this flow (ms). */
  lastSeen: number;
  /** Bindings registered over it. */
  bindings: number;
  /** The Contact of its latest binding: where a keepalive OPTIONS is addressed. */
  contact: string | null;
}

export class FlowTable {
  private readonly flows = new Map<string, FlowState>();
  private readonly byToken = new Map<string, FlowState>();

  get size(): number {
    return this.flows.size;
  }

  get(key: string): FlowState | undefined {
    return this.flows.get(key);
  }

  /** The flow whose token is `token`, if the table holds it. */
  withToken(token: string): FlowState | undefined {
    return this.byToken.get(token);
  }

  /** The flow's state (`token` its flow token), created alive; a known flow heard again is alive again. */
  touch(flow: Flow, token: string, now: number): FlowState {
    const key = flowKey(flow);
    let state = this.flows.get(key);
    if (!state) {
      state = { flow, key, token, alive: true, missed: 0, lastSeen: now, bindings: 0, contact: null };
      this.flows.set(key, state);
      this.byToken.set(token, state);
    }
    this.heard(key, now);
    return state;
  }

  /** The phone spoke on a flow the table holds: it is alive (again). */
  heard(key: string, now: number): void {
    const state = this.flows.get(key);
    if (!state) return;
    state.alive = true;
    state.missed = 0;
    state.lastSeen = now;
  }

  markDead(key: string): void {
    const state = this.flows.get(key);
    if (state) state.alive = false;
  }

  /** Forgets a flow no binding uses any more. */
  release(key: string): void {
    const state = this.flows.get(key);
    if (state && state.bindings <= 0) {
      this.flows.delete(key);
      this.byToken.delete(state.token);
    }
  }

  values(): IterableIterator<FlowState> {
    return this.flows.values();
  }
}
