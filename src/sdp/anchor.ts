/**
 * Media anchoring: rewrites an SDP so that every active stream points at the relay. The body is
 * not re-serialised: the lines of the SdpView are copied as written (with CRLF line ends, RFC 8866
 * §5) except those this module changes:
 *   - c= (session and media level) and a=rtcp addresses become the advertised address, with the
 *     right address type (IP4/IP6);
 *   - each m= port becomes the relay port of that stream and leg; rejected streams stay at 0;
 *   - a=rtcp / a=rtcp-mux follow the stream's RtcpMuxAdvert. An RFC 8858 a=rtcp-mux-only is
 *     written as a=rtcp-mux, so the relay never forwards a mux-only demand it may not need: it can
 *     demux either leg itself;
 *   - hold is kept: sendonly/inactive pass through unchanged. A c=0.0.0.0 hold (RFC 2543 style,
 *     RFC 3264 §8.4) gets the relay address too — the relay stays in the path and keeps its ports —
 *     and its meaning moves to the direction attribute (sendrecv → sendonly, recvonly → inactive),
 *     as rtpengine does, so the far end still sees a hold;
 *   - ICE attributes are removed (the relay is the only candidate; RFC 8445 peers fall back to
 *     plain RTP toward c=), unless the plan keeps them;
 *   - the o= version follows SdpVersionState (RFC 3264 §8); an SDP without s= gets "s= " (§5.3
 *     makes the line mandatory).
 * A line written once per section (c=, s=, a=rtcp, a=rtcp-mux, the direction) that the input
 * repeats is written once, where it first appeared (a repeated s= with the value of the last, as
 * describeParsed reports it); an attribute the input lacks is added at the end of its media
 * description.
 */
import { isIP } from 'node:net';
import { isZeroAddress, type MediaDirection } from './describe.js';
import { SdpError } from './errors.js';
import { MAX_SDP_LENGTH, parseSdp } from './parse.js';
import type { RtcpMuxAdvert } from './rtcp-mux.js';
import type { SdpVersionState } from './version-state.js';
import { LineKind, type MediaView, type SdpView } from './view.js';

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

const CRLF = '\r\n';

function checkPort(port: number, what: string): void {
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new SdpError(`plan: ${what} ${port} is not a port 1..65535`);
}

function heldDirection(direction: MediaDirection): MediaDirection {
  if (direction === 'sendrecv') return 'sendonly';
  if (direction === 'recvonly') return 'inactive';
  return direction;
}

/** What changes in one media description. */
interface MediaRewrite {
  /** The m= port: the relay's, or 0 for a rejected stream. */
  readonly port: number;
  /** The direction attribute that replaces the input's (a c=0.0.0.0 hold), or null to keep the input's. */
  readonly direction: string | null;
  /** false: the stream is rejected, and its a=rtcp and a=rtcp-mux lines are kept as they are. */
  readonly active: boolean;
  /** An active stream's a=rtcp line, or null for none. */
  readonly rtcp: string | null;
  /** Whether an active stream carries a=rtcp-mux. */
  readonly rtcpMux: boolean;
}

function rewriteOf(view: SdpView, media: MediaView, index: number, stream: AnchorStream | 'rejected', plan: AnchorPlan, ipVer: 4 | 6): MediaRewrite {
  const effective = media.connection ?? view.connection;
  const direction =
    effective !== null && isZeroAddress(effective.address) && media.port !== 0
      ? `a=${heldDirection(media.direction ?? view.direction ?? 'sendrecv')}`
      : null;
  if (stream === 'rejected' || media.port === 0) return { port: 0, direction, active: false, rtcp: null, rtcpMux: false };
  checkPort(stream.rtpPort, `m-line ${index} RTP port`);
  const rtcpPort = stream.rtcpPort ?? stream.rtpPort + 1;
  checkPort(rtcpPort, `m-line ${index} RTCP port`);
  const mux = stream.rtcpMux ?? (media.rtcpMux ? (plan.role === 'answer' ? 'only' : 'offer') : 'none');
  let rtcp: string | null = null;
  if (mux !== 'only' && (media.rtcp !== null || rtcpPort !== stream.rtpPort + 1)) {
    // RFC 3605: a=rtcp names the RTCP port when it is not RTP + 1; keep the full form when the input used it.
    rtcp = media.rtcp !== null && media.rtcp.address !== null ? `a=rtcp:${rtcpPort} IN IP${ipVer} ${plan.address}` : `a=rtcp:${rtcpPort}`;
  }
  return { port: stream.rtpPort, direction, active: true, rtcp, rtcpMux: mux !== 'none' };
}

/** Appends the lines of media description `media` (its m= line to its last line) to `out`. */
function writeMedia(view: SdpView, media: MediaView, rewrite: MediaRewrite, connection: string, keepIce: boolean, out: string[]): void {
  const { lines, kinds } = view;
  const m = lines[media.line]!;
  out.push(`m=${media.type} ${rewrite.port}${m.slice(media.portEnd)}`);
  // Whether the line of each kind has been written (or is not to be written) in this description.
  let connectionDone = false;
  let directionDone = rewrite.direction === null;
  let rtcpDone = !rewrite.active;
  let rtcpMuxDone = !rewrite.active;
  for (let i = media.line + 1; i < media.end; i += 1) {
    const line = lines[i]!;
    switch (kinds[i]) {
      case LineKind.connection:
        if (!connectionDone) out.push(connection);
        connectionDone = true;
        break;
      case LineKind.ice:
        if (keepIce) out.push(line);
        break;
      case LineKind.direction:
        if (rewrite.direction === null) out.push(line);
        else if (!directionDone) out.push(rewrite.direction);
        directionDone = true;
        break;
      case LineKind.rtcp:
        if (!rewrite.active) out.push(line);
        else if (!rtcpDone && rewrite.rtcp !== null) out.push(rewrite.rtcp);
        rtcpDone = true;
        break;
      case LineKind.rtcpMux:
        if (!rewrite.active) out.push(line);
        else if (!rtcpMuxDone && rewrite.rtcpMux) out.push('a=rtcp-mux');
        rtcpMuxDone = true;
        break;
      default:
        out.push(line);
    }
  }
  if (!directionDone) out.push(rewrite.direction!);
  if (!rtcpDone && rewrite.rtcp !== null) out.push(rewrite.rtcp);
  if (!rtcpMuxDone && rewrite.rtcpMux) out.push('a=rtcp-mux');
}

/** Rewrites `text` to anchor its media at the relay as `plan` says; throws SdpError on malformed SDP or plan. */
export function anchorSdp(text: string, plan: AnchorPlan): string {
  return anchorParsed(parseSdp(text), plan);
}

/** anchorSdp over a view parseSdp returned: a caller that describes a body before anchoring it scans it once. */
export function anchorParsed(view: SdpView, plan: AnchorPlan): string {
  const ipVer = isIP(plan.address);
  if (ipVer === 0 || isZeroAddress(plan.address)) throw new SdpError(`plan: "${plan.address}" is not an advertisable IP address`);
  if (plan.streams.length < view.media.length) {
    throw new SdpError(`plan: ${plan.streams.length} stream(s) for ${view.media.length} m-line(s)`);
  }
  const v = ipVer as 4 | 6;
  const rewrites = view.media.map((m, i) => rewriteOf(view, m, i, plan.streams[i]!, plan, v));
  const connection = `c=IN IP${v} ${plan.address}`;
  const keepIce = plan.ice === 'keep';
  const name = plan.sessionName === undefined ? null : `s=${plan.sessionName === '' ? ' ' : plan.sessionName}`;
  const { lines, kinds, origin } = view;

  // Written in two parts split at the o= version, so that the version can be chosen from the rest;
  // each part is joined into one flat string, which holds no reference to the input's lines.
  const before: string[] = [];
  const after: string[] = [];
  let out = before;
  let nameDone = false;
  let connectionDone = false;
  const sessionEnd = view.media.length === 0 ? lines.length : view.media[0]!.line;
  for (let i = 0; i < sessionEnd; i += 1) {
    const line = lines[i]!;
    switch (kinds[i]) {
      case LineKind.origin:
        out = after;
        out.push(plan.replaceOrigin ? ` IN IP${v} ${plan.address}` : ` IN IP${origin.ipVersion} ${origin.address}`);
        if (view.sessionName === null) {
          out.push(name ?? 's= ');
          nameDone = true;
        }
        break;
      case LineKind.name:
        if (!nameDone) out.push(name ?? `s=${view.sessionName}`);
        nameDone = true;
        break;
      case LineKind.connection:
        if (!connectionDone) out.push(connection);
        connectionDone = true;
        break;
      case LineKind.ice:
        if (keepIce) out.push(line);
        break;
      default:
        out.push(line);
    }
  }
  view.media.forEach((m, i) => writeMedia(view, m, rewrites[i]!, connection, keepIce, after));
  before.push(`o=${origin.username} ${origin.sessionId} `);
  const head = before.join(CRLF);
  const tail = after.join(CRLF) + CRLF;

  const inputVersion = origin.sessionVersion;
  const version = plan.version ? plan.version.next(`${head}*${tail}`, BigInt(inputVersion), plan.forceIncrement ?? false) : null;
  let finalVersion: bigint | string = version ?? inputVersion;
  if (version === null && plan.forceIncrement) finalVersion = BigInt(inputVersion) + 1n;
  const anchored = `${head}${finalVersion}${tail}`;
  // CRLF line ends and the relay's address can make the body longer than the one received.
  if (anchored.length > MAX_SDP_LENGTH) throw new SdpError(`anchored body is larger than ${MAX_SDP_LENGTH} bytes`);
  return anchored;
}
