import * as assert from 'uvu/assert';
import { setTimeout as sleep } from 'node:timers/promises';
import { suite } from '../support/suite.ts';
import { PortPool } from '../../src/media/PortPool.ts';
import { MediaError } from '../../src/media/errors.ts';

/** A clock the test advances by hand, so quarantine boundaries are exact. */
function manualClock() {
  const clock = { t: 1000, now: () => clock.t };
  return clock;
}

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    assert.instance(err, MediaError);
    return (err as MediaError).code;
  }
  return undefined;
}

const test = suite('media/PortPool');

test('pairs are even RTP ports with RTCP + 1 inside the range', () => {
  const pool = new PortPool({ range: { min: 30001, max: 30010 }, quarantineMs: 0 });
  assert.is(pool.base, 30002);
  assert.is(pool.size, 4); // 30002/3, 30004/5, 30006/7, 30008/9 (30010 has no 30011)
  const ports = [pool.allocate(), pool.allocate(), pool.allocate(), pool.allocate()];
  assert.equal(ports, [30002, 30004, 30006, 30008]);
  assert.is(pool.available, 0);
  assert.is(pool.inUse, 4);
});

test('invalid ranges are configuration errors', () => {
  assert.is(codeOf(() => new PortPool({ range: { min: 30000, max: 30000 }, quarantineMs: 0 })), 'ERR_PINLATCH_CONFIG');
  assert.is(codeOf(() => new PortPool({ range: { min: 30001, max: 30002 }, quarantineMs: 0 })), 'ERR_PINLATCH_CONFIG');
  assert.is(codeOf(() => new PortPool({ range: { min: 40000, max: 30000 }, quarantineMs: 0 })), 'ERR_PINLATCH_CONFIG');
  assert.is(codeOf(() => new PortPool({ range: { min: 0, max: 70000 }, quarantineMs: 0 })), 'ERR_PINLATCH_CONFIG');
  assert.is(codeOf(() => new PortPool({ range: { min: 1.5, max: 100 }, quarantineMs: 0 })), 'ERR_PINLATCH_CONFIG');
  assert.is(codeOf(() => new PortPool({ range: { min: 100, max: 200 }, quarantineMs: -1 })), 'ERR_PINLATCH_CONFIG');
  assert.is(new PortPool({ range: { min: 30000, max: 30001 }, quarantineMs: 0 }).size, 1);
});

test('exhaustion is a typed error, and the pool keeps working after it', () => {
  const clock = manualClock();
  const pool = new PortPool({ range: { min: 20000, max: 20007 }, quarantineMs: 100, now: clock.now });
  const ports = [pool.allocate(), pool.allocate(), pool.allocate(), pool.allocate()];
  for (let i = 0; i < 3; i++) assert.is(codeOf(() => pool.allocate()), 'ERR_PINLATCH_PORTS_EXHAUSTED');
  pool.release(ports[1]!);
  assert.is(codeOf(() => pool.allocate()), 'ERR_PINLATCH_PORTS_EXHAUSTED'); // still quarantined
  clock.t += 100;
  assert.is(pool.allocate(), ports[1]);
});

test('released pairs are quarantined for quarantineMs, then reused oldest first', () => {
  const clock = manualClock();
  const pool = new PortPool({ range: { min: 10000, max: 10005 }, quarantineMs: 500, now: clock.now });
  const [p1, p2, p3] = [pool.allocate(), pool.allocate(), pool.allocate()];
  pool.release(p2!);
  clock.t += 10;
  pool.release(p1!);
  assert.is(pool.quarantined, 2);
  assert.is(pool.available, 0);
  clock.t += 489; // p2 released 499 ms ago
  assert.is(pool.available, 0);
  clock.t += 1; // p2: 500 ms
  assert.is(pool.available, 1);
  assert.is(pool.quarantined, 1);
  assert.is(pool.allocate(), p2);
  clock.t += 10;
  assert.is(pool.allocate(), p1);
  pool.release(p3!);
  clock.t += 500;
  assert.is(pool.allocate(), p3);
});

test('free pairs are handed out least recently used first', () => {
  const pool = new PortPool({ range: { min: 10000, max: 10007 }, quarantineMs: 0 });
  const a = pool.allocate(); // 10000
  pool.release(a);
  // 10002, 10004, 10006 were free before 10000 came back.
  assert.equal([pool.allocate(), pool.allocate(), pool.allocate(), pool.allocate()], [10002, 10004, 10006, 10000]);
});

test('bad releases are argument errors and leave the pool consistent', () => {
  const pool = new PortPool({ range: { min: 10000, max: 10003 }, quarantineMs: 0 });
  const a = pool.allocate();
  assert.is(codeOf(() => pool.release(10001)), 'ERR_PINLATCH_ARG'); // RTCP port
  assert.is(codeOf(() => pool.release(9998)), 'ERR_PINLATCH_ARG'); // outside
  assert.is(codeOf(() => pool.release(10002)), 'ERR_PINLATCH_ARG'); // never allocated
  pool.release(a);
  assert.is(codeOf(() => pool.release(a)), 'ERR_PINLATCH_ARG'); // double release
  assert.is(pool.inUse, 0);
  assert.is(pool.available, 2);
});

test('a pair that failed to bind is set aside for setAsideMs', () => {
  const clock = manualClock();
  const pool = new PortPool({ range: { min: 10000, max: 10003 }, quarantineMs: 10, setAsideMs: 1000, now: clock.now });
  const busy = pool.allocate();
  pool.setAsideFailed(busy);
  assert.is(pool.setAside, 1);
  const other = pool.allocate();
  assert.is.not(other, busy);
  pool.release(other);
  clock.t += 10;
  assert.is(pool.allocate(), other);
  assert.is(codeOf(() => pool.allocate()), 'ERR_PINLATCH_PORTS_EXHAUSTED');
  clock.t += 990;
  assert.is(pool.allocate(), busy);
});

test('a rolled-back allocation is free again at once, without quarantine', () => {
  const clock = manualClock();
  const pool = new PortPool({ range: { min: 10000, max: 10003 }, quarantineMs: 1000, now: clock.now });
  const a = pool.allocate();
  const b = pool.allocate();
  pool.returnUnused(b);
  pool.returnUnused(a);
  assert.is(pool.available, 2);
  assert.is(pool.quarantined, 0);
  assert.equal([pool.allocate(), pool.allocate()], [b, a]);
  assert.is(codeOf(() => pool.returnUnused(10003)), 'ERR_PINLATCH_ARG');
});

test('the whole unprivileged port range: every pair once, then all again after quarantine', () => {
  const clock = manualClock();
  const pool = new PortPool({ range: { min: 1024, max: 65535 }, quarantineMs: 1000, now: clock.now });
  assert.is(pool.size, 32256);
  const seen = new Uint8Array(65536);
  const ports: number[] = [];
  for (let i = 0; i < pool.size; i++) {
    const port = pool.allocate();
    assert.ok(port % 2 === 0 && port >= 1024 && port + 1 <= 65535);
    assert.is(seen[port], 0);
    seen[port] = 1;
    ports.push(port);
  }
  assert.is(codeOf(() => pool.allocate()), 'ERR_PINLATCH_PORTS_EXHAUSTED');
  for (const port of ports) pool.release(port);
  assert.is(pool.quarantined, pool.size);
  clock.t += 1000;
  assert.is(pool.available, pool.size);
  for (let i = 0; i < pool.size; i++) assert.is(pool.allocate(), ports[i]);
});

test('quarantine on the real monotonic clock', async () => {
  const pool = new PortPool({ range: { min: 10000, max: 10001 }, quarantineMs: 40 });
  const port = pool.allocate();
  pool.release(port);
  assert.is(codeOf(() => pool.allocate()), 'ERR_PINLATCH_PORTS_EXHAUSTED');
  await sleep(60);
  assert.is(pool.allocate(), port);
});

test.run();
