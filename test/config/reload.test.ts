/**
 * config/reload.ts: which differences between the running configuration and a new one a reload
 * accepts, and the error (key path and line of the new file) for those it cannot apply.
 */
import * as assert from 'uvu/assert';
import { suite } from '../support/suite.ts';
import { changedKeys, ConfigError, fixedKeyChanges, parseConfig, parseLocatedConfig, reloadRefusal } from '../../src/config/index.ts';

const test = suite('config: reload');

const BASE = `sip:
  listen: [{ transport: udp, address: 127.0.0.1, port: 5060 }]
  drainSec: 30
media:
  address: 127.0.0.1
  ports: { min: 30000, max: 30999 }
  shards: 2
trunks:
  - { name: a, host: 192.0.2.10 }
  - { name: b, host: 192.0.2.20 }
routes:
  - { match: { user: "1.*" }, trunk: a }
upstream: "sip:198.51.100.5"
admission:
  upstreamNetworks: [198.51.100.0/28]
limits:
  dialogs: 1000
metrics: { port: 9090 }
`;

const changes = (next: string) => fixedKeyChanges(parseConfig(BASE, 'old.yaml'), parseConfig(next, 'new.yaml')).map((p) => p.join('.'));

test('the same file, or another file name: nothing to refuse', () => {
  assert.equal(changes(BASE), []);
});

test('trunks, routes, upstream, admission lists, limits, drainSec and log level may change', () => {
  const next = BASE.replace('192.0.2.20', '192.0.2.21')
    .replace('trunk: a }', 'trunks: [b, a], fork: parallel }\n  - { trunk: b }')
    .replace('198.51.100.5', '198.51.100.6')
    .replace('198.51.100.0/28', '198.51.100.0/24')
    .replace('dialogs: 1000', 'dialogs: 10\n  sourceRate: { requestsPerSec: 5, burst: 10 }\n  overload: { retryAfterSec: 9 }')
    .replace('drainSec: 30', 'drainSec: 5')
    .concat('log: { level: debug }\n');
  assert.equal(changes(next), []);
});

test('listen sockets, media ports and shards, metrics: each changed key is named', () => {
  const next = BASE.replace('port: 5060', 'port: 5070').replace('min: 30000', 'min: 30100').replace('shards: 2', 'shards: 4').replace('port: 9090', 'port: 9091');
  assert.equal(changes(next), ['sip.listen.0.port', 'media.ports.min', 'media.shards', 'metrics.port']);
});

test('a section added or removed, a listen point added, a timer, the route secret, overload thresholds', () => {
  assert.equal(changes(`${BASE}ng: { port: 2223 }\n`), ['ng']);
  assert.equal(changes(BASE.replace('metrics: { port: 9090 }\n', '')), ['metrics']);
  assert.equal(changes(BASE.replace('port: 5060 }]', 'port: 5060 }, { transport: tcp, address: 127.0.0.1, port: 5060 }]')), ['sip.listen']);
  assert.equal(changes(BASE.replace('drainSec: 30', 'drainSec: 30\n  timers: { t1Ms: 250 }')), [
    'sip.timers.t1Ms',
    // Their defaults follow T1 (config/build.ts).
    'limits.overload.maxQueueMs',
    'limits.overload.maxLagMs',
  ]);
  assert.equal(changes(BASE.replace('upstreamNetworks:', 'routeSecret: "0123456789abcdef0123"\n  upstreamNetworks:')), ['admission.routeSecret']);
  assert.equal(changes(BASE.replace('dialogs: 1000', 'dialogs: 1000\n  tcp: { connections: 10 }')), ['limits.tcp.connections']);
});

test('reloadRefusal: a ConfigError naming each fixed key at its line of the new file', () => {
  const current = parseConfig(BASE, 'pinlatch.yaml');
  const { config, locate } = parseLocatedConfig(BASE.replace('min: 30000', 'min: 30100').replace('shards: 2', 'shards: 4').replace('dialogs: 1000', 'dialogs: 5'), 'pinlatch.yaml');
  const refusal = reloadRefusal(current, config, locate);
  assert.instance(refusal, ConfigError);
  assert.equal(
    refusal!.issues.map((i) => [i.path, i.line]),
    [
      ['media.ports.min', 6],
      ['media.shards', 7],
    ],
  );
  assert.match(refusal!.message, /^configuration pinlatch\.yaml not reloaded: 2 errors\n  media\.ports\.min: cannot change while pinlatch runs \(restart it to apply this change\) \(line 6\)/);
  assert.is(reloadRefusal(current, parseConfig(BASE.replace('dialogs: 1000', 'dialogs: 5'))), null);
});

test('changedKeys: each changed top-level key, with its second level where it has one', () => {
  const current = parseConfig(BASE, 'old.yaml');
  const next = parseConfig(BASE.replace('192.0.2.20', '192.0.2.21').replace('dialogs: 1000', 'dialogs: 5').concat('log: { level: warn }\n'), 'new.yaml');
  assert.equal(changedKeys(current, next), ['trunks', 'log.level', 'limits.dialogs']);
  assert.equal(changedKeys(current, parseConfig(BASE, 'other.yaml')), [], 'another file name is no change');
});

test.run();
