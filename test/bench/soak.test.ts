/**
 * The soak for two minutes (what `npm run soak` does for an hour): the real CLI (from the
 * sources), sipp calls with RTP both ways at a modest rate, sampled every 3 s. Lines must be flat
 * over the second minute, back to zero after the drain, and no call may fail. The limits are
 * wider than the hour's: two minutes is mostly warm-up (V8 still grows its heap, the JIT still
 * compiles) and CI has two shared cores.
 */
import * as assert from 'uvu/assert';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from '../support/suite.ts';
import { runSoak, type SoakResult } from '../../bench/soak/run.ts';

const test = suite('bench/soak', { timeoutMs: 280_000 });

test('two minutes at 5 cps with 5 s calls and RTP: flat, drained, no failed call', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pinlatch-soak-test-'));
  const lines: string[] = [];
  let result: SoakResult | undefined;
  try {
    result = await runSoak({
      durationS: 120,
      rate: 5,
      holdS: 5,
      intervalS: 3,
      drainS: 40,
      idleS: 3,
      subnet: '127.0.22',
      shards: 1,
      cli: 'sources',
      limits: {
        rss: { absolute: 32, relative: 0.25 },
        fds: { absolute: 16, relative: 0.25 },
        sessions: { absolute: 8, relative: 0.25 },
        dialogs: { absolute: 16, relative: 0.25 },
        transactions: { absolute: 32, relative: 0.25 },
        lagP99: { absolute: 100, relative: 0 },
        drainFdSlack: 8,
        minRtpDelivery: 0.95,
      },
      out: join(dir, 'soak.json'),
      log: (line) => lines.push(line),
    });
    const verdicts = result.judgement.verdicts.map((v) => v.line);
    const context = `${verdicts.join('\n')}\n--- progress:\n${lines.slice(-40).join('\n')}`;
    assert.is(result.caller.failed, 0, `failed calls\n${context}`);
    assert.is(result.caller.successful, 600, `every call through\n${context}`);
    assert.ok(result.judgement.ok, context);
    assert.ok(result.samples.filter((s) => s.phase === 'load').length >= 35, 'a sample every 3 s under load');
    assert.ok(result.rtp.delivered > 0.95 * result.rtp.sent && result.rtp.silent === 0, `RTP flowed\n${context}`);
    const doc = JSON.parse(readFileSync(result.files.json, 'utf8')) as { samples: unknown[]; judgement: { ok: boolean } };
    assert.is(doc.samples.length, result.samples.length, 'the JSON holds every sample');
    assert.ok(doc.judgement.ok);
    assert.match(readFileSync(result.files.svg, 'utf8'), /^<svg /);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
