/** SDP anchoring: pure functions over the SdpView of a body (one scan, verbatim copy of unchanged lines). */
export { describeSdp, describeParsed, isZeroAddress, type SdpInfo, type SdpMediaInfo, type MediaDirection } from './describe.js';
export { anchorSdp, anchorParsed, type AnchorPlan, type AnchorStream } from './anchor.js';
export {
  rtcpMuxTowardAnswerer,
  rtcpMuxTowardOfferer,
  answererLegMuxes,
  type RtcpMuxFlags,
  type RtcpMuxAdvert,
} from './rtcp-mux.js';
export { SdpVersionState } from './version-state.js';
export { SdpError } from './errors.js';
export { MAX_SDP_LENGTH, parseSdp } from './parse.js';
export type { SdpView } from './view.js';
export { checkMediaFamily, MediaFamilyError, relayFamilyOf } from './family.js';
