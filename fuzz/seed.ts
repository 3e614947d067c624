/**
 * Builds the seed corpora of the JS targets from the fixtures the tests already use, and writes
 * them to fuzz/corpus/<target>/seed-<sha1>. Run it again after adding fixtures:
 *   node --import tsx fuzz/seed.ts
 * Files named otherwise (regressions, found inputs) are left alone.
 *   sip-message   RFC 4475 torture messages; every message of the sipp scenarios, fields filled in
 *   sdp-anchor    the SDP fixtures of test/sdp; the SDP bodies of the sipp scenarios
 *   ng-codec      NG requests (bencode and JSON) in the shapes Kamailio's and OpenSIPS' modules send
 *   config-loader examples/*.yaml and the YAML snippets of docs/configuration.md
 */
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { encode } from '../src/control/bencode.ts';
import * as sdpFixtures from '../test/sdp/fixtures.ts';
import { contentName, CORPUS_DIR } from './lib/engine.ts';

const root = new URL('..', import.meta.url);
const at = (path: string): string => new URL(path, root).pathname;

/** Values for sipp's [keywords]: documentation addresses (RFC 5737), as a scenario would send them. */
const SIPP_FIELDS: Record<string, string> = {
  local_ip: '192.0.2.10', local_port: '5070', remote_ip: '192.0.2.20', remote_port: '5060', media_ip: '192.0.2.10',
  media_ip_type: '4', local_ip_type: '4', transport: 'UDP', call_number: '1', pid: '4242', call_id: '1-4242@192.0.2.10',
  branch: 'z9hG4bK-4242-1-0', service: 'service', next_url: 'sip:gw@192.168.50.20:5060',
};
const LAST_HEADERS: Record<string, string> = {
  'Via:': 'Via: SIP/2.0/UDP 192.0.2.20:5060;branch=z9hG4bK-1-2;rport=5060;received=192.0.2.20',
  'From:': 'From: "PBX" <sip:pbx@192.0.2.10:5070>;tag=4242SIPpTag001',
  'To:': 'To: <sip:service@192.0.2.20:5060>;tag=gw-77',
  'Call-ID:': 'Call-ID: 1-4242@192.0.2.10',
  'CSeq:': 'CSeq: 1 INVITE',
  'Record-Route:': 'Record-Route: <sip:192.0.2.20:5060;lr>',
};

function sippMessages(file: string): { message: Buffer; sdp: string | null }[] {
  const xml = readFileSync(file, 'latin1');
  const out: { message: Buffer; sdp: string | null }[] = [];
  for (const [, cdata] of xml.matchAll(/<send[^>]*>\s*<!\[CDATA\[([\s\S]*?)\]\]>/g)) {
    const lines = cdata!
      .split('\n')
      .map((l) => l.trim())
      .map((l) => l.replace(/\[last_([A-Za-z-]+:)\]/g, (_, h: string) => LAST_HEADERS[h] ?? ''))
      .map((l) => l.replace(/^\[routes\]$/, 'Route: <sip:192.0.2.20:5060;lr>'))
      .map((l) => l.replace(/\[\$[A-Za-z]+\]/g, '4000').replace(/\[([a-z_]+)\]/g, (m, k: string) => SIPP_FIELDS[k] ?? m));
    while (lines.length > 0 && lines[0] === '') lines.shift();
    while (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
    const blank = lines.indexOf('');
    const head = blank === -1 ? lines : lines.slice(0, blank);
    const body = blank === -1 ? '' : `${lines.slice(blank + 1).join('\r\n')}\r\n`;
    const text = `${head.join('\r\n').replace('[len]', String(Buffer.byteLength(body)))}\r\n\r\n${body}`;
    out.push({ message: Buffer.from(text, 'latin1'), sdp: body.startsWith('v=0') ? body : null });
  }
  return out;
}

function ngRequests(sdps: string[]): Buffer[] {
  const sdp = sdps[0]!;
  const dicts: Record<string, unknown>[] = [
    { command: 'ping' },
    { command: 'offer', 'call-id': 'c1@pbx', 'from-tag': 'ft1', sdp, 'received from': ['IP4', '192.0.2.10'], flags: ['trust-address'], replace: ['origin', 'session-connection'], 'rtcp-mux': ['demux'], ICE: 'remove' },
    { command: 'answer', 'call-id': 'c1@pbx', 'from-tag': 'ft1', 'to-tag': 'tt1', sdp: sdps[1] ?? sdp, 'received-from': ['IP4', '192.0.2.20'], 'via-branch': 'z9hG4bK1' },
    { command: 'offer', 'call-id': 'c2', 'from-tag': 'a', sdp, rtpp_flags: 'replace-origin replace-session-connection ICE=remove rtcp-mux-demux media-address=192.0.2.1 direction=external', 'transport protocol': 'RTP/AVP' },
    { command: 'delete', 'call-id': 'c1@pbx', 'from-tag': 'ft1', 'delete delay': 0 },
    { command: 'query', 'call-id': 'c1@pbx' },
    { command: 'list', limit: 32 },
    { command: 'statistics' },
    { command: 'offer', 'call-id': 'c3', 'from-tag': 'x', sdp: sdps[2] ?? sdp, direction: ['internal', 'external'], 'media address': '2001:db8::1', flags: ['force-increment-sdp-ver', 'reject-ice', 'port-latching'] },
  ];
  const out: Buffer[] = [];
  dicts.forEach((d, i) => {
    out.push(Buffer.concat([Buffer.from(`cookie${i} `), encode(d as never)]));
    out.push(Buffer.from(`json${i} ${JSON.stringify(d)}`));
  });
  return out;
}

function yamlSnippets(markdown: string): string[] {
  return [...markdown.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]!);
}

function writeCorpus(target: string, inputs: Iterable<Buffer | string>): number {
  const dir = join(CORPUS_DIR, target);
  mkdirSync(dir, { recursive: true });
  for (const name of readdirSync(dir)) if (name.startsWith('seed-')) rmSync(join(dir, name));
  const names = new Set<string>();
  for (const input of inputs) {
    const data = typeof input === 'string' ? Buffer.from(input, 'utf8') : input;
    const name = `seed-${contentName(data)}`;
    names.add(name);
    writeFileSync(join(dir, name), data);
  }
  return names.size;
}

const scenarioFiles = ['test/e2e/scenarios', 'test/control/scenarios'].flatMap((dir) =>
  readdirSync(at(dir)).filter((f) => f.endsWith('.xml')).map((f) => join(at(dir), f)),
);
const sipp = scenarioFiles.flatMap(sippMessages);
const rfc4475 = readdirSync(at('test/sip/wire/fixtures/rfc4475'))
  .filter((f) => f.endsWith('.dat'))
  .map((f) => readFileSync(join(at('test/sip/wire/fixtures/rfc4475'), f)));
const sdps = [...Object.values(sdpFixtures).filter((v): v is string => typeof v === 'string'), ...sipp.flatMap((s) => (s.sdp ? [s.sdp] : []))];
const configs = [
  ...readdirSync(at('examples')).filter((f) => f.endsWith('.yaml')).map((f) => readFileSync(join(at('examples'), f), 'utf8')),
  ...yamlSnippets(readFileSync(at('docs/configuration.md'), 'utf8')),
];

const counts = {
  'sip-message': writeCorpus('sip-message', [...rfc4475, ...sipp.map((s) => s.message)]),
  'sdp-anchor': writeCorpus('sdp-anchor', sdps),
  'ng-codec': writeCorpus('ng-codec', ngRequests(sdps)),
  'config-loader': writeCorpus('config-loader', configs),
};
console.log(counts);
