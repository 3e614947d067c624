/**
 * At most one log line per interval for an event any stranger can cause at packet rate (a
 * refused request): each line that is written says how many were left out before it, so the log
 * still counts them all without a flood of requests becoming a flood of disk writes.
 */
export class LogBudget {
  private last = -Infinity;
  private skipped = 0;

  constructor(private readonly intervalMs = 1000) {}

  /** The number of events left out since the last line, when this one is to be logged; else null. */
  take(now: number): number | null {
    if (now - this.last < this.intervalMs) {
      this.skipped += 1;
      return null;
    }
    this.last = now;
    const skipped = this.skipped;
    this.skipped = 0;
    return skipped;
  }
}
