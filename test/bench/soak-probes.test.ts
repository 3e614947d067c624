/** The soak's readings (bench/soak/probes.ts): /metrics text, sipp's statistics file, /proc. */
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from '../support/suite.ts';
import { metricsReading, parseExposition, readProc, readSippCounts, sippCountsOf } from '../../bench/soak/probes.ts';

const test = suite('bench/soak-probes');

const EXPOSITION = `# HELP pinlatch_media_sessions Media sessions open in the relay
# TYPE pinlatch_media_sessions gauge
pinlatch_media_sessions 42
pinlatch_sip_server_transactions 3
pinlatch_sip_client_transactions 2
pinlatch_sip_limit_reached_total{limit="dialogs"} 4
pinlatch_sip_limit_reached_total{limit="mediaSessions"} 1
pinlatch_sip_dialogs 7
pinlatch_event_loop_lag_seconds{stat="p99"} 0.0015
pinlatch_event_loop_lag_seconds{stat="max"} 0.012
pinlatch_process_start_time_seconds 1.7e9
weird_value NaN
`;

test('exposition: bare names sum over their labels, labelled samples are kept as written', () => {
  const m = parseExposition(EXPOSITION);
  assert.is(m.get('pinlatch_sip_limit_reached_total'), 5);
  assert.is(m.get('pinlatch_sip_limit_reached_total{limit="dialogs"}'), 4);
  assert.is(m.get('pinlatch_process_start_time_seconds'), 1.7e9);
  assert.is(m.has('weird_value'), false, 'a value that is not a number is left out');
  assert.is(m.has('# HELP pinlatch_media_sessions'), false);
});

test('the readings a sample needs, lag in ms; a missing gauge names itself', () => {
  assert.equal(metricsReading(parseExposition(EXPOSITION)), { sessions: 42, dialogs: 7, transactions: 5, lagP99Ms: 1.5, lagMaxMs: 12 });
  assert.throws(() => metricsReading(parseExposition('pinlatch_media_sessions 1\n')), /\/metrics has no pinlatch_sip_dialogs/);
});

const HEADER = 'StartTime;LastResetTime;CurrentTime;ElapsedTime(P);ElapsedTime(C);TargetRate;CallRate(P);CallRate(C);IncomingCall(P);' +
  'IncomingCall(C);OutgoingCall(P);OutgoingCall(C);TotalCallCreated;CurrentCall;SuccessfulCall(P);SuccessfulCall(C);FailedCall(P);FailedCall(C)';
const row = (created: number, current: number, ok: number, failed: number) =>
  `a;b;c;d;e;10;1;1;0;0;1;1;${created};${current};1;${ok};0;${failed}`;

test('sipp statistics: the columns by name', () => {
  assert.equal(sippCountsOf(HEADER, row(120, 20, 99, 1)), { created: 120, successful: 99, failed: 1, current: 20 });
});

test('sipp statistics file: its last line (read from the tail), null before the first line', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pinlatch-soak-probes-'));
  try {
    const file = join(dir, 'stats.csv');
    assert.is(readSippCounts(file), null, 'no file yet');
    writeFileSync(file, `${HEADER}\n`);
    assert.is(readSippCounts(file), null, 'header only');
    const lines = Array.from({ length: 2000 }, (_, i) => row(i, 5, i, 0));
    writeFileSync(file, `${HEADER}\n${lines.join('\n')}\n`);
    assert.equal(readSippCounts(file), { created: 1999, successful: 1999, failed: 0, current: 5 });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('/proc of this process: RSS in MiB, open fds, CPU seconds', () => {
  const p = readProc(process.pid);
  assert.ok(p.rssMiB > 10 && p.rssMiB < 4096, `rss ${p.rssMiB}`);
  assert.ok(p.fds >= 3, `fds ${p.fds}`);
  assert.ok(p.cpuS > 0, `cpu ${p.cpuS}`);
});

test.run();
