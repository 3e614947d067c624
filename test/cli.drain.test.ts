/**
 * SIGTERM with calls up, on the real CLI with sipp on both sides (loopback): new calls get 503
 * with Retry-After, running calls may finish until `sip.drainSec`, the rest get BYE both ways, a
 * second signal ends them at once, and the process exits 0.
 *
 * The caller (sipp uac) is 127.0.0.1; the callee (sipp uas, the trunk) is 127.0.0.2, so that
 * pinlatch tells the caller from the trunk by source address.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as assert from 'uvu/assert';
import { suite } from './support/suite.ts';
import { PinlatchProcess, countRequests, inviteOnce, startCalls, writeEdgeConfig } from './support/pinlatch-cli.ts';
import type { SippRun } from './support/sipp.ts';

const test = suite('cli: drain on SIGTERM', { timeoutMs: 120_000 });
const dir = mkdtempSync(join(tmpdir(), 'pinlatch-drain-'));

interface Setup {
  pinlatch: PinlatchProcess;
  caller: SippRun;
  callee: SippRun;
}

/** pinlatch with `drainSec`, then `calls` calls from the caller to the callee, all answered. */
async function callsUp(calls: number, drainSec: number, callerScenario: string, callerDurationMs?: number): Promise<Setup> {
  const edge = await writeEdgeConfig(join(dir, `drain-${process.pid}-${Date.now()}.yaml`), { drainSec, mediaPorts: Math.max(40, calls * 8) });
  const pinlatch = await PinlatchProcess.start(edge.file);
  try {
    const { caller, callee } = await startCalls(edge, calls, callerScenario, callerDurationMs, () => pinlatch.output.slice(-3000));
    return { pinlatch, caller, callee };
  } catch (err) {
    pinlatch.kill();
    throw err;
  }
}

function cleanup({ pinlatch, caller, callee }: Partial<Setup>): void {
  pinlatch?.kill();
  caller?.kill();
  callee?.kill();
}

test('SIGTERM with 50 calls up: new calls get 503, the calls get BYE both ways at the deadline, exit 0', async () => {
  let setup: Partial<Setup> = {};
  try {
    setup = await callsUp(50, 3, 'hold-uac.xml');
    const { pinlatch, caller, callee } = setup as Setup;
    const signalled = Date.now();
    pinlatch.signal('SIGTERM');
    await pinlatch.waitFor('"msg":"draining: new calls refused"');
    const refused = await inviteOnce(sipPortOf(pinlatch));
    assert.is(refused.status, 503, refused.text);
    assert.match(refused.text, /^Retry-After: \d+\r$/m);

    assert.is(await pinlatch.exited, 0, pinlatch.output.slice(-3000));
    const elapsed = Date.now() - signalled;
    assert.ok(elapsed < 3000 + 20_000, `exited ${elapsed} ms after SIGTERM`);
    const [draining] = pinlatch.logs('draining: new calls refused');
    assert.is(draining!.calls, 50);
    const [finished] = pinlatch.logs('drain finished');
    assert.equal({ drained: finished!.drained, ended: finished!.ended }, { drained: 0, ended: 50 });

    const [callerDone, calleeDone] = await Promise.all([caller.done, callee.done]);
    assert.is(countRequests(calleeDone.messages, 'BYE'), 50, 'the callee got 50 BYEs');
    assert.is(countRequests(callerDone.messages, 'BYE'), 50, 'the caller got 50 BYEs');
    assert.equal(callerDone.stats, { successful: 50, failed: 0 }, callerDone.output);
    assert.equal(calleeDone.stats, { successful: 50, failed: 0 }, calleeDone.output);
    assert.match(calleeDone.messages, /Reason: SIP;cause=503;text="shutting down"/);
  } finally {
    cleanup(setup);
  }
});

test('calls that end by themselves during the drain: in-dialog BYEs pass, exit 0 long before the deadline', async () => {
  let setup: Partial<Setup> = {};
  try {
    setup = await callsUp(10, 60, 'hangup-uac.xml', 4000);
    const { pinlatch, caller, callee } = setup as Setup;
    const signalled = Date.now();
    pinlatch.signal('SIGTERM');
    assert.is(await pinlatch.exited, 0, pinlatch.output.slice(-3000));
    assert.ok(Date.now() - signalled < 40_000, 'did not wait for the 60 s deadline');
    const [finished] = pinlatch.logs('drain finished');
    assert.equal({ drained: finished!.drained, ended: finished!.ended }, { drained: 10, ended: 0 });
    const [callerDone, calleeDone] = await Promise.all([caller.done, callee.done]);
    assert.equal(callerDone.stats, { successful: 10, failed: 0 }, callerDone.output);
    assert.equal(calleeDone.stats, { successful: 10, failed: 0 }, calleeDone.output);
    assert.not.match(calleeDone.messages, /shutting down/);
  } finally {
    cleanup(setup);
  }
});

test('a second SIGTERM during the drain ends the calls at once', async () => {
  let setup: Partial<Setup> = {};
  try {
    setup = await callsUp(5, 600, 'hold-uac.xml');
    const { pinlatch, caller, callee } = setup as Setup;
    pinlatch.signal('SIGTERM');
    await pinlatch.waitFor('"msg":"draining: new calls refused"');
    const signalled = Date.now();
    pinlatch.signal('SIGTERM');
    assert.is(await pinlatch.exited, 0, pinlatch.output.slice(-3000));
    assert.ok(Date.now() - signalled < 30_000, 'did not wait for the 600 s deadline');
    assert.is(pinlatch.logs('stopping: ending the calls now').length, 1);
    const [finished] = pinlatch.logs('drain finished');
    assert.is(finished!.ended, 5);
    const [callerDone, calleeDone] = await Promise.all([caller.done, callee.done]);
    assert.equal(callerDone.stats, { successful: 5, failed: 0 }, callerDone.output);
    assert.equal(calleeDone.stats, { successful: 5, failed: 0 }, calleeDone.output);
  } finally {
    cleanup(setup);
  }
});

/** The SIP port from pinlatch's "pinlatch running" log line. */
function sipPortOf(pinlatch: PinlatchProcess): number {
  const [running] = pinlatch.logs('pinlatch running');
  const listen = running!.listen as Array<{ service: string; port: number }>;
  return listen.find((p) => p.service === 'sip')!.port;
}

test.after(() => rmSync(dir, { recursive: true, force: true }));

test.run();
