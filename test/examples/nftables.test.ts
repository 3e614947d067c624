/**
 * examples/pinlatch.nft in a network namespace of its own: the "relay" namespace gets the
 * ruleset and UDP echo responders on the NG, SIP and media ports; a "peer" namespace, joined by a
 * veth pair, sends from an allowed NG source (10.0.0.5) and from another address. NG must answer
 * only the allowed source, SIP and media anyone, and media must stay out of connection tracking.
 */
import * as assert from 'uvu/assert';
import { fileURLToPath } from 'node:url';
import { suite } from '../support/suite.ts';
import { NamespaceGroup, run } from '../support/netns.ts';

const test = suite('examples/pinlatch.nft', { timeoutMs: 60_000 });
const RULESET = fileURLToPath(new URL('../../examples/pinlatch.nft', import.meta.url));

class FirewallPair extends NamespaceGroup<'relay' | 'peer'> {
  constructor() {
    super(['relay', 'peer']);
  }

  async create(): Promise<this> {
    await this.addNamespaces();
    const { relay, peer } = this.ns;
    await run('ip', ['link', 'add', `${this.id}a`, 'netns', relay, 'type', 'veth', 'peer', 'name', `${this.id}b`, 'netns', peer]);
    for (const a of ['203.0.113.10/24', '10.0.0.2/24']) await run('ip', ['-n', relay, 'addr', 'add', a, 'dev', `${this.id}a`]);
    for (const a of ['203.0.113.30/24', '10.0.0.5/24', '10.0.0.7/24']) await run('ip', ['-n', peer, 'addr', 'add', a, 'dev', `${this.id}b`]);
    await run('ip', ['-n', relay, 'link', 'set', `${this.id}a`, 'up']);
    await run('ip', ['-n', peer, 'link', 'set', `${this.id}b`, 'up']);
    return this;
  }
}

/** Echoes every datagram on the given ports (inside the relay namespace). */
const ECHO = `
const dgram = require('node:dgram');
for (const port of process.argv.slice(1).map(Number)) {
  const s = dgram.createSocket('udp4');
  s.on('message', (m, r) => s.send(m, r.port, r.address));
  s.bind(port, '0.0.0.0', () => process.stdout.write('bound ' + port + '\\n'));
}`;

/** Sends one datagram from `from` to `to:port` and prints "answered" or "silent" after 1.5 s. */
const PROBE = `
const dgram = require('node:dgram');
const [from, to, port] = process.argv.slice(1);
const s = dgram.createSocket('udp4');
const timer = setTimeout(() => { console.log('silent'); s.close(); }, 1500);
s.on('message', () => { clearTimeout(timer); console.log('answered'); s.close(); });
s.bind(0, from, () => s.send('probe', Number(port), to));`;

test('NG only from the allowed source, SIP and media from anyone, media untracked', async () => {
  const pair = await new FirewallPair().create();
  try {
    await pair.exec('relay', ['nft', '-f', RULESET]);
    const echo = pair.spawn('relay', [process.execPath, '-e', ECHO, '2223', '5060', '30000']);
    let bound = '';
    echo.stdout!.on('data', (d) => (bound += d));
    const deadline = Date.now() + 10_000;
    while ((bound.match(/bound/g) ?? []).length < 3) {
      assert.ok(Date.now() < deadline, `echo did not bind: ${bound}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    const probe = async (from: string, to: string, port: number) =>
      (await pair.exec('peer', [process.execPath, '-e', PROBE, from, to, String(port)])).stdout.trim();

    assert.is(await probe('10.0.0.5', '10.0.0.2', 2223), 'answered', 'NG from the allowed Kamailio');
    assert.is(await probe('10.0.0.7', '10.0.0.2', 2223), 'silent', 'NG from anyone else');
    assert.is(await probe('203.0.113.30', '203.0.113.10', 5060), 'answered', 'SIP');
    assert.is(await probe('10.0.0.7', '203.0.113.10', 5060), 'answered', 'SIP from anywhere');
    assert.is(await probe('203.0.113.30', '203.0.113.10', 30000), 'answered', 'media');

    const tracked = (await pair.exec('relay', ['conntrack', '-L', '-p', 'udp'])).stdout;
    assert.match(tracked, /dport=5060/, tracked);
    assert.not.match(tracked, /dport=30000/, tracked);
  } finally {
    await pair.destroy();
  }
});

test.run();
