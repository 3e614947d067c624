import * as assert from 'uvu/assert';
import { fileURLToPath } from 'node:url';
import { suite } from '../support/suite.ts';
import {
  buildConfig,
  ConfigError,
  defaultConfig,
  loadConfigFile,
  parseConfig,
  openRelayWarnings,
  parseSipUriTarget,
  type ConfigIssue,
} from '../../src/config/index.ts';

const examples = fileURLToPath(new URL('../../examples/', import.meta.url));

function issuesOf(text: string): ConfigIssue[] {
  try {
    parseConfig(text, 'test.yaml');
  } catch (err) {
    assert.instance(err, ConfigError);
    assert.is((err as ConfigError).code, 'ERR_PINLATCH_CONFIG');
    return [...(err as ConfigError).issues];
  }
  throw new Error('expected a ConfigError');
}

function expectIssue(text: string, path: string, line: number, messagePart: string): void {
  const issues = issuesOf(text);
  const hit = issues.find((i) => i.path === path);
  assert.ok(hit, `no issue at ${path}; got ${JSON.stringify(issues)}`);
  assert.is(hit!.line, line, `line of ${path}`);
  assert.ok(hit!.message.includes(messagePart), `"${hit!.message}" should contain "${messagePart}"`);
}

const MEDIA = 'media:\n  address: 127.0.0.1\n';

const shipped = suite('config: shipped files and defaults');

shipped('examples/pinlatch.yaml loads into the NAT gateway scenario', async () => {
  const c = await loadConfigFile(`${examples}pinlatch.yaml`);
  assert.is(c.sip?.advertise, '203.0.113.10');
  assert.equal(c.sip?.listen.map((l) => l.transport), ['udp', 'tcp']);
  assert.equal(c.media.ports, { min: 30000, max: 30999 });
  assert.is(c.trunks[0]?.name, 'gateway');
  assert.is(c.trunks[0]?.pinRoute, true);
  assert.is(c.trunks[0]?.hostIsAddress, true);
  assert.equal(c.routes[0]?.trunks, ['gateway']);
  assert.is(c.routes[0]?.fork, 'serial');
  assert.ok(c.routes[0]?.userPattern?.test('+4930123456'));
  assert.not.ok(c.routes[0]?.userPattern?.test('alice'));
  assert.equal({ host: c.upstream?.host, port: c.upstream?.port }, { host: '203.0.113.30', port: 5060 });
  assert.is(c.ng, null);
  assert.is(c.metrics, null);
});

shipped('examples/media-only.yaml is an NG relay with no SIP', async () => {
  const c = await loadConfigFile(`${examples}media-only.yaml`);
  assert.is(c.sip, null);
  assert.equal(c.ng, { address: '127.0.0.1', port: 2223, tcp: false, allow: ['127.0.0.1/32'] });
  assert.equal(c.media.ports, { min: 20000, max: 29999 });
  assert.equal(c.trunks, []);
});

shipped('defaultConfig() is loopback only, with SIP, media and NG', () => {
  const c = defaultConfig();
  assert.is(c.source, '<default>');
  assert.equal(c.sip?.listen, [
    { transport: 'udp', address: '127.0.0.1', port: 5060 },
    { transport: 'tcp', address: '127.0.0.1', port: 5060 },
  ]);
  assert.is(c.media.address, '127.0.0.1');
  assert.equal(c.media.ports, { min: 20000, max: 20999 });
  assert.equal(c.ng, { address: '127.0.0.1', port: 2223, tcp: false, allow: ['127.0.0.0/8', '::1/128'] });
  assert.ok(Object.isFrozen(c) && Object.isFrozen(c.sip!.listen[0]) && Object.isFrozen(c.media.ports));
});

shipped('ng.allow: canonical CIDR text, bare addresses as hosts; required off loopback', () => {
  const c = parseConfig(`${MEDIA}ng:\n  address: 0.0.0.0\n  allow: [10.0.0.5, "2001:DB8::/32", "::ffff:192.0.2.0/120"]\n`);
  assert.equal(c.ng?.allow, ['10.0.0.5/32', '2001:db8::/32', '192.0.2.0/24']);
  assert.equal(parseConfig(`${MEDIA}ng: { address: "::1" }\n`).ng?.allow, ['127.0.0.0/8', '::1/128']);
});

shipped('restricted latching per trunk and for endpoints, networks in canonical text', () => {
  const c = parseConfig(
    `sip: { listen: [{ address: 127.0.0.1 }] }\n${MEDIA}  latching:\n    endpoints: { prefixV4: 31 }\n` +
      `trunks:\n  - { name: gw, host: 203.0.113.1, latching: { prefixV4: 29, networks: [198.51.100.7, "::ffff:192.0.2.0/120"] } }\n`,
  );
  assert.equal(c.trunks[0]?.latching, { prefixV4: 29, prefixV6: 128, networks: ['198.51.100.7/32', '192.0.2.0/24'] });
  assert.equal(c.media.latching.endpoints, { prefixV4: 31, prefixV6: 128, networks: [] });
  assert.is(c.media.latching.handoverSilenceMs, 1000);
});

shipped('a minimal document gets every default filled', () => {
  const c = parseConfig(`sip:\n  listen: [{ address: 127.0.0.1 }]\n${MEDIA}trunks:\n  - { name: gw, host: gw.example.net }\nroutes:\n  - { trunk: gw }\n`);
  assert.equal(c.sip?.listen, [{ transport: 'udp', address: '127.0.0.1', port: 5060 }]);
  assert.is(c.sip?.advertise, '127.0.0.1');
  assert.equal(c.sip?.timers, { t1Ms: 500, t2Ms: 4000, t4Ms: 5000, inviteTimeoutMs: 180_000 });
  assert.is(c.sip?.maxMessageBytes, 65_535);
  assert.is(c.media.advertise, '127.0.0.1');
  assert.equal(c.media.ports, { min: 30000, max: 30999 });
  assert.ok(c.media.shards >= 1);
  assert.is(c.media.timeoutSec, 60);
  assert.is(c.media.latchSyncMs, 250);
  assert.is(c.media.restoreTimeoutMs, 10_000);
  assert.is(c.sip?.drainSec, 30);
  assert.equal(c.media.latching, { handoverSilenceMs: 1000, handoverMaxSeqGap: 100, endpoints: { prefixV4: 32, prefixV6: 128, networks: [] } });
  assert.equal(c.trunks[0], {
    name: 'gw', host: 'gw.example.net', hostIsAddress: false, port: 5060, transport: 'udp', pinRoute: false, resolveIntervalSec: 60,
    latching: { prefixV4: 32, prefixV6: 128, networks: [] },
  });
  assert.equal({ user: c.routes[0]?.user, host: c.routes[0]?.host, up: c.routes[0]?.userPattern }, { user: null, host: null, up: null });
  assert.is(c.upstream, null);
  assert.is(c.log.level, 'info');
  assert.is(c.source, '<text>');
  assert.throws(() => {
    (c.media as { timeoutSec: number }).timeoutSec = 1;
  });
});

shipped('IPv6 addresses, host-matching routes and an upstream with transport', () => {
  const c = parseConfig(`sip:\n  listen: [{ transport: tcp, address: "::1", port: 5070 }]\nmedia:\n  address: "::1"\n  ports: { min: 41000, max: 41003 }\ntrunks:\n  - { name: gw, host: "2001:db8::7", port: 5080, transport: tcp }\nroutes:\n  - { match: { host: "pstn\\\\.example\\\\.com" }, trunk: gw }\nupstream: "sip:pbx@[2001:db8::30]:5062;transport=TCP"\n`);
  assert.is(c.sip?.advertise, '::1');
  assert.is(c.trunks[0]?.hostIsAddress, true);
  assert.ok(c.routes[0]?.hostPattern?.test('PSTN.example.com'));
  assert.not.ok(c.routes[0]?.hostPattern?.test('pstnXexample.com'));
  assert.equal(
    { user: c.upstream?.user, host: c.upstream?.host, port: c.upstream?.port, transport: c.upstream?.transport },
    { user: 'pbx', host: '2001:db8::30', port: 5062, transport: 'tcp' },
  );
});

shipped('a missing file is a ConfigError naming the file', async () => {
  try {
    await loadConfigFile('/nonexistent/pinlatch.yaml');
    assert.unreachable();
  } catch (err) {
    assert.instance(err, ConfigError);
    assert.match((err as Error).message, /\/nonexistent\/pinlatch\.yaml/);
    assert.match((err as Error).message, /ENOENT/);
  }
});

shipped('object input (no source text) reports paths without lines', () => {
  try {
    buildConfig({ media: { address: 'nope' } }, '<object>');
    assert.unreachable();
  } catch (err) {
    assert.equal((err as ConfigError).issues[0], { path: 'media.address', message: 'expected an IPv4 or IPv6 address literal (got string "nope")', line: null });
  }
});

shipped.run();

const errors = suite('config: each class of error names the key path and the line');

errors('message format: path, reason, line', () => {
  const text = `${MEDIA}sip:\n  listen: [{ address: 127.0.0.1 }]\ntrunks:\n  - name: gw\n    host: 203.0.113.1\n    port: 70000\n`;
  try {
    parseConfig(text, 'pinlatch.yaml');
    assert.unreachable();
  } catch (err) {
    assert.match((err as Error).message, /^invalid configuration pinlatch\.yaml: 1 error\n/);
    assert.match((err as Error).message, /trunks\[0\]\.port: expected an integer 1\.\.65535 \(got number 70000\) \(line 8\)/);
  }
});

errors('several problems are reported at once', () => {
  const issues = issuesOf(`media:\n  address: 10.0.0.300\n  shards: two\nlog: { level: loud }\nbogus: 1\n`);
  assert.equal(issues.map((i) => [i.path, i.line]), [
    ['media.address', 2],
    ['media.shards', 3],
    ['log.level', 4],
    ['bogus', 5],
  ]);
});

const cases: Array<[string, string, string, number, string]> = [
  ['unknown key', `${MEDIA}  timeout: 60\n`, 'media.timeout', 3, 'unknown key'],
  ['wrong type', `${MEDIA}  timeoutSec: soon\n`, 'media.timeoutSec', 3, 'expected an integer 1..86400'],
  ['missing required key', `media:\n  ports: { min: 30000, max: 30999 }\n`, 'media.address', 1, 'required'],
  ['missing section', `log: { level: info }\n`, 'media', 1, 'required'],
  ['not an IP literal', `media:\n  address: example.com\n`, 'media.address', 2, 'IPv4 or IPv6'],
  ['bad trunk host', `${MEDIA}sip: { listen: [{ address: 127.0.0.1 }] }\ntrunks:\n  - { name: gw, host: "gw_1.example.net" }\n`, 'trunks[0].host', 5, 'host name'],
  ['digits-only host', `${MEDIA}sip: { listen: [{ address: 127.0.0.1 }] }\ntrunks:\n  - { name: gw, host: 1.2.3 }\n`, 'trunks[0].host', 5, 'host name'],
  ['bad transport', `${MEDIA}sip:\n  listen:\n    - { transport: sctp, address: 127.0.0.1 }\n`, 'sip.listen[0].transport', 5, 'expected udp or tcp'],
  ['empty listen list', `${MEDIA}sip:\n  listen: []\n`, 'sip.listen', 4, 'at least one'],
  ['bad trunk name', `${MEDIA}sip: { listen: [{ address: 127.0.0.1 }] }\ntrunks:\n  - { name: "my gw", host: 203.0.113.1 }\n`, 'trunks[0].name', 5, 'letters, digits'],
  ['invalid route regex', `${MEDIA}sip: { listen: [{ address: 127.0.0.1 }] }\ntrunks: [{ name: gw, host: 203.0.113.1 }]\nroutes:\n  - match:\n      user: "([0-9]+"\n    trunk: gw\n`, 'routes[0].match.user', 7, 'invalid regular expression'],
  ['odd first media port', `media:\n  address: 127.0.0.1\n  ports:\n    min: 30001\n    max: 30999\n`, 'media.ports.min', 4, 'even'],
  ['port range too small', `media:\n  address: 127.0.0.1\n  ports: { min: 30000, max: 30002 }\n`, 'media.ports', 3, 'at least 4 ports'],
  ['duplicate trunk name', `${MEDIA}sip: { listen: [{ address: 127.0.0.1 }] }\ntrunks:\n  - { name: gw, host: 203.0.113.1 }\n  - { name: gw, host: 203.0.113.2 }\n`, 'trunks[1].name', 6, 'duplicate trunk name "gw"'],
  ['route to unknown trunk', `${MEDIA}sip: { listen: [{ address: 127.0.0.1 }] }\ntrunks: [{ name: gw, host: 203.0.113.1 }]\nroutes:\n  - { match: { user: ".*" }, trunk: gateway }\n`, 'routes[0].trunk', 6, 'unknown trunk "gateway" (known trunks: gw)'],
  ['route with both trunk and trunks', `${MEDIA}sip: { listen: [{ address: 127.0.0.1 }] }\ntrunks: [{ name: gw, host: 203.0.113.1 }]\nroutes:\n  - { trunk: gw, trunks: [gw] }\n`, 'routes[0]', 6, 'exactly one of `trunk`'],
  ['route trunk listed twice', `${MEDIA}sip: { listen: [{ address: 127.0.0.1 }] }\ntrunks: [{ name: gw, host: 203.0.113.1 }]\nroutes:\n  - trunks: [gw, gw]\n`, 'routes[0].trunks[1]', 6, 'listed twice'],
  ['bad fork mode', `${MEDIA}sip: { listen: [{ address: 127.0.0.1 }] }\ntrunks: [{ name: gw, host: 203.0.113.1 }]\nroutes:\n  - { trunks: [gw], fork: random }\n`, 'routes[0].fork', 6, 'serial or parallel'],
  ['failoverAfterMs on a parallel fork', `${MEDIA}sip: { listen: [{ address: 127.0.0.1 }] }\ntrunks: [{ name: gw, host: 203.0.113.1 }]\nroutes:\n  - { trunks: [gw], fork: parallel, failoverAfterMs: 2000 }\n`, 'routes[0].failoverAfterMs', 6, 'serial only'],
  ['upstream not a SIP URI', `${MEDIA}sip: { listen: [{ address: 127.0.0.1 }] }\nupstream: http://pbx.example.com\n`, 'upstream', 4, 'SIP URI'],
  ['upstream IPv6 without brackets', `${MEDIA}sip: { listen: [{ address: 127.0.0.1 }] }\nupstream: "sip:2001:db8::1"\n`, 'upstream', 4, 'SIP URI'],
  ['upstream unsupported transport', `${MEDIA}sip: { listen: [{ address: 127.0.0.1 }] }\nupstream: "sip:pbx.example.com;transport=sctp"\n`, 'upstream', 4, 'transport=sctp'],
  ['trunks without sip', `${MEDIA}trunks: [{ name: gw, host: 203.0.113.1 }]\n`, 'trunks', 3, 'need a sip section'],
  ['wildcard bind without advertise', `media:\n  address: 0.0.0.0\n`, 'media.advertise', 1, 'wildcard'],
  ['advertising a wildcard', `${MEDIA}sip:\n  listen: [{ address: 127.0.0.1 }]\n  advertise: "::"\n`, 'sip.advertise', 5, 'wildcard'],
  ['media advertise of the other family', `media:\n  address: "::"\n  advertise: 203.0.113.10\n`, 'media.advertise', 3, 'one address family'],
  ['wildcard listen point of the other family than advertise', `${MEDIA}sip:\n  listen: [{ address: 203.0.113.10 }, { address: "::" }]\n  advertise: 203.0.113.10\n`, 'sip.listen[1].address', 4, 'no address to write into Via'],
  ['IPv6 trunk without an IPv6 listen point', `${MEDIA}sip: { listen: [{ address: 127.0.0.1 }] }\ntrunks:\n  - { name: gw, host: "2001:db8::3" }\n`, 'trunks[0].host', 5, 'no udp listen point in sip.listen is IPv6'],
  ['IPv4 upstream without an IPv4 TCP listen point', `${MEDIA}sip: { listen: [{ address: 127.0.0.1 }, { transport: tcp, address: "::1" }] }\nupstream: "sip:203.0.113.30;transport=tcp"\n`, 'upstream', 4, 'no tcp listen point in sip.listen is IPv4'],
  ['timer order', `${MEDIA}sip:\n  listen: [{ address: 127.0.0.1 }]\n  timers: { t1Ms: 5000, t2Ms: 4000 }\n`, 'sip.timers.t2Ms', 5, 'must be >= t1Ms'],
  ['socket clash', `${MEDIA}sip:\n  listen: [{ address: 0.0.0.0, port: 2223 }]\n  advertise: 203.0.113.10\nng: { address: 127.0.0.1, port: 2223 }\n`, 'ng.port', 6, 'already used by sip.listen[0]'],
  ['NG on a non-loopback address without allow', `${MEDIA}ng:\n  address: 10.0.0.2\n`, 'ng.allow', 3, 'required when ng.address (10.0.0.2) is not a loopback address'],
  ['NG on a wildcard without allow', `${MEDIA}ng: { address: 0.0.0.0 }\n`, 'ng.allow', 3, 'not a loopback address'],
  ['bad NG allow entry', `${MEDIA}ng:\n  allow:\n    - 10.0.0.0/8\n    - 10.0.0.1/8\n`, 'ng.allow[1]', 6, 'bits set beyond its /8 prefix'],
  ['NG allow prefix too long', `${MEDIA}ng:\n  allow: ["2001:db8::/129"]\n`, 'ng.allow[0]', 4, 'from 0 to 128'],
  ['empty NG allow list', `${MEDIA}ng:\n  allow: []\n`, 'ng.allow', 4, 'at least one'],
  ['latching prefix out of range', `${MEDIA}sip: { listen: [{ address: 127.0.0.1 }] }\ntrunks:\n  - { name: gw, host: 203.0.113.1, latching: { prefixV4: 33 } }\n`, 'trunks[0].latching.prefixV4', 5, 'expected an integer 0..32'],
  ['latching network with host bits', `${MEDIA}  latching:\n    endpoints:\n      networks: [198.51.100.1/24]\n`, 'media.latching.endpoints.networks[0]', 5, 'bits set beyond'],
  ['latching network of the other family', `${MEDIA}sip: { listen: [{ address: 127.0.0.1 }] }\ntrunks:\n  - name: gw\n    host: 203.0.113.1\n    latching:\n      networks: [192.0.2.0/24, "2001:db8::/32"]\n`, 'trunks[0].latching.networks[1]', 8, 'media runs on IPv4'],
  ['unknown latching key', `${MEDIA}  latching:\n    endpoints: { prefix: 24 }\n`, 'media.latching.endpoints.prefix', 4, 'unknown key'],
  ['too many latching networks', `${MEDIA}  latching:\n    endpoints:\n      networks: [${Array.from({ length: 17 }, (_, i) => `10.${i}.0.0/16`).join(', ')}]\n`, 'media.latching.endpoints.networks', 5, 'at most 16'],
  ['NG port inside the media range', `${MEDIA}  ports: { min: 30000, max: 30999 }\nng: { port: 30500 }\n`, 'ng.port', 4, 'inside media.ports'],
  // The parser notices the unclosed flow sequence where the next key starts.
  ['YAML syntax error', `media:\n  address: [127.0.0.1\nlog: {}\n`, '', 3, 'YAML'],
  ['duplicate YAML key', `${MEDIA}media:\n  address: 127.0.0.2\n`, '', 3, 'DUPLICATE_KEY'],
  ['document is not a mapping', `- media\n`, '', 1, 'expected a mapping'],
  ['route from: not a network', `${MEDIA}trunks: [{ name: gw, host: 192.0.2.1 }]\nroutes:\n  - { trunk: gw, from: [10.0.0.0/33] }\n`, 'routes[0].from[0]', 5, 'prefix length'],
  ['upstreamNetworks: host bits set', `${MEDIA}admission:\n  upstreamNetworks: [10.1.2.3/8]\n`, 'admission.upstreamNetworks[0]', 4, 'bits set beyond'],
  ['admission.strangers: unknown value', `${MEDIA}admission: { strangers: ignore }\n`, 'admission.strangers', 3, 'reject or drop'],
  ['routeSecret too short', `${MEDIA}admission: { routeSecret: short }\n`, 'admission.routeSecret', 3, 'at least 16'],
];

for (const [name, text, path, line, part] of cases) {
  errors(name, () => expectIssue(text, path, line, part));
}

errors('parseSipUriTarget accepts the forms a proxy can send to', () => {
  assert.equal(parseSipUriTarget('sip:203.0.113.30'), { uri: 'sip:203.0.113.30', scheme: 'sip', user: null, host: '203.0.113.30', port: null, transport: null });
  assert.is((parseSipUriTarget('sips:pbx.example.com:5061') as { scheme: string }).scheme, 'sips');
  assert.type(parseSipUriTarget('sip:host:99999'), 'string');
  assert.type(parseSipUriTarget('sip:'), 'string');
});

errors('YAML aliases: one without its anchor, and a "billion laughs" expansion, are ConfigErrors at the alias line', () => {
  // Found by fuzzing (fuzz/corpus/config-loader/regress-*-alias): yaml's ReferenceError escaped parseConfig.
  expectIssue(`${MEDIA}log: { level: *missing }\n`, '', 3, 'Unresolved alias');
  const bomb = [
    'x-a: &a [x, x, x, x, x, x, x, x, x, x]',
    'x-b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]',
    'x-c: [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]',
  ].join('\n');
  expectIssue(`${MEDIA}${bomb}\n`, '', 4, 'Excessive alias count');
});

errors('a document nested too deeply for yaml\'s recursive parser is a ConfigError at its line', () => {
  // Found by fuzzing (fuzz/corpus/config-loader/regress-deep-nesting): `a: a: a: ...` overflowed the stack.
  expectIssue(`${MEDIA}  advertise: ${'a: '.repeat(3000)}1\n`, '', 3, 'nested deeper than 128 levels');
  expectIssue(`${MEDIA}log: ${'['.repeat(3000)}${']'.repeat(3000)}\n`, '', 3, 'nested deeper than 128 levels');
  // 100 levels are still parsed, and get the schema's answer.
  expectIssue(`${MEDIA}log: ${'['.repeat(100)}${']'.repeat(100)}\n`, 'log', 3, 'expected object');
});

errors('an empty document (blank lines or comments only) names line 1 for the missing keys', () => {
  // Found by fuzzing (fuzz/corpus/config-loader/regress-empty-document): the issue had no line.
  for (const text of ['', '\n\n\n', '# nothing here\n']) expectIssue(text, 'media', 1, 'required');
});

errors.run();

const admission = suite('config: admission');

const SIP_MEDIA = `${MEDIA}sip: { listen: [{ address: 127.0.0.1 }] }\n`;

admission('closed by default: no from-networks, strangers refused, scanners dropped, a drawn route key', () => {
  const c = parseConfig(`${SIP_MEDIA}trunks: [{ name: gw, host: 192.0.2.1 }]\nroutes: [{ trunk: gw }]\n`);
  assert.equal(c.routes[0]!.from, []);
  assert.equal(c.admission.upstreamNetworks, []);
  assert.is(c.admission.strangers, 'reject');
  assert.is(c.admission.options, 'anyone');
  assert.is(c.admission.routeSecret, null);
  assert.ok(c.admission.scannerUserAgents!.test('User-Agent: FRIENDLY-SCANNER'));
  assert.not.ok(c.admission.scannerUserAgents!.test('Asterisk PBX 20.5'));
});

admission('networks are kept in canonical form; an empty scanner list turns the check off', () => {
  const c = parseConfig(
    `${SIP_MEDIA}trunks: [{ name: gw, host: 192.0.2.1 }]\nroutes: [{ trunk: gw, from: [198.51.100.7, "2001:DB8::/32"] }]\nadmission: { upstreamNetworks: ["::ffff:203.0.113.0/120"], scannerUserAgents: [] }\n`,
  );
  assert.equal(c.routes[0]!.from, ['198.51.100.7/32', '2001:db8::/32']);
  assert.equal(c.admission.upstreamNetworks, ['203.0.113.0/24']);
  assert.is(c.admission.scannerUserAgents, null);
});

admission('openRelayWarnings names wide from-networks and a wide upstream, and nothing in the shipped examples', async () => {
  const open = parseConfig(
    `${SIP_MEDIA}trunks: [{ name: gw, host: 192.0.2.1 }]\nroutes: [{ trunk: gw, from: [0.0.0.0/0] }, { trunk: gw, from: [198.51.100.0/24] }]\nadmission: { upstreamNetworks: ["::/0"] }\n`,
  );
  assert.equal(openRelayWarnings(open).map((w) => w.path), ['routes[0].from', 'admission.upstreamNetworks']);
  for (const file of ['pinlatch.yaml', 'media-only.yaml', 'phones.yaml']) assert.equal(openRelayWarnings(await loadConfigFile(`${examples}${file}`)), []);
});

admission.run();
