/**
 * The figures of bench/registrations.ts from known samples: CPU shares and the per-1,000-phone
 * cost above idle, per-minute rates over the steady phase, the RSS rise per 1,000 bindings, and
 * the heap and RSS growth after GC per 1,000 bindings, and the registrar reduction between the two runs.
 */
import * as assert from 'uvu/assert';
import { suite } from '../support/suite.ts';
import { registrarReduction, runFigures, table, type Sample } from '../../bench/registrations/figures.ts';

const test = suite('bench/registrations-figures');

const MS = 1e6; // ns per ms

function sample(at: number, fields: Partial<Sample> = {}): Sample {
  return {
    at, mainNs: 0, processNs: 0, mainWaitNs: 0, rssKiB: 0, bindings: 0, phoneRegisters: 0, answeredLocally: 0,
    keepalivesSent: 0, keepalivesMissed: 0, shed: 0, registrarRegisters: 0, ...fields,
  };
}

test('CPU shares, cost per 1,000 phones above idle, per-minute rates, RSS per 1,000 bindings', () => {
  const base = sample(0, { rssKiB: 100_000 });
  // Idle: 2 % of a core over 10 s.
  const idle = sample(10_000, { mainNs: 200 * MS, processNs: 300 * MS, rssKiB: 100_000 });
  const rampStart = sample(10_000, { mainNs: 200 * MS });
  const rampEnd = sample(20_000, { mainNs: 1200 * MS, bindings: 2000 });
  // Steady: 60 s, main thread 12 % (7.2 s), other threads 3 % (1.8 s), 2000 phones.
  const steady = [
    sample(30_000, { mainNs: 2000 * MS, processNs: 3000 * MS, bindings: 2000, phoneRegisters: 2000, registrarRegisters: 2000, keepalivesSent: 100, rssKiB: 150_000 }),
    sample(60_000, { mainNs: 2000 * MS + 1800 * MS, processNs: 3000 * MS + 2700 * MS, bindings: 2000 }),
    sample(90_000, {
      mainNs: 2000 * MS + 7200 * MS, processNs: 3000 * MS + 9000 * MS, mainWaitNs: 600 * MS, bindings: 2000, phoneRegisters: 4400,
      answeredLocally: 0, registrarRegisters: 4400, keepalivesSent: 2500, keepalivesMissed: 1, rssKiB: 160_000,
    }),
  ];
  // After GC: the heap grows 8 MiB and RSS 12 MiB for the 2,000 bindings held then.
  const memoryBase = { heapKiB: 20_000, rssKiB: 90_000, bindings: 0, serverTransactions: 0, clientTransactions: 0 };
  const memorySteady = { heapKiB: 20_000 + 8 * 2048, rssKiB: 90_000 + 12 * 2048, bindings: 2000, serverTransactions: 1300, clientTransactions: 10 };
  const f = runFigures({
    mode: 'off', build: 'this', phones: 2000, offeredRate: 250, base, idle, rampStart, rampEnd, steady, memoryBase, memorySteady, phonesFailed: 0, retransmissions: 3,
  });
  assert.is(f.registered, 2000);
  assert.is(f.rampSec, 10);
  assert.is(f.registrationsPerSec, 200);
  assert.is(f.rampMainCpuPct, 10);
  assert.is(f.steadySec, 60);
  assert.ok(Math.abs(f.mainCpuPct - 12) < 1e-9);
  assert.ok(Math.abs(f.mainCpuPctMax - 18) < 1e-9, 'the second interval: 5.4 s in 30 s');
  assert.ok(Math.abs(f.otherCpuPct - 3) < 1e-9);
  assert.ok(Math.abs(f.mainWaitPct - 1) < 1e-9);
  assert.ok(Math.abs(f.idleMainCpuPct - 2) < 1e-9);
  // 10 % of a core above idle = 6000 ms a minute, for 2 thousand phones.
  assert.ok(Math.abs(f.mainCpuMsPer1000PerMin - 3000) < 1e-6);
  assert.ok(Math.abs(f.projected50kPct - (2 + 250)) < 1e-6);
  // 10 % of a core above idle is 6 s a minute, over 2400 REGISTERs and 2400 keepalives a minute.
  assert.ok(Math.abs(f.mainCpuUsPerTransaction - 1250) < 1e-6);
  assert.is(f.phoneRegistersPerMin, 2400);
  assert.is(f.registrarRegistersPerMin, 2400);
  assert.is(f.keepalivesPerMin, 2400);
  assert.is(f.keepalivesMissed, 1);
  assert.is(f.rssKiBPer1000Bindings, 30_000);
  assert.is(f.heapKiBPer1000BindingsAfterGc, 8192);
  assert.is(f.rssKiBPer1000BindingsAfterGc, 12_288);
  assert.is(f.registrarRegistersTotal, 4400);
  const on = { ...f, mode: 'on' as const, registrarRegistersPerMin: 0 };
  assert.is(registrarReduction([f, on]), Infinity);
  assert.is(registrarReduction([f, { ...on, registrarRegistersPerMin: 40 }]), 60);
  assert.is(registrarReduction([f]), null);
  assert.match(table([f, on]), /REGISTERs\/min seen by the registrar\s+2400\s+0/);
});

test.run();
