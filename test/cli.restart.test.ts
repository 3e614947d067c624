/**
 * Restart: pinlatch stopped with calls up — by SIGTERM (sip.drainSec 0: BYE both ways at once) or
 * killed outright — starts again on the same configuration with no state from the previous run:
 * every socket binds (SIP, and the media ports the old calls held: the range fits exactly the
 * calls, and ports are handed out from the bottom, so the new calls get the very same ports) and
 * new calls work.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as assert from 'uvu/assert';
import { suite } from './support/suite.ts';
import { PinlatchProcess, startCalls, writeEdgeConfig, type CallPair } from './support/pinlatch-cli.ts';

const test = suite('cli: restart', { timeoutMs: 120_000 });
const dir = mkdtempSync(join(tmpdir(), 'pinlatch-restart-'));
const CALLS = 5;

for (const how of ['SIGTERM', 'SIGKILL'] as const) {
  test(`stopped by ${how} with ${CALLS} calls up, it starts again on the same configuration and new calls work`, async () => {
    // Four ports per call (RTP + RTCP of each leg): room for exactly CALLS calls.
    const edge = await writeEdgeConfig(join(dir, `restart-${how}.yaml`), { drainSec: 0, mediaPorts: 4 * CALLS });
    const running: Array<PinlatchProcess | CallPair> = [];
    try {
      const first = await PinlatchProcess.start(edge.file);
      running.push(first);
      const old = await startCalls(edge, CALLS, 'hold-uac.xml', undefined, () => first.output.slice(-3000));
      running.push(old);
      first.signal(how);
      const code = await first.exited;
      if (how === 'SIGTERM') {
        assert.is(code, 0, first.output.slice(-3000));
        const [callerDone, calleeDone] = await Promise.all([old.caller.done, old.callee.done]);
        assert.equal(callerDone.stats, { successful: CALLS, failed: 0 }, 'drainSec 0: the old calls got their BYE');
        assert.equal(calleeDone.stats, { successful: CALLS, failed: 0 });
      } else {
        old.caller.kill();
        old.callee.kill();
        await Promise.all([old.caller.done, old.callee.done]);
      }

      const second = await PinlatchProcess.start(edge.file);
      running.push(second);
      const fresh = await startCalls(edge, CALLS, 'hangup-uac.xml', 500, () => second.output.slice(-3000));
      running.push(fresh);
      const [callerDone, calleeDone] = await Promise.all([fresh.caller.done, fresh.callee.done]);
      assert.equal(callerDone.stats, { successful: CALLS, failed: 0 }, callerDone.output);
      assert.equal(calleeDone.stats, { successful: CALLS, failed: 0 }, calleeDone.output);
      assert.not.match(second.output, /EADDRINUSE|held by another process|start failed/);
      second.signal('SIGTERM');
      assert.is(await second.exited, 0);
    } finally {
      for (const r of running) {
        if (r instanceof PinlatchProcess) r.kill();
        else {
          r.caller.kill();
          r.callee.kill();
        }
      }
    }
  });
}

test.after(() => rmSync(dir, { recursive: true, force: true }));

test.run();
