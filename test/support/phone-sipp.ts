/**
 * sipp as the phones of test/support/phones-topology.ts: register (digest auth, refreshes),
 * answer a call, place a call (digest auth on the INVITE), with the scenarios
 * test/e2e/scenarios/phone-{register,answer,call}.xml and the project's RTP endpoint
 * (test/e2e/rtp-endpoint.mjs) for media. Each phone sends from its private address; `remote` is
 * where its datagrams go (the PBX directly, or pinlatch as the outbound proxy).
 *
 * A phone answers on the port it registered from (the NAT mapping of its REGISTER is the only way
 * in), so registerPhone() must have finished before answerPhone() binds the same port. sipp forks
 * the RTP endpoint without closing its sockets, so a phone's SIP port stays taken until the
 * endpoint's result file is written (rtpResult() waits for it).
 */
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { startSipp, type SippRun } from './sipp.ts';
import type { PhoneIndex, PhonesTopology } from './phones-topology.ts';

const RTP_ENDPOINT = fileURLToPath(new URL('../e2e/rtp-endpoint.mjs', import.meta.url));

export interface PhoneIdentity {
  phone: PhoneIndex;
  user: string;
  /** SIP port of the phone (default 5060). */
  localPort?: number;
}

export interface RegisterOptions extends PhoneIdentity {
  password: string;
  /** host:port the REGISTERs go to. */
  remote: string;
  domain?: string;
  expires?: number;
  /** REGISTERs in all: the first plus refreshes (default 1). */
  registrations?: number;
  /** Time between two registrations, ms (default 1000). */
  refreshMs?: number;
  timeoutMs?: number;
}

export interface RtpOptions {
  /** The phone's RTP port (in its SDP). */
  port: number;
  /** Packets it sends (20 ms apart). */
  count: number;
  /** Prefix of the result file: `<out>-caller-1.json` / `<out>-callee-1.json`. */
  out: string;
}

export interface AnswerOptions extends PhoneIdentity {
  rtp: RtpOptions;
  timeoutMs?: number;
}

export interface CallOptions extends PhoneIdentity {
  password: string;
  callee: string;
  remote: string;
  domain?: string;
  /** How long the call lasts before the caller's BYE, ms (default 2000). */
  durationMs?: number;
  rtp: RtpOptions;
  /** From the ACK to the caller's first RTP packet, ms (default 1000: after the callee's 300). */
  rtpDelayMs?: number;
  timeoutMs?: number;
}

export interface PhoneRtpResult {
  sent: number;
  received: number;
  /** Lowest RTP sequence number received (null: none). */
  firstSeq: number | null;
  /** Sequence numbers from the lowest to the highest received (across a wrap). */
  span: number;
  sources: string[];
  remote: string;
  sendError: string | null;
}

function rtpVars(rtp: RtpOptions): Record<string, string | number> {
  return { rtpPort: rtp.port, rtpCount: rtp.count, rtpCmd: `node ${RTP_ENDPOINT}`, rtpOut: rtp.out };
}

/**
 * The digest credentials of the scenarios' bare `[authentication]` keyword: sipp takes them from
 * -au/-ap (its keyword parser ends the keyword at the first ']', so `[$var]` cannot be nested in it).
 */
function credentials(user: string, password: string): string[] {
  return ['-au', user, '-ap', password];
}

/** Distinct sipp -mp (its own RTP echo port) per phone, away from the test's RTP ports. */
const mediaPort = (phone: PhoneIndex) => 46000 + phone * 10;

export function registerPhone(topo: PhonesTopology, o: RegisterOptions): SippRun {
  const registrations = o.registrations ?? 1;
  const refreshMs = o.refreshMs ?? 1000;
  return startSipp(topo, {
    host: `phone${o.phone}`,
    scenario: 'phone-register.xml',
    localIp: topo.addr[`phone${o.phone}`],
    localPort: o.localPort ?? 5060,
    mediaPort: mediaPort(o.phone),
    remote: o.remote,
    durationMs: refreshMs,
    timeoutMs: o.timeoutMs ?? 10_000 + registrations * refreshMs,
    vars: {
      user: o.user,
      domain: o.domain ?? 'pbx.test',
      expires: o.expires ?? 60,
      registrations,
    },
    extraArgs: credentials(o.user, o.password),
  });
}

export function answerPhone(topo: PhonesTopology, o: AnswerOptions): SippRun {
  return startSipp(topo, {
    host: `phone${o.phone}`,
    scenario: 'phone-answer.xml',
    localIp: topo.addr[`phone${o.phone}`],
    localPort: o.localPort ?? 5060,
    mediaPort: mediaPort(o.phone),
    timeoutMs: o.timeoutMs ?? 30_000,
    vars: { user: o.user, ...rtpVars(o.rtp) },
  });
}

export function callPhone(topo: PhonesTopology, o: CallOptions): SippRun {
  return startSipp(topo, {
    host: `phone${o.phone}`,
    scenario: 'phone-call.xml',
    localIp: topo.addr[`phone${o.phone}`],
    localPort: o.localPort ?? 5060,
    mediaPort: mediaPort(o.phone),
    remote: o.remote,
    durationMs: o.durationMs ?? 2000,
    timeoutMs: o.timeoutMs ?? 30_000,
    vars: {
      user: o.user,
      domain: o.domain ?? 'pbx.test',
      callee: o.callee,
      rtpDelay: o.rtpDelayMs ?? 1000,
      ...rtpVars(o.rtp),
    },
    extraArgs: credentials(o.user, o.password),
  });
}

/** Waits (bounded) for an RTP endpoint's result file; null if it never came. */
export async function rtpResult(out: string, role: 'caller' | 'callee', call = 1, waitMs = 10_000): Promise<PhoneRtpResult | null> {
  const path = `${out}-${role}-${call}.json`;
  const deadline = Date.now() + waitMs;
  while (!existsSync(path) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  return existsSync(path) ? (JSON.parse(readFileSync(path, 'utf8')) as PhoneRtpResult) : null;
}

/**
 * The share of a peer's RTP packets an endpoint received, counted from the first one that arrived:
 * a phone behind NAT can receive only once its own first packet has opened its mapping, and with
 * both phones behind NAT what one sent before the other's RTP endpoint started (a Node process
 * start apart, on a loaded machine) cannot arrive by any relay. `firstSeq` says how late that was.
 */
export function mediaShare(received: PhoneRtpResult, peerSent: number): { share: number; firstSeq: number } {
  if (received.firstSeq === null) return { share: 0, firstSeq: peerSent };
  return { share: received.received / Math.max(1, peerSent - received.firstSeq), firstSeq: received.firstSeq };
}
