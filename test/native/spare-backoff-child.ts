/**
 * Child of relay-control.test.ts, run under strace: a relay whose spares want v4 sockets, in a
 * process left with no descriptor to spare (prlimit on itself), then 400 iterations of the relay's
 * loop (each a top-up) over about 400 ms. Prints `done` at the end.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { addon } from '../../src/native.ts';

const relay = addon.createRelay();
const control = addon.connect(relay.controlToken);
const opened = (() => {
  for (let attempt = 0; attempt < 50; attempt += 1) {
    const aPort = 20000 + 4 * Math.floor(Math.random() * 9000);
    try {
      return control.openStreams([{ address: '127.0.0.1', aPort, bPort: aPort + 2 }])[0]!;
    } catch {
      // taken: another pair
    }
  }
  throw new Error('no free port pair');
})();
// The open (above) asked for v4 spares; the relay's loop has not run since, so none is made yet.
const open = readdirSync('/proc/self/fd').length;
execFileSync('prlimit', ['--pid', String(process.pid), `--nofile=${open}:${open}`]);
const until = Date.now() + 400;
let iterations = 0;
const tick = (): void => {
  void relay.size;
  iterations += 1;
  if (iterations < 400 && Date.now() < until) setTimeout(tick, 1);
  else {
    control.closeStreams([opened]);
    relay.close();
    console.log(`done ${iterations}`);
  }
};
tick();
