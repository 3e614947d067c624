/**
 * A dialog as the proxy tracks it (RFC 3261 §12, seen from the middle): created by the initial
 * INVITE, confirmed by its 2xx, ended by BYE, CANCEL, a failure response or a media timeout.
 *
 * Side 'caller' sent the initial INVITE; media leg A faces it. Side 'callee' answered; leg B faces
 * it. Each side keeps what the proxy needs to send it a request of its own (the BYE of a media
 * timeout): its tag, URI, remote target, the route set toward it, the last CSeq it used, where its
 * signalling comes from, and — for a pinned trunk — the RoutePin that decides every in-dialog
 * destination toward it.
 */
import { SdpVersionState } from '../../sdp/index.js';
import { ownedString } from '../transaction/owned.js';
import type { ListenPoint } from '../transport/SipTransport.js';
import type { RoutePin } from './RoutePin.js';

export type DialogSide = 'caller' | 'callee';
export type DialogState = 'early' | 'confirmed' | 'terminated';

export interface DialogPeer {
  /** Tag of this side (From tag of the caller, To tag of the callee). */
  tag: string | undefined;
  /** Full From/To header value of this side, tag included. */
  nameAddr: string;
  /** Remote target (Contact URI) of this side, as written. */
  target: string | undefined;
  /**
   * Route header values from the proxy toward this side, nearest first (§12.1: the proxies that
   * record-routed between the proxy and this side), empty when none did.
   */
  routeSet: string[];
  /** Highest CSeq number this side used. */
  cseq: number;
  /** Transport, address and port of this side's last signalling packet. */
  source: { transport: 'udp' | 'tcp'; address: string; port: number };
  /** Pinned destination for requests toward this side (trunk with pinRoute), or null. */
  pin: RoutePin | null;
  /** The side is a trunk: its NAT is handled by pinning, not by trusting packet sources. */
  trunk: string | null;
  /** Its Contact was not usable as a destination (behind NAT): send to `source` instead. */
  natted: boolean;
  /**
   * The listen point this side talks to: requests toward it leave from there, the only socket
   * its NAT mapping admits (RFC 5626 §4.4). Unset: the first one toward its address.
   */
  local?: ListenPoint;
}

export class Dialog {
  state: DialogState = 'early';
  /** Unix milliseconds when the INVITE that created it was taken on (NG `query` reports it). */
  readonly createdAt = Date.now();
  #mediaKey: string | null = null;
  readonly callId: string;
  /**
   * o= version of the SDPs the proxy sends toward each side, kept per direction across the
   * dialog's offers and answers (RFC 3264 §8: +1 only when what that side receives changed);
   * null once the dialog ended (terminate).
   */
  #sdpVersionToward: Record<DialogSide, SdpVersionState> | null = {
    caller: new SdpVersionState(),
    callee: new SdpVersionState(),
  };

  /**
   * How many times this request had passed the proxy before (its own Vias in the initial request):
   * a call between two phones behind pinlatch, through a PBX that proxies (no B2BUA), spirals
   * through it twice with the same Call-ID and tags (RFC 3261 §16.3 step 4), and each pass is a
   * dialog of its own, with a media session of its own.
   */
  constructor(
    callId: string,
    readonly caller: DialogPeer,
    readonly callee: DialogPeer,
    readonly spiral = 0,
  ) {
    this.callId = ownedString(callId);
  }

  /** Media session key (Call-ID + caller tag), or null when the call carries no SDP yet. */
  get mediaKey(): string | null {
    return this.#mediaKey;
  }

  set mediaKey(key: string | null) {
    this.#mediaKey = key === null ? null : ownedString(key);
  }

  /**
   * Replaces the strings both sides keep for the dialog's life with copies of their own (see
   * ownedString): read from the INVITE and its responses, they would keep those whole messages
   * alive as long as the dialog (DialogTable calls it as it enters the dialog).
   */
  ownStrings(): void {
    for (const peer of [this.caller, this.callee]) {
      if (peer.tag !== undefined) peer.tag = ownedString(peer.tag);
      peer.nameAddr = ownedString(peer.nameAddr);
      if (peer.target !== undefined) peer.target = ownedString(peer.target);
      peer.routeSet = peer.routeSet.map(ownedString);
    }
  }

  /** The o= version state of the SDPs toward `side`; null once the dialog ended. */
  sdpVersionToward(side: DialogSide): SdpVersionState | null {
    return this.#sdpVersionToward?.[side] ?? null;
  }

  /**
   * The dialog ended (BYE, or the proxy ended the call). It stays in the dialog table for Timer J
   * (CallEnder) so that a retransmitted BYE or ACK, or a late request, still finds its way: that
   * needs the peers (tags, targets, route sets, sources, pins). What only a live call needs goes
   * now — the SDP version state and the media session key (the session is released) — so that a
   * finished call holds as little as it can for those 32 s.
   */
  terminate(): void {
    this.state = 'terminated';
    this.#sdpVersionToward = null;
    this.#mediaKey = null;
  }

  /** The media session key: Call-ID and caller tag, and the pass of a spiral after the first. */
  get defaultMediaKey(): string {
    return `${this.callId}|${this.caller.tag}${this.spiral === 0 ? '' : `|s${this.spiral}`}`;
  }

  /** Which side sent a request carrying this From tag. */
  sideOfFromTag(tag: string | undefined): DialogSide {
    return tag !== undefined && tag === this.callee.tag && tag !== this.caller.tag ? 'callee' : 'caller';
  }

  peer(side: DialogSide): DialogPeer {
    return side === 'caller' ? this.caller : this.callee;
  }

  static other(side: DialogSide): DialogSide {
    return side === 'caller' ? 'callee' : 'caller';
  }
}
