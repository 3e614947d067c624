/**
 * pinlatch as the edge proxy of the phones topology (test/support/phones-topology.ts): the real
 * CLI (`node --import tsx src/cli.ts`) started as a child in the `edge` namespace with a
 * generated YAML configuration — SIP on UDP and TCP 203.0.113.10:5060, media anchored on the same
 * address, the PBX (Kamailio, test/support/kamailio-registrar.ts) as upstream and registrar, a
 * `phones:` section — its JSON log collected, and its Prometheus metrics read with curl inside
 * the namespace (the metrics endpoint listens on the edge address; nothing leaves the topology).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ChildProcess } from 'node:child_process';
import { terminate } from './child.ts';
import type { PhonesTopology } from './phones-topology.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
/** pino writes JSON lines to stdout; the CLI logs this once SIP and media listen. */
const READY = '"msg":"pinlatch running"';

export interface EdgeTrunk {
  name: string;
  host: string;
  port?: number;
  /** Regular expression on the Request-URI user that routes to this trunk. */
  user: string;
}

export interface PhonesEdgeOptions {
  /** The `phones:` section's body as YAML flow text (default `{}`: every other source is a phone). */
  phones?: string;
  /** Trunks on the public side, each with the route that sends matching numbers to it. */
  trunks?: readonly EdgeTrunk[];
  /** Key of the flow tokens (admission.routeSecret). */
  routeSecret?: string;
  logLevel?: string;
  /** SIP port (UDP and TCP, default 5060), media port range (default 30000-30999), metrics port (default 9090): two instances side by side need their own. */
  sipPort?: number;
  mediaPorts?: { min: number; max: number };
  metricsPort?: number;
  /** SIP transaction timers as YAML flow text (default T1 250 ms: Timer B/F 16 s). */
  sipTimers?: string;
}

export function phonesEdgeYaml(topo: PhonesTopology, o: PhonesEdgeOptions = {}): string {
  const { edge, pbx } = topo.addr;
  const trunks = o.trunks ?? [];
  const sipPort = o.sipPort ?? 5060;
  const media = o.mediaPorts ?? { min: 30000, max: 30999 };
  return `sip:
  listen:
    - { transport: udp, address: "${edge}", port: ${sipPort} }
    - { transport: tcp, address: "${edge}", port: ${sipPort} }
  advertise: "${edge}"
  timers: ${o.sipTimers ?? '{ t1Ms: 250, t2Ms: 2000, t4Ms: 2500, inviteTimeoutMs: 30000 }'}
media:
  address: "${edge}"
  advertise: "${edge}"
  ports: { min: ${media.min}, max: ${media.max} }
  shards: 1
  timeoutSec: 60
trunks:
${trunks.map((t) => `  - { name: ${t.name}, host: "${t.host}", port: ${t.port ?? 5060} }`).join('\n') || '  []'}
routes:
${trunks.map((t) => `  - { match: { user: "${t.user}" }, trunk: ${t.name} }`).join('\n') || '  []'}
upstream: "sip:${pbx}:5060"
phones: ${o.phones ?? '{}'}
admission:
  routeSecret: "${o.routeSecret ?? 'phones-edge-test-secret-0123456789'}"
metrics: { address: "${edge}", port: ${o.metricsPort ?? 9090} }
log: { level: ${o.logLevel ?? process.env.PINLATCH_E2E_LOG ?? 'info'} }
`;
}

export class PinlatchEdge {
  readonly dir = mkdtempSync(join(tmpdir(), 'pinlatch-edge-'));
  log = '';
  private child: ChildProcess | null = null;

  private constructor(
    readonly topo: PhonesTopology,
    readonly metricsPort: number,
  ) {}

  /** Starts pinlatch in the `edge` namespace; resolves once it runs, throws with its log otherwise. */
  static async start(topo: PhonesTopology, options: PhonesEdgeOptions = {}): Promise<PinlatchEdge> {
    const edge = new PinlatchEdge(topo, options.metricsPort ?? 9090);
    const path = join(edge.dir, 'pinlatch.yaml');
    writeFileSync(path, phonesEdgeYaml(topo, options));
    const child = topo.spawn('edge', [process.execPath, '--import', 'tsx', join(ROOT, 'src/cli.ts'), '--config', path], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    edge.child = child;
    const collect = (d: Buffer) => {
      edge.log = (edge.log + d.toString()).slice(-4_000_000);
    };
    child.stdout!.on('data', collect);
    child.stderr!.on('data', collect);
    const deadline = Date.now() + 30_000;
    while (!edge.log.includes(READY)) {
      if (child.exitCode !== null || child.signalCode !== null || Date.now() > deadline) {
        await edge.stop();
        throw new Error(`pinlatch did not start (exit ${child.exitCode ?? child.signalCode}):\n${edge.log.slice(-4000)}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    return edge;
  }

  /** The JSON log lines whose msg is `msg`. */
  logs(msg: string): Array<Record<string, unknown>> {
    return this.log
      .split('\n')
      .filter((line) => line.startsWith('{') && line.includes(`"msg":"${msg}"`))
      .map((line) => JSON.parse(line) as Record<string, unknown>);
  }

  /** Every sample of the metrics endpoint, `name{labels}` → value (read with curl in `edge`). */
  async metrics(): Promise<Map<string, number>> {
    const url = `http://${this.topo.addr.edge}:${this.metricsPort}/metrics`;
    const { stdout } = await this.topo.exec('edge', ['curl', '-sf', '--max-time', '5', url]);
    const out = new Map<string, number>();
    for (const line of stdout.split('\n')) {
      if (line.startsWith('#') || line.trim() === '') continue;
      const space = line.lastIndexOf(' ');
      out.set(line.slice(0, space), Number(line.slice(space + 1)));
    }
    return out;
  }

  /** One metric's value (0 when absent). */
  async metric(name: string): Promise<number> {
    return (await this.metrics()).get(name) ?? 0;
  }

  /** Stops pinlatch by PID (SIGTERM, SIGKILL after 5 s) and removes its config directory. */
  async stop(): Promise<void> {
    const child = this.child;
    this.child = null;
    if (child) await terminate(child);
    rmSync(this.dir, { recursive: true, force: true });
  }
}
