/**
 * A transaction timer that expires only after the I/O already waiting has been read.
 *
 * Node runs expired timers before it polls the sockets. When the main thread was busy for longer
 * than a retransmission interval (a burst of calls on a cold process), a plain timer would
 * retransmit a request whose response is already queued in the socket, or time out a transaction
 * whose ACK is: the duplicate INVITE reaches a UAS that has answered (sipp aborts the call on it).
 * The callback therefore runs from setImmediate, after the poll phase of the loop iteration in
 * which the timer expired, and not at all if stop() came first.
 */
export class IoTimer {
  private timer: NodeJS.Timeout | undefined;
  private immediate: NodeJS.Immediate | undefined;

  /** (Re)starts the timer: `fire` runs `ms` from now, after the I/O pending by then. */
  start(ms: number, fire: () => void): void {
    this.stop();
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.immediate = setImmediate(() => {
        this.immediate = undefined;
        fire();
      });
    }, ms);
  }

  stop(): void {
    clearTimeout(this.timer);
    clearImmediate(this.immediate);
    this.timer = undefined;
    this.immediate = undefined;
  }
}
