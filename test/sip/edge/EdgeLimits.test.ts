import { Writable } from 'node:stream';
import * as assert from 'uvu/assert';
import { pino } from 'pino';
import { suite } from '../../support/suite.ts';
import { defaultConfig } from '../../../src/config/load.ts';
import { EdgeLimits } from '../../../src/sip/edge/EdgeLimits.ts';

const test = suite('sip/edge/EdgeLimits');

/** Limits over a queue whose delay the test sets, logging into `lines`. */
function limitsWithQueue(): { limits: EdgeLimits; lines: Array<Record<string, unknown>>; setQueue: (ms: number) => void } {
  const lines: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
      done();
    },
  });
  const config = defaultConfig();
  let queueMs = 0;
  const limits = new EdgeLimits({
    limits: () => config.limits,
    log: pino({ level: 'info' }, sink),
    queueDelayMs: () => queueMs,
    serverTransactions: () => 0,
    transactionBytes: () => 0,
    dialogs: () => 0,
    mediaSessions: () => 0,
  });
  return { limits, lines, setQueue: (ms) => (queueMs = ms) };
}

test('shedding started and ended by the control step between requests is logged, with the queueing time', () => {
  const { limits, lines, setQueue } = limitsWithQueue();
  setQueue(200);
  limits.adjustShedding(10_000);
  assert.ok(limits.shedder.shedding, 'a queue over maxQueueMs (125) cuts the admitted share');
  assert.is(lines.length, 1);
  assert.is(lines[0]!.msg, 'overloaded: a share of the new requests refused with 503');
  assert.is(lines[0]!.level, 40);
  assert.is(lines[0]!.queueMs, 200);
  assert.is(lines[0]!.share, 0.75);
  assert.is(lines[0]!.maxQueueMs, 125);

  setQueue(10);
  let now = 10_000;
  for (let step = 0; step < 10 && limits.shedder.shedding; step += 1) {
    now += 300;
    limits.adjustShedding(now);
  }
  assert.not.ok(limits.shedder.shedding, 'a short queue grows the share back to 1');
  assert.is(lines.length, 2);
  assert.is(lines[1]!.msg, 'overload over: new requests accepted again');
  assert.is(lines[1]!.queueMs, 10);
});

test('transitions within a second of a logged one are counted in the next line, not logged each', () => {
  const { limits, lines, setQueue } = limitsWithQueue();
  let now = 10_000;
  for (let flip = 0; flip < 6; flip += 1) {
    setQueue(200);
    limits.adjustShedding(now);
    setQueue(10);
    for (let step = 0; step < 10 && limits.shedder.shedding; step += 1) limits.adjustShedding((now += 20));
    now += 200;
  }
  assert.is(lines.length, 2, 'one start in the first second, one transition after it');
  assert.is(lines[0]!.transitionsLeftOut, 0);
  assert.ok((lines[1]!.transitionsLeftOut as number) >= 6);
});

test.run();
