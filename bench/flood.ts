/**
 * flood: N mutated and abusive SIP datagrams against a running pinlatch, with its RSS and open
 * file descriptors sampled before, right after, and once the transactions have timed out.
 *
 *   npx tsc -p . && node --import tsx bench/flood.ts [--count 50000] [--rate 5000] [--sources 256]
 *        [--wait-sec 45] [--seed 1] [--cli dist/src/cli.js] [--out FILE]
 *
 * Everything runs inside a network namespace the tool creates (and deletes): pinlatch on
 * 127.0.0.1 (UDP and TCP 5060, media 127.0.0.1:40000-40999, metrics 127.0.0.1:9090, a trunk
 * 127.0.0.3:5062 that reads and never answers), the flood from `--sources` addresses 127.2.0.x
 * (so that a per-source rate limit alone does not hide what the tables hold), a resolver that
 * never answers on the address /etc/resolv.conf names (lookups of hostile host names then wait
 * for their timeouts, as behind a slow DNS), and a veth pair with 192.0.2.1/24 whose far end
 * answers nothing (TCP connections toward 192.0.2.x hang until ARP or their connect timeout
 * gives up). No packet
 * leaves the namespace.
 *
 * `--trunk ringing` makes the trunk answer every INVITE 180 Ringing and nothing more, so that
 * calls ring until Timer C (180 s) as toward a gateway nobody picks up; `silent` (the default)
 * answers nothing (Timer B, 32 s).
 *
 * `--cli` runs another build (e.g. the main branch's dist/src/cli.js) for a before/after
 * comparison; its configuration has no `limits` section, so both read the same file.
 *
 * Mutations (seeded, reproducible): wrong/huge/negative Content-Length, thousands of Vias,
 * thousands of Routes (toward 127.x, 192.0.2.x, host names, maddr, transport=tcp), 64 kB header
 * fields, broken Request-URIs, broken SDP (hundreds of m-lines, bad c=/ports), in-dialog requests
 * of unknown dialogs, random byte flips, truncation.
 */
import { spawn, execFileSync } from 'node:child_process';
import { createSocket, type Socket } from 'node:dgram';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { get as httpGet } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { Child } from '../test/control/child.ts';
import { REPO_DIR } from './lib/targets.ts';
import { parseMessage } from '../src/sip/wire/parser.ts';
import { createResponse } from '../src/sip/wire/message.ts';

const INSIDE = 'PINLATCH_FLOOD_NETNS';
const PROXY = '127.0.0.1';
const SIP_PORT = 5060;
const TRUNK = '127.0.0.3';
const TRUNK_PORT = 5062;
const METRICS_PORT = 9090;
const BLACKHOLE_NET = '192.0.2';

/** xorshift32: the same seed gives the same flood. */
export function prng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 0x1_0000_0000;
  };
}

type Rand = () => number;
const pick = <T>(rand: Rand, items: readonly T[]): T => items[Math.floor(rand() * items.length)]!;
const int = (rand: Rand, n: number): number => Math.floor(rand() * n);

function hostileHost(rand: Rand, i: number): string {
  return pick(rand, [
    `127.9.${int(rand, 256)}.${1 + int(rand, 254)}`,
    `${BLACKHOLE_NET}.${2 + int(rand, 250)}`,
    `h${i}-${int(rand, 1e6)}.flood.example`,
    `[::1]`,
    `${'a'.repeat(60)}.${int(rand, 1e9)}.example`,
  ]);
}

function hostileUri(rand: Rand, i: number): string {
  const host = hostileHost(rand, i);
  const params = pick(rand, ['', ';lr', ';lr;transport=tcp', `;maddr=${hostileHost(rand, i)}`, ';transport=tcp', `;lr;maddr=${BLACKHOLE_NET}.9;transport=tcp`]);
  return `<sip:${host}:${1024 + int(rand, 60000)}${params}>`;
}

function sdp(rand: Rand, lines: number): string {
  const media: string[] = [];
  for (let m = 0; m < lines; m++) media.push(`m=audio ${int(rand, 70000)} RTP/AVP 0`, pick(rand, ['c=IN IP4 127.0.0.9', 'c=IN IP4 999.1.1.1', 'c=IN IP6 ::1', 'a=rtcp:0', '']));
  return ['v=0', 'o=- 1 1 IN IP4 127.0.0.9', 's=-', pick(rand, ['c=IN IP4 127.0.0.9', 'c=IN IP4', 'c=XX']), 't=0 0', ...media, ''].join('\r\n');
}

/** One abusive datagram from `from` (address and port), mutation chosen by `i` and the PRNG. */
export function datagram(rand: Rand, i: number, from: string, port: number): Buffer {
  const callId = `flood-${i}-${int(rand, 1e9)}`;
  const branch = `z9hG4bKfl${i}x${int(rand, 1e9)}`;
  const inDialog = rand() < 0.3;
  const method = pick(rand, ['INVITE', 'INVITE', 'OPTIONS', 'BYE', 'MESSAGE', 'SUBSCRIBE', 'REGISTER', 'CANCEL', 'ACK', 'INFO']);
  const headers: string[] = [
    `Via: SIP/2.0/UDP ${from}:${port};branch=${branch};rport`,
    'Max-Forwards: 70',
    `From: <sip:fuzz@${from}>;tag=f${i}`,
    `To: <sip:4930${i}@${PROXY}>${inDialog ? `;tag=t${i}` : ''}`,
    `Call-ID: ${callId}`,
    `CSeq: ${1 + int(rand, 100)} ${method}`,
    `Contact: <sip:fuzz@${from}:${port}>`,
  ];
  let uri = `sip:4930${i}@${PROXY}:${SIP_PORT}`;
  let body = method === 'INVITE' ? sdp(rand, 1 + (rand() < 0.2 ? int(rand, 300) : 1)) : '';
  let contentLength: string | null = null;
  const mutation = int(rand, 10);
  switch (mutation) {
    case 0: // Content-Length that lies
      contentLength = pick(rand, ['-1', '99999999999', String(body.length + 1 + int(rand, 500)), '0', 'abc', String(Math.max(0, body.length - 10))]);
      break;
    case 1: // thousands of Vias
      for (let v = 0, n = 500 + int(rand, 3000); v < n; v++) headers.push(`Via: SIP/2.0/${pick(rand, ['UDP', 'TCP'])} ${hostileHost(rand, i)}:${1 + int(rand, 65535)};branch=z9hG4bK${v}`);
      break;
    case 2: // thousands of Routes toward hostile hosts
      for (let r = 0, n = 1 + (rand() < 0.5 ? int(rand, 3000) : int(rand, 4)); r < n; r++) headers.push(`Route: ${hostileUri(rand, i)}`);
      break;
    case 3: // a 64 kB header field
      headers.push(`X-Big: ${'x'.repeat(60_000 + int(rand, 5000))}`);
      break;
    case 4: // broken Request-URI
      uri = pick(rand, ['sip:', 'sip:@', `sip:[::1`, `sip:${'u'.repeat(5000)}@${PROXY}`, `sip:4930@${hostileHost(rand, i)};maddr=${hostileHost(rand, i)};transport=tcp`, 'tel:+49', '<>', `sip:a@${PROXY}:99999`]);
      break;
    case 5: // broken SDP
      body = sdp(rand, int(rand, 400));
      break;
    case 6: // an in-dialog request of an unknown dialog, routed at a hostile next hop
      if (!inDialog) headers[3] += `;tag=t${i}`;
      headers.push(`Route: ${hostileUri(rand, i)}`);
      uri = `sip:x@${hostileHost(rand, i)};transport=${pick(rand, ['tcp', 'udp'])}`;
      break;
    default:
      break;
  }
  const head = [`${method} ${uri} SIP/2.0`, ...headers];
  if (body) head.push('Content-Type: application/sdp');
  head.push(`Content-Length: ${contentLength ?? Buffer.byteLength(body)}`);
  let data = Buffer.from(`${head.join('\r\n')}\r\n\r\n${body}`, 'latin1');
  if (mutation === 7) {
    // random byte flips
    data = Buffer.from(data);
    for (let f = 0, n = 1 + int(rand, 20); f < n; f++) data[int(rand, data.length)] = int(rand, 256);
  } else if (mutation === 8) {
    data = data.subarray(0, int(rand, data.length));
  }
  // One UDP datagram carries at most 65507 bytes of IPv4 payload.
  return data.length > 65_000 ? data.subarray(0, 65_000) : data;
}

interface Sample {
  phase: string;
  rssMiB: number;
  fds: number;
  metrics: Record<string, number>;
}

const METRICS = [
  'pinlatch_sip_server_transactions', 'pinlatch_sip_client_transactions', 'pinlatch_sip_transaction_bytes', 'pinlatch_sip_dialogs',
  'pinlatch_sip_dns_lookups', 'pinlatch_sip_tcp_connections', 'pinlatch_media_sessions', 'pinlatch_nodejs_heap_size_used_bytes',
];

function scrape(): Promise<Record<string, number>> {
  return new Promise((resolve) => {
    const req = httpGet({ host: PROXY, port: METRICS_PORT, path: '/metrics', timeout: 5000 }, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => (text += d.toString()));
      res.on('end', () => {
        const out: Record<string, number> = {};
        for (const name of METRICS) {
          const m = new RegExp(`^${name}(?:\\{[^}]*\\})? ([0-9.e+-]+)$`, 'm').exec(text);
          if (m) out[name] = Number(m[1]);
        }
        resolve(out);
      });
    });
    req.on('error', () => resolve({}));
    req.on('timeout', () => req.destroy());
  });
}

async function sample(pid: number, phase: string): Promise<Sample> {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const rss = Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1] ?? NaN);
  return { phase, rssMiB: rss / 1024, fds: readdirSync(`/proc/${pid}/fd`).length, metrics: await scrape() };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function flood(values: Record<string, string>): Promise<string> {
  const count = Number(values.count);
  const rate = Number(values.rate);
  const sources = Number(values.sources);
  const waitSec = Number(values['wait-sec']);
  const rand = prng(Number(values.seed));
  const dir = mkdtempSync(join(tmpdir(), 'pinlatch-flood-'));
  const config = join(dir, 'pinlatch-flood.yaml');
  writeFileSync(config, [
    'sip:',
    `  listen: [{ transport: udp, address: ${PROXY}, port: ${SIP_PORT} }, { transport: tcp, address: ${PROXY}, port: ${SIP_PORT} }]`,
    'media:',
    `  address: ${PROXY}`,
    '  ports: { min: 40000, max: 40999 }',
    '  shards: 1',
    'trunks:',
    `  - { name: gw, host: ${TRUNK}, port: ${TRUNK_PORT} }`,
    'routes:',
    '  - { trunk: gw }',
    `metrics: { address: ${PROXY}, port: ${METRICS_PORT} }`,
    'log: { level: error }',
    '',
  ].join('\n'));
  // A trunk that reads and never answers, and a resolver that never answers.
  const trunk = createSocket('udp4');
  await new Promise<void>((resolve) => trunk.bind(TRUNK_PORT, TRUNK, resolve));
  trunk.on('message', (data, rinfo) => {
    if (values.trunk !== 'ringing') return;
    try {
      const message = parseMessage(data);
      if (message.kind === 'request' && message.method === 'INVITE') {
        trunk.send(createResponse(message, 180, { toTag: 'ring' }).serialize(), rinfo.port, rinfo.address);
      }
    } catch {
      // Not for a trunk to answer.
    }
  });
  const nameserver = /^nameserver\s+([0-9.]+)/m.exec(readFileSync('/etc/resolv.conf', 'utf8'))?.[1];
  const dns = createSocket('udp4');
  if (nameserver) await new Promise<void>((resolve) => dns.bind(53, nameserver, resolve));
  dns.on('message', () => undefined);

  const cli = values.cli!.startsWith('/') ? values.cli! : join(REPO_DIR, values.cli!);
  const pinlatch = new Child(process.execPath, [cli, '--config', config]);
  const senders: Socket[] = [];
  const samples: Sample[] = [];
  try {
    for (let i = 0; i < 100 && Object.keys(await scrape()).length === 0; i++) await sleep(200);
    await sleep(1000);
    samples.push(await sample(pinlatch.pid, 'before'));
    for (let s = 0; s < sources; s++) {
      const socket = createSocket('udp4');
      await new Promise<void>((resolve) => socket.bind(0, `127.2.${Math.floor(s / 250)}.${1 + (s % 250)}`, resolve));
      socket.on('message', () => undefined);
      socket.on('error', () => undefined);
      senders.push(socket);
    }
    const started = performance.now();
    for (let i = 0; i < count; i++) {
      const socket = senders[i % sources]!;
      const { address, port } = socket.address();
      socket.send(datagram(rand, i, address, port), SIP_PORT, PROXY);
      // Paced in batches of 50: the flood takes count / rate seconds.
      if (i % 50 === 49) {
        const due = started + ((i + 1) * 1000) / rate;
        const wait = due - performance.now();
        await sleep(Math.max(0, wait));
      }
    }
    const floodS = (performance.now() - started) / 1000;
    await sleep(1000);
    samples.push(await sample(pinlatch.pid, `after ${count} datagrams (${floodS.toFixed(1)} s)`));
    for (let t = 15; t <= waitSec; t += 15) {
      await sleep(15_000);
      samples.push(await sample(pinlatch.pid, `+${t} s`));
    }
    if (waitSec % 15 !== 0) {
      await sleep((waitSec % 15) * 1000);
      samples.push(await sample(pinlatch.pid, `+${waitSec} s`));
    }
  } finally {
    for (const s of senders) s.close();
    trunk.close();
    dns.close();
    const result = await pinlatch.stop();
    if (result.code !== null && result.code !== 0 && result.signal === null) console.error(`pinlatch exited ${result.code}:\n${result.output.slice(-3000)}`);
    rmSync(dir, { recursive: true, force: true });
  }
  const short = (name: string) => name.replace('pinlatch_sip_', '').replace('pinlatch_', '');
  const header = `| phase | RSS MiB | fds | ${METRICS.map(short).join(' | ')} |`;
  const rows = samples.map((s) => `| ${s.phase} | ${s.rssMiB.toFixed(1)} | ${s.fds} | ${METRICS.map((m) => (s.metrics[m] === undefined ? '-' : String(Math.round(s.metrics[m]!)))).join(' | ')} |`);
  return [`cli: ${values.cli}, count ${count}, rate ${rate}/s, sources ${sources}, seed ${values.seed}, trunk ${values.trunk}`, header, `|${'---|'.repeat(METRICS.length + 3)}`, ...rows].join('\n');
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const { values } = parseArgs({
    args: argv,
    options: {
      count: { type: 'string', default: '50000' },
      rate: { type: 'string', default: '5000' },
      sources: { type: 'string', default: '256' },
      'wait-sec': { type: 'string', default: '45' },
      seed: { type: 'string', default: '1' },
      trunk: { type: 'string', default: 'silent' },
      cli: { type: 'string', default: 'dist/src/cli.js' },
      out: { type: 'string' },
    },
    strict: true,
  });
  for (const key of ['count', 'rate', 'sources', 'wait-sec', 'seed'] as const) {
    const n = Number(values[key]);
    if (!Number.isInteger(n) || n < 0 || (key !== 'wait-sec' && n === 0)) throw new Error(`--${key}: a positive integer, got ${values[key]}`);
  }
  if (values.trunk !== 'silent' && values.trunk !== 'ringing') throw new Error(`--trunk: silent or ringing, got ${values.trunk}`);
  if (Number(values.sources) > 2500) throw new Error('--sources: at most 2500');
  if (Number(values.count) > 1_000_000) throw new Error('--count: at most 1000000');
  if (!process.env[INSIDE]) {
    // Re-run inside a namespace of its own: lo up, a veth pair where 192.0.2.0/24 goes unanswered.
    const ns = `plflood${process.pid}`;
    const ip = (...args: string[]) => execFileSync('ip', args, { timeout: 10_000, stdio: 'ignore' });
    const nameserver = /^nameserver\s+([0-9.]+)/m.exec(readFileSync('/etc/resolv.conf', 'utf8'))?.[1];
    try {
      ip('netns', 'add', ns);
      ip('-n', ns, 'link', 'set', 'lo', 'up');
      // A veth pair whose far end has no address: ARP for 192.0.2.x goes unanswered.
      ip('-n', ns, 'link', 'add', 'sink0', 'type', 'veth', 'peer', 'name', 'sink1');
      ip('-n', ns, 'addr', 'add', `${BLACKHOLE_NET}.1/24`, 'dev', 'sink0');
      ip('-n', ns, 'link', 'set', 'sink0', 'up');
      ip('-n', ns, 'link', 'set', 'sink1', 'up');
      // The silent resolver lives on the namespace's loopback under the address resolv.conf names.
      if (nameserver) ip('-n', ns, 'addr', 'add', `${nameserver}/32`, 'dev', 'lo');
      const child = spawn('ip', ['netns', 'exec', ns, process.execPath, ...process.execArgv, fileURLToPath(import.meta.url), ...argv], {
        stdio: 'inherit',
        env: { ...process.env, [INSIDE]: ns },
      });
      process.exitCode = await new Promise<number>((resolve) => child.once('exit', (c, signal) => resolve(c ?? (signal ? 128 : 1))));
    } finally {
      try {
        ip('netns', 'del', ns);
      } catch {
        // never created
      }
    }
    return;
  }
  const report = await flood(values as Record<string, string>);
  console.log(report);
  if (values.out) writeFileSync(values.out, `${report}\n`);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().catch((err: unknown) => {
    console.error(err instanceof Error ? err.stack : err);
    process.exitCode = 1;
  });
}
