/**
 * Readiness of a running relay, as /readyz reports it: ready to take new calls when its media
 * plane runs, its SIP listen points are bound (when SIP is configured) and no drain runs. A drain
 * keeps the running calls (and the metrics that show them) while a load balancer stops sending.
 */
export interface Readiness {
  ready: boolean;
  /** Every media shard is up. */
  media?: boolean;
  /** SIP listens on its listen points; absent when SIP is not configured. */
  sip?: boolean;
  /** A drain (SIGTERM) began: new calls are refused. */
  draining?: boolean;
}

export function readinessOf(state: { media: boolean; sip: boolean | undefined; draining: boolean }): Readiness {
  const sipOk = state.sip ?? true;
  return {
    ready: state.media && sipOk && !state.draining,
    media: state.media,
    ...(state.sip === undefined ? {} : { sip: state.sip }),
    draining: state.draining,
  };
}
