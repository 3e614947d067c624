/**
 * Keys in the order they were queued, read from the front: the eviction order of a bounded table
 * (oldest first) in constant time per key.
 *
 * Why not the order of a Map's own keys: V8 keeps a deleted Map entry as a hole until the table
 * is rebuilt, and an iteration from the front walks past every hole, so a table that forgets its
 * oldest key on every insertion walks thousands of holes each time.
 *
 * A key that leaves the table, or is queued again (its place moves to the end), is not looked for
 * here: the owner gives each place a stamp and keeps the current stamp with its entry, and a place
 * whose stamp is no longer its entry's (`current` false) is stale and skipped when it reaches the
 * front. Each place is queued and skipped once, so reading costs constant time on average. The
 * owner compacts the queue when the stale places outnumber its table (`compact`), so it stays
 * within a few times the table's size.
 */
export type CurrentPlace = (key: string, stamp: number) => boolean;

export class KeyQueue {
  #keys: string[] = [];
  #stamps: number[] = [];
  #head = 0;

  /** Places queued, stale ones included. */
  get length(): number {
    return this.#keys.length - this.#head;
  }

  /** Places held in memory: those queued and those read but not yet dropped (at most about as many). */
  get held(): number {
    return this.#keys.length;
  }

  push(key: string, stamp: number): void {
    this.#keys.push(key);
    this.#stamps.push(stamp);
  }

  /** The oldest key whose place is current, removed from the queue; undefined when there is none. */
  shift(current: CurrentPlace): string | undefined {
    while (this.#head < this.#keys.length) {
      const key = this.#keys[this.#head]!;
      const stamp = this.#stamps[this.#head]!;
      this.#head++;
      if (current(key, stamp)) {
        this.#trimFront();
        return key;
      }
    }
    this.#trimFront();
    return undefined;
  }

  /**
   * The oldest key whose place is current, left in the queue (the stale places before it go: an
   * owner that mostly peeks, its front not yet due, must not keep every place it ever skipped).
   */
  peek(current: CurrentPlace): string | undefined {
    while (this.#head < this.#keys.length) {
      const key = this.#keys[this.#head]!;
      if (current(key, this.#stamps[this.#head]!)) {
        this.#trimFront();
        return key;
      }
      this.#head++;
    }
    this.#trimFront();
    return undefined;
  }

  /** Keeps only the current places, in order. */
  compact(current: CurrentPlace): void {
    const keys: string[] = [];
    const stamps: number[] = [];
    for (let i = this.#head; i < this.#keys.length; i++) {
      if (current(this.#keys[i]!, this.#stamps[i]!)) {
        keys.push(this.#keys[i]!);
        stamps.push(this.#stamps[i]!);
      }
    }
    this.#keys = keys;
    this.#stamps = stamps;
    this.#head = 0;
  }

  clear(): void {
    this.#keys = [];
    this.#stamps = [];
    this.#head = 0;
  }

  /** Drops the places already read once they are most of the arrays (amortised: each is copied once). */
  #trimFront(): void {
    if (this.#head === this.#keys.length) {
      this.clear();
    } else if (this.#head > 1024 && this.#head * 2 > this.#keys.length) {
      this.#keys = this.#keys.slice(this.#head);
      this.#stamps = this.#stamps.slice(this.#head);
      this.#head = 0;
    }
  }
}
