/**
 * baresip (Debian `baresip-core` 1.0) as a real SIP phone inside a network namespace, headless:
 * a generated config directory (`config` + `accounts`), no sound card — the microphone is the
 * `ausine` module (a sine tone), the speaker the `aubridge` module with no source attached to its
 * device (the decoded audio goes nowhere), G.711 only — and no UI module: the `menu` application
 * module does the account's `answermode=auto`, and the test reads baresip's stdout.
 *
 * The phone registers (digest auth with auth_pass, refreshed every `regint` seconds) through
 * `outbound` — the registrar itself or an edge proxy — and answers calls on the port it
 * registered from, the way a phone behind NAT keeps its mapping. Every address it uses is an IP
 * address, and `dns_server` points inside the topology: baresip sends nothing outside it.
 *
 * stdout is line-buffered through `stdbuf -oL` (a pipe would otherwise hold baresip's output back);
 * stop() sends SIGTERM, which makes baresip unregister (REGISTER with Expires 0) before it exits.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import type { NamespaceGroup } from './netns.ts';
import { terminate } from './child.ts';

export const BARESIP = '/usr/bin/baresip';
export const BARESIP_MODULES = '/usr/lib/baresip/modules';

export interface BaresipOptions<H extends string> {
  host: H;
  /** The phone's own (private) address and SIP port. */
  localIp: string;
  localPort?: number;
  user: string;
  password: string;
  /** The AoR's domain (default 'pbx.test'). */
  domain?: string;
  /** host:port every request goes to: the registrar, or the edge proxy in front of it. */
  outbound: string;
  /** Registration interval, seconds (default 60). */
  regint?: number;
  /** 'auto' answers every call at once (default), 'manual' lets it ring. */
  answermode?: 'auto' | 'manual';
  /** RTP port range (default 10000-10099). */
  rtpPorts?: { min: number; max: number };
  /** A DNS server inside the topology (baresip wants one; no query leaves the topology). */
  dnsServer: string;
  /** Print every SIP message sent and received into the output (`baresip -s`). */
  sipTrace?: boolean;
  /** Commands baresip runs once it has started (`-e`, e.g. `/dial 1001`). */
  commands?: readonly string[];
  /** Quit after this many seconds (`-t`): calls are hung up (BYE), the account unregisters. */
  quitAfterSec?: number;
}

export class Baresip {
  readonly dir: string;
  output = '';
  private child: ChildProcess | null = null;

  private constructor() {
    this.dir = mkdtempSync(join(tmpdir(), 'pinlatch-baresip-'));
  }

  static config<H extends string>(o: BaresipOptions<H>): { config: string; accounts: string } {
    const rtp = o.rtpPorts ?? { min: 10000, max: 10099 };
    const config = `poll_method		epoll
sip_listen		${o.localIp}:${o.localPort ?? 5060}
call_local_timeout	120
call_max_calls		4
audio_player		aubridge,nowhere
audio_alert		aubridge,nowhere
audio_source		ausine,440
ausrc_srate		48000
ausrc_channels		2
rtp_ports		${rtp.min}-${rtp.max}
rtp_timeout		0
jitter_buffer_delay	5-10
dns_server		${o.dnsServer}:53
module_path		${BARESIP_MODULES}
module			g711.so
module			ausine.so
module			aubridge.so
module_tmp		account.so
module_app		menu.so
statmode_default	off
`;
    const domain = o.domain ?? 'pbx.test';
    const accounts = `<sip:${o.user}@${domain}>;auth_pass=${o.password};outbound="sip:${o.outbound};transport=udp";regint=${o.regint ?? 60};answermode=${o.answermode ?? 'auto'};audio_codecs=pcmu,pcma;mwi=no;pubint=0\n`;
    return { config, accounts };
  }

  /** Starts baresip in `o.host`'s namespace; resolves once it has started (not registered yet). */
  static async start<H extends string>(topo: NamespaceGroup<H>, o: BaresipOptions<H>): Promise<Baresip> {
    const phone = new Baresip();
    const { config, accounts } = Baresip.config(o);
    writeFileSync(join(phone.dir, 'config'), config);
    writeFileSync(join(phone.dir, 'accounts'), accounts);
    writeFileSync(join(phone.dir, 'contacts'), '');
    const commands = (o.commands ?? []).flatMap((c) => ['-e', c]);
    const args = ['stdbuf', '-oL', '-eL', BARESIP, '-f', phone.dir, ...(o.sipTrace ? ['-s'] : []), ...commands, ...(o.quitAfterSec ? ['-t', String(o.quitAfterSec)] : [])];
    const child = topo.spawn(o.host, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    phone.child = child;
    const collect = (d: Buffer) => {
      phone.output = (phone.output + d.toString()).slice(-1_000_000);
    };
    child.stdout!.on('data', collect);
    child.stderr!.on('data', collect);
    await phone.waitFor(/baresip is ready/, 10_000, 'baresip to start');
    return phone;
  }

  /** Resolves when baresip has exited (at once if it is not running). */
  async exited(timeoutMs: number): Promise<void> {
    await this.waitFor(() => this.child === null || this.child.exitCode !== null || this.child.signalCode !== null, timeoutMs, 'baresip to exit').catch((err: Error) => {
      if (!/exited while waiting/.test(err.message)) throw err;
    });
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /**
   * Whether a registration succeeded ("... 200 OK ... [1 binding]"). baresip prints that line for
   * the first registration only, not for its refreshes: count those at the registrar (or with
   * `sipTrace`).
   */
  registered(): boolean {
    return /\} 200 OK .*\[\d+ bindings?\]/.test(this.output);
  }

  /** Calls that reached "Call established" so far. */
  establishedCalls(): number {
    return (this.output.match(/Call established/g) ?? []).length;
  }

  /** Calls that ended so far ("Call terminated" / "session closed"). */
  closedCalls(): number {
    return (this.output.match(/session closed|Call terminated/g) ?? []).length;
  }

  /** Waits (bounded) until the output matches; throws with the output's tail otherwise. */
  async waitFor(pattern: RegExp | (() => boolean), timeoutMs: number, what: string): Promise<void> {
    const done = typeof pattern === 'function' ? pattern : () => pattern.test(this.output);
    const deadline = Date.now() + timeoutMs;
    while (!done()) {
      if (this.child && (this.child.exitCode !== null || this.child.signalCode !== null)) {
        throw new Error(`baresip exited while waiting for ${what}:\n${this.output.slice(-3000)}`);
      }
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; baresip output:\n${this.output.slice(-3000)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** Stops baresip by PID: SIGTERM (it unregisters), SIGKILL after 5 s; removes its config dir. */
  async stop(): Promise<void> {
    const child = this.child;
    this.child = null;
    if (child) await terminate(child);
    rmSync(this.dir, { recursive: true, force: true });
  }
}
