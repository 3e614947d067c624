/**
 * rtcp-mux (RFC 5761) negotiation across the relay, with rtpengine's NG `rtcp-mux` flags and
 * their documented meaning (docs/ng_control_protocol.md, "rtcp-mux"):
 *   offer   – always offer rtcp-mux to the answerer, even if the offerer did not;
 *   require – like offer, and advertise no separate RTCP port at all (for WebRTC peers; an initial
 *             offer without an RTCP port is against RFC 5761 §5.1.1, as rtpengine notes);
 *   demux   – do not offer rtcp-mux onward, but accept it back to the offerer;
 *   accept  – accept rtcp-mux from the offerer and offer it onward if it was offered;
 *   reject  – do not accept rtcp-mux from the offerer (with `offer`: the opposite of demux).
 * With no flag the relay goes along with the endpoints: each leg muxes exactly when its peer
 * negotiated it. Each relay leg muxes or not on its own, so mixing (one leg muxed, the other not)
 * is always possible: that is what makes demux and offer+reject work.
 */

export interface RtcpMuxFlags {
  readonly offer?: boolean;
  readonly require?: boolean;
  readonly demux?: boolean;
  readonly accept?: boolean;
  readonly reject?: boolean;
}

/**
 * How one m-line advertises RTCP in a rewritten SDP:
 *   none  – no a=rtcp-mux; RTCP on the relay's RTCP port;
 *   offer – a=rtcp-mux, plus the relay's RTCP port as the fallback should the answer not mux
 *           (RFC 5761 §5.1.1: the offerer must be ready for either);
 *   only  – a=rtcp-mux and no separate RTCP port (an answer accepting mux, or `require`).
 */
export type RtcpMuxAdvert = 'none' | 'offer' | 'only';

/** What the offer forwarded to the answerer advertises, given whether the offerer offered mux. */
export function rtcpMuxTowardAnswerer(flags: RtcpMuxFlags, offererMux: boolean): RtcpMuxAdvert {
  if (flags.require) return 'only';
  if (flags.offer) return 'offer';
  if (flags.demux) return 'none';
  return offererMux ? 'offer' : 'none';
}

/**
 * Whether the answer returned to the offerer accepts mux. An answer may only carry a=rtcp-mux
 * when the offer did (RFC 8035), so nothing the flags say can add it to a non-mux offerer.
 */
export function rtcpMuxTowardOfferer(
  flags: RtcpMuxFlags,
  offererMux: boolean,
  towardAnswerer: RtcpMuxAdvert,
  answererMux: boolean,
): boolean {
  if (!offererMux || flags.reject) return false;
  // The answerer was never asked (demux): the relay terminates mux toward the offerer itself.
  if (towardAnswerer === 'none') return true;
  if (flags.accept || flags.require) return true;
  return answererMux;
}

/** Whether the answerer's leg muxes once its answer is known. */
export function answererLegMuxes(towardAnswerer: RtcpMuxAdvert, answererMux: boolean): boolean {
  if (towardAnswerer === 'only') return true;
  return towardAnswerer === 'offer' && answererMux;
}
