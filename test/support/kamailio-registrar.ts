/**
 * A real registrar standing in for the hosted PBX: Kamailio (Debian `kamailio` 5.6) with
 *  - registrar + usrloc in memory (db_mode 0), Path support (use_path; path_mode chosen by the
 *    test): a REGISTER's Path is stored with the contact and becomes the Route set (and the
 *    destination) of requests to that contact — RFC 3327, what pinlatch as an edge proxy relies on;
 *  - digest authentication from auth + auth_db over db_text (plain text files in a temp dir):
 *    401 on REGISTER, 407 on INVITE from a phone (unless its source is `trusted`), the
 *    authentication user must be the AoR (REGISTER) or the caller (INVITE), else 403;
 *  - lookup("location") for INVITEs, record-routing, relaying calls between registered users;
 *  - expiries chosen by the test (min/max/default_expires, 423 below the minimum if asked);
 *  - optionally (`nat: true`) far-end NAT traversal done by the PBX itself, for phones registering
 *    directly through their NAT: nathelper stores the REGISTER's source as `received`
 *    (fix_nated_register) and rewrites a NATed Contact of INVITEs and their replies to the source
 *    address (fix_nated_contact), so that requests reach the phone through its NAT mapping. With
 *    an edge proxy in front (Path), the edge does this and `nat` stays off.
 *
 * Every REGISTER and INVITE is logged as one `pbx-event` line (xlog on stderr), which
 * KamailioRegistrar parses into events: how many REGISTERs arrived, from which public address
 * and port, which were challenged and which saved. The location table itself is read with
 * `kamcmd ul.dump` over the ctl module's unix socket in the temp dir (no network).
 *
 * The path module is not loaded: it is for the proxy that adds Path (pinlatch), the registrar
 * only stores and uses it (registrar's use_path).
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { KAMAILIO_MODULES } from './kamailio.ts';
import type { NamespaceGroup } from './netns.ts';
import { terminate } from './child.ts';

export const KAMAILIO = '/usr/sbin/kamailio';
export const KAMCMD = '/usr/sbin/kamcmd';

export interface RegistrarUser {
  user: string;
  password: string;
}

export interface KamailioRegistrarOptions {
  /** Address and UDP port Kamailio listens on. */
  address: string;
  port?: number;
  /** SIP domain of the users (an alias of Kamailio) and digest realm; default 'pbx.test'. */
  domain?: string;
  users: readonly RegistrarUser[];
  /** registrar min_expires (default 10), max_expires (default 3600), default_expires (default 60). */
  minExpires?: number;
  maxExpires?: number;
  defaultExpires?: number;
  /** Answer 423 Interval Too Brief below minExpires instead of raising the expiry to it. */
  rejectBelowMinExpires?: boolean;
  /**
   * registrar path_mode: 0 = store Path, never echo it (default); 1 = echo it when the REGISTER
   * says `Supported: path`; 2 = RFC 3327 strict, 420 when Path comes without `Supported: path`.
   */
  pathMode?: 0 | 1 | 2;
  /** The PBX handles phones' NAT itself (nathelper); see the header comment. Default false. */
  nat?: boolean;
  /** Source addresses whose INVITEs are not challenged (a carrier, a trunk). */
  trusted?: readonly string[];
  /** tm's timeout for a non-INVITE / an unanswered INVITE branch, ms (defaults 4000 / 20000). */
  frTimerMs?: number;
  frInvTimerMs?: number;
  children?: number;
  /**
   * Digest authentication of REGISTERs (default true). Off, every REGISTER is saved as it comes:
   * for a benchmark counting REGISTERs, where a challenge would send each one twice.
   */
  auth?: boolean;
  /**
   * One `pbx-event` log line per REGISTER and INVITE (default true). Off for a benchmark: tens of
   * thousands of phones would make the log the registrar's main work; count with stats() instead.
   */
  events?: boolean;
  /** Shared memory (MB) for the location table and transactions (default 32). */
  sharedMemoryMb?: number;
}

/** The db_text tables auth_db reads: the version table and the subscriber table. */
function writeDb(dir: string, o: KamailioRegistrarOptions, domain: string): void {
  mkdirSync(dir, { recursive: true });
  // auth_db checks the subscriber table's version (7 in Kamailio 5.6) at start-up.
  writeFileSync(join(dir, 'version'), 'table_name(string) table_version(int)\nsubscriber:7\n');
  const rows = o.users.map((u, i) => `${i + 1}:${u.user}:${domain}:${u.password}::`);
  writeFileSync(
    join(dir, 'subscriber'),
    `id(int,auto) username(string) domain(string) password(string) ha1(string,null) ha1b(string,null)\n${rows.join('\n')}\n`,
  );
}

export function kamailioRegistrarConfig(o: KamailioRegistrarOptions, dbDir: string, ctlSocket: string): string {
  const domain = o.domain ?? 'pbx.test';
  const nat = o.nat ?? false;
  const trusted = (o.trusted ?? []).map((a) => `$si == "${a}"`).join(' || ');
  // Events off, the lines are logged at debug level, which debug=2 does not print (a route may
  // not be empty, so they stay as statements).
  const event = (text: string) => `xlog("${o.events === false ? 'L_DBG' : 'L_NOTICE'}", "pbx-event ${text}\\n");`;
  const auth = o.auth ?? true;
  return `#!KAMAILIO
debug=2
log_stderror=yes
children=${o.children ?? 2}
disable_tcp=yes
listen=udp:${o.address}:${o.port ?? 5060}
alias="${domain}"
mpath="${KAMAILIO_MODULES}/"
loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "rr.so"
loadmodule "pv.so"
loadmodule "maxfwd.so"
loadmodule "textops.so"
loadmodule "siputils.so"
loadmodule "xlog.so"
loadmodule "kex.so"
loadmodule "ctl.so"
loadmodule "db_text.so"
loadmodule "usrloc.so"
loadmodule "registrar.so"
loadmodule "auth.so"
loadmodule "auth_db.so"
${nat ? 'loadmodule "nathelper.so"\n' : ''}
modparam("xlog", "prefix", "")
modparam("ctl", "binrpc", "unix:${ctlSocket}")
modparam("tm", "fr_timer", ${o.frTimerMs ?? 4000})
modparam("tm", "fr_inv_timer", ${o.frInvTimerMs ?? 20000})
modparam("rr", "append_fromtag", 1)
# Contacts live in memory only; expired ones are purged every second.
modparam("usrloc", "db_mode", 0)
modparam("usrloc", "timer_interval", 1)
modparam("registrar", "min_expires", ${o.minExpires ?? 10})
modparam("registrar", "min_expires_mode", ${o.rejectBelowMinExpires ? 1 : 0})
modparam("registrar", "max_expires", ${o.maxExpires ?? 3600})
modparam("registrar", "default_expires", ${o.defaultExpires ?? 60})
modparam("registrar", "use_path", 1)
modparam("registrar", "path_mode", ${o.pathMode ?? 0})
${nat ? 'modparam("registrar", "received_avp", "$avp(RECEIVED)")\nmodparam("nathelper", "received_avp", "$avp(RECEIVED)")\n' : ''}
modparam("auth_db", "db_url", "text://${dbDir}")
modparam("auth_db", "calculate_ha1", yes)
modparam("auth_db", "password_column", "password")
modparam("auth_db", "use_domain", 0)
modparam("auth_db", "load_credentials", "")

request_route {
  if (!mf_process_maxfwd_header("10")) { sl_send_reply("483", "Too Many Hops"); exit; }
  if (is_method("OPTIONS") && $rU == $null) { sl_send_reply("200", "Alive"); exit; }
${nat ? '  force_rport();\n' : ''}  if (has_totag()) {
    if (loose_route()) {
${nat ? '      if (is_method("INVITE") && nat_uac_test("19")) { fix_nated_contact(); }\n' : ''}      t_on_reply("REPLY");
      t_relay();
      exit;
    }
    if (is_method("ACK")) { if (t_check_trans()) { t_relay(); } exit; }
    sl_send_reply("404", "Not here");
    exit;
  }
  if (is_method("CANCEL")) { if (t_check_trans()) { t_relay(); } exit; }
  if (t_check_trans()) { exit; }
  if (is_method("REGISTER")) { route(REGISTRAR); exit; }
  if (is_method("INVITE")) { route(CALL); exit; }
  sl_send_reply("405", "Method Not Allowed");
}

route[REGISTRAR] {
  ${event('REGISTER user=$tU src=$si:$sp callid=$ci cseq=$cs expires=$hdr(Expires) contact=$ct path=$hdr(Path)')}
${auth ? `  if (!www_authenticate("${domain}", "subscriber")) {
    ${event('CHALLENGE method=REGISTER user=$tU src=$si:$sp rc=$rc')}
    www_challenge("${domain}", "0");
    exit;
  }
  if ($au != $tU) { sl_send_reply("403", "Authentication user is not the AoR"); exit; }
  consume_credentials();
` : ''}${nat ? '  if (!is_present_hf("Path")) { fix_nated_register(); }\n' : ''}  if (!save("location")) {
    ${event('REJECTED user=$tU src=$si:$sp')}
    sl_reply_error();
    exit;
  }
  ${event('SAVED user=$tU src=$si:$sp expires=$hdr(Expires) contact=$ct path=$hdr(Path)')}
}

route[CALL] {
  ${event('INVITE from=$fU to=$rU src=$si:$sp callid=$ci')}
${trusted ? `  if (${trusted}) {\n    ${event('TRUSTED src=$si:$sp')}\n  } else {\n    route(AUTH_CALLER);\n  }\n` : '  route(AUTH_CALLER);\n'}${nat ? '  if (nat_uac_test("19")) { fix_nated_contact(); }\n' : ''}  record_route();
  if (!lookup("location")) {
    ${event('NOTFOUND to=$rU')}
    sl_send_reply("404", "Not Found");
    exit;
  }
  ${event('LOOKUP to=$rU ruri=$ru du=$du')}
  t_on_reply("REPLY");
  t_relay();
}

# exit here ends the whole request processing, not only this route.
route[AUTH_CALLER] {
  if (!proxy_authenticate("${domain}", "subscriber")) {
    ${event('CHALLENGE method=INVITE user=$fU src=$si:$sp rc=$rc')}
    proxy_challenge("${domain}", "0");
    exit;
  }
  if ($au != $fU) { sl_send_reply("403", "Authentication user is not the caller"); exit; }
  consume_credentials();
}

onreply_route[REPLY] {
  ${event('REPLY status=$rs method=$rm src=$si:$sp')}
${nat ? '  if (nat_uac_test("19")) { fix_nated_contact(); }\n' : ''}}
`;
}

/** One `pbx-event` line: its kind (REGISTER, CHALLENGE, SAVED, INVITE, ...) and key=value fields. */
export interface PbxEvent {
  kind: string;
  fields: Record<string, string>;
}

export function parsePbxEvents(log: string): PbxEvent[] {
  const events: PbxEvent[] = [];
  for (const line of log.split('\n')) {
    const at = line.indexOf('pbx-event ');
    if (at < 0) continue;
    const [kind, ...rest] = line.slice(at + 'pbx-event '.length).trim().split(' ');
    const fields: Record<string, string> = {};
    for (const pair of rest) {
      const eq = pair.indexOf('=');
      if (eq > 0) fields[pair.slice(0, eq)] = pair.slice(eq + 1);
    }
    events.push({ kind: kind!, fields });
  }
  return events;
}

/** One contact of `kamcmd ul.dump`. */
export interface RegisteredContact {
  aor: string;
  contact: string;
  /** The source the REGISTER came from (nat: true), e.g. `sip:203.0.113.51:5060`; else ''. */
  received: string;
  /** The stored Path ('' without one). */
  path: string;
  expires: number;
}

export class KamailioRegistrar {
  readonly dir: string;
  readonly ctlSocket: string;
  log = '';
  private child: ChildProcess | null = null;

  private constructor(readonly options: KamailioRegistrarOptions) {
    this.dir = mkdtempSync(join(tmpdir(), 'pinlatch-pbx-'));
    this.ctlSocket = join(this.dir, 'ctl.sock');
  }

  /**
   * Starts Kamailio in `host`'s namespace and waits until it answers (bounded); throws with its
   * log if it exits or does not come up.
   */
  static async start<H extends string>(
    topo: Pick<NamespaceGroup<H>, 'spawn'>,
    host: H,
    options: KamailioRegistrarOptions,
  ): Promise<KamailioRegistrar> {
    const pbx = new KamailioRegistrar(options);
    const domain = options.domain ?? 'pbx.test';
    writeDb(join(pbx.dir, 'db'), options, domain);
    const cfg = join(pbx.dir, 'kamailio.cfg');
    writeFileSync(cfg, kamailioRegistrarConfig(options, join(pbx.dir, 'db'), pbx.ctlSocket));
    // -D: stay in the foreground (this pid is the main process), -E: log to stderr.
    const child = topo.spawn(host, [KAMAILIO, '-f', cfg, '-D', '-E', '-m', String(options.sharedMemoryMb ?? 32), '-M', '4', '-Y', pbx.dir, '-w', pbx.dir], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    pbx.child = child;
    const collect = (d: Buffer) => {
      // Keep a bounded tail: the events tests count are a few lines per request.
      pbx.log = (pbx.log + d.toString()).slice(-2_000_000);
    };
    child.stdout!.on('data', collect);
    child.stderr!.on('data', collect);
    const exited = new Promise<never>((_, reject) =>
      child.once('exit', (code, signal) => reject(new Error(`kamailio exited ${code ?? signal}:\n${pbx.log.slice(-4000)}`))),
    );
    exited.catch(() => undefined);
    const deadline = Date.now() + 15_000;
    for (;;) {
      if (child.exitCode !== null || child.signalCode !== null) await exited;
      try {
        await pbx.kamcmd(['core.uptime']);
        break;
      } catch (err) {
        if (Date.now() > deadline) {
          await pbx.stop();
          throw new Error(`kamailio did not start: ${(err as Error).message}\n${pbx.log.slice(-4000)}`);
        }
        await new Promise((r) => setTimeout(r, 200));
      }
    }
    return pbx;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  events(kind?: string): PbxEvent[] {
    const all = parsePbxEvents(this.log);
    return kind ? all.filter((e) => e.kind === kind) : all;
  }

  /** REGISTER requests received (challenged or not), for one AoR user or all. */
  registerCount(user?: string): number {
    return this.events('REGISTER').filter((e) => user === undefined || e.fields['user'] === user).length;
  }

  /** Successful registrations (saved in the location table), for one AoR user or all. */
  savedRegistrations(user?: string): PbxEvent[] {
    return this.events('SAVED').filter((e) => user === undefined || e.fields['user'] === user);
  }

  /** Waits (polling, bounded) until `predicate` holds on the events so far. */
  async waitForEvents(predicate: (events: PbxEvent[]) => boolean, timeoutMs: number, what: string): Promise<PbxEvent[]> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const events = this.events();
      if (predicate(events)) return events;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; kamailio log tail:\n${this.log.slice(-3000)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** Runs kamcmd against this Kamailio's ctl socket (a unix socket: no network involved). */
  kamcmd(args: string[]): Promise<string> {
    return new Promise((resolve, reject) => {
      execFile(KAMCMD, ['-s', `unix:${this.ctlSocket}`, ...args], { timeout: 5000 }, (err, stdout, stderr) => {
        if (err) reject(new Error(`kamcmd ${args.join(' ')}: ${err.message} ${stderr}`));
        else resolve(stdout);
      });
    });
  }

  /** The location table (`ul.dump`): every registered contact. */
  async registrations(): Promise<RegisteredContact[]> {
    const out = await this.kamcmd(['ul.dump']);
    const contacts: RegisteredContact[] = [];
    let aor = '';
    let current: RegisteredContact | null = null;
    for (const raw of out.split('\n')) {
      const line = raw.trim();
      const m = /^([A-Za-z-]+):\s*(.*)$/.exec(line);
      if (!m) continue;
      const [, key, value] = m as unknown as [string, string, string];
      if (key === 'AoR') aor = value;
      else if (key === 'Address') {
        current = { aor, contact: value, received: '', path: '', expires: 0 };
        contacts.push(current);
      } else if (current && key === 'Received') current.received = value === '[not set]' ? '' : value;
      else if (current && key === 'Path') current.path = value === '[not set]' ? '' : value;
      else if (current && key === 'Expires') current.expires = Number(value);
    }
    return contacts;
  }

  /** Stops Kamailio by PID: SIGTERM (its main process stops its children), SIGKILL after 5 s. */
  async stop(): Promise<void> {
    const child = this.child;
    this.child = null;
    if (child) await terminate(child);
    rmSync(this.dir, { recursive: true, force: true });
  }
}
