/**
 * Micro benchmark: the transaction timers of one call, armed and cancelled as the transaction
 * layer does it (src/sip/transaction: an IoTimer — setTimeout, then setImmediate on expiry — for
 * each retransmission and timeout timer, a plain setTimeout for each linger timer), against a
 * hashed timing wheel (issue 12: "timers on a timer wheel instead of one setTimeout per
 * transaction"). Decides whether a wheel is worth adopting: only the arming and cancelling
 * differ, so that is what is measured, with as many linger timers pending as at 400 calls/s.
 *
 * One op is one call's worth (INVITE/100/180/200/ACK/BYE/200 through the proxy):
 *   - client INVITE: Timer A and B armed, both stopped by the 180; Timer C (proxy) armed and
 *     cleared by the 200; Timer M armed (RFC 6026, 32 s)
 *   - server INVITE: Timer L armed (32 s)
 *   - client BYE: Timer E and F armed, stopped by the 200; Timer K armed (T4, 5 s)
 *   - server BYE: Timer J armed (32 s)
 * The four linger timers of each op replace the four oldest still pending (cancelled: Node has
 * no cheaper way to drop a pending timer than letting it fire), so 4 × 12,800 stay pending:
 * 400 calls/s × 32 s.
 *
 *   node --import tsx bench/micro/transaction-timers.ts
 */
import { fileURLToPath } from 'node:url';
import { Bench } from 'tinybench';
import { IoTimer } from '../../src/sip/transaction/IoTimer.ts';

const T1 = 500;
const LINGER = 32_000;
const T4 = 5000;
const TIMER_C = 180_000;
const PENDING_CALLS = 400 * 32;

const noop = (): void => undefined;

/**
 * A hashed timing wheel as the issue proposes it: one slot per tick (10 ms) over 2^12 slots
 * (41 s, longer than every transaction timer), each slot a doubly linked list, so that arming
 * and cancelling are O(1) without a Timeout object per timer. Only arm and cancel are
 * implemented: the expiry side (one setTimeout to the next busy slot) is the same for both
 * designs' costs measured here.
 */
class WheelTimer {
  next: WheelTimer | null = null;
  prev: WheelTimer | null = null;
  slot = -1;
  constructor(readonly fire: () => void) {}
}

class TimingWheel {
  private static readonly TICK_MS = 10;
  private readonly heads: Array<WheelTimer | null> = new Array(4096).fill(null);
  private readonly start = performance.now();

  arm(ms: number, fire: () => void): WheelTimer {
    const t = new WheelTimer(fire);
    const now = Math.floor((performance.now() - this.start) / TimingWheel.TICK_MS);
    t.slot = (now + Math.ceil(ms / TimingWheel.TICK_MS)) & 4095;
    const head = this.heads[t.slot]!;
    t.next = head;
    if (head) head.prev = t;
    this.heads[t.slot] = t;
    return t;
  }

  cancel(t: WheelTimer): void {
    if (t.slot < 0) return;
    if (t.prev) t.prev.next = t.next;
    else this.heads[t.slot] = t.next;
    if (t.next) t.next.prev = t.prev;
    t.slot = -1;
    t.next = t.prev = null;
  }
}

export function register(bench: Bench): void {
  const lingerNode: Array<NodeJS.Timeout | undefined> = new Array(4 * PENDING_CALLS);
  let nodeAt = 0;
  const lingerWithNode = (ms: number): void => {
    clearTimeout(lingerNode[nodeAt]);
    lingerNode[nodeAt] = setTimeout(noop, ms);
    nodeAt = (nodeAt + 1) % lingerNode.length;
  };
  bench.add('call timers: IoTimer + setTimeout (today)', () => {
    const a = new IoTimer();
    const b = new IoTimer();
    a.start(T1, noop);
    b.start(LINGER, noop);
    const c = setTimeout(noop, TIMER_C);
    a.stop();
    b.stop();
    lingerWithNode(LINGER);
    lingerWithNode(LINGER);
    clearTimeout(c);
    const e = new IoTimer();
    const f = new IoTimer();
    e.start(T1, noop);
    f.start(LINGER, noop);
    e.stop();
    f.stop();
    lingerWithNode(T4);
    lingerWithNode(LINGER);
  }, {
    afterAll: () => {
      for (const t of lingerNode) clearTimeout(t);
    },
  });

  const wheel = new TimingWheel();
  const lingerWheel: Array<WheelTimer | undefined> = new Array(4 * PENDING_CALLS);
  let wheelAt = 0;
  const lingerWithWheel = (ms: number): void => {
    const old = lingerWheel[wheelAt];
    if (old) wheel.cancel(old);
    lingerWheel[wheelAt] = wheel.arm(ms, noop);
    wheelAt = (wheelAt + 1) % lingerWheel.length;
  };
  bench.add('call timers: timing wheel', () => {
    const a = wheel.arm(T1, noop);
    const b = wheel.arm(LINGER, noop);
    const c = wheel.arm(TIMER_C % 40_000, noop);
    wheel.cancel(a);
    wheel.cancel(b);
    lingerWithWheel(LINGER);
    lingerWithWheel(LINGER);
    wheel.cancel(c);
    const e = wheel.arm(T1, noop);
    const f = wheel.arm(LINGER, noop);
    wheel.cancel(e);
    wheel.cancel(f);
    lingerWithWheel(T4);
    lingerWithWheel(LINGER);
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const bench = new Bench({ name: 'transaction-timers', time: 1000, warmupTime: 300 });
  register(bench);
  await bench.run();
  console.table(bench.table());
}
