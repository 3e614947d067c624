/**
 * The zod schema of the YAML document: shapes, ranges and defaults of every key. Checks that
 * need more than one key (trunk names, port clashes...) live in cross-checks.ts. Every object is
 * strict, so a misspelt key is an error instead of a silently ignored setting.
 */
import { availableParallelism } from 'node:os';
import { isIP } from 'node:net';
import { z } from 'zod';
import { parseCidr } from '../net/cidr.js';
import { isHostName } from './address.js';

function intIn(min: number, max: number) {
  const error = max === Number.MAX_SAFE_INTEGER ? `expected an integer >= ${min}` : `expected an integer ${min}..${max}`;
  return z.int({ error }).min(min, { error }).max(max, { error });
}

const port = intIn(1, 65535);
const ipLiteral = z
  .string({ error: 'expected an IP address (string)' })
  .refine((v) => isIP(v) !== 0, { error: 'expected an IPv4 or IPv6 address literal' });
const hostOrAddress = z
  .string({ error: 'expected an IP address or host name (string)' })
  .refine((v) => isIP(v) !== 0 || isHostName(v), { error: 'expected an IP address or a valid host name' });
const transport = z.enum(['udp', 'tcp'], { error: 'expected udp or tcp' });
const flag = z.boolean({ error: 'expected true or false' });
const pattern = z.string({ error: 'expected a regular expression (string)' }).superRefine((v, ctx) => {
  try {
    new RegExp(v);
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: `invalid regular expression: ${(err as Error).message.replace(/^Invalid regular expression: /, '')}` });
  }
});

const cidr = z.string({ error: 'expected a network (string: address or address/length)' }).superRefine((v, ctx) => {
  try {
    parseCidr(v);
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: (err as Error).message });
  }
});
const cidrList = z.array(cidr, { error: 'expected a list of networks (address or address/length)' });

const sipTimers = z.strictObject({
  t1Ms: intIn(1, 60_000).default(500),
  t2Ms: intIn(1, 600_000).default(4000),
  t4Ms: intIn(1, 600_000).default(5000),
  inviteTimeoutMs: intIn(1000, 3_600_000).default(180_000),
});

const sip = z.strictObject({
  listen: z
    .array(z.strictObject({ transport: transport.default('udp'), address: ipLiteral, port: port.default(5060) }), {
      error: 'expected a list of { transport, address, port }',
    })
    .min(1, { error: 'expected at least one listen entry' }),
  advertise: hostOrAddress.optional(),
  timers: sipTimers.default({ t1Ms: 500, t2Ms: 4000, t4Ms: 5000, inviteTimeoutMs: 180_000 }),
  maxMessageBytes: intIn(1024, 1_048_576).default(65_535),
  udpReceiveBufferBytes: intIn(65_536, 268_435_456).default(4_194_304),
  warmUpRounds: intIn(0, 100_000).default(1000),
  drainSec: intIn(0, 86_400).default(30),
});

/** Restricted latching (docs/latching.md); the default is the address alone. */
const latchRestriction = z.strictObject({
  prefixV4: intIn(0, 32).default(32),
  prefixV6: intIn(0, 128).default(128),
  networks: cidrList.max(16, { error: 'expected at most 16 networks' }).default(() => []),
});
const exactLatching = () => ({ prefixV4: 32, prefixV6: 128, networks: [] });

const media = z.strictObject({
  address: ipLiteral,
  advertise: ipLiteral.optional(),
  ports: z
    .strictObject({ min: port, max: port })
    .default({ min: 30000, max: 30999 }),
  shards: intIn(1, 256).default(() => availableParallelism()),
  cpus: z
    .array(intIn(0, 1023), { error: 'expected a list of CPU numbers' })
    .min(1, { error: 'expected at least one CPU' })
    .refine((cpus) => new Set(cpus).size === cpus.length, { error: 'expected each CPU once' })
    .optional(),
  realtime: intIn(1, 99).optional(),
  socketBuffers: z
    .strictObject({
      receiveBytes: intIn(4096, 268_435_456).default(262_144),
      sendBytes: intIn(4096, 268_435_456).default(262_144),
    })
    .default({ receiveBytes: 262_144, sendBytes: 262_144 }),
  timeoutSec: intIn(1, 86_400).default(60),
  quarantineMs: intIn(0, 600_000).default(2000),
  latchSyncMs: intIn(10, 60_000).default(250),
  restoreTimeoutMs: intIn(0, 600_000).default(10_000),
  latching: z
    .strictObject({
      handoverSilenceMs: intIn(0, 600_000).default(1000),
      handoverMaxSeqGap: intIn(1, 32_767).default(100),
      endpoints: latchRestriction.default(exactLatching),
    })
    .default(() => ({ handoverSilenceMs: 1000, handoverMaxSeqGap: 100, endpoints: exactLatching() })),
});

const ng = z.strictObject({
  address: ipLiteral.default('127.0.0.1'),
  port: port.default(2223),
  tcp: flag.default(false),
  allow: cidrList.min(1, { error: 'expected at least one network' }).optional(),
});

const trunk = z.strictObject({
  name: z
    .string({ error: 'expected a name (string)' })
    .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/, { error: 'expected 1..64 letters, digits, _ . - (starting with a letter or digit)' }),
  host: hostOrAddress,
  port: port.default(5060),
  transport: transport.default('udp'),
  pinRoute: flag.default(false),
  resolveIntervalSec: intIn(1, 86_400).default(60),
  latching: latchRestriction.default(exactLatching),
});

const trunkName = z.string({ error: 'expected a trunk name (string)' });
const route = z.strictObject({
  match: z.strictObject({ user: pattern.optional(), host: pattern.optional() }).default({}),
  trunk: trunkName.optional(),
  trunks: z.array(trunkName, { error: 'expected a list of trunk names' }).min(1, { error: 'expected at least one trunk name' }).optional(),
  fork: z.enum(['serial', 'parallel'], { error: 'expected serial or parallel' }).default('serial'),
  failoverAfterMs: intIn(100, 600_000).optional(),
  from: cidrList.optional(),
});

/** User-Agent values of the common SIP scanners (SIPVicious, sipcli, SIPScan, VaxSIP, iWar...). */
export const DEFAULT_SCANNER_USER_AGENTS = [
  'friendly-scanner',
  'sipvicious',
  'sipcli',
  'sip-scan',
  'sipscan',
  'VaxSIPUserAgent',
  'iWar',
  'sundayddr',
  'SIPBomber',
  'smap',
];

const admission = z.strictObject({
  upstreamNetworks: cidrList.default([]),
  strangers: z.enum(['reject', 'drop'], { error: 'expected reject or drop' }).default('reject'),
  options: z.enum(['anyone', 'trusted'], { error: 'expected anyone or trusted' }).default('anyone'),
  scannerUserAgents: z.array(pattern, { error: 'expected a list of regular expressions' }).default(DEFAULT_SCANNER_USER_AGENTS),
  routeSecret: z
    .string({ error: 'expected a secret (string)' })
    .min(16, { error: 'expected at least 16 characters' })
    .optional(),
});

const phones = z.strictObject({
  registrar: z.string({ error: 'expected a SIP URI (string)' }).optional(),
  flowIn: z.enum(['path', 'contact'], { error: 'expected path or contact' }).default('path'),
  networks: cidrList.optional(),
  maxBindings: intIn(1, 10_000_000).default(100_000),
  keepalive: z
    .strictObject({
      intervalSec: intIn(0, 3600).default(30),
      maxMissed: intIn(1, 100).default(3),
    })
    .default({ intervalSec: 30, maxMissed: 3 }),
  throttle: z
    .strictObject({
      phoneExpiresSec: intIn(10, 86_400).default(60),
      registrarExpiresSec: intIn(60, 604_800).default(3600),
    })
    .optional(),
});

/** Bounds on what strangers can make pinlatch hold (docs/configuration.md, `limits`). */
const limits = z.strictObject({
  sourceRate: z
    .strictObject({
      requestsPerSec: intIn(1, 1_000_000).default(200),
      burst: intIn(1, 10_000_000).default(400),
      banSec: intIn(0, 86_400).default(60),
      sources: intIn(16, 10_000_000).default(65_536),
    })
    .default({ requestsPerSec: 200, burst: 400, banSec: 60, sources: 65_536 }),
  serverTransactions: intIn(1, 10_000_000).default(20_000),
  transactionBytes: intIn(65_536, Number.MAX_SAFE_INTEGER).default(67_108_864),
  dialogs: intIn(1, 10_000_000).default(20_000),
  mediaSessions: intIn(1, 10_000_000).default(10_000),
  dnsLookups: intIn(1, 100_000).default(64),
  tcp: z
    .strictObject({
      connections: intIn(1, 1_000_000).default(1024),
      connectionsPerSource: intIn(1, 1_000_000).default(32),
      bufferBytes: intIn(4096, 1_073_741_824).default(1_048_576),
      idleSec: intIn(1, 86_400).default(300),
      messageTimeoutSec: intIn(1, 3600).default(30),
    })
    .default({ connections: 1024, connectionsPerSource: 32, bufferBytes: 1_048_576, idleSec: 300, messageTimeoutSec: 30 }),
  overload: z
    .strictObject({
      maxQueueMs: intIn(1, 60_000).optional(),
      maxLagMs: intIn(1, 60_000).optional(),
      retryAfterSec: intIn(1, 3600).default(5),
    })
    .default({ retryAfterSec: 5 }),
});

/**
 * Idle collection (app/IdleCollector.ts). quietSec's default outlasts Timer J/L/M (64 × T1 = 32 s
 * with the default T1): the state the last calls keep for retransmissions is gone by then, so one
 * collection frees it with the rest.
 */
const idleCollection = z.strictObject({
  quietSec: intIn(0, 86_400).default(35),
  minIntervalSec: intIn(1, 86_400).default(60),
  maxMessagesPerSec: intIn(0, 1_000_000).default(10),
});
const idleCollectionDefaults = { quietSec: 35, minIntervalSec: 60, maxMessagesPerSec: 10 };

export const logLevels = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

export const configSchema = z.strictObject(
  {
    sip: sip.optional(),
    media,
    ng: ng.optional(),
    trunks: z.array(trunk, { error: 'expected a list of trunks' }).default([]),
    routes: z.array(route, { error: 'expected a list of routes' }).default([]),
    upstream: z.string({ error: 'expected a SIP URI (string)' }).optional(),
    phones: phones.optional(),
    admission: admission.default({
      upstreamNetworks: [],
      strangers: 'reject',
      options: 'anyone',
      scannerUserAgents: DEFAULT_SCANNER_USER_AGENTS,
    }),
    log: z.strictObject({ level: z.enum(logLevels, { error: `expected one of ${logLevels.join(', ')}` }).default('info') }).default({ level: 'info' }),
    limits: limits.default(() => limits.parse({})),
    metrics: z.strictObject({ address: ipLiteral.default('127.0.0.1'), port: port.default(9090) }).optional(),
    memory: z.strictObject({ idleCollection: idleCollection.default(idleCollectionDefaults) }).default({ idleCollection: idleCollectionDefaults }),
  },
  { error: 'expected a mapping of configuration sections' },
);

export type RawConfig = z.output<typeof configSchema>;
