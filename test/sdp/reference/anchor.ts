// Reference model: src/sdp/anchor.ts as it was before src/sdp scanned lines itself (commit 00b4a2b),
// a full sdp-transform parse and write. Kept for test/sdp/reference.test.ts (the line-copying
// implementation must agree with it) and bench/micro/sdp-rewrite.ts (the before/after figures).
/**
 * Media anchoring: rewrites an SDP so that every active stream points at the relay. sdp-transform
 * parses and writes; this module only decides what changes:
 *   - c= (session and media level) and a=rtcp addresses become the advertised address, with the
 *     right address type (IP4/IP6);
 *   - each m= port becomes the relay port of that stream and leg; rejected streams stay at 0;
 *   - a=rtcp / a=rtcp-mux follow the stream's RtcpMuxAdvert. An RFC 8858 a=rtcp-mux-only is read
 *     as a=rtcp-mux (sdp-transform's grammar folds the two), so the relay never forwards a
 *     mux-only demand it may not need: it can demux either leg itself;
 *   - hold is kept: sendonly/inactive pass through unchanged. A c=0.0.0.0 hold (RFC 2543 style,
 *     RFC 3264 §8.4) gets the relay address too — the relay stays in the path and keeps its ports —
 *     and its meaning moves to the direction attribute (sendrecv → sendonly, recvonly → inactive),
 *     as rtpengine does, so the far end still sees a hold;
 *   - ICE attributes are removed (the relay is the only candidate; RFC 8445 peers fall back to
 *     plain RTP toward c=), unless the plan keeps them;
 *   - the o= version follows SdpVersionState (RFC 3264 §8).
 */
import { isIP } from 'node:net';
import { write, type MediaDescription, type SessionDescription } from 'sdp-transform';
import { isZeroAddress, type MediaDirection } from './describe.ts';
import { SdpError } from '../../../src/sdp/errors.ts';
import { connectionOf, parseSdp } from './parse.ts';
import type { RtcpMuxAdvert } from '../../../src/sdp/rtcp-mux.ts';
import type { SdpVersionState } from '../../../src/sdp/version-state.ts';

export interface AnchorStream {
  /** Relay RTP port advertised for this m-line. */
  readonly rtpPort: number;
  /** Relay RTCP port (default rtpPort + 1). */
  readonly rtcpPort?: number;
  /** Default: from the input — a=rtcp-mux present → 'offer' in an offer, 'only' in an answer; else 'none'. */
  readonly rtcpMux?: RtcpMuxAdvert;
}

export interface AnchorPlan {
  /** Advertised relay address (IPv4 or IPv6 literal) for c=, a=rtcp and (with replaceOrigin) o=. */
  readonly address: string;
  /** One entry per m-line, by index: the relay ports, or 'rejected' to refuse the stream (port 0). */
  readonly streams: readonly (AnchorStream | 'rejected')[];
  /** Whether this SDP is an offer or an answer (only matters for the rtcp-mux default). Default 'offer'. */
  readonly role?: 'offer' | 'answer';
  /** 'remove' (default) strips ICE attributes; 'keep' passes them through untouched. */
  readonly ice?: 'remove' | 'keep';
  /** Put the advertised address into o= (rtpengine `replace origin`), hiding the endpoint's. */
  readonly replaceOrigin?: boolean;
  /** Replace the s= line (rtpengine `replace session name`). */
  readonly sessionName?: string;
  /** Version continuity for this session and direction; without it the endpoint's version is kept. */
  readonly version?: SdpVersionState;
  /** Add one to the version even when the output is unchanged (rtpengine force-increment-sdp-ver). */
  readonly forceIncrement?: boolean;
}

const ICE_SESSION_KEYS = ['icelite', 'iceUfrag', 'icePwd', 'iceOptions'] as const;
const ICE_MEDIA_KEYS = ['candidates', 'iceUfrag', 'icePwd', 'iceOptions', 'endOfCandidates', 'remoteCandidates'] as const;
/** ICE attributes sdp-transform has no grammar for (kept in `invalid`): ice-mismatch, ice-pacing, ice2... */
const ICE_UNPARSED = /^(ice-|candidate:)/;

function checkPort(port: number, what: string): void {
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new SdpError(`plan: ${what} ${port} is not a port 1..65535`);
}

function stripIce(holder: { invalid?: { value: string }[] }, keys: readonly string[]): void {
  const record = holder as Record<string, unknown>;
  for (const key of keys) delete record[key];
  if (holder.invalid) {
    holder.invalid = holder.invalid.filter((a) => !ICE_UNPARSED.test(a.value));
    if (holder.invalid.length === 0) delete holder.invalid;
  }
}

function heldDirection(direction: MediaDirection): MediaDirection {
  if (direction === 'sendrecv') return 'sendonly';
  if (direction === 'recvonly') return 'inactive';
  return direction;
}

function anchorMedia(
  session: SessionDescription,
  media: MediaDescription,
  index: number,
  stream: AnchorStream | 'rejected',
  plan: AnchorPlan,
  ipVer: 4 | 6,
): void {
  const effective = connectionOf(session, media);
  if (effective !== undefined && isZeroAddress(String(effective.ip)) && media.port !== 0) {
    media.direction = heldDirection((media.direction ?? session.direction ?? 'sendrecv') as MediaDirection);
  }
  if (media.connection) media.connection = { version: ipVer, ip: plan.address };
  if (plan.ice !== 'keep') stripIce(media, ICE_MEDIA_KEYS);

  if (stream === 'rejected' || media.port === 0) {
    media.port = 0;
    return;
  }
  checkPort(stream.rtpPort, `m-line ${index} RTP port`);
  const rtcpPort = stream.rtcpPort ?? stream.rtpPort + 1;
  checkPort(rtcpPort, `m-line ${index} RTCP port`);
  const inputMux = media.rtcpMux !== undefined;
  const mux = stream.rtcpMux ?? (inputMux ? (plan.role === 'answer' ? 'only' : 'offer') : 'none');

  media.port = stream.rtpPort;
  if (mux === 'none') {
    delete media.rtcpMux;
  } else {
    media.rtcpMux = 'rtcp-mux';
  }
  if (mux === 'only') {
    delete media.rtcp;
  } else if (media.rtcp !== undefined || rtcpPort !== stream.rtpPort + 1) {
    // RFC 3605: a=rtcp names the RTCP port when it is not RTP + 1; keep the full form when the input used it.
    const full = media.rtcp?.address !== undefined;
    media.rtcp = full ? { port: rtcpPort, netType: 'IN', ipVer, address: plan.address } : { port: rtcpPort };
  }
}

function originLine(session: SessionDescription, version: bigint | string, plan: AnchorPlan, ipVer: 4 | 6): string {
  const o = session.origin;
  const address = plan.replaceOrigin ? plan.address : String(o.address);
  const addressVer = plan.replaceOrigin ? ipVer : o.ipVer;
  return `o=${o.username} ${o.sessionId} ${version} ${o.netType} IP${addressVer} ${address}`;
}

/** Rewrites `text` to anchor its media at the relay as `plan` says; throws SdpError on malformed SDP or plan. */
export function anchorSdp(text: string, plan: AnchorPlan): string {
  return anchorParsed(parseSdp(text), plan);
}

/**
 * anchorSdp over a description parseSdp returned, rewritten in place: a caller that describes a
 * body before anchoring it parses it once.
 */
export function anchorParsed(session: SessionDescription, plan: AnchorPlan): string {
  const ipVer = isIP(plan.address);
  if (ipVer === 0 || isZeroAddress(plan.address)) throw new SdpError(`plan: "${plan.address}" is not an advertisable IP address`);
  if (plan.streams.length < session.media.length) {
    throw new SdpError(`plan: ${plan.streams.length} stream(s) for ${session.media.length} m-line(s)`);
  }
  const v = ipVer as 4 | 6;
  session.media.forEach((m, i) => anchorMedia(session, m, i, plan.streams[i]!, plan, v));
  if (session.connection) session.connection = { version: v, ip: plan.address };
  if (plan.ice !== 'keep') stripIce(session, ICE_SESSION_KEYS);
  if (plan.sessionName !== undefined) session.name = plan.sessionName === '' ? ' ' : plan.sessionName;

  // sdp-transform writes o= through Number(), which would round a version above 2^53; the
  // origin line is therefore formatted here from the exact decimal text.
  const written = write(session);
  const inputVersion = String(session.origin.sessionVersion);
  const placeholder = originLine(session, '*', plan, v);
  const body = written.replace(/^o=.*$/m, placeholder);
  const version = plan.version ? plan.version.next(body, BigInt(inputVersion), plan.forceIncrement ?? false) : null;
  let finalVersion: bigint | string = version ?? inputVersion;
  if (version === null && plan.forceIncrement) finalVersion = BigInt(inputVersion) + 1n;
  return body.replace(placeholder, originLine(session, finalVersion, plan, v));
}
