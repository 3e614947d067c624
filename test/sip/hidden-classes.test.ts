/**
 * Code on the per-message path must not make a V8 hidden class (Map) per call. In Node 20's
 * optimised code an object spread followed by a new property (`{ ...target, pinned: true }`) did,
 * for every object it returned: each one a runtime call and an old-space object freed only by a
 * full collection, and every function reading those objects megamorphic. A flood of malformed
 * requests could make one per datagram. V8's map log (`--log-maps`) counts them: twice the rounds
 * must not make (nearly) twice the maps.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import * as assert from 'uvu/assert';
import { suite } from '../support/suite.ts';

const test = suite('sip: no hidden class per message', { timeoutMs: 120_000 });
const SCRIPT = fileURLToPath(new URL('./fixtures/hidden-classes.ts', import.meta.url));

async function mapsCreated(rounds: number, dir: string): Promise<number> {
  const log = join(dir, `maps-${rounds}.log`);
  await promisify(execFile)(process.execPath, ['--log-maps', '--no-log-maps-details', `--logfile=${log}`, '--no-logfile-per-isolate', '--import', 'tsx', SCRIPT, String(rounds)], {
    timeout: 60_000,
  });
  return readFileSync(log, 'latin1').split('\n').filter((line) => line.startsWith('map-create,')).length;
}

test('a malformed Request-Line and the next hop of an in-dialog request make no hidden class per call', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pinlatch-maps-'));
  try {
    // Enough rounds for TurboFan to optimise the loop (the spread made a map per call only then).
    const few = await mapsCreated(20_000, dir);
    const many = await mapsCreated(60_000, dir);
    assert.ok(many - few < 1000, `40,000 more rounds made ${many - few} more hidden classes (${few} → ${many})`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
