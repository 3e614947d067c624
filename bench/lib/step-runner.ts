/**
 * One measured step: offer a rate through a relay for a while and collect, around it, the
 * relay's CPU time, the load process's CPU time, the whole machine's busy time and the UDP
 * receive-queue drops of the relay's and the load's sockets. Then judge the step.
 */
import type { LoadProcess, LoadStep } from './load-process.ts';
import { machineCpu, processCpu, sumDrops, udpDropsByPort, type ProcessCpu } from './proc-stats.ts';
import type { RelayInstance } from './targets.ts';

/** Loss at or above this fails a step (0.1 %). */
export const LOSS_LIMIT_PCT = 0.1;
/**
 * Median one-way latency above this fails a step: the relay is not keeping up and its socket
 * queues grow. Needed because S sockets of 512 KiB each can hide a too-slow relay for seconds
 * (at S = 2000 they hold over a million packets) without losing anything in a short step.
 */
export const QUEUE_LIMIT_P50_US = 5000;
/** A step whose generator sent less than this share of the offered rate says nothing about the relay. */
export const GENERATOR_MIN_SHARE = 0.97;

export type StepStatus =
  /** loss < 0.1 % and no duplicates */
  | 'ok'
  /** the relay lost or duplicated packets, or did not keep up (see failReason) */
  | 'FAIL'
  /** the relay forwarded everything, but rtpload could not send the offered rate (harness saturated) */
  | 'GEN-LIMITED'
  /** the loss happened in the sink's own sockets: the harness, not the relay, dropped them */
  | 'SINK-LIMITED';

export type StepKind = 'warmup' | 'sweep' | 'retry' | 'cost';

export interface StepRecord {
  target: string;
  streams: number;
  kind: StepKind;
  offeredPps: number;
  status: StepStatus;
  /** Why a FAIL failed: loss >= 0.1 %, duplicated packets, or growing queues (p50 > 5 ms). */
  failReason?: 'loss' | 'duplicates' | 'queueing';
  /** Relay CPU seconds over the step window (all threads, schedstat ns), null without a relay. */
  relayCpuS: number | null;
  /** Same from utime+stime ticks (10 ms resolution), as a cross-check. */
  relayTickCpuS: number | null;
  relayThreads: number | null;
  /** Relay CPU seconds per million delivered packets (= us per packet). */
  sPerMpkt: number | null;
  /** CPU seconds of rtpload's generator and sink threads over the step. */
  loadCpuS: number;
  windowS: number;
  /** CPU used by everything else on the machine during the window, % of one CPU. */
  otherPct: number;
  relayDrops: number;
  sinkDrops: number;
  /** Set when the step was measured again (failed, limited or disturbed); the retry counts. */
  superseded?: true;
  load: LoadStep;
}

function cpuSeconds(a: ProcessCpu, b: ProcessCpu): number {
  return (b.schedNs - a.schedNs) / 1e9;
}

export async function runStep(
  target: string,
  kind: StepKind,
  load: LoadProcess,
  relay: RelayInstance,
  rate: number,
  durationMs: number,
  drainMs: number,
): Promise<StepRecord> {
  const dropsBefore = udpDropsByPort();
  const machineBefore = machineCpu();
  const relayBefore = relay.pid === null ? null : processCpu(relay.pid);
  const t0 = performance.now();

  const step = await load.step(rate, durationMs, drainMs);

  const windowS = (performance.now() - t0) / 1000;
  const relayAfter = relay.pid === null ? null : processCpu(relay.pid);
  const machineAfter = machineCpu();
  const dropsAfter = udpDropsByPort();

  const relayCpuS = relayBefore && relayAfter ? cpuSeconds(relayBefore, relayAfter) : null;
  // The generator thread lives for one step only, so schedstat of the live threads would miss
  // it; rtpload measures both of its threads with their own CPU clocks instead.
  const loadCpuS = step.gen_cpu_s + step.sink_cpu_s;
  const machineBusyS = (machineAfter.busyTicks - machineBefore.busyTicks) / 100;
  const otherPct = Math.max(0, (100 * (machineBusyS - loadCpuS - (relayCpuS ?? 0))) / windowS);
  const relayDrops = sumDrops(dropsBefore, dropsAfter, relay.relayPorts);
  const sinkDrops = sumDrops(dropsBefore, dropsAfter, load.ports);

  let status: StepStatus = 'ok';
  let failReason: StepRecord['failReason'];
  // A relay that loses packets fails even when the generator fell a little short of the offered
  // rate: it failed at what it got, which is less. Only a clean step can be generator-limited.
  if (step.loss_pct >= LOSS_LIMIT_PCT && sinkDrops > 0 && sinkDrops >= step.lost / 2) status = 'SINK-LIMITED';
  else if (step.loss_pct >= LOSS_LIMIT_PCT) [status, failReason] = ['FAIL', 'loss'];
  else if (step.duplicates > 0) [status, failReason] = ['FAIL', 'duplicates'];
  else if (step.lat_p50_us > QUEUE_LIMIT_P50_US) [status, failReason] = ['FAIL', 'queueing'];
  else if (step.sent < GENERATOR_MIN_SHARE * rate * step.duration_s) status = 'GEN-LIMITED';
  return {
    target,
    streams: load.streams,
    kind,
    offeredPps: rate,
    status,
    ...(failReason ? { failReason } : {}),
    relayCpuS,
    relayTickCpuS: relayBefore && relayAfter ? Math.round(100 * (relayAfter.tickSeconds - relayBefore.tickSeconds)) / 100 : null,
    relayThreads: relayAfter?.threads ?? null,
    sPerMpkt: relayCpuS !== null && step.received > 0 ? relayCpuS / (step.received / 1e6) : null,
    loadCpuS,
    windowS,
    otherPct,
    relayDrops,
    sinkDrops,
    load: step,
  };
}
