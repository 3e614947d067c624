/**
 * rtpload (bench/native/rtpload.c) seen from TypeScript: S symmetric endpoints, a paced
 * generator and a counting sink in one process, driven one step at a time.
 */
import { LineChild } from './line-child.ts';

/** One step's figures as rtpload prints them (see run_step in rtpload.c). */
export interface LoadStep {
  tag: number;
  streams: number;
  offered_pps: number;
  duration_s: number;
  scheduled: number;
  sent: number;
  sent_pps: number;
  send_errors: number;
  skipped: number;
  gen_worst_lag_us: number;
  gen_syscalls: number;
  gen_elapsed_s: number;
  gen_cpu_s: number;
  received: number;
  received_pps: number;
  lost: number;
  loss_pct: number;
  holes: number;
  reordered: number;
  duplicates: number;
  stale: number;
  foreign: number;
  misrouted: number;
  silent_streams: number;
  lossy_streams: number;
  no_timestamp: number;
  sink_wakeups: number;
  sink_recv_calls: number;
  sink_cpu_s: number;
  lat_mean_us: number;
  lat_p50_us: number;
  lat_p90_us: number;
  lat_p99_us: number;
  lat_p999_us: number;
  lat_max_us: number;
}

interface Ready {
  ready: true;
  pid: number;
  ports: number[];
}

export class LoadProcess {
  readonly address: string;
  readonly streams: number;
  readonly #child: LineChild;
  #ports: number[] = [];
  #tag = 0;

  private constructor(child: LineChild, address: string, streams: number) {
    this.#child = child;
    this.address = address;
    this.streams = streams;
  }

  /**
   * `realtime`: SCHED_FIFO priority of rtpload's threads (its per-step generator thread inherits
   * it), so that on a busy machine the harness can keep up the offered rate; null: normal.
   */
  static async start(rtpload: string, streams: number, address: string, cpus: string | null, realtime: number | null = null): Promise<LoadProcess> {
    const args = ['--streams', String(streams), '--bind', address];
    if (cpus) args.push('--cpus', cpus);
    const child =
      realtime === null ? new LineChild('rtpload', rtpload, args) : new LineChild('rtpload', 'chrt', ['-f', String(realtime), rtpload, ...args]);
    const load = new LoadProcess(child, address, streams);
    try {
      const ready = await child.next<Ready>(30_000);
      load.#ports = ready.ports;
    } catch (err) {
      await child.stop();
      throw err;
    }
    return load;
  }

  get pid(): number {
    return this.#child.pid;
  }

  /** Ports of the endpoints: A0 B0 A1 B1 ... */
  get ports(): number[] {
    return this.#ports;
  }

  /** Where endpoint i sends (the relay port facing it). */
  async setDestinations(ports: number[]): Promise<void> {
    this.#child.send(`dest ${this.address} ${ports.join(' ')}`);
    await this.#child.next(10_000);
  }

  async step(rate: number, durationMs: number, drainMs: number): Promise<LoadStep> {
    this.#tag++;
    this.#child.send(`step ${this.#tag} ${Math.round(rate)} ${Math.round(durationMs)} ${Math.round(drainMs)}`);
    return this.#child.next<LoadStep>(durationMs + drainMs + 30_000);
  }

  async stop(): Promise<void> {
    this.#child.send('quit');
    await Promise.race([this.#child.exited, new Promise((r) => setTimeout(r, 2000))]);
    await this.#child.stop();
  }
}
