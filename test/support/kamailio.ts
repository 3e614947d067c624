/**
 * A Kamailio (Debian `kamailio` 5.6) configuration doing the job pinlatch's SIP side does, with
 * rtpengine's NG protocol for the media: record-route, anchor the SDP of offer and answer
 * (`trust-address replace-origin`), relay everything to one next hop, release the media on BYE or
 * failure. Used by the NG interop test (NG socket = pinlatch), the scale-out test (a set of two
 * pinlatch relays) and by bench/cps.ts (NG socket = a real rtpengine, the reference).
 */
import { createSocket } from 'node:dgram';

export const KAMAILIO_MODULES = '/usr/lib/x86_64-linux-gnu/kamailio/modules';

export interface KamailioProxyOptions {
  /** Address and UDP port Kamailio listens on. */
  address: string;
  sipPort: number;
  /** The NG control socket of the media relay. */
  ngAddress: string;
  ngPort: number;
  /**
   * Several relays as one rtpengine set instead (`udp:address:port=weight` each): the module
   * spreads calls by Call-ID over them, weighted, and skips one that does not answer.
   */
  relaySet?: {
    relays: Array<{ address: string; port: number; weight: number }>;
    /** rtpengine_tout_ms: how long one NG command waits for an answer. */
    timeoutMs: number;
    /** rtpengine_retr: how often it is sent again before the relay counts as dead. */
    retries: number;
    /** rtpengine_disable_tout: how long a dead relay is left out before it is tried again. */
    disableSec: number;
  };
  /** Where every initial request goes. */
  nextHop: { address: string; port: number };
  children?: number;
  /** Log each request and reply (tests: for diagnosis); off in benchmarks. */
  logMessages?: boolean;
}

function rtpengineParams(o: KamailioProxyOptions): string {
  const set = o.relaySet;
  if (set === undefined) return `modparam("rtpengine", "rtpengine_sock", "udp:${o.ngAddress}:${o.ngPort}")`;
  return [
    `modparam("rtpengine", "rtpengine_sock", "${set.relays.map((r) => `udp:${r.address}:${r.port}=${r.weight}`).join(' ')}")`,
    `modparam("rtpengine", "rtpengine_tout_ms", ${set.timeoutMs})`,
    `modparam("rtpengine", "rtpengine_retr", ${set.retries})`,
    `modparam("rtpengine", "rtpengine_disable_tout", ${set.disableSec})`,
  ].join('\n');
}

export function kamailioProxyConfig(o: KamailioProxyOptions): string {
  const log = (text: string) => (o.logMessages ? `  xlog("L_NOTICE", "${text}\\n");\n` : '');
  return `#!KAMAILIO
debug=${o.logMessages ? 2 : 1}
log_stderror=yes
children=${o.children ?? 1}
disable_tcp=yes
listen=udp:${o.address}:${o.sipPort}
mpath="${KAMAILIO_MODULES}/"
loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "rr.so"
loadmodule "pv.so"
loadmodule "maxfwd.so"
loadmodule "textops.so"
loadmodule "siputils.so"
loadmodule "xlog.so"
loadmodule "rtpengine.so"
modparam("xlog", "prefix", "")
modparam("rr", "append_fromtag", 1)
${rtpengineParams(o)}

request_route {
${log('request $rm $ru from $si:$sp')}  if (!mf_process_maxfwd_header("10")) { sl_send_reply("483", "Too Many Hops"); exit; }
  if (is_method("OPTIONS") && $rU == $null) { sl_send_reply("200", "Alive"); exit; }
  if (has_totag()) {
    if (loose_route()) {
      if (is_method("BYE")) { rtpengine_delete(); }
      t_relay();
      exit;
    }
    if (is_method("ACK") && t_check_trans()) { t_relay(); }
    exit;
  }
  if (is_method("CANCEL")) { if (t_check_trans()) { t_relay(); } exit; }
  if (is_method("INVITE")) {
    record_route();
    if (has_body("application/sdp")) { rtpengine_offer("trust-address replace-origin"); }
    t_on_reply("MANAGE_REPLY");
    t_on_failure("MANAGE_FAILURE");
  }
  $du = "sip:${o.nextHop.address}:${o.nextHop.port}";
  t_relay();
  exit;
}

onreply_route[MANAGE_REPLY] {
${log('reply $rs $rm')}  if (status =~ "^2[0-9][0-9]$" && has_body("application/sdp")) { rtpengine_answer("trust-address replace-origin"); }
}

failure_route[MANAGE_FAILURE] {
${log('failure route')}  rtpengine_delete();
}
`;
}

/** Sends OPTIONS to Kamailio until it answers (it is then past start-up) or the time is up. */
export async function sipAlive(port: number, timeoutMs: number): Promise<boolean> {
  const socket = createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', () => resolve()));
  const local = socket.address().port;
  let answered = false;
  socket.on('message', (msg) => {
    if (msg.toString('latin1').startsWith('SIP/2.0 200')) answered = true;
  });
  const deadline = Date.now() + timeoutMs;
  try {
    for (let i = 1; !answered && Date.now() < deadline; i++) {
      const options = [
        `OPTIONS sip:127.0.0.1:${port} SIP/2.0`,
        `Via: SIP/2.0/UDP 127.0.0.1:${local};branch=z9hG4bKalive${i}`,
        'Max-Forwards: 5',
        `From: <sip:probe@127.0.0.1:${local}>;tag=probe${i}`,
        `To: <sip:127.0.0.1:${port}>`,
        `Call-ID: alive-${process.pid}-${i}`,
        `CSeq: ${i} OPTIONS`,
        'Content-Length: 0',
        '',
        '',
      ].join('\r\n');
      socket.send(options, port, '127.0.0.1');
      await new Promise((r) => setTimeout(r, 100));
    }
    return answered;
  } finally {
    socket.close();
  }
}
