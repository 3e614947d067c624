/**
 * The small SIP tools of test/support/sip-probe.mjs and tcp-phone.mjs run inside a namespace of
 * the phones topology: a one-shot INVITE (from the PBX's side, with a chosen Route), a UDP
 * listener standing in for a phone or a trunk, and a phone registering over TCP. Each prints one
 * JSON object per line; JsonLinesProcess collects them. Processes stop by PID (stop()), and the
 * topology's destroy() kills whatever is left.
 */
import { fileURLToPath } from 'node:url';
import type { ChildProcess } from 'node:child_process';
import { terminate } from './child.ts';
import type { PhoneHost, PhonesTopology } from './phones-topology.ts';

const PROBE = fileURLToPath(new URL('./sip-probe.mjs', import.meta.url));
const TCP_PHONE = fileURLToPath(new URL('./tcp-phone.mjs', import.meta.url));

export type JsonLine = Record<string, unknown>;

export class JsonLinesProcess {
  readonly lines: JsonLine[] = [];
  output = '';
  readonly exited: Promise<void>;

  constructor(readonly child: ChildProcess) {
    let pending = '';
    child.stdout!.on('data', (d: Buffer) => {
      this.output += d;
      pending += d;
      const parts = pending.split('\n');
      pending = parts.pop()!;
      for (const part of parts) if (part.startsWith('{')) this.lines.push(JSON.parse(part) as JsonLine);
    });
    child.stderr!.on('data', (d: Buffer) => (this.output += d));
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
  }

  /** Waits (bounded) until a line matches; throws with the output otherwise. */
  async waitFor(match: (line: JsonLine) => boolean, timeoutMs: number, what: string): Promise<JsonLine> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.lines.find(match);
      if (found) return found;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; output:\n${this.output.slice(-3000)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  async stop(): Promise<void> {
    await terminate(this.child, 2000);
  }
}

export interface ProbeInvite {
  host: PhoneHost;
  localIp: string;
  localPort: number;
  remote: { address: string; port: number };
  uri: string;
  route?: string;
}

/** Sends one INVITE and resolves with every response it got ({status: 0} when none was final). */
export async function probeInvite(topo: PhonesTopology, o: ProbeInvite): Promise<JsonLine[]> {
  const args = ['invite', o.localIp, String(o.localPort), o.remote.address, String(o.remote.port), o.uri, ...(o.route ? [o.route] : [])];
  const run = new JsonLinesProcess(topo.spawn(o.host, [process.execPath, PROBE, ...args], { stdio: ['ignore', 'pipe', 'pipe'] }));
  await run.exited;
  return run.lines;
}

/** A UDP listener on address:port in `host` (answers OPTIONS 200, INVITE 486); resolves once it listens. */
export async function startListener(topo: PhonesTopology, host: PhoneHost, address: string, port: number): Promise<JsonLinesProcess> {
  const run = new JsonLinesProcess(topo.spawn(host, [process.execPath, PROBE, 'listen', address, String(port)], { stdio: ['ignore', 'pipe', 'pipe'] }));
  await run.waitFor((l) => l['ready'] === true, 5000, `the listener on ${address}:${port}`);
  return run;
}

export interface TcpPhoneOptions {
  host: PhoneHost;
  localIp: string;
  remote: { address: string; port: number };
  user: string;
  password: string;
  domain?: string;
}

/** A phone registering over TCP; `close()` makes it close its connection. */
export class TcpPhone extends JsonLinesProcess {
  static start(topo: PhonesTopology, o: TcpPhoneOptions): TcpPhone {
    const argv = [process.execPath, TCP_PHONE, o.localIp, o.remote.address, String(o.remote.port), o.user, o.password, o.domain ?? 'pbx.test'];
    return new TcpPhone(topo.spawn(o.host, argv, { stdio: ['pipe', 'pipe', 'pipe'] }));
  }

  close(): void {
    this.child.stdin?.write('close\n');
  }
}
