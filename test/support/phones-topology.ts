/**
 * Phones behind home NAT routers, registering to a hosted PBX: network namespaces, veth pairs and
 * nftables, for the tests of pinlatch as the edge proxy of such phones.
 *
 *                              wan (bridge br0, 203.0.113.0/24)
 *      ┌──────────────────────┬──────────┴───────────────┬───────────────────────────┐
 *  pbx 203.0.113.30      edge 203.0.113.10        nat1 203.0.113.51 (wan0)     nat2 203.0.113.52 (wan0)
 *  (registrar, Kamailio) (pinlatch)               nft: masquerade              nft: masquerade
 *                                                  192.168.1.0/24, no forwards  192.168.1.0/24, no forwards
 *                                                 nat1 192.168.1.1 (lan0)      nat2 192.168.1.1 (lan0)
 *                                                          │                            │
 *                                                 phone1 192.168.1.100         phone2 192.168.1.100
 *                                                 (default via .1)             (default via .1)
 *
 * Both homes use the same private network and the same phone address, as real homes do: only the
 * router's public address and the port it maps to tell the two phones apart. The routers forward
 * no port; the only way in is a conntrack mapping the phone's own traffic opened (a reply to it),
 * and the filter drops every other new flow from the WAN.
 *
 * Port mapping (`ports` option, per topology):
 *  - 'preserve' (default): plain `masquerade`; the kernel keeps the phone's source port when it is
 *    free on the public side (what most home routers do), so a flushed mapping comes back with the
 *    SAME public port on the next packet.
 *  - 'random': `masquerade fully-random`; every new flow gets a random public port
 *    (1024-65535), so a flush gives a different port except by a 1 in ~64,000 chance. (Plain
 *    `masquerade random` gave random ports too on Linux 6.18: both flags skip the kernel's
 *    "keep the source port" first try; fully-random is the one meant as random on every kernel.)
 * remap() gives a new public port with certainty in either mode: it flushes the router's conntrack
 * table and moves the router to a port window (`masquerade to :P-Q`) it has never used before, so
 * the phone's next packet cannot get any earlier port. flushConntrack() alone is the "router
 * rebooted / mapping timed out" case with the port policy left as it is.
 *
 * `udpTimeoutSec` shortens the routers' conntrack UDP timeouts (per namespace sysctls
 * net.netfilter.nf_conntrack_udp_timeout{,_stream}), so that a mapping the phone does not keep
 * alive expires within a test.
 *
 * Names carry the pid (NamespaceGroup in netns.ts); destroy() runs from `finally` blocks and from
 * the process 'exit' handler.
 */
import { NamespaceGroup, PUBLIC_PREFIX, run } from './netns.ts';

export type PhoneHost = 'wan' | 'pbx' | 'edge' | 'nat1' | 'nat2' | 'phone1' | 'phone2';
export type PhoneIndex = 1 | 2;

export const PHONES_ADDR = Object.freeze({
  pbx: '203.0.113.30',
  edge: '203.0.113.10',
  nat1: '203.0.113.51',
  nat2: '203.0.113.52',
  /** The routers' LAN address, the same in both homes. */
  lanGateway: '192.168.1.1',
  /** Each phone's address, the same in both homes. */
  phone1: '192.168.1.100',
  phone2: '192.168.1.100',
  lan: '192.168.1.0/24',
});

export interface PhonesTopologyOptions {
  /** How the routers pick public ports for new flows (see the header comment); default 'preserve'. */
  ports?: 'preserve' | 'random';
  /** conntrack UDP timeouts of both routers, in seconds (kernel defaults: 30 unreplied, 120 assured). */
  udpTimeoutSec?: number;
}

/** One UDP NAT mapping in a router's conntrack table. */
export interface NatMapping {
  /** The phone's private address and port. */
  privateAddress: string;
  privatePort: number;
  /** The remote host the flow goes to. */
  remoteAddress: string;
  remotePort: number;
  /** The router's public address and the port the flow is mapped to. */
  publicAddress: string;
  publicPort: number;
}

/** First port of the windows remap() moves a router to; each remap takes the next window. */
const REMAP_BASE_PORT = 20000;
const REMAP_WINDOW = 1000;

export class PhonesTopology extends NamespaceGroup<PhoneHost> {
  readonly addr = PHONES_ADDR;
  readonly options: Readonly<PhonesTopologyOptions>;
  /** Per router: how many times remap() moved it (0 = the policy of `options.ports`). */
  private readonly remaps: Record<PhoneIndex, number> = { 1: 0, 2: 0 };

  constructor(options: PhonesTopologyOptions = {}) {
    super(['wan', 'pbx', 'edge', 'nat1', 'nat2', 'phone1', 'phone2']);
    this.options = Object.freeze({ ...options });
  }

  async create(): Promise<this> {
    await this.addNamespaces();
    const ip = (...args: string[]) => run('ip', args);
    const { wan } = this.ns;
    await ip('-n', wan, 'link', 'add', 'br0', 'type', 'bridge');
    await ip('-n', wan, 'link', 'set', 'br0', 'up');
    const publicHosts: Array<[PhoneHost, string]> = [
      ['pbx', this.addr.pbx],
      ['edge', this.addr.edge],
      ['nat1', this.addr.nat1],
      ['nat2', this.addr.nat2],
    ];
    // The veth pairs are created inside `wan` / the routers with the peer placed directly into the
    // target namespace: nothing appears in the machine's own namespace.
    for (const [host, address] of publicHosts) {
      const ns = this.ns[host];
      await ip('-n', wan, 'link', 'add', `v-${host}`, 'type', 'veth', 'peer', 'name', 'wan0', 'netns', ns);
      await ip('-n', wan, 'link', 'set', `v-${host}`, 'master', 'br0', 'up');
      await ip('-n', ns, 'addr', 'add', `${address}/${PUBLIC_PREFIX}`, 'dev', 'wan0');
      await ip('-n', ns, 'link', 'set', 'wan0', 'up');
    }
    for (const index of [1, 2] as const) {
      const router = this.ns[`nat${index}`];
      const phone = this.ns[`phone${index}`];
      await ip('-n', router, 'link', 'add', 'lan0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', phone);
      await ip('-n', router, 'addr', 'add', `${this.addr.lanGateway}/24`, 'dev', 'lan0');
      await ip('-n', router, 'link', 'set', 'lan0', 'up');
      await ip('-n', phone, 'addr', 'add', `${this.addr[`phone${index}`]}/24`, 'dev', 'eth0');
      await ip('-n', phone, 'link', 'set', 'eth0', 'up');
      await ip('-n', phone, 'route', 'add', 'default', 'via', this.addr.lanGateway);
      await run('ip', ['netns', 'exec', router, 'sysctl', '-qw', 'net.ipv4.ip_forward=1']);
      if (this.options.udpTimeoutSec !== undefined) {
        const t = String(this.options.udpTimeoutSec);
        await run('ip', ['netns', 'exec', router, 'sysctl', '-qw', `net.netfilter.nf_conntrack_udp_timeout=${t}`]);
        await run('ip', ['netns', 'exec', router, 'sysctl', '-qw', `net.netfilter.nf_conntrack_udp_timeout_stream=${t}`]);
      }
      await this.loadRuleset(index);
    }
    return this;
  }

  /**
   * One more address on a public host's WAN interface, e.g. a trunk next to the PBX: a process
   * there binds it and the others reach it over the WAN bridge.
   */
  async addPublicAddress(host: 'pbx' | 'edge', address: string): Promise<void> {
    await run('ip', ['-n', this.ns[host], 'addr', 'add', `${address}/${PUBLIC_PREFIX}`, 'dev', 'wan0']);
  }

  /**
   * Counts the UDP packets a router forwards to its phone on ports [min, max] (an nft counter in a
   * table of its own, e.g. what reaches a real UA's RTP ports); read() gives the count since this
   * call (a later call starts a new count).
   * remap() reloads the router's ruleset and drops the counter.
   */
  async countToPhone(phone: PhoneIndex, ports: { min: number; max: number }): Promise<{ read(): Promise<number> }> {
    const ns = this.ns[`nat${phone}`];
    // Declaring the table before deleting it makes the delete succeed whether it existed or not: a new count starts at 0.
    const rules = `table ip phonemeter
delete table ip phonemeter
table ip phonemeter {
  chain forward {
    type filter hook forward priority filter - 10; policy accept;
    oifname "lan0" ip daddr ${this.addr[`phone${phone}`]} udp dport ${ports.min}-${ports.max} counter
  }
}
`;
    await run('ip', ['netns', 'exec', ns, 'nft', '-f', '-'], rules);
    return {
      read: async () => {
        const { stdout } = await run('ip', ['netns', 'exec', ns, 'nft', 'list', 'table', 'ip', 'phonemeter']);
        return Number(/counter packets (\d+)/.exec(stdout)?.[1] ?? NaN);
      },
    };
  }

  /** The public address of a phone's router. */
  routerAddress(phone: PhoneIndex): string {
    return this.addr[`nat${phone}`];
  }

  /** The source-NAT rules of a router in its current state. */
  private masquerade(phone: PhoneIndex): string {
    const lan = `oifname "wan0" ip saddr ${this.addr.lan}`;
    const remaps = this.remaps[phone];
    if (remaps > 0) {
      const first = REMAP_BASE_PORT + (remaps - 1) * REMAP_WINDOW;
      // A port range needs a transport protocol match: UDP (the phones' flows) gets the window,
      // anything else the plain masquerade.
      return `    ${lan} meta l4proto udp masquerade to :${first}-${first + REMAP_WINDOW - 1}\n    ${lan} masquerade\n`;
    }
    return `    ${lan} masquerade${this.options.ports === 'random' ? ' fully-random' : ''}\n`;
  }

  /** A home router: masquerade the LAN, no port forward, no new flow in from the WAN. */
  private async loadRuleset(phone: PhoneIndex): Promise<void> {
    const rules = `flush ruleset
table ip nat {
  chain postrouting {
    type nat hook postrouting priority srcnat; policy accept;
${this.masquerade(phone)}  }
}
table ip filter {
  chain forward {
    type filter hook forward priority filter; policy drop;
    ct state established,related accept
    iifname "lan0" oifname "wan0" accept
  }
}
`;
    await run('ip', ['netns', 'exec', this.ns[`nat${phone}`], 'nft', '-f', '-'], rules);
  }

  /**
   * Empties a router's conntrack table: every mapping of that home is gone, datagrams from outside
   * to the old public ports are dropped, and the phone's next packet opens a new mapping (with the
   * same public port under 'preserve', see the header comment).
   */
  async flushConntrack(phone: PhoneIndex): Promise<void> {
    await this.exec(`nat${phone}`, ['conntrack', '-F']).catch((err: Error) => {
      // conntrack -F on an empty table exits non-zero on some versions ("0 flow entries").
      if (!/0 flow entries/.test(err.message)) throw err;
    });
  }

  /**
   * The NAT mapping changes for certain: the router's table is flushed and its new flows take
   * public ports from a window no earlier mapping of this router used.
   */
  async remap(phone: PhoneIndex): Promise<void> {
    this.remaps[phone] += 1;
    await this.loadRuleset(phone);
    await this.flushConntrack(phone);
  }

  /** The router's current UDP mappings (conntrack -L), e.g. to see which public port a phone has. */
  async mappings(phone: PhoneIndex): Promise<NatMapping[]> {
    const { stdout } = await this.exec(`nat${phone}`, ['conntrack', '-L', '-p', 'udp']);
    const out: NatMapping[] = [];
    for (const line of stdout.split('\n')) {
      // udp 17 29 src=192.168.1.100 dst=203.0.113.30 sport=5060 dport=5060 [UNREPLIED]
      //   src=203.0.113.30 dst=203.0.113.51 sport=5060 dport=5060 ...: original tuple, then reply tuple.
      const src = [...line.matchAll(/src=(\S+)/g)].map((m) => m[1]!);
      const dst = [...line.matchAll(/dst=(\S+)/g)].map((m) => m[1]!);
      const sport = [...line.matchAll(/sport=(\d+)/g)].map((m) => Number(m[1]));
      const dport = [...line.matchAll(/dport=(\d+)/g)].map((m) => Number(m[1]));
      if (src.length < 2 || dst.length < 2 || sport.length < 2 || dport.length < 2) continue;
      out.push({
        privateAddress: src[0]!,
        privatePort: sport[0]!,
        remoteAddress: dst[0]!,
        remotePort: dport[0]!,
        publicAddress: dst[1]!,
        publicPort: dport[1]!,
      });
    }
    return out;
  }
}

/** Builds the topology; on a failure half-way, tears down what was created and rethrows. */
export async function createPhonesTopology(options: PhonesTopologyOptions = {}): Promise<PhonesTopology> {
  const topo = new PhonesTopology(options);
  try {
    return await topo.create();
  } catch (err) {
    await topo.destroy();
    throw err;
  }
}
