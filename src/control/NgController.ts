/**
 * The NG commands (rtpengine docs/ng_control_protocol.md) on top of the media plane's typed API
 * (src/media/api.ts) and the SDP functions (src/sdp/). Every difference from rtpengine is listed
 * in docs/ng-protocol.md.
 *
 * offer:  creates or updates the call's media session (one relay stream per m-line), tells the
 *         offerer's leg what its SDP and `received from` say, and rewrites the SDP toward the
 *         answerer with the answerer-facing leg's ports.
 * answer: tells the answerer's leg the same and rewrites the answer toward the offerer with the
 *         offerer-facing leg's ports.
 * delete: releases the session (after `delete delay` seconds when asked) and returns the final
 *         counters in query form.
 */
import { MediaError } from '../media/errors.js';
import type { LegHint, LegName, MediaRelayApi, MediaSession, StreamStats } from '../media/api.js';
import type { LegCounters } from '../native.js';
import {
  anchorSdp,
  answererLegMuxes,
  describeSdp,
  rtcpMuxTowardAnswerer,
  rtcpMuxTowardOfferer,
  SdpError,
  type AnchorStream,
  type RtcpMuxFlags,
  type SdpInfo,
} from '../sdp/index.js';
import type { BencodeInput } from './bencode.js';
import { NgError } from './errors.js';
import { NgCallTable, otherLeg, type NgCall, type NgMediaState } from './NgCallTable.js';
import type { NgRequest } from './NgRequest.js';
import type { NgPeer, NgReply, NgRequestHandler } from './NgServer.js';

export interface NgControllerOptions {
  /**
   * Default `delete delay` in seconds when the request has none. rtpengine's default is 30 s;
   * pinlatch's is 0 (see docs/ng-protocol.md: ports are quarantined by the pool anyway).
   */
  deleteDelaySec?: number;
  /** Default `list` limit (rtpengine: 32). */
  listLimit?: number;
  /** Clock in ms (tests). */
  now?: () => number;
  /**
   * The calls the SIP proxy of the same process holds (SipProxy.calls): `list` and `query` show
   * them beside the NG calls, so rtpengine tooling sees every call the relay carries.
   */
  sipCalls?: () => readonly SipCall[];
}

/** A call set up through pinlatch's own SIP side, as `list` and `query` show it. */
export interface SipCall {
  callId: string;
  /** Media leg A faces the caller, leg B the callee (null before an answer). */
  callerTag: string | null;
  calleeTag: string | null;
  /** Its media session, or null while no SDP was anchored. */
  mediaKey: string | null;
  /** Unix milliseconds when the INVITE was taken on. */
  createdAt: number;
}

/** What a `query` reply is built from: an NG call, or a SIP call (whose m-lines it does not describe: null). */
type QueriedCall = Pick<NgCall, 'key' | 'created' | 'lastSignal' | 'tags' | 'tagCreated'> & { media: ReadonlyArray<NgMediaState | null> };

/** Session-wide counters behind the `statistics` command. */
interface Totals {
  managed: number;
  rejected: number;
  timeout: number;
  lost: number;
  regularTerminated: number;
  forcedTerminated: number;
  /** Packets and errors of sessions already deleted. */
  relayedPackets: number;
  relayedBytes: number;
  relayedErrors: number;
  commands: Record<string, number>;
}

const SESSION_NAME = 'pinlatch';

function isSrtp(proto: string): boolean {
  return /SAVP|TLS/i.test(proto);
}

/** rtpengine `endpoint` dictionaries: family IPv4/IPv6, address, port. */
function endpointOf(address: string | null, port: number | null): BencodeInput | undefined {
  if (address === null || port === null) return undefined;
  return { family: address.includes(':') ? 'IPv6' : 'IPv4', address, port };
}

function splitPeer(peer: string | null): [string, number] | null {
  if (peer === null) return null;
  const colon = peer.lastIndexOf(':');
  if (colon < 0) return null;
  const host = peer.slice(0, colon).replace(/^\[|\]$/g, '');
  return [host, Number(peer.slice(colon + 1))];
}

function legErrors(c: LegCounters): number {
  return c.dropInvalid + c.dropStranger + c.dropSendError;
}

export class NgController implements NgRequestHandler {
  readonly calls = new NgCallTable();
  private readonly media: MediaRelayApi;
  private readonly deleteDelaySec: number;
  private readonly listLimit: number;
  private readonly now: () => number;
  private readonly startedAt: number;
  private readonly sipCalls: () => readonly SipCall[];
  private readonly totals: Totals = {
    managed: 0,
    rejected: 0,
    timeout: 0,
    lost: 0,
    regularTerminated: 0,
    forcedTerminated: 0,
    relayedPackets: 0,
    relayedBytes: 0,
    relayedErrors: 0,
    commands: {},
  };

  constructor(media: MediaRelayApi, options: NgControllerOptions = {}) {
    this.media = media;
    this.deleteDelaySec = options.deleteDelaySec ?? 0;
    this.listLimit = options.listLimit ?? 32;
    this.now = options.now ?? Date.now;
    this.sipCalls = options.sipCalls ?? (() => []);
    this.startedAt = this.now();
    // Sessions the media plane ends on its own: no media for the timeout, or a dead shard.
    media.on('timeout', (key) => this.onMediaGone(key, 'timeout'));
    media.on('lost', (key) => this.onMediaGone(key, 'lost'));
  }

  /** NG commands handled since start, by command name (the metrics endpoint reads them). */
  commandCounts(): Readonly<Record<string, number>> {
    return this.totals.commands;
  }

  private nowSec(): number {
    return Math.floor(this.now() / 1000);
  }

  /** Unix seconds of a CLOCK_MONOTONIC millisecond stamp (LegCounters.lastActivityMs). */
  private unixOfMonotonic(monotonicMs: number): number {
    // process.hrtime reads CLOCK_MONOTONIC on Linux (libuv uv_hrtime), the clock the addon uses.
    const nowMonotonicMs = Number(process.hrtime.bigint() / 1_000_000n);
    return Math.floor((this.now() - (nowMonotonicMs - monotonicMs)) / 1000);
  }

  /** `source` is the NG client (the SIP proxy), not the SIP endpoint: only `received from` names that. */
  async handle(request: NgRequest, _source: NgPeer): Promise<NgReply> {
    this.totals.commands[request.command] = (this.totals.commands[request.command] ?? 0) + 1;
    switch (request.command) {
      case 'ping':
        return { result: 'pong' };
      case 'list':
        return this.list(request);
      case 'statistics':
        return this.statistics();
      case 'offer':
      case 'answer':
      case 'delete':
      case 'query': {
        const callId = request.callId;
        if (callId === undefined) throw new NgError('ERR_PINLATCH_NG_MISSING_KEY', 'No call-id in message');
        return this.calls.serialize(callId, () => this.callCommand(request, callId));
      }
    }
  }

  private callCommand(request: NgRequest, callId: string): Promise<NgReply> {
    switch (request.command) {
      case 'offer':
        return this.offer(request, callId);
      case 'answer':
        return this.answer(request, callId);
      case 'delete':
        return this.delete(request, callId);
      default:
        return this.query(request, callId);
    }
  }

  private parseSdp(request: NgRequest): SdpInfo {
    if (request.sdp === undefined) throw new NgError('ERR_PINLATCH_NG_MISSING_KEY', 'No SDP body in message');
    try {
      const info = describeSdp(request.sdp);
      if (info.media.length === 0) throw new SdpError('no m= line');
      return info;
    } catch (err) {
      if (err instanceof SdpError) throw new NgError('ERR_PINLATCH_NG_SDP', `Failed to parse SDP: ${err.reason}`, { cause: err });
      throw err;
    }
  }

  /** Checks what pinlatch cannot do and collects warnings for what it ignores. */
  private checkSupported(request: NgRequest, sdp: SdpInfo): string[] {
    const warnings: string[] = [];
    const wanted = request.transportProtocol;
    for (const m of sdp.media) {
      if (!m.rejected && isSrtp(m.proto)) {
        throw new NgError('ERR_PINLATCH_NG_UNSUPPORTED', `Unsupported transport protocol ${m.proto} (pinlatch relays plain RTP only)`);
      }
      if (wanted !== undefined && wanted !== 'accept' && wanted !== m.proto && !m.rejected) {
        if (isSrtp(wanted)) throw new NgError('ERR_PINLATCH_NG_UNSUPPORTED', `Unsupported transport protocol ${wanted} (no SRTP)`);
        warnings.push(`transport protocol ${wanted} not applied (kept ${m.proto})`);
      }
    }
    if (request.ice === 'force' || request.ice === 'force-relay' || request.ice === 'optional') {
      warnings.push(`ICE=${request.ice} not supported: ICE attributes removed`);
    }
    if (request.flags.has('no-port-latching')) warnings.push('no port latching ignored: relay ports are kept across re-offers');
    if (request.ignored.length > 0) warnings.push(`ignored: ${request.ignored.join(', ')}`);
    return [...new Set(warnings)];
  }

  private rtcpMuxFlags(request: NgRequest): RtcpMuxFlags {
    const o = request.rtcpMux;
    return { offer: o.has('offer'), require: o.has('require'), demux: o.has('demux'), accept: o.has('accept'), reject: o.has('reject') };
  }

  /**
   * The media plane's hint for one leg of one m-line, from the SDP and the flags:
   * - `media address` overrides everything; `SIP source address` uses `received from` instead of
   *   the SDP address; otherwise (`trust address`, the default) the SDP address;
   * - `received from` is always the signalling source (which source may latch a NATed leg);
   * - `asymmetric` fixes the destination (no learning).
   */
  private hintFor(request: NgRequest, m: SdpInfo['media'][number], rtcpMux: boolean): LegHint {
    let sdpAddress = m.peerAddress;
    if (request.mediaAddress !== undefined) sdpAddress = request.mediaAddress;
    else if (request.flags.has('sip-source-address') && request.receivedFrom !== undefined) sdpAddress = request.receivedFrom;
    const hint: LegHint = {
      sdpAddress,
      sdpPort: m.port,
      rtcpMux,
      signalSource: request.receivedFrom ?? null,
    };
    if (m.rtcpPort !== null) hint.sdpRtcpPort = m.rtcpPort;
    if (request.flags.has('asymmetric')) hint.mode = 'fixed';
    return hint;
  }

  private async ensureSession(call: NgCall, streams: number, created: boolean): Promise<MediaSession> {
    try {
      return await this.media.ensureSession(call.key, streams);
    } catch (err) {
      if (created) {
        this.calls.remove(call.callId);
        this.totals.rejected += 1;
      }
      throw this.mediaError(err);
    }
  }

  private mediaError(err: unknown): NgError {
    if (err instanceof MediaError) {
      const reason = err.code === 'ERR_PINLATCH_PORTS_EXHAUSTED' ? 'Ran out of ports' : err.message;
      return new NgError('ERR_PINLATCH_NG_MEDIA', reason, { cause: err });
    }
    if (err instanceof NgError) return err;
    return new NgError('ERR_PINLATCH_NG_MEDIA', err instanceof Error ? err.message : String(err), { cause: err });
  }

  private anchorOptions(request: NgRequest): { replaceOrigin: boolean; sessionName?: string; forceIncrement: boolean } {
    const r = request.replace;
    const out: { replaceOrigin: boolean; sessionName?: string; forceIncrement: boolean } = {
      replaceOrigin: r.has('origin') || r.has('origin-full'),
      forceIncrement: r.has('force-increment-sdp-ver'),
    };
    if (r.has('session-name')) out.sessionName = SESSION_NAME;
    return out;
  }

  private rewrite(request: NgRequest, call: NgCall, toward: LegName, streams: (AnchorStream | 'rejected')[], role: 'offer' | 'answer'): string {
    try {
      return anchorSdp(request.sdp!, {
        address: this.media.advertise,
        streams,
        role,
        ice: 'remove',
        version: call.versions[toward],
        ...this.anchorOptions(request),
      });
    } catch (err) {
      if (err instanceof SdpError) throw new NgError('ERR_PINLATCH_NG_SDP', `Failed to rewrite SDP: ${err.reason}`, { cause: err });
      throw err;
    }
  }

  private async offer(request: NgRequest, callId: string): Promise<NgReply> {
    const fromTag = request.fromTag;
    if (fromTag === undefined) throw new NgError('ERR_PINLATCH_NG_MISSING_KEY', 'No from-tag in message');
    const sdp = this.parseSdp(request);
    const warnings = this.checkSupported(request, sdp);

    let call = this.calls.get(callId);
    const created = call === undefined;
    if (call === undefined) {
      call = this.calls.create(callId, fromTag, this.nowSec());
      this.totals.managed += 1;
    }
    clearTimeout(call.deleteTimer);
    call.deleteTimer = undefined;

    // Which leg offers: the from-tag's. A re-INVITE from the callee carries the callee's tag (B).
    let offerer: LegName;
    if (fromTag === call.tags.a) offerer = 'a';
    else if (fromTag === call.tags.b) offerer = 'b';
    else if (call.tags.b === null) {
      // Nothing answered yet and a new tag offers (e.g. a redirected INVITE): it becomes A.
      call.tags.a = fromTag;
      call.tagCreated.a = this.nowSec();
      offerer = 'a';
    } else {
      throw new NgError('ERR_PINLATCH_NG_UNKNOWN_CALL', `Unknown from-tag ${fromTag} for call ${callId}`);
    }
    const answerer = otherLeg(offerer);

    const session = await this.ensureSession(call, Math.max(sdp.media.length, call.media.length), created);
    const muxFlags = this.rtcpMuxFlags(request);
    const hints: LegHint[] = [];
    const streams: (AnchorStream | 'rejected')[] = [];
    for (const m of sdp.media) {
      const towardAnswerer = m.rejected ? 'none' : rtcpMuxTowardAnswerer(muxFlags, m.rtcpMux);
      const previous = call.media[m.index];
      const state: NgMediaState = {
        type: m.type,
        proto: m.proto,
        rtcpMuxTowardAnswerer: towardAnswerer,
        offererMux: m.rtcpMux,
        advertised: { a: previous?.advertised.a ?? null, b: previous?.advertised.b ?? null },
      };
      // The offerer must be ready for RTCP on either port until the answer (RFC 5761 §5.1.1); the
      // leg muxes toward it only once the answer accepts. Until then: mux if it offered mux.
      const offererMux = m.rtcpMux && !muxFlags.reject;
      state.advertised[offerer] = { address: m.peerAddress, port: m.port, rtcpPort: m.rtcpPort, mux: m.rtcpMux };
      call.media[m.index] = state;
      const hint = this.hintFor(request, m, offererMux);
      this.rememberHint(call, m.index, offerer, hint);
      hints.push(hint);
      const ports = session.streams[m.index]![answerer];
      streams.push(m.rejected ? 'rejected' : { rtpPort: ports.rtp, rtcpPort: ports.rtcp, rtcpMux: towardAnswerer });
    }
    try {
      await Promise.all(hints.map((hint, index) => this.media.setLeg(call.key, index, offerer, hint)));
    } catch (err) {
      if (created) await this.release(call, 'forced');
      throw this.mediaError(err);
    }
    const out = this.rewrite(request, call, answerer, streams, 'offer');
    call.offerer = offerer;
    call.lastSignal = this.nowSec();
    return { result: 'ok', sdp: out, warning: warnings.length > 0 ? warnings.join('; ') : undefined };
  }

  private async answer(request: NgRequest, callId: string): Promise<NgReply> {
    const fromTag = request.fromTag;
    const toTag = request.toTag;
    if (fromTag === undefined) throw new NgError('ERR_PINLATCH_NG_MISSING_KEY', 'No from-tag in message');
    if (toTag === undefined) throw new NgError('ERR_PINLATCH_NG_MISSING_KEY', 'No to-tag in message');
    const sdp = this.parseSdp(request);
    const warnings = this.checkSupported(request, sdp);

    const call = this.calls.get(callId);
    if (call === undefined || call.media.length === 0) {
      throw new NgError('ERR_PINLATCH_NG_UNKNOWN_CALL', `Unknown call-id ${callId}`);
    }
    clearTimeout(call.deleteTimer);
    call.deleteTimer = undefined;
    // The answerer is the to-tag's side: the other side of the offerer (the from-tag's leg).
    const offerer: LegName = fromTag === call.tags.b && call.tags.b !== null ? 'b' : 'a';
    if (offerer === 'a' && fromTag !== call.tags.a) {
      throw new NgError('ERR_PINLATCH_NG_UNKNOWN_CALL', `Unknown from-tag ${fromTag} for call ${callId}`);
    }
    const answerer = otherLeg(offerer);
    if (call.tags[answerer] !== toTag) {
      // First answer, or another fork answering: the latest answer owns the leg.
      call.tags[answerer] = toTag;
      call.tagCreated[answerer] = this.nowSec();
    }
    if (sdp.media.length > call.media.length) {
      throw new NgError('ERR_PINLATCH_NG_SDP', `Answer has ${sdp.media.length} m-lines, the offer had ${call.media.length}`);
    }
    const session = this.media.get(call.key);
    if (session === undefined) throw new NgError('ERR_PINLATCH_NG_UNKNOWN_CALL', `Call ${callId} has no media session`);

    const muxFlags = this.rtcpMuxFlags(request);
    const tasks: Promise<void>[] = [];
    const streams: (AnchorStream | 'rejected')[] = [];
    for (const m of sdp.media) {
      const state = call.media[m.index]!;
      const answererMux = answererLegMuxes(state.rtcpMuxTowardAnswerer, m.rtcpMux);
      const offererMux = !m.rejected && rtcpMuxTowardOfferer(muxFlags, state.offererMux, state.rtcpMuxTowardAnswerer, m.rtcpMux);
      state.advertised[answerer] = { address: m.peerAddress, port: m.port, rtcpPort: m.rtcpPort, mux: m.rtcpMux };
      const hint = this.hintFor(request, m, answererMux);
      this.rememberHint(call, m.index, answerer, hint);
      tasks.push(this.media.setLeg(call.key, m.index, answerer, hint));
      // The offerer's leg now knows whether mux was accepted toward it.
      tasks.push(this.refreshOffererLeg(call, m.index, offerer, offererMux));
      const ports = session.streams[m.index]![offerer];
      streams.push(m.rejected ? 'rejected' : { rtpPort: ports.rtp, rtcpPort: ports.rtcp, rtcpMux: offererMux ? 'only' : 'none' });
    }
    try {
      await Promise.all(tasks);
    } catch (err) {
      throw this.mediaError(err);
    }
    const out = this.rewrite(request, call, offerer, streams, 'answer');
    call.lastSignal = this.nowSec();
    return { result: 'ok', sdp: out, warning: warnings.length > 0 ? warnings.join('; ') : undefined };
  }

  /**
   * Re-sends the offerer leg's hint with the negotiated rtcp-mux; the rest of what the offer said
   * (addresses, signal source, latch mode) is kept.
   */
  private refreshOffererLeg(call: NgCall, index: number, leg: LegName, rtcpMux: boolean): Promise<void> {
    const kept = this.offerHints.get(call.key)?.[leg]?.[index];
    if (kept === undefined || kept.rtcpMux === rtcpMux) return Promise.resolve();
    const next: LegHint = { ...kept, rtcpMux };
    this.rememberHint(call, index, leg, next);
    return this.media.setLeg(call.key, index, leg, next);
  }

  /** Last hint sent for each leg and stream, per session key. */
  private readonly offerHints = new Map<string, Record<LegName, LegHint[]>>();

  private rememberHint(call: NgCall, index: number, leg: LegName, hint: LegHint): void {
    let perLeg = this.offerHints.get(call.key);
    if (perLeg === undefined) {
      perLeg = { a: [], b: [] };
      this.offerHints.set(call.key, perLeg);
    }
    perLeg[leg][index] = hint;
  }

  private async delete(request: NgRequest, callId: string): Promise<NgReply> {
    const call = this.calls.get(callId);
    if (call === undefined) {
      const reason = `Call-ID not found or tags didn't match`;
      if (request.flags.has('fatal')) throw new NgError('ERR_PINLATCH_NG_UNKNOWN_CALL', reason);
      return { result: 'ok', warning: reason };
    }
    const stats = await this.statsOf(call);
    const reply = this.queryReplyOf(call, stats);
    const delaySec = request.deleteDelay ?? this.deleteDelaySec;
    if (delaySec > 0) {
      clearTimeout(call.deleteTimer);
      call.deleteTimer = setTimeout(() => {
        void this.calls.serialize(callId, () => this.release(call, 'regular'));
      }, delaySec * 1000);
      call.deleteTimer.unref();
    } else {
      // The reply's snapshot doubles as the final counters: one shard round trip fewer per
      // delete. Packets arriving during the close round trip itself are not counted.
      await this.release(call, 'regular', stats);
    }
    return reply;
  }

  /**
   * Releases the call's media session and forgets the call; counters go to the totals.
   * `finalStats` is a snapshot taken just before (the delete reply's); without it the counters
   * are fetched here.
   */
  private async release(call: NgCall, why: 'regular' | 'forced', finalStats?: StreamStats[]): Promise<void> {
    if (this.calls.get(call.callId) !== call) return;
    const stats = finalStats ?? (await this.media.stats(call.key).catch(() => undefined));
    if (stats !== undefined) this.addToTotals(stats);
    this.calls.remove(call.callId);
    this.offerHints.delete(call.key);
    if (why === 'regular') this.totals.regularTerminated += 1;
    else this.totals.forcedTerminated += 1;
    await this.media.release(call.key);
  }

  private addToTotals(stats: readonly StreamStats[]): void {
    for (const s of stats) {
      for (const c of [s.a, s.b]) {
        this.totals.relayedPackets += c.packetsOut;
        this.totals.relayedBytes += c.bytesOut;
        this.totals.relayedErrors += legErrors(c);
      }
    }
  }

  private onMediaGone(key: string, why: 'timeout' | 'lost'): void {
    const callId = NgCallTable.callIdOfKey(key);
    if (callId === undefined) return;
    void this.calls.serialize(callId, async () => {
      const call = this.calls.get(callId);
      if (call === undefined) return;
      if (why === 'timeout') this.totals.timeout += 1;
      else this.totals.lost += 1;
      this.calls.remove(callId);
      this.offerHints.delete(key);
      await this.media.release(key).catch(() => undefined);
    });
  }

  private async query(request: NgRequest, callId: string): Promise<NgReply> {
    void request;
    const call = this.calls.get(callId) ?? this.sipQueried(callId);
    if (call === undefined) throw new NgError('ERR_PINLATCH_NG_UNKNOWN_CALL', 'Unknown call-id');
    return this.queryReplyOf(call, await this.statsOf(call));
  }

  /**
   * A call of the SIP side in `query` form: its session's streams without m-line descriptions,
   * created and last signal both the time its INVITE was taken on.
   */
  private sipQueried(callId: string): QueriedCall | undefined {
    const calls = this.sipCalls().filter((c) => c.callId === callId);
    const call = calls.find((c) => c.calleeTag !== null && c.mediaKey !== null) ?? calls.find((c) => c.mediaKey !== null) ?? calls[0];
    if (call === undefined) return undefined;
    const created = Math.floor(call.createdAt / 1000);
    const session = call.mediaKey === null ? undefined : this.media.get(call.mediaKey);
    return {
      key: call.mediaKey ?? '',
      created,
      lastSignal: created,
      tags: { a: call.callerTag, b: call.calleeTag },
      tagCreated: { a: created, b: created },
      media: (session?.streams ?? []).map(() => null),
    };
  }

  private async statsOf(call: QueriedCall): Promise<StreamStats[] | undefined> {
    if (call.key === '') return undefined;
    try {
      return await this.media.stats(call.key);
    } catch (err) {
      throw this.mediaError(err);
    }
  }

  /** rtpengine's `query` reply: created, last signal, tags with medias and streams, totals. */
  private queryReplyOf(call: QueriedCall, stats: StreamStats[] | undefined): NgReply {
    const session = this.media.get(call.key);
    const totals = { RTP: { packets: 0, bytes: 0, errors: 0 }, RTCP: { packets: 0, bytes: 0, errors: 0 } };
    const tags: Record<string, BencodeInput> = {};
    for (const leg of ['a', 'b'] as const) {
      const tag = call.tags[leg] ?? '';
      const other = call.tags[otherLeg(leg)];
      const medias: BencodeInput[] = [];
      call.media.forEach((state, index) => {
        const counters = stats?.find((s) => s.index === index)?.[leg];
        const ports = session?.streams[index]?.[leg];
        const adv = state?.advertised[leg] ?? null;
        const rtpPeer = splitPeer(counters?.rtpPeer ?? null);
        const rtcpPeer = splitPeer(counters?.rtcpPeer ?? null);
        // The native counters count RTCP inside packetsIn/bytesIn; rtcpIn says how many were RTCP.
        const rtpPackets = counters === undefined ? 0 : counters.packetsIn - counters.rtcpIn;
        const rtcpPackets = counters === undefined ? 0 : counters.rtcpIn;
        const errors = counters === undefined ? 0 : legErrors(counters);
        totals.RTP.packets += rtpPackets;
        totals.RTP.bytes += counters?.bytesIn ?? 0;
        totals.RTP.errors += errors;
        totals.RTCP.packets += rtcpPackets;
        const lastPacket = counters !== undefined && counters.lastActivityMs > 0 ? this.unixOfMonotonic(counters.lastActivityMs) : undefined;
        const drops = counters === undefined ? undefined : {
          invalid: counters.dropInvalid,
          stranger: counters.dropStranger,
          'no peer': counters.dropNoPeer,
          'send error': counters.dropSendError,
        };
        const rtpFlags = ['RTP'];
        if (rtpPeer !== null) rtpFlags.push('filled', 'confirmed');
        const mediaFlags = ['initialized'];
        if (adv?.mux) mediaFlags.push('rtcp-mux');
        medias.push({
          index: index + 1,
          type: state?.type,
          protocol: state?.proto,
          flags: mediaFlags,
          streams: [
            {
              'local port': ports?.rtp,
              endpoint: rtpPeer !== null ? endpointOf(rtpPeer[0], rtpPeer[1]) : endpointOf(adv?.address ?? null, adv?.port ?? null),
              'advertised endpoint': endpointOf(adv?.address ?? null, adv?.port ?? null),
              'last packet': lastPacket,
              flags: rtpFlags,
              stats: { packets: rtpPackets, bytes: counters?.bytesIn ?? 0, errors },
              'packets out': counters?.packetsOut,
              'bytes out': counters?.bytesOut,
              'latch changes': counters?.latchChanges,
              ssrc: counters?.ssrc ?? undefined,
              drops,
            },
            {
              'local port': ports?.rtcp,
              endpoint: rtcpPeer !== null ? endpointOf(rtcpPeer[0], rtcpPeer[1]) : undefined,
              'advertised endpoint': endpointOf(adv?.address ?? null, adv?.rtcpPort ?? (adv === null ? null : adv.port + 1)),
              flags: rtcpPeer !== null ? ['RTCP', 'filled', 'confirmed'] : ['RTCP'],
              stats: { packets: rtcpPackets, bytes: 0, errors: 0 },
              'packets out': counters?.rtcpOut,
            },
          ],
        });
      });
      const entry: Record<string, BencodeInput | undefined> = {
        tag,
        created: call.tagCreated[leg],
        'in dialogue with': other ?? '',
        medias,
      };
      tags[tag] = entry as BencodeInput;
    }
    return {
      result: 'ok',
      created: call.created,
      'last signal': call.lastSignal,
      tags,
      totals,
    };
  }

  private list(request: NgRequest): NgReply {
    const limit = request.limit ?? this.listLimit;
    const calls = new Set<string>();
    for (const id of this.calls.callIds()) {
      if (calls.size >= limit) break;
      calls.add(id);
    }
    for (const call of this.sipCalls()) {
      if (calls.size >= limit) break;
      calls.add(call.callId);
    }
    return { result: 'ok', calls: [...calls] };
  }

  private async statistics(): Promise<NgReply> {
    // Current counters of live sessions, read in bulk; finished sessions are in the totals.
    let packets = this.totals.relayedPackets;
    let errors = this.totals.relayedErrors;
    const live = [...this.calls.values()];
    const all = await Promise.all(live.map((c) => this.media.stats(c.key).catch(() => undefined)));
    for (const stats of all) {
      for (const s of stats ?? []) {
        for (const c of [s.a, s.b]) {
          packets += c.packetsOut;
          errors += legErrors(c);
        }
      }
    }
    const t = this.totals;
    // The SIP side's calls with media are sessions of this relay as much as the NG ones.
    const own = this.calls.size + this.sipCalls().filter((c) => c.mediaKey !== null).length;
    return {
      result: 'ok',
      statistics: {
        currentstatistics: {
          sessionsown: own,
          sessionsforeign: 0,
          sessionstotal: own,
          transcodedmedia: 0,
        },
        totalstatistics: {
          uptime: String(Math.floor((this.now() - this.startedAt) / 1000)),
          managedsessions: t.managed,
          rejectedsessions: t.rejected,
          timeoutsessions: t.timeout,
          lostsessions: t.lost,
          regularterminatedsessions: t.regularTerminated,
          forcedterminatedsessions: t.forcedTerminated,
          relayedpackets: packets,
          relayedpacketerrors: errors,
        },
        controlstatistics: { commands: { ...t.commands } },
      },
    };
  }
}
