/**
 * The drain of a stopping proxy, apart from SIP: wait until no call is left or the deadline
 * comes, then have the calls still up ended and give their requests `settleMs` to be answered.
 * What a call is, how one ends and what "answered" means are the proxy's (DrainCalls).
 */
export interface DrainCalls {
  /** Calls up now. */
  count(): number;
  /** Ends every call still up (BYE, CANCEL); resolves with how many once the requests are out. */
  endAll(): Promise<number>;
  /** True while requests of the proxy's own, or calls it ended, still await their answers. */
  settling(): boolean;
}

export interface DrainResult {
  /** Calls up when the drain began. */
  atStart: number;
  /** Calls that ended by themselves during the drain. */
  drained: number;
  /** Calls ended at the deadline. */
  ended: number;
}

export interface DrainOptions {
  /** How long the answers to the ending requests are awaited at most (ms). */
  settleMs: number;
  /** How often the number of calls is checked (ms); default 100. */
  pollMs?: number;
}

export class Drain {
  readonly atStart: number;
  readonly done: Promise<DrainResult>;
  #deadline: number;
  #timer: NodeJS.Timeout | undefined;
  #endNow!: () => void;

  constructor(calls: DrainCalls, deadlineMs: number, options: DrainOptions) {
    this.atStart = calls.count();
    this.#deadline = Date.now() + Math.max(0, deadlineMs);
    const deadlineReached = new Promise<void>((resolve) => (this.#endNow = resolve));
    this.#timer = setTimeout(this.#endNow, Math.max(0, deadlineMs));
    this.done = this.#run(calls, deadlineReached, options);
  }

  /** When the calls still up will be ended (ms since the epoch). */
  get deadline(): number {
    return this.#deadline;
  }

  /** Brings the deadline forward to `deadlineMs` from now; a later one changes nothing. */
  shorten(deadlineMs: number): void {
    const deadline = Date.now() + Math.max(0, deadlineMs);
    if (deadline >= this.#deadline) return;
    this.#deadline = deadline;
    clearTimeout(this.#timer);
    this.#timer = setTimeout(this.#endNow, Math.max(0, deadlineMs));
  }

  async #run(calls: DrainCalls, deadlineReached: Promise<void>, options: DrainOptions): Promise<DrainResult> {
    await new Promise<void>((resolve) => {
      const finish = () => {
        clearInterval(poll);
        resolve();
      };
      const poll = setInterval(() => {
        if (calls.count() === 0) finish();
      }, options.pollMs ?? 100);
      void deadlineReached.then(finish);
      if (calls.count() === 0) finish();
    });
    clearTimeout(this.#timer);
    const ended = await calls.endAll();
    const settleBy = Date.now() + options.settleMs;
    while (calls.settling() && Date.now() < settleBy) await new Promise((r) => setTimeout(r, 50));
    return { atStart: this.atStart, drained: Math.max(0, this.atStart - ended), ended };
  }
}
