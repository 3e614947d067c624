/**
 * The relays the pps benchmark compares, all started the same way (see
 * relays/relay-handshake.ts): they get the load endpoints' ports and answer with the port each
 * endpoint must send to. Relay processes are pinned to `relayCpus` with taskset, which execs
 * the command, so the PID we read CPU time from is the relay itself.
 */
import { join } from 'node:path';
import { LineChild } from './line-child.ts';
import { BENCH_DIR, type NativeTools } from './native-tools.ts';
import { freeUdpPortBlock } from './proc-stats.ts';

export const REPO_DIR = join(BENCH_DIR, '..');

export interface RelayInstance {
  /** PID whose CPU time is the relay's cost; null when there is no relay process. */
  pid: number | null;
  /** Port endpoint i sends to, i = 0..2N-1 (A0 B0 A1 B1 ...). */
  ports: number[];
  /** Ports whose receive-queue drops count as relay drops. */
  relayPorts: number[];
  /** Stops the relay; resolves with the end of its stderr (relays print their counters there). */
  stop(): Promise<string>;
}

export interface TargetContext {
  tools: NativeTools;
  /** CPU list for the relay (taskset -c), or null for no pinning. */
  relayCpus: string | null;
  /** piscina shards for pinlatch. */
  shards: number;
}

export interface Target {
  name: string;
  what: string;
  start(address: string, endpointPorts: number[], ctx: TargetContext): Promise<RelayInstance>;
}

interface ReadyLine {
  ready: true;
  pid: number;
  ports: number[];
}

const START_TIMEOUT_MS = 60_000;

/**
 * SO_RCVBUF of the reference relays: the value pinlatch's addon sets on its sockets
 * (native/include/udp_socket.h), so that the comparison is about forwarding, not about how many
 * packets a socket can queue while its relay is descheduled.
 */
export const RELAY_RCVBUF_BYTES = 256 * 1024;

async function startChild(
  name: string,
  argv: string[],
  address: string,
  endpointPorts: number[],
  ctx: TargetContext,
): Promise<RelayInstance> {
  const [command, ...args] = ctx.relayCpus ? ['taskset', '-c', ctx.relayCpus, ...argv] : argv;
  const child = new LineChild(name, command!, args, REPO_DIR);
  try {
    child.send(`peers ${address} ${endpointPorts.join(' ')}`);
    const ready = await child.next<ReadyLine>(START_TIMEOUT_MS);
    if (!ready.ready || ready.ports.length !== endpointPorts.length) {
      throw new Error(`${name}: expected ${endpointPorts.length} ports, got ${JSON.stringify(ready).slice(0, 200)}`);
    }
    const stop = async () => {
      await child.stop();
      return child.stderrTail;
    };
    return { pid: child.pid, ports: ready.ports, relayPorts: ready.ports, stop };
  } catch (err) {
    await child.stop();
    throw err;
  }
}

const nodeTs = (script: string): string[] => [process.execPath, '--import', 'tsx', join(BENCH_DIR, 'relays', script)];

export const TARGETS: Record<string, Target> = {
  direct: {
    name: 'direct',
    what: 'no relay: endpoint A sends straight to endpoint B (the harness alone: its ceiling and latency floor)',
    async start(_address, endpointPorts) {
      return {
        pid: null,
        ports: endpointPorts.map((_, i) => endpointPorts[i ^ 1]!),
        relayPorts: [],
        stop: async () => '',
      };
    },
  },
  limit: {
    name: 'limit',
    what: 'barefwd: C, 1 thread, epoll + recvmmsg/sendmmsg, no parsing, no latching (the physical limit)',
    start: (address, ports, ctx) =>
      startChild('limit', [ctx.tools.barefwd, '--bind', address, '--rcvbuf', String(RELAY_RCVBUF_BYTES)], address, ports, ctx),
  },
  js: {
    name: 'js',
    what: 'dgram-relay.ts: node:dgram, one JS callback and one send() per packet, symmetric latching',
    start: (address, ports, ctx) =>
      startChild('js', [...nodeTs('dgram-relay.ts'), '--rcvbuf', String(RELAY_RCVBUF_BYTES)], address, ports, ctx),
  },
  pinlatch: {
    name: 'pinlatch',
    what: 'MediaRelay (src/media) with its piscina shards and the native addon, legs hinted at the load address',
    start(address, ports, ctx) {
      // 4 ports per call (RTP + RTCP on each leg) plus room for pairs set aside, below the
      // kernel's ephemeral range where rtpload, barefwd and the JS relay get their ports.
      const block = freeUdpPortBlock(2 * ports.length + 512, 16384, 32767);
      if (!block) throw new Error('pinlatch: no free block of UDP ports in 16384-32767');
      const argv = [...nodeTs('pinlatch-relay.ts'), '--shards', String(ctx.shards), '--ports', `${block.min}-${block.max}`];
      return startChild('pinlatch', argv, address, ports, ctx);
    },
  },
};
