/**
 * End-to-end harness: one NAT topology (test/support/netns.ts), the real CLI started as a child
 * process in the "edge" namespace with a generated YAML configuration — from the sources
 * (`node --import tsx src/cli.ts --config FILE`) or built (`node dist/src/cli.js`, what the
 * `pinlatch` bin runs; `npx tsc` builds it) — and sipp caller/gateway runs with the RTP endpoints
 * their scenarios start.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ChildProcess } from 'node:child_process';
import type { NatTopology } from '../support/netns.ts';
import { startSipp, type SippOptions, type SippRun } from '../support/sipp.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const CLI = { sources: [join(ROOT, 'src/cli.ts')], built: [join(ROOT, 'dist/src/cli.js')] };
/** pino writes JSON lines to stdout; the CLI logs this once SIP and media listen. */
const READY = '"msg":"pinlatch running"';
const RTP_ENDPOINT = fileURLToPath(new URL('./rtp-endpoint.mjs', import.meta.url));

export interface TrunkSpec {
  host: string;
  port?: number;
  pinRoute: boolean;
  resolveIntervalSec?: number;
  /** The trunk's `latching` mapping as YAML flow text (restricted latching), when given. */
  latching?: string;
}

export interface RtpResult {
  sent: number;
  received: number;
  sources: string[];
  remote: string;
  sendError: string | null;
}

/** `address:port` as SIP writes it: an IPv6 address in brackets (RFC 3261 §25.1). */
export function hostport(address: string, port: number): string {
  return `${address.includes(':') ? `[${address}]` : address}:${port}`;
}

export function pinlatchYaml(topo: NatTopology, trunk: TrunkSpec): string {
  const edge = topo.addr.edge;
  return `sip:
  listen: [{ transport: udp, address: "${edge}", port: 5060 }]
  advertise: "${edge}"
  timers: { t1Ms: 250, t2Ms: 2000, t4Ms: 2500, inviteTimeoutMs: 30000 }
media:
  address: "${edge}"
  advertise: "${edge}"
  ports: { min: 30000, max: 30999 }
  shards: 1
  timeoutSec: 60
trunks:
  - { name: gateway, host: "${trunk.host}", port: ${trunk.port ?? 5060}, pinRoute: ${trunk.pinRoute}, resolveIntervalSec: ${trunk.resolveIntervalSec ?? 60}${trunk.latching ? `, latching: ${trunk.latching}` : ''} }
routes:
  - { match: { user: ".*" }, trunk: gateway }
upstream: "sip:${hostport(topo.addr.pbx, 5060)}"
log: { level: ${process.env.PINLATCH_E2E_LOG ?? 'info'} }
`;
}

export class E2eRun {
  readonly dir = mkdtempSync(join(tmpdir(), 'pinlatch-e2e-'));
  private pinlatch: ChildProcess | null = null;
  pinlatchLog = '';

  constructor(readonly topo: NatTopology) {}

  async startPinlatch(yaml: string, cli: keyof typeof CLI = 'sources'): Promise<void> {
    const path = join(this.dir, 'pinlatch.yaml');
    writeFileSync(path, yaml);
    const [entry] = CLI[cli];
    if (!existsSync(entry!)) throw new Error(`${entry} is missing: build it with \`npx tsc\` first`);
    const node = cli === 'sources' ? [process.execPath, '--import', 'tsx'] : [process.execPath];
    const child = this.topo.spawn('edge', [...node, entry!, '--config', path], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.pinlatch = child;
    child.stderr!.on('data', (d) => (this.pinlatchLog += d));
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`pinlatch did not start:\n${this.pinlatchLog}`)), 20_000);
      child.stdout!.on('data', (d) => {
        this.pinlatchLog += d;
        if (this.pinlatchLog.includes(READY)) {
          clearTimeout(timer);
          resolve();
        }
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`pinlatch exited ${code}:\n${this.pinlatchLog}`));
      });
    });
  }

  async stopPinlatch(): Promise<void> {
    const child = this.pinlatch;
    this.pinlatch = null;
    if (!child || child.exitCode !== null || !child.pid) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        if (child.pid) process.kill(child.pid, 'SIGKILL');
      }, 5000);
      child.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
      process.kill(child.pid!, 'SIGTERM');
    });
  }

  /** The gateway (sipp uas) on its private address behind the NAT, or on the public carrier host. */
  gateway(scenario: string, extra: Partial<SippOptions> = {}, host: 'gw' | 'carrier' = 'gw'): SippRun {
    return startSipp(this.topo, {
      host,
      scenario,
      localIp: this.topo.addr[host],
      localPort: 5060,
      timeoutMs: 30_000,
      durationMs: 5000,
      vars: this.rtpVars(16000, 'gw'),
      ...extra,
    });
  }

  /** The caller (sipp uac) on the PBX's public address, calling pinlatch. */
  caller(scenario: string, extra: Partial<SippOptions> = {}): SippRun {
    return startSipp(this.topo, {
      host: 'pbx',
      scenario,
      localIp: this.topo.addr.pbx,
      localPort: 5061,
      remote: hostport(this.topo.addr.edge, 5060),
      service: '4930123456',
      timeoutMs: 30_000,
      durationMs: 5000,
      vars: this.rtpVars(20000, 'pbx'),
      ...extra,
    });
  }

  rtpVars(port: number, label: string, count = 150): Record<string, string | number> {
    return {
      rtpPort: port,
      rtpCount: count,
      rtpCmd: `node ${RTP_ENDPOINT}`,
      rtpOut: join(this.dir, label),
    };
  }

  /** Waits (bounded) for an RTP endpoint's result file. */
  async rtpResult(label: string, role: 'caller' | 'gw', call = 1, waitMs = 10_000): Promise<RtpResult | null> {
    const path = join(this.dir, `${label}-${role}-${call}.json`);
    const deadline = Date.now() + waitMs;
    while (!existsSync(path) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    return existsSync(path) ? (JSON.parse(readFileSync(path, 'utf8')) as RtpResult) : null;
  }

  async close(): Promise<void> {
    await this.stopPinlatch();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
