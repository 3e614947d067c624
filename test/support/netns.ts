/**
 * A real NAT topology built from network namespaces, veth pairs and nftables, for end-to-end
 * tests of the issue's scenario: a hosted PBX and pinlatch on public addresses, a PSTN gateway on
 * a private address behind a NAT router that forwards only the SIP port, and a carrier gateway on
 * a public address (a trunk reached without NAT).
 *
 *                         wan (bridge br0, 203.0.113.0/24)
 *        ┌───────────────────────┼──────────────────────────┬─────────────────────┐
 *   pbx 203.0.113.30     edge 203.0.113.10        natgw 203.0.113.1 (wan0)   carrier 203.0.113.40
 *   (caller, sipp)       (pinlatch)               nft: masquerade 192.168.50.0/24,
 *                                                 DNAT udp <sip port> only ─► gw
 *                                                 natgw 192.168.50.1 (lan0)
 *                                                           │
 *                                                 gw 192.168.50.20 (default via .1)
 *
 * With `family: 6` the same topology runs on IPv6 only (ADDR6): 2001:db8:113::/64 stands for the
 * public network (documentation prefix, routable for pinlatch), fd00:50::/64 (unique-local,
 * RFC 4193) for the private one, and the router does NAT66 with the same nftables rules in an
 * `ip6` table (masquerade + DNAT of the SIP port).
 *
 * NamespaceGroup is the part every topology shares (test/support/phones-topology.ts builds another
 * one on it): namespaces, processes started in them, teardown.
 *
 * Nothing is created in the host's own namespace: veth pairs are created inside `wan`/`natgw`
 * with their peer placed directly into the target namespace. Names carry the pid and a counter so
 * parallel runs do not clash; `destroy()` runs from `finally` blocks and, as a last resort, from a
 * synchronous process 'exit' handler. Every command has a time limit.
 */
import { execFile, execFileSync, spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const PUBLIC_PREFIX = 24;

export interface TopologyAddresses {
  readonly pbx: string;
  readonly edge: string;
  readonly natPublic: string;
  readonly natPrivate: string;
  readonly gw: string;
  readonly carrier: string;
}

export const ADDR: TopologyAddresses = Object.freeze({
  pbx: '203.0.113.30',
  edge: '203.0.113.10',
  natPublic: '203.0.113.1',
  natPrivate: '192.168.50.1',
  gw: '192.168.50.20',
  carrier: '203.0.113.40',
});
export const ADDR6: TopologyAddresses = Object.freeze({
  pbx: '2001:db8:113::30',
  edge: '2001:db8:113::10',
  natPublic: '2001:db8:113::1',
  natPrivate: 'fd00:50::1',
  gw: 'fd00:50::20',
  carrier: '2001:db8:113::40',
});

/** Per address family: the addresses, the prefix lengths, the nftables family and the private net. */
const FAMILY = {
  4: { addr: ADDR, publicPrefix: PUBLIC_PREFIX, privatePrefix: 24, nft: 'ip', privateNet: '192.168.50.0/24' },
  6: { addr: ADDR6, publicPrefix: 64, privatePrefix: 64, nft: 'ip6', privateNet: 'fd00:50::/64' },
} as const;

export type HostName = 'wan' | 'pbx' | 'edge' | 'natgw' | 'gw' | 'carrier';

export interface UdpForward {
  /** UDP port on the router's public address. */
  port: number;
  /** Port on the gateway the datagrams go to (default: same as `port`). */
  toPort?: number;
}

export interface TopologyOptions {
  /** IP version of every address in the topology (default 4). */
  family?: 4 | 6;
  /** UDP port forwards from the router's public address to the gateway (default: only 5060). */
  forwards?: UdpForward[];
}

export interface ExecResult {
  stdout: string;
  stderr: string;
}

const COMMAND_TIMEOUT_MS = 10_000;
const live = new Set<NamespaceGroup<string>>();
let counter = 0;
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const topo of live) topo.destroySync();
  });
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      for (const topo of live) topo.destroySync();
      process.exit(128 + (signal === 'SIGINT' ? 2 : 15));
    });
  }
}

export function run(file: string, args: string[], input?: string): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    const child = execFile(file, args, { timeout: COMMAND_TIMEOUT_MS }, (err, stdout, stderr) => {
      if (err) {
        reject(new Error(`${file} ${args.join(' ')} failed: ${err.message}\n${stderr}`));
      } else {
        resolve({ stdout, stderr });
      }
    });
    if (input !== undefined) child.stdin?.end(input);
  });
}

/**
 * A group of network namespaces named after this process (`pl<pid>x<n>-<host>`) and the processes
 * started in them: what every topology shares. `addNamespaces()` creates them (loopback up) and
 * registers the group for teardown at exit; `destroy()` kills the processes still running and
 * deletes the namespaces and their /etc/netns files.
 */
export class NamespaceGroup<H extends string> {
  readonly id: string;
  readonly ns: Readonly<Record<H, string>>;
  private destroyed = false;
  private readonly children = new Set<ChildProcess>();

  constructor(hosts: readonly H[]) {
    counter += 1;
    this.id = `pl${process.pid}x${counter}`;
    this.ns = Object.freeze(Object.fromEntries(hosts.map((n) => [n, `${this.id}-${n}`])) as Record<H, string>);
  }

  protected async addNamespaces(): Promise<void> {
    installExitHook();
    live.add(this);
    for (const name of Object.values<string>(this.ns)) await run('ip', ['netns', 'add', name]);
    for (const name of Object.values<string>(this.ns)) await run('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
  }

  /**
   * Gives one namespace its own /etc/hosts: `ip netns exec` bind-mounts /etc/netns/<ns>/* over
   * /etc/*, so processes started afterwards see it, and the machine's /etc/hosts is untouched.
   */
  setHosts(host: H, entries: Record<string, string>): void {
    const dir = join('/etc/netns', this.ns[host]);
    mkdirSync(dir, { recursive: true });
    const lines = ['127.0.0.1 localhost', '::1 localhost', ...Object.entries(entries).map(([name, a]) => `${a} ${name}`)];
    writeFileSync(join(dir, 'hosts'), `${lines.join('\n')}\n`);
  }

  /**
   * Gives one namespace its own /etc/resolv.conf (like setHosts): the DNS queries of processes
   * started there afterwards go to `nameserver` (an address inside the namespace), never to the
   * machine's resolver.
   */
  setResolvConf(host: H, nameserver: string): void {
    const dir = join('/etc/netns', this.ns[host]);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'resolv.conf'), `nameserver ${nameserver}\noptions timeout:1 attempts:1\n`);
  }

  /** Runs a command to completion inside a namespace. */
  exec(host: H, argv: string[], input?: string): Promise<ExecResult> {
    return run('ip', ['netns', 'exec', this.ns[host], ...argv], input);
  }

  /**
   * Starts a long-running process inside a namespace. `ip netns exec` execs the command, so the
   * returned child's pid is the process itself; destroy() kills whatever is still running.
   */
  spawn(host: H, argv: string[], options: SpawnOptions = {}): ChildProcess {
    const child = spawn('ip', ['netns', 'exec', this.ns[host], ...argv], { stdio: 'pipe', ...options });
    this.children.add(child);
    child.once('exit', () => this.children.delete(child));
    return child;
  }

  async destroy(): Promise<void> {
    const exits = [...this.children].map(
      (child) =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) return resolve();
          const timer = setTimeout(resolve, 3000);
          child.once('exit', () => {
            clearTimeout(timer);
            resolve();
          });
          if (child.pid) {
            try {
              process.kill(child.pid, 'SIGKILL');
            } catch {
              resolve();
            }
          }
        }),
    );
    await Promise.all(exits);
    this.destroySync();
  }

  /** Synchronous teardown (also used from the process 'exit' handler). Idempotent. */
  destroySync(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    live.delete(this);
    for (const child of this.children) {
      if (child.pid && child.exitCode === null) {
        try {
          process.kill(child.pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
    }
    for (const name of Object.values<string>(this.ns)) {
      try {
        execFileSync('ip', ['netns', 'del', name], { timeout: COMMAND_TIMEOUT_MS, stdio: 'ignore' });
      } catch {
        // never created or already deleted
      }
      rmSync(join('/etc/netns', name), { recursive: true, force: true });
    }
  }
}

export class NatTopology extends NamespaceGroup<HostName> {
  readonly family: 4 | 6;
  readonly addr: TopologyAddresses;
  private natPublic: string;
  private forwards: UdpForward[];
  /** A second public address the gateway's media leaves from (snatMediaTo), or null. */
  private mediaSnat: { address: string; sipPort: number } | null = null;

  constructor(options: TopologyOptions = {}) {
    super(['wan', 'pbx', 'edge', 'natgw', 'gw', 'carrier']);
    this.family = options.family ?? 4;
    this.addr = FAMILY[this.family].addr;
    this.natPublic = this.addr.natPublic;
    this.forwards = options.forwards ?? [{ port: 5060 }];
  }

  /** Current public address of the NAT router. */
  get routerAddress(): string {
    return this.natPublic;
  }

  async create(): Promise<this> {
    await this.addNamespaces();
    const { addr, publicPrefix, privatePrefix } = FAMILY[this.family];
    const ip = (...args: string[]) => run('ip', args);
    // IPv6 addresses skip duplicate address detection (RFC 4862 §5.4): usable at once, not tentative.
    const addAddress = (ns: string, cidr: string, dev: string) =>
      ip('-n', ns, 'addr', 'add', cidr, 'dev', dev, ...(this.family === 6 ? ['nodad'] : []));
    const { wan, pbx, edge, natgw, gw, carrier } = this.ns;
    await ip('-n', wan, 'link', 'add', 'br0', 'type', 'bridge');
    await ip('-n', wan, 'link', 'set', 'br0', 'up');
    const publicHosts: Array<[string, string, string]> = [
      ['pbx', pbx, addr.pbx],
      ['edge', edge, addr.edge],
      ['nat', natgw, addr.natPublic],
      ['carrier', carrier, addr.carrier],
    ];
    for (const [label, ns, address] of publicHosts) {
      await ip('-n', wan, 'link', 'add', `v-${label}`, 'type', 'veth', 'peer', 'name', 'wan0', 'netns', ns);
      await ip('-n', wan, 'link', 'set', `v-${label}`, 'master', 'br0', 'up');
      await addAddress(ns, `${address}/${publicPrefix}`, 'wan0');
      await ip('-n', ns, 'link', 'set', 'wan0', 'up');
    }
    await ip('-n', natgw, 'link', 'add', 'lan0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', gw);
    await addAddress(natgw, `${addr.natPrivate}/${privatePrefix}`, 'lan0');
    await ip('-n', natgw, 'link', 'set', 'lan0', 'up');
    await addAddress(gw, `${addr.gw}/${privatePrefix}`, 'eth0');
    await ip('-n', gw, 'link', 'set', 'eth0', 'up');
    await ip('-n', gw, `-${this.family}`, 'route', 'add', 'default', 'via', addr.natPrivate);
    if (this.family === 6) {
      await run('ip', ['netns', 'exec', natgw, 'sysctl', '-qw', 'net.ipv6.conf.all.forwarding=1']);
    } else {
      await run('ip', ['netns', 'exec', natgw, 'sysctl', '-qw', 'net.ipv4.ip_forward=1']);
      // Deleting a primary address deletes its secondaries unless they are promoted (changeRouterAddress).
      await run('ip', ['netns', 'exec', natgw, 'sysctl', '-qw', 'net.ipv4.conf.wan0.promote_secondaries=1']);
    }
    await this.loadRuleset();
    return this;
  }

  /**
   * The router's rules: masquerade the private net, DNAT only the forwarded UDP ports, and let no
   * other new flow from the WAN reach the private side (a plain home/office NAT).
   */
  private async loadRuleset(): Promise<void> {
    const { nft, privateNet } = FAMILY[this.family];
    const gw = this.family === 6 ? `[${this.addr.gw}]` : this.addr.gw;
    const dnat = this.forwards
      .map((f) => `    iifname "wan0" udp dport ${f.port} dnat to ${gw}:${f.toPort ?? f.port}`)
      .join('\n');
    const mediaSnat = this.mediaSnat
      ? `    oifname "wan0" ${nft} saddr ${this.addr.gw} udp sport != ${this.mediaSnat.sipPort} snat to ${this.mediaSnat.address}\n`
      : '';
    const rules = `flush ruleset
table ${nft} nat {
  chain prerouting {
    type nat hook prerouting priority dstnat; policy accept;
${dnat}
  }
  chain postrouting {
    type nat hook postrouting priority srcnat; policy accept;
${mediaSnat}    oifname "wan0" ${nft} saddr ${privateNet} masquerade
  }
}
table ${nft} filter {
  chain forward {
    type filter hook forward priority filter; policy drop;
    ct state established,related accept
    iifname "lan0" oifname "wan0" accept
    ct status dnat accept
  }
}
`;
    await run('ip', ['netns', 'exec', this.ns.natgw, 'nft', '-f', '-'], rules);
  }

  /** Replaces the router's UDP port forwards. */
  async setForwards(forwards: UdpForward[]): Promise<void> {
    this.forwards = forwards;
    await this.loadRuleset();
  }

  /**
   * Gives the router a second public address and sends the gateway's media (every UDP flow but the
   * one from its SIP port) out from it, while its SIP keeps the first address: a NAT with several
   * WAN links or an address pool, where media and signalling leave from different addresses.
   */
  async snatMediaTo(address: string, sipPort = 5060): Promise<void> {
    const prefix = FAMILY[this.family].publicPrefix;
    const flags = this.family === 6 ? ['nodad'] : [];
    await run('ip', ['-n', this.ns.natgw, 'addr', 'add', `${address}/${prefix}`, 'dev', 'wan0', ...flags]);
    this.mediaSnat = { address, sipPort };
    await this.loadRuleset();
  }

  /**
   * Moves the router to a new public address (a dynamic-DNS gateway's ISP changed its IP): the old
   * address disappears, so anything still sent there is lost.
   */
  async changeRouterAddress(address: string): Promise<void> {
    const ns = this.ns.natgw;
    if (address === this.natPublic) return;
    const prefix = FAMILY[this.family].publicPrefix;
    await run('ip', ['-n', ns, 'addr', 'add', `${address}/${prefix}`, 'dev', 'wan0']);
    await run('ip', ['-n', ns, 'addr', 'del', `${this.natPublic}/${prefix}`, 'dev', 'wan0']);
    this.natPublic = address;
    await this.loadRuleset();
  }

}

/** Builds the topology; on a failure half-way, tears down what was created and rethrows. */
export async function createNatTopology(options: TopologyOptions = {}): Promise<NatTopology> {
  const topo = new NatTopology(options);
  try {
    return await topo.create();
  } catch (err) {
    await topo.destroy();
    throw err;
  }
}

/** Set in the environment of a test file re-executed by runInsideNetns: the namespace it runs in. */
const INSIDE_NETNS_ENV = 'PINLATCH_TEST_NETNS';

/**
 * Runs the calling test file inside a network namespace of its own, with `addresses` on its
 * loopback interface, so that an in-process test can bind and talk between several addresses
 * (IPv6 has only ::1 on the host's loopback; trunks are told apart by source address).
 * Called at the top of a test file with `import.meta.url`: inside the namespace it returns at
 * once; outside it creates the namespace, re-executes the file there (its output, uvu summary
 * included, goes to this process's stdout/stderr), deletes the namespace and exits with the
 * child's exit code — it never returns.
 */
export async function runInsideNetns(fileUrl: string, addresses: readonly string[]): Promise<void> {
  if (process.env[INSIDE_NETNS_ENV]) return;
  counter += 1;
  const ns = `pl${process.pid}x${counter}-self`;
  let code = 1;
  try {
    await run('ip', ['netns', 'add', ns]);
    await run('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
    for (const address of addresses) {
      const prefix = address.includes(':') ? 128 : 32;
      // nodad: no duplicate address detection, the address is usable at once (RFC 4862 §5.4).
      const flags = address.includes(':') ? ['nodad'] : [];
      await run('ip', ['-n', ns, 'addr', 'add', `${address}/${prefix}`, 'dev', 'lo', ...flags]);
    }
    const child = spawn('ip', ['netns', 'exec', ns, process.execPath, ...process.execArgv, fileURLToPath(fileUrl)], {
      stdio: 'inherit',
      env: { ...process.env, [INSIDE_NETNS_ENV]: ns },
    });
    const stop = (signal: NodeJS.Signals) => () => child.kill(signal);
    const onInt = stop('SIGINT');
    const onTerm = stop('SIGTERM');
    process.once('SIGINT', onInt);
    process.once('SIGTERM', onTerm);
    code = await new Promise<number>((resolve) => child.once('exit', (c, signal) => resolve(c ?? (signal ? 128 : 1))));
    process.off('SIGINT', onInt);
    process.off('SIGTERM', onTerm);
  } finally {
    try {
      execFileSync('ip', ['netns', 'del', ns], { timeout: COMMAND_TIMEOUT_MS, stdio: 'ignore' });
    } catch {
      // never created
    }
  }
  process.exit(code);
}
