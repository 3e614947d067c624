/**
 * bench/registrations.ts with 50 phones for a few seconds: the tool runs end to end (sipp phones
 * from two loopback addresses, pinlatch's real CLI from dist/, Kamailio as the registrar) and its
 * figures are coherent — every phone registered, keepalives sent and answered, every REGISTER at
 * the registrar without throttling, none but the first ones with it. Speed is not asserted.
 */
import * as assert from 'uvu/assert';
import { suite } from '../support/suite.ts';
import { runRegistrations } from '../../bench/registrations.ts';
import { registrarReduction } from '../../bench/registrations/figures.ts';

const test = suite('bench/registrations', { timeoutMs: 240_000 });

test('50 phones, throttling off and on: registered, kept alive, refreshes answered by pinlatch with throttling', async () => {
  const phones = 50;
  const runs = await runRegistrations([
    '--phones', String(phones), '--per-sipp', '25', '--rate', '50', '--settle-sec', '2', '--steady-sec', '10', '--sample-sec', '2',
    '--refresh-sec', '5', '--expires-sec', '10', '--keepalive-sec', '2',
  ]);
  assert.equal(runs.map((r) => r.mode), ['off', 'on']);
  for (const r of runs) {
    const context = JSON.stringify(r, null, 1);
    assert.is(r.registered, phones, `every phone registered\n${context}`);
    assert.is(r.phonesFailed, 0, `no phone failed\n${context}`);
    assert.ok(r.registrationsPerSec > 0 && r.rampSec > 0, context);
    assert.ok(r.steadySec >= 9, context);
    // Each phone refreshes every 5 s and is pinged 2 s after it (then heard again by its refresh).
    assert.ok(r.phoneRegistersPerMin >= phones * 6, `refreshes every 5 s\n${context}`);
    assert.ok(r.keepalivesPerMin > 0, `keepalives sent\n${context}`);
    assert.is(r.keepalivesMissed, 0, `keepalives answered\n${context}`);
    assert.ok(r.mainCpuPct > 0 && r.mainCpuPctMax >= r.mainCpuPct && r.otherCpuPct >= 0, context);
    assert.ok(r.rssMiB > 0 && r.rssBaseMiB > 0, context);
  }
  const [off, on] = runs as [(typeof runs)[0], (typeof runs)[0]];
  assert.is(off.answeredLocallyPerMin, 0, 'without throttling pinlatch answers no REGISTER itself');
  assert.ok(off.registrarRegistersPerMin >= phones * 6, 'without throttling every refresh reaches the registrar');
  assert.ok(on.answeredLocallyPerMin >= phones * 6, 'with throttling pinlatch answers the refreshes');
  assert.is(on.registrarRegistersPerMin, 0, 'with throttling no refresh reaches the registrar (its binding lasts 3600 s)');
  assert.is(on.registrarRegistersTotal, phones, 'the registrar saw each phone once');
  assert.is(registrarReduction(runs), Infinity);
});

test.run();
