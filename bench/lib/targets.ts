/**
 * The relays the pps benchmark compares, all started the same way (see
 * relays/relay-handshake.ts): they get the load endpoints' ports and answer with the port each
 * endpoint must send to. Relay processes are pinned to `relayCpus` with taskset, which execs
 * the command, so the PID we read CPU time from is the relay itself.
 *
 * Every relay gets the same treatment: the same SO_RCVBUF, and with `realtime` its forwarding
 * thread under SCHED_FIFO — barefwd (one thread) through `chrt -f`, which execs as well; the JS
 * relay by `chrt -f -p` on its main thread once it is ready (only that thread: under `chrt -f` of
 * the whole process every thread, V8's helpers included, ran at the same real-time priority on
 * the one relay CPU, and the relay stopped delivering within seconds); pinlatch through media.realtime, which raises
 * its shard threads only, and media.cpus, which pins shard i to the i-th relay CPU.
 */
import { execFileSync } from 'node:child_process';
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
  /** piscina shards for pinlatch (a `pinlatch:N` target overrides it). */
  shards: number;
  /** SCHED_FIFO priority of each relay's forwarding thread(s), or null for normal scheduling. */
  realtime: number | null;
  /** SO_RCVBUF of every relay socket (bytes). */
  rcvbuf: number;
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
 * Default SO_RCVBUF of every relay: pinlatch's default (media.socketBuffers.receiveBytes), given
 * to the reference relays too, so that the comparison is about forwarding, not about how many
 * packets a socket can queue while its relay is descheduled.
 */
export const RELAY_RCVBUF_BYTES = 256 * 1024;

/** "0-2,5" -> [0, 1, 2, 5] (taskset's list syntax). */
export function expandCpuList(list: string): number[] {
  const cpus: number[] = [];
  for (const part of list.split(',')) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part.trim());
    if (!m) throw new Error(`not a CPU list: ${list} (e.g. 1, 0-3, 0,2)`);
    const from = Number(m[1]);
    const to = m[2] === undefined ? from : Number(m[2]);
    for (let cpu = from; cpu <= to; cpu++) cpus.push(cpu);
  }
  return cpus;
}

/** How a relay's forwarding thread gets SCHED_FIFO: exec'd under chrt, its main thread raised once ready, or by itself. */
type RealtimeBy = 'exec' | 'main-thread' | 'self';

async function startChild(
  name: string,
  argv: string[],
  address: string,
  endpointPorts: number[],
  ctx: TargetContext,
  realtimeBy: RealtimeBy,
): Promise<RelayInstance> {
  const scheduled = ctx.realtime !== null && realtimeBy === 'exec' ? ['chrt', '-f', String(ctx.realtime), ...argv] : argv;
  const [command, ...args] = ctx.relayCpus ? ['taskset', '-c', ctx.relayCpus, ...scheduled] : scheduled;
  const child = new LineChild(name, command!, args, REPO_DIR);
  try {
    child.send(`peers ${address} ${endpointPorts.join(' ')}`);
    const ready = await child.next<ReadyLine>(START_TIMEOUT_MS);
    if (!ready.ready || ready.ports.length !== endpointPorts.length) {
      throw new Error(`${name}: expected ${endpointPorts.length} ports, got ${JSON.stringify(ready).slice(0, 200)}`);
    }
    // The main thread's tid is the process id; `chrt -p` changes that one thread only.
    if (ctx.realtime !== null && realtimeBy === 'main-thread') execFileSync('chrt', ['-f', '-p', String(ctx.realtime), String(child.pid)]);
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
      startChild('limit', [ctx.tools.barefwd, '--bind', address, '--rcvbuf', String(ctx.rcvbuf)], address, ports, ctx, 'exec'),
  },
  js: {
    name: 'js',
    what: 'dgram-relay.ts: node:dgram, one JS callback and one send() per packet, symmetric latching',
    start: (address, ports, ctx) =>
      startChild('js', [...nodeTs('dgram-relay.ts'), '--rcvbuf', String(ctx.rcvbuf)], address, ports, ctx, 'main-thread'),
  },
  pinlatch: pinlatchTarget('pinlatch', null),
};

/**
 * pinlatch with its shards pinned one per relay CPU (media.cpus) when the relay is pinned, and
 * raised to SCHED_FIFO (media.realtime) with --realtime. `shards` null: the run's --shards.
 */
function pinlatchTarget(name: string, shards: number | null): Target {
  return {
    name,
    what: `MediaRelay (src/media) with ${shards ?? 'N'} piscina shards and the native addon, legs hinted at the load address`,
    start(address, ports, ctx) {
      // 4 ports per call (RTP + RTCP on each leg) plus room for pairs set aside, below the
      // kernel's ephemeral range where rtpload, barefwd and the JS relay get their ports.
      const block = freeUdpPortBlock(2 * ports.length + 512, 16384, 32767);
      if (!block) throw new Error(`${name}: no free block of UDP ports in 16384-32767`);
      const argv = [
        ...nodeTs('pinlatch-relay.ts'), '--shards', String(shards ?? ctx.shards), '--ports', `${block.min}-${block.max}`,
        '--rcvbuf', String(ctx.rcvbuf),
        ...(ctx.relayCpus === null ? [] : ['--cpus', expandCpuList(ctx.relayCpus).join(',')]),
        ...(ctx.realtime === null ? [] : ['--realtime', String(ctx.realtime)]),
      ];
      return startChild(name, argv, address, ports, ctx, 'self');
    },
  };
}

/** A target by name: the fixed ones, or `pinlatch:N` (pinlatch with N shards, for scaling runs). */
export function targetNamed(name: string): Target | null {
  const fixed = TARGETS[name];
  if (fixed) return fixed;
  const m = /^pinlatch:(\d{1,3})$/.exec(name);
  if (!m || Number(m[1]) < 1) return null;
  return pinlatchTarget(name, Number(m[1]));
}
