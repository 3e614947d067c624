/** bench/gc-steps.ts: V8's --trace-gc lines counted per bench/cps.ts step log. */
import * as assert from 'uvu/assert';
import { suite } from '../support/suite.ts';
import { gcSteps } from '../../bench/gc-steps.ts';

const test = suite('bench/gc-steps');

const scavenge = (pid: number, at: number, ms: number) =>
  `[${pid}:0x20391e10]   ${at} ms: Scavenge 4.4 (4.5) -> 3.8 (5.5) MB, ${ms} / 0.01 ms  (average mu = 1.000, current mu = 1.000) allocation failure; `;
const markCompact = (pid: number, at: number, ms: number) =>
  `[${pid}:0x20391e10]   ${at} ms: Mark-Compact 150.8 (160.1) -> 61.8 (70.2) MB, ${ms} / 0.10 ms  (average mu = 0.9, current mu = 0.8) task; scavenge might not succeed`;

test('a process through several steps: what a log shares with the one before counts once', () => {
  const first = ['--- pid 7', scavenge(7, 100, 2.5), scavenge(7, 1100, 4), '{"level":40,"msg":"not gc"}'].join('\n');
  const second = [first, markCompact(7, 2100, 15.2), scavenge(7, 3100, 6.5)].join('\n');
  const fresh = ['--- pid 9', scavenge(9, 50, 1), scavenge(9, 50, 1)].join('\n');
  const [a, b, c] = gcSteps([
    { name: '1-warm', text: first },
    { name: '2-warm', text: second },
    { name: '3-fresh', text: fresh },
  ]);
  assert.equal([a!.scavenges, a!.scavengeMs, a!.scavengeMaxMs, a!.markCompacts, a!.spanS], [2, 6.5, 4, 0, 1]);
  assert.equal([b!.scavenges, b!.scavengeMs, b!.markCompacts, b!.markCompactMs, b!.markCompactMaxMs, b!.spanS], [1, 6.5, 1, 15.2, 15.2, 1]);
  assert.equal([c!.scavenges, c!.scavengeMs, c!.spanS], [2, 2, 0], 'another process: counted from its start');
});

test.run();
