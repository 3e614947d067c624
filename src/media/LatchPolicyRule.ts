/**
 * Turns what signalling knows about a leg's peer (LegHint) into the latch policy the native relay
 * enforces (LegPolicy): which source addresses may latch the leg.
 *
 * Symmetric latching (RFC 7362 §4) learns the peer from packet sources; learning from *any*
 * source is what made RTP bleed possible (Asterisk CVE-2017-14099, rtpproxy CVE-2017-14114,
 * rtpengine CVE-2025-53399): a stranger spraying the port range latches first and receives the
 * call's media. So the rule narrows who may latch, from the most to the least trustworthy fact:
 *
 *   1. the SDP address, when it is routable: the peer said where it is, and it can be reached
 *      there, so only that address may latch (the port may differ: NATs and symmetric peers
 *      rewrite or pick ports, RFC 7362 §3);
 *   2. the SDP address, when it is not routable but on the relay's own site (same class as the
 *      advertised address, e.g. both loopback or both RFC 1918) and the signalling did not come
 *      from elsewhere: a LAN peer, not a NATed one;
 *   3. otherwise the address the signalling came from (SIP packet source, NG `received from`):
 *      a peer behind NAT sends its media through the same public address as its signalling —
 *      when that address is of the relay's IP family; a peer signalling over IPv4 and sending
 *      media over IPv6 (or the reverse) has no known media source, and the relay's streams serve
 *      one family only;
 *   4. none known: the first valid RTP/RTCP packet from anywhere latches. This is the weak
 *      mode and is reported as such (`weak: true`) so callers can log it.
 *
 * When the policy rests on the SDP address (1 and 2), the SDP port goes with it: media toward the
 * leg is sent there until the peer's own packets latch it (early media, a peer that waits to hear
 * before it talks). Nothing learned from packets is involved, so this opens no bleed. A NATed leg
 * (3) has no usable destination until it latches: its traffic is dropped and counted.
 *
 * An explicit `hint.mode` overrides the automatic choice: 'fixed' sends to the SDP address and
 * port without learning (rtpengine `asymmetric`), 'any' forces the weak mode, 'address' insists on
 * an address restriction (falling back to a non-routable SDP address as the last resort).
 *
 * `hint.restriction` (restricted latching) widens an address rule, whichever of 1..3 chose its
 * address: a source may also latch from within a prefix of that address (a NAT that sends media
 * from a neighbour of its signalling address), or from listed networks (a NAT's other WAN link, a
 * multi-homed phone's other interface). It never turns 'fixed' or 'any' into anything else.
 */
import type { LatchMode, LegPolicy } from '../native.js';
import type { LatchRestriction, LegHint } from './api.js';
import { MediaError } from './errors.js';
import { isRoutable, parseIp, sharesSiteWith, type IpAddress } from '../net/address.js';
import { CidrError, parseCidr } from '../net/cidr.js';

/** Networks one restriction may list (the native policy keeps them in a fixed-size array). */
export const MAX_LATCH_NETWORKS = 16;

export interface LatchKnobs {
  /** The relay's advertised media address: decides which non-routable SDP addresses are on-site. */
  advertise?: string;
  /** How long the latched source must be silent before a newcomer may take over (ms). */
  handoverSilenceMs: number;
  /** Largest forward sequence distance a newcomer may show to prove continuity. */
  handoverMaxSeqGap: number;
}

export const DEFAULT_LATCH_KNOBS: Readonly<LatchKnobs> = Object.freeze({
  handoverSilenceMs: 1000,
  handoverMaxSeqGap: 100,
});

/** Why the policy was chosen; logged and shown in diagnostics. */
export type LatchReason =
  | 'sdp-address-routable'
  | 'sdp-address-on-site'
  | 'signal-source'
  | 'weak-no-address'
  | 'explicit-fixed'
  | 'explicit-any'
  | 'explicit-address-sdp'
  | 'explicit-address-signal'
  | 'explicit-address-sdp-unroutable';

export interface LatchDecision {
  policy: LegPolicy;
  reason: LatchReason;
  /** True when any source may latch (no address restriction). */
  weak: boolean;
  /** Who may latch, in words, for logs: `203.0.113.1/30 or 198.51.100.0/24 (trunks[gw].latching)`. */
  rule: string;
}

/** A restriction validated once and split by address family. */
interface CheckedRestriction {
  prefixV4: number;
  prefixV6: number;
  v4: readonly string[];
  v6: readonly string[];
  origin: string | undefined;
}

// Restrictions come from the frozen configuration and are reused for every call: check each once.
const checkedRestrictions = new WeakMap<LatchRestriction, CheckedRestriction>();

function checkRestriction(restriction: LatchRestriction): CheckedRestriction {
  if (restriction === null || typeof restriction !== 'object') {
    throw new MediaError('ERR_PINLATCH_ARG', 'latch restriction must be an object');
  }
  const known = checkedRestrictions.get(restriction);
  if (known) return known;
  const { prefixV4, prefixV6, networks, origin } = restriction;
  if (!Number.isInteger(prefixV4) || prefixV4 < 0 || prefixV4 > 32) {
    throw new MediaError('ERR_PINLATCH_ARG', `latch restriction prefixV4 must be an integer in 0..32, got ${String(prefixV4)}`);
  }
  if (!Number.isInteger(prefixV6) || prefixV6 < 0 || prefixV6 > 128) {
    throw new MediaError('ERR_PINLATCH_ARG', `latch restriction prefixV6 must be an integer in 0..128, got ${String(prefixV6)}`);
  }
  if (!Array.isArray(networks) || networks.length > MAX_LATCH_NETWORKS) {
    throw new MediaError('ERR_PINLATCH_ARG', `latch restriction networks must be a list of at most ${MAX_LATCH_NETWORKS} CIDR prefixes`);
  }
  const v4: string[] = [];
  const v6: string[] = [];
  for (const text of networks) {
    try {
      const cidr = parseCidr(text);
      (cidr.family === 4 ? v4 : v6).push(cidr.text);
    } catch (err) {
      if (err instanceof CidrError) throw new MediaError('ERR_PINLATCH_ARG', `latch restriction network: ${err.message}`);
      throw err;
    }
  }
  const checked = { prefixV4, prefixV6, v4, v6, origin: typeof origin === 'string' ? origin : undefined };
  checkedRestrictions.set(restriction, checked);
  return checked;
}

/** Widens an 'address' policy by the restriction (other modes are returned unchanged). */
function restrict(policy: LegPolicy, restriction: CheckedRestriction | null): LegPolicy {
  if (restriction === null || policy.mode !== 'address' || policy.address === undefined) return policy;
  // Policy addresses are canonical literals (usableAddress): only IPv6 text has a colon.
  const family = policy.address.includes(':') ? 6 : 4;
  const prefix = family === 4 ? restriction.prefixV4 : restriction.prefixV6;
  if (prefix < (family === 4 ? 32 : 128)) policy.latchPrefix = prefix;
  // Networks of the other family can never be a source of this leg (a stream serves one family).
  const networks = family === 4 ? restriction.v4 : restriction.v6;
  if (networks.length > 0) policy.latchNetworks = [...networks];
  return policy;
}

/** Who may latch under `policy`, in words (LatchDecision.rule). */
export function describeLatchRule(policy: LegPolicy, origin?: string): string {
  let rule: string;
  if (policy.mode === 'any') rule = 'any source (weak)';
  else if (policy.mode === 'fixed') rule = `${policy.address} only (fixed)`;
  else {
    const own =
      policy.latchPrefix === undefined ? policy.address! : parseCidr(`${policy.address}/${policy.latchPrefix}`, { allowHostBits: true }).text;
    rule = [own, ...(policy.latchNetworks ?? [])].join(' or ');
  }
  return origin === undefined ? rule : `${rule} (${origin})`;
}

/**
 * A usable unicast address literal, parsed (its text canonical), or null (0.0.0.0 hold, host
 * names...). Parsed once per leg and handed on: the rules below classify the same address again.
 */
function usableAddress(text: string | null | undefined): IpAddress | null {
  if (typeof text !== 'string') return null;
  const address = parseIp(text);
  if (!address) return null;
  if (address.text === '0.0.0.0' || address.text === '::') return null;
  return address;
}

function validPort(port: unknown): port is number {
  return Number.isInteger(port) && (port as number) >= 0 && (port as number) <= 65535;
}

export class LatchPolicyRule {
  readonly knobs: Readonly<LatchKnobs>;
  /** The relay's advertised address, parsed once (rule 2 compares every on-site SDP address with it). */
  private readonly advertise: IpAddress | null;

  constructor(knobs: Partial<LatchKnobs> = {}) {
    const merged = { ...DEFAULT_LATCH_KNOBS, ...knobs };
    if (!Number.isFinite(merged.handoverSilenceMs) || merged.handoverSilenceMs < 0) {
      throw new MediaError('ERR_PINLATCH_CONFIG', `handoverSilenceMs must be a finite number >= 0, got ${merged.handoverSilenceMs}`);
    }
    if (!Number.isInteger(merged.handoverMaxSeqGap) || merged.handoverMaxSeqGap < 1 || merged.handoverMaxSeqGap > 32767) {
      throw new MediaError('ERR_PINLATCH_CONFIG', `handoverMaxSeqGap must be an integer in 1..32767, got ${merged.handoverMaxSeqGap}`);
    }
    this.knobs = Object.freeze(merged);
    this.advertise = merged.advertise === undefined ? null : parseIp(merged.advertise);
  }

  /** The signalling source as a latch address: usable, and of the relay's family (rule 3). */
  private signalAddress(text: string | null | undefined): IpAddress | null {
    const address = usableAddress(text);
    if (address === null || this.advertise === null) return address;
    return address.family === this.advertise.family ? address : null;
  }

  /**
   * A policy of `mode` on `address`, the knobs filled in. Written out field by field: an object
   * spread followed by more properties (`{ ...base, mode, address }`, then `port`) took 2-4 µs
   * per policy in Node 20, most of what deriving a leg's policy cost.
   */
  private policy(hint: LegHint, mode: LatchMode, address?: IpAddress): LegPolicy {
    const policy: LegPolicy = {
      mode,
      rtcpMux: hint.rtcpMux,
      handoverSilenceMs: this.knobs.handoverSilenceMs,
      handoverMaxSeqGap: this.knobs.handoverMaxSeqGap,
    };
    if (address !== undefined) policy.address = address.text;
    return policy;
  }

  /** Address rule on the SDP address, with the SDP port as the destination until latched. */
  private sdpPolicy(sdp: IpAddress, hint: LegHint): LegPolicy {
    const policy = this.policy(hint, 'address', sdp);
    if (hint.sdpPort === 0) return policy;
    policy.port = hint.sdpPort;
    if (!hint.rtcpMux) {
      const rtcpPort = hint.sdpRtcpPort ?? hint.sdpPort + 1; // RFC 3550 §11 default
      if (rtcpPort <= 65535) policy.rtcpPort = rtcpPort;
    }
    return policy;
  }

  derive(hint: LegHint): LatchDecision {
    if (hint === null || typeof hint !== 'object') {
      throw new MediaError('ERR_PINLATCH_ARG', 'leg hint must be an object');
    }
    const restriction = hint.restriction === undefined ? null : checkRestriction(hint.restriction);
    const { policy, reason, weak } = this.choose(hint);
    restrict(policy, restriction);
    return { policy, reason, weak, rule: describeLatchRule(policy, policy.mode === 'address' ? restriction?.origin : undefined) };
  }

  /** The mode and address of a leg's policy (rules 1..4 of the module comment). */
  private choose(hint: LegHint): Omit<LatchDecision, 'rule'> {
    if (!validPort(hint.sdpPort)) {
      throw new MediaError('ERR_PINLATCH_ARG', `sdpPort must be an integer in 0..65535, got ${String(hint.sdpPort)}`);
    }
    if (hint.sdpRtcpPort !== undefined && (!validPort(hint.sdpRtcpPort) || hint.sdpRtcpPort === 0)) {
      throw new MediaError('ERR_PINLATCH_ARG', `sdpRtcpPort must be an integer in 1..65535, got ${String(hint.sdpRtcpPort)}`);
    }
    if (typeof hint.rtcpMux !== 'boolean') {
      throw new MediaError('ERR_PINLATCH_ARG', 'rtcpMux must be a boolean');
    }
    const sdp = usableAddress(hint.sdpAddress);
    const signal = this.signalAddress(hint.signalSource);

    switch (hint.mode) {
      case 'fixed': {
        if (!sdp || hint.sdpPort === 0) {
          throw new MediaError('ERR_PINLATCH_ARG', "mode 'fixed' needs an SDP address and a non-zero port");
        }
        const policy = this.policy(hint, 'fixed', sdp);
        policy.port = hint.sdpPort;
        if (!hint.rtcpMux) {
          const rtcpPort = hint.sdpRtcpPort ?? hint.sdpPort + 1; // RFC 3550 §11 default
          if (rtcpPort > 65535) {
            throw new MediaError('ERR_PINLATCH_ARG', `RTCP port ${rtcpPort} of RTP port ${hint.sdpPort} is out of range`);
          }
          policy.rtcpPort = rtcpPort;
        }
        return { policy, reason: 'explicit-fixed', weak: false };
      }
      case 'any':
        return { policy: this.policy(hint, 'any'), reason: 'explicit-any', weak: true };
      case 'address': {
        if (sdp && isRoutable(sdp)) return { policy: this.sdpPolicy(sdp, hint), reason: 'explicit-address-sdp', weak: false };
        if (signal) return { policy: this.policy(hint, 'address', signal), reason: 'explicit-address-signal', weak: false };
        if (sdp) return { policy: this.policy(hint, 'address', sdp), reason: 'explicit-address-sdp-unroutable', weak: false };
        throw new MediaError('ERR_PINLATCH_ARG', "mode 'address' needs an SDP address or a signalling source");
      }
      case undefined: {
        if (sdp && isRoutable(sdp)) return { policy: this.sdpPolicy(sdp, hint), reason: 'sdp-address-routable', weak: false };
        if (sdp && this.advertise !== null && sharesSiteWith(sdp, this.advertise) && (!signal || signal.text === sdp.text)) {
          return { policy: this.sdpPolicy(sdp, hint), reason: 'sdp-address-on-site', weak: false };
        }
        if (signal) return { policy: this.policy(hint, 'address', signal), reason: 'signal-source', weak: false };
        return { policy: this.policy(hint, 'any'), reason: 'weak-no-address', weak: true };
      }
      default:
        throw new MediaError('ERR_PINLATCH_ARG', `unknown latch mode ${JSON.stringify(hint.mode)}`);
    }
  }
}
