/**
 * The NG side's view of its calls: which SIP tag is which relay leg, per-m-line negotiation state,
 * timestamps for `query`, and a per-call queue so that commands for one call run one after the
 * other (the media plane is asynchronous; an answer must not overtake its offer).
 *
 * One NG call = one media session keyed `ng:<call-id>` in the shared session table, so the SIP
 * proxy's own sessions (keyed by Call-ID and tag, without the prefix) never collide with it.
 * Leg A is the side of the first from-tag seen (the initial offerer), leg B the other side.
 */
import type { LegName } from '../media/api.js';
import type { RtcpMuxAdvert } from '../sdp/rtcp-mux.js';
import { SdpVersionState } from '../sdp/version-state.js';

export interface NgMediaState {
  type: string;
  proto: string;
  /** What the last offer advertised toward the answerer. */
  rtcpMuxTowardAnswerer: RtcpMuxAdvert;
  /** The last offerer put a=rtcp-mux in its SDP. */
  offererMux: boolean;
  /** Address/port each leg's SDP advertised (rtpengine's `advertised endpoint`). */
  advertised: Record<LegName, { address: string | null; port: number; rtcpPort: number | null; mux: boolean } | null>;
}

export interface NgCall {
  readonly callId: string;
  readonly key: string;
  /** Unix seconds. */
  readonly created: number;
  lastSignal: number;
  /** SIP tag of each leg; B is null until the first answer. */
  tags: Record<LegName, string | null>;
  /** Unix seconds when each tag was first seen. */
  tagCreated: Record<LegName, number>;
  /** Leg of the offerer of the last offer (the answer's to-tag side is the other one). */
  offerer: LegName;
  media: NgMediaState[];
  /** o= version of the SDPs sent toward each leg's peer (RFC 3264 §8). */
  versions: Record<LegName, SdpVersionState>;
  /** Pending delayed delete. */
  deleteTimer: NodeJS.Timeout | undefined;
}

export const NG_KEY_PREFIX = 'ng:';

export function otherLeg(leg: LegName): LegName {
  return leg === 'a' ? 'b' : 'a';
}

export class NgCallTable {
  private readonly calls = new Map<string, NgCall>();

  get size(): number {
    return this.calls.size;
  }

  get(callId: string): NgCall | undefined {
    return this.calls.get(callId);
  }

  /** Call-ids in creation order. */
  callIds(): IterableIterator<string> {
    return this.calls.keys();
  }

  values(): IterableIterator<NgCall> {
    return this.calls.values();
  }

  create(callId: string, fromTag: string, nowSec: number): NgCall {
    const call: NgCall = {
      callId,
      key: NG_KEY_PREFIX + callId,
      created: nowSec,
      lastSignal: nowSec,
      tags: { a: fromTag, b: null },
      tagCreated: { a: nowSec, b: nowSec },
      offerer: 'a',
      media: [],
      versions: { a: new SdpVersionState(), b: new SdpVersionState() },
      deleteTimer: undefined,
    };
    this.calls.set(callId, call);
    return call;
  }

  remove(callId: string): NgCall | undefined {
    const call = this.calls.get(callId);
    if (call === undefined) return undefined;
    clearTimeout(call.deleteTimer);
    this.calls.delete(callId);
    return call;
  }

  /** Call-id of a media session key of this table, or undefined for someone else's session. */
  static callIdOfKey(key: string): string | undefined {
    return key.startsWith(NG_KEY_PREFIX) ? key.slice(NG_KEY_PREFIX.length) : undefined;
  }

  /**
   * Runs `task` after every earlier task of the same call-id has finished. Calls not created yet
   * are serialised through a transient entry keyed by call-id.
   */
  serialize<T>(callId: string, task: () => Promise<T>): Promise<T> {
    const prev = this.pending.get(callId) ?? Promise.resolve();
    const run = prev.then(task, task);
    const tail = run.then(
      () => undefined,
      () => undefined,
    );
    this.pending.set(callId, tail);
    void tail.then(() => {
      if (this.pending.get(callId) === tail) this.pending.delete(callId);
    });
    return run;
  }

  private readonly pending = new Map<string, Promise<unknown>>();
}
