/**
 * pinlatch's real media path as a bench target: MediaRelay (src/media) with its piscina shards
 * and the native addon, N sessions of one stream each, every leg hinted at the load endpoint
 * exactly as signalling would (SDP address + port, signalling source), so the latch policy is
 * derived the normal way (127.0.0.1 is not routable: the signalling source may latch).
 *
 * Run: node --import tsx bench/relays/pinlatch-relay.ts [--shards N] [--ports 20000-31999]
 *      [--cpus 1,2] [--realtime PRIO] [--rcvbuf BYTES]
 *      (handshake: see relay-handshake.ts). --cpus, --realtime and --rcvbuf are media.cpus,
 *      media.realtime and media.socketBuffers.receiveBytes. On exit it prints the summed leg
 *      counters and where each shard thread ran to stderr.
 */
import { parseArgs } from 'node:util';
import type { LegCounters } from '../../src/native.ts';
import { MediaRelay } from '../../src/media/MediaRelay.ts';
import { announceAndWait, readPeers } from './relay-handshake.ts';

const { values } = parseArgs({
  options: {
    shards: { type: 'string' },
    ports: { type: 'string', default: '20000-31999' },
    cpus: { type: 'string' },
    realtime: { type: 'string' },
    rcvbuf: { type: 'string' },
  },
});
const [min, max] = values.ports.split('-').map(Number);
const peers = await readPeers();
const relay = await MediaRelay.start({
  address: peers.address,
  ports: { min: min!, max: max! },
  ...(values.shards === undefined ? {} : { shards: Number(values.shards) }),
  ...(values.cpus === undefined ? {} : { cpus: values.cpus.split(',').map(Number) }),
  ...(values.realtime === undefined ? {} : { realtimePriority: Number(values.realtime) }),
  ...(values.rcvbuf === undefined ? {} : { receiveBufferBytes: Number(values.rcvbuf) }),
});
const placements = Array.from({ length: relay.shards }, (_, shard) => relay.shardPlacement(shard));

const calls = peers.ports.length / 2;
const keys = Array.from({ length: calls }, (_, k) => `bench-${k}`);
const ports: number[] = new Array<number>(peers.ports.length);
const CONCURRENCY = 64;
for (let first = 0; first < calls; first += CONCURRENCY) {
  await Promise.all(
    keys.slice(first, first + CONCURRENCY).map(async (key, j) => {
      const k = first + j;
      const session = await relay.ensureSession(key, 1);
      const stream = session.streams[0]!;
      const hint = (port: number) => ({ sdpAddress: peers.address, sdpPort: port, rtcpMux: false, signalSource: peers.address });
      await relay.setLeg(key, 0, 'a', hint(peers.ports[2 * k]!));
      await relay.setLeg(key, 0, 'b', hint(peers.ports[2 * k + 1]!));
      ports[2 * k] = stream.a.rtp;
      ports[2 * k + 1] = stream.b.rtp;
    }),
  );
}

await announceAndWait(ports);

const totals: Record<string, number> = {};
const add = (c: LegCounters) => {
  for (const [name, value] of Object.entries(c)) if (typeof value === 'number') totals[name] = (totals[name] ?? 0) + value;
};
for (const key of keys) for (const s of (await relay.stats(key)) ?? []) (add(s.a), add(s.b));
delete totals.lastActivityMs;
delete totals.ssrc;
await relay.close();
process.stderr.write(
  `pinlatch-relay: shards ${relay.shards}, ${calls} sessions, placements ${JSON.stringify(placements)}, ` +
    `socket buffers ${JSON.stringify(relay.socketBuffers())}, ${JSON.stringify(totals)}\n`,
);
