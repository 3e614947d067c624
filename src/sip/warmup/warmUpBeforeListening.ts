/**
 * The warm-up a relay runs at start, before its SIP sockets open: calls through a private proxy on
 * loopback (SelfCalls.ts), then up to `sip.warmUpRounds` rounds of a call's messages through the
 * parser, SDP and response builder (JitWarmUp.ts), all within BUDGET_MS.
 *
 * Why before the SIP port opens: a relay restarted under load takes calls the moment it listens.
 * Warmed in idle slices after opening (as before), a fresh process confined to one CPU at 400
 * calls/s refused 830-910 of its first 4000 calls; its unoptimised code and V8's compiler threads
 * competed with the calls for the one CPU. The cost is start-up time instead (docs/edge-limits.md
 * has the figures): the SIP port opens later, /readyz says ready later.
 */
import type { Logger } from 'pino';
import type { PinlatchConfig } from '../../config/index.js';
import type { MediaRelayApi } from '../../media/api.js';
import { runJitWarmUp } from './JitWarmUp.js';
import { runSelfCalls } from './SelfCalls.js';

/**
 * Each warm-up call holds two port pairs, quarantined after it ends until the warm-up is over
 * (then freed at once: they never had a peer whose late packets the quarantine guards against),
 * so the range bounds the calls: a warm-up never runs out of ports.
 */
const PAIRS_PER_WARM_UP_CALL = 2;
/** How long the warm-up waits for the shards to close its calls' sockets before freeing their ports. */
const CLOSE_WAIT_MS = 1000;
/**
 * Warm-up calls placed at most. Measured (docs/edge-limits.md): after 50-76 calls a fresh process
 * confined to one CPU still refused 441-761 of 4000 calls at 400 calls/s, its process at 85-97 %
 * of the CPU and its main thread at 40-55 % for the first seconds of load; after some hundreds it
 * refused none.
 */
const MAX_CALLS = 1000;
/**
 * No warm-up call or round begins after this long: a loaded host starts later, not much later.
 * Measured on a 2-CPU machine confined to one CPU (docs/edge-limits.md): 812 calls took 4.9 s;
 * with other work on that CPU, 214 calls in the 5 s.
 */
const BUDGET_MS = 5000;

export interface WarmUpOptions {
  config: PinlatchConfig;
  media: MediaRelayApi & { portUsage(): { size: number; inUse: number }; endQuarantine(): number };
  logger?: Logger;
}

export interface WarmUpResult {
  calls: number;
  /** Time the calls took, ms. */
  callsMs: number;
  /** Rounds run (fewer than `sip.warmUpRounds` when the budget ran out). */
  rounds: number;
  /** Time the whole warm-up took (calls, then rounds), ms. */
  ms: number;
}

/**
 * Runs the warm-up; resolves when it is over. A warm-up call that fails is logged and ends the
 * calls (the rounds still run): a warm-up is worth a slower start, never a failed one.
 */
export async function warmUpBeforeListening({ config, media, logger }: WarmUpOptions): Promise<WarmUpResult> {
  const rounds = config.sip?.warmUpRounds ?? 0;
  const started = performance.now();
  if (rounds === 0) return { calls: 0, callsMs: 0, rounds: 0, ms: 0 };
  const wanted = Math.min(rounds, MAX_CALLS, Math.floor(media.portUsage().size / PAIRS_PER_WARM_UP_CALL));
  let calls = 0;
  try {
    calls = await runSelfCalls({ config, media, calls: wanted, deadline: started + BUDGET_MS, ...(logger ? { logger } : {}) });
  } catch (err) {
    logger?.warn({ err }, 'warm-up calls over loopback failed: the relay starts with the rest of its warm-up');
  }
  await freeWarmUpPorts(media);
  const callsMs = Math.round(performance.now() - started);
  const roundsRun = await runJitWarmUp(rounds, started + BUDGET_MS);
  return { calls, callsMs, rounds: roundsRun, ms: Math.round(performance.now() - started) };
}

/**
 * Frees the warm-up calls' port pairs once their sockets are closed, so that a range sized for the
 * expected calls has all of them when SIP opens. Runs before any listener (NG, SIP) opens: every
 * quarantined pair is the warm-up's.
 */
async function freeWarmUpPorts(media: WarmUpOptions['media']): Promise<void> {
  const until = performance.now() + CLOSE_WAIT_MS;
  while (media.portUsage().inUse > 0 && performance.now() < until) await new Promise((r) => setTimeout(r, 10));
  media.endQuarantine();
}
