/**
 * Media anchoring of a call's SDP through the media relay, and the end of a call whose media
 * stopped. An offer or answer in a message body (RFC 3264 §§5-6) opens or updates the call's
 * media session: the sender's legs get their latching hints, and the copy toward the other side
 * names the relay's address and the other leg's ports. A session without media for the
 * configured time, or lost with its shard, ends its answered call with BYE toward both sides.
 */
import type { Logger } from 'pino';
import type { PinlatchConfig } from '../../config/types.js';
import type { LegName, LegUpdate, MediaRelayApi } from '../../media/api.js';
import { anchorParsed, checkMediaFamily, describeParsed, parseSdp, relayFamilyOf, type SdpInfo } from '../../sdp/index.js';
import type { SipMessage } from '../wire/message.js';
import { Dialog, type DialogSide } from './Dialog.js';
import type { DialogTable } from './DialogTable.js';
import { LatchRestrictions } from './LatchRestrictions.js';
import { isTrustworthyAddress } from './NatDetector.js';
import type { SipCounters } from './SipCounters.js';

export interface MediaAnchorContext {
  media: MediaRelayApi;
  dialogs: DialogTable;
  counters: SipCounters;
  log: Logger | undefined;
  /** BYE toward both sides with `reason` (RFC 3326), then the dialog and its media end. */
  endCall(dialog: Dialog, reason: string): Promise<void>;
}

export class MediaAnchor {
  /** IP family of the media relay's advertised address: every anchored SDP must match it. */
  private readonly mediaFamily: 4 | 6;
  private restrictions: LatchRestrictions;

  constructor(private readonly ctx: MediaAnchorContext, config: PinlatchConfig) {
    this.mediaFamily = relayFamilyOf(ctx.media.advertise);
    this.restrictions = new LatchRestrictions(config);
  }

  /** A reloaded configuration: its latching rules apply from the next SDP on. */
  reconfigure(config: PinlatchConfig): void {
    this.restrictions = new LatchRestrictions(config);
  }

  /**
   * Anchors the SDP of `message` (sent by side `from` of the dialog) into `out`: the media session
   * is created on the first SDP, the sender's leg gets its hint (SDP address, packet source), and
   * the copy toward the other side carries the relay address and the other leg's ports.
   * Returns true when there was an SDP.
   */
  async anchorBody(
    message: SipMessage,
    out: SipMessage,
    dialog: Dialog | null,
    from: DialogSide,
    role: 'offer' | 'answer',
  ): Promise<boolean> {
    if (!dialog || message.body.length === 0 || !/application\/sdp/i.test(message.contentType ?? '')) return false;
    // An ended dialog has released its media: a late request's SDP opens no session again (it
    // would have no owner left to release it) and passes as it came; the other side answers 481.
    const version = dialog.sdpVersionToward(Dialog.other(from));
    if (dialog.state === 'terminated' || version === null) return false;
    // Scanned once: described now, rewritten by anchorParsed below.
    const sdp = parseSdp(message.body.toString('latin1'));
    const info: SdpInfo = describeParsed(sdp);
    checkMediaFamily(info, this.mediaFamily);
    const key = dialog.mediaKey ?? dialog.defaultMediaKey;
    const senderLeg: LegName = from === 'caller' ? 'a' : 'b';
    const peer = dialog.peer(from);
    const legs: LegUpdate[] = [];
    for (const m of info.media) {
      if (m.rejected) continue;
      const hint = {
        sdpAddress: m.peerAddress,
        sdpPort: m.port,
        sdpRtcpPort: m.rtcpPort ?? undefined,
        rtcpMux: m.rtcpMux,
        // A non-routable SDP address: only media from the signalling source may latch.
        signalSource: isTrustworthyAddress(m.peerAddress) ? m.peerAddress : peer.source.address,
        restriction: this.restrictions.of(peer.trunk),
      };
      legs.push({ index: m.index, leg: senderLeg, hint });
      if (this.ctx.log?.isLevelEnabled('debug')) this.ctx.log.debug({ callId: dialog.callId, leg: senderLeg, index: m.index, hint }, 'media leg');
    }
    // One shard round trip: the session's streams (on the offer) and the sender's legs together.
    const session = await this.ctx.media.ensureSession(key, info.media.length, legs);
    if (!dialog.mediaKey) {
      dialog.mediaKey = key;
      // The early dialogs of a forked INVITE share the call's session; the first live one holds it.
      this.ctx.dialogs.own(key, dialog, true);
    }
    const towardLeg: LegName = senderLeg === 'a' ? 'b' : 'a';
    const anchored = anchorParsed(sdp, {
      address: this.ctx.media.advertise,
      role,
      version,
      streams: info.media.map((m) => {
        const stream = session.streams.find((s) => s.index === m.index);
        if (m.rejected || !stream) return 'rejected' as const;
        const ports = stream[towardLeg];
        return { rtpPort: ports.rtp, rtcpPort: ports.rtcp };
      }),
    });
    out.setBody(Buffer.from(anchored, 'latin1'), 'application/sdp');
    return true;
  }

  /**
   * A session without media for the configured time: BYE toward both sides, then release. A call
   * still ringing keeps its session: many calls have no early media, the answer's SDP starts the
   * media clock again (MediaRelay counts from the last offer/answer), and Timer C bounds the ringing.
   */
  async onMediaTimeout(key: string): Promise<void> {
    const dialog = this.ctx.dialogs.ownerOf(key);
    this.ctx.log?.debug({ key, state: dialog?.state }, 'media timeout event');
    if (dialog?.state === 'early') return;
    if (!dialog || dialog.state !== 'confirmed') {
      await this.ctx.media.release(key).catch(() => undefined);
      return;
    }
    this.ctx.log?.info({ callId: dialog.callId }, 'media timeout: ending the call');
    this.ctx.counters.callFailed('media_timeout');
    await this.ctx.endCall(dialog, 'SIP;cause=408;text="media timeout"');
  }

  /** The answered call that owns media session `key`, if any, is ended (endCall). */
  async endCallOfMedia(key: string, reason: string): Promise<void> {
    const dialog = this.ctx.dialogs.ownerOf(key);
    if (dialog?.state !== 'confirmed') return;
    this.ctx.log?.info({ callId: dialog.callId, reason }, 'media gone: ending the call');
    this.ctx.counters.callFailed('media_lost');
    await this.ctx.endCall(dialog, reason);
  }
}
