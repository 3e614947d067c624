/**
 * A Kamailio (Debian `kamailio` 5.6) configuration doing the job pinlatch's SIP side does, with
 * rtpengine's NG protocol for the media: record-route, anchor the SDP of offer and answer
 * (`trust-address replace-origin`), relay everything to one next hop, release the media on BYE or
 * failure. Used by the NG interop test (NG socket = pinlatch) and by bench/cps.ts (NG socket = a
 * real rtpengine, the reference).
 */
export const KAMAILIO_MODULES = '/usr/lib/x86_64-linux-gnu/kamailio/modules';

export interface KamailioProxyOptions {
  /** Address and UDP port Kamailio listens on. */
  address: string;
  sipPort: number;
  /** The NG control socket of the media relay. */
  ngAddress: string;
  ngPort: number;
  /** Where every initial request goes. */
  nextHop: { address: string; port: number };
  children?: number;
  /** Log each request and reply (tests: for diagnosis); off in benchmarks. */
  logMessages?: boolean;
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
modparam("rtpengine", "rtpengine_sock", "udp:${o.ngAddress}:${o.ngPort}")

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
