/**
 * The media plane's metrics: sessions, shard faults, ports, and each shard's packet, byte, drop and
 * latch counters. The per-shard counters are the native relay's own (NativeRelay.totals), fetched
 * with one request per shard per scrape: no JavaScript runs per packet to keep them.
 */
import type { Registry } from 'prom-client';
import type { MediaRelay } from '../../media/MediaRelay.js';
import type { RelayTotals } from '../../native.js';
import { counterFrom, countersFrom, gaugeFrom, gaugesFrom, perScrape, type Samples } from './from.js';

/** Drop reasons (LegCounters): label value and the native counter. */
const DROPS: ReadonlyArray<readonly [string, keyof RelayTotals]> = [
  ['invalid', 'dropInvalid'],
  ['stranger', 'dropStranger'],
  ['no_peer', 'dropNoPeer'],
  ['send_error', 'dropSendError'],
];

export function registerMediaMetrics(registry: Registry, media: MediaRelay): void {
  gaugeFrom(registry, 'pinlatch_media_sessions', 'Media sessions open in the relay', () => media.size);
  const faults = () => media.faultCounters();
  counterFrom(registry, 'pinlatch_media_shard_restarts_total', 'Media shard workers that died and were restarted', () => faults().shardRestarts);
  counterFrom(registry, 'pinlatch_media_sessions_restored_total', 'Media sessions re-created on a restarted shard', () => faults().sessionsRestored);
  counterFrom(registry, 'pinlatch_media_sessions_lost_total', 'Media sessions of a dead shard that could not be restored', () => faults().sessionsLost);
  counterFrom(registry, 'pinlatch_media_refused_legs_total', 'Media legs whose packets all came from sources their latching rule refuses (each logged once)', () => media.refusedLegs);

  gaugesFrom(
    registry,
    'pinlatch_media_socket_buffer_bytes',
    'Kernel buffer size of each media socket (direction: receive, send; size: requested by media.socketBuffers, granted by the kernel, capped at net.core.rmem_max / wmem_max)',
    ['direction', 'size'],
    () => {
      const b = media.socketBuffers();
      if (b === null) return [];
      return [
        [{ direction: 'receive', size: 'requested' }, b.receiveBytes],
        [{ direction: 'receive', size: 'granted' }, b.grantedReceiveBytes],
        [{ direction: 'send', size: 'requested' }, b.sendBytes],
        [{ direction: 'send', size: 'granted' }, b.grantedSendBytes],
      ];
    },
  );

  const ports = perScrape(() => media.portUsage());
  gaugesFrom(registry, 'pinlatch_media_port_pairs', 'Media port pairs (RTP + RTCP) of media.ports, by state', ['state'], () => {
    const p = ports();
    return [
      [{ state: 'in_use' }, p.inUse],
      [{ state: 'available' }, p.available],
      [{ state: 'quarantined' }, p.quarantined],
      [{ state: 'set_aside' }, p.setAside],
    ];
  });

  const totals = perScrape(() => media.shardTotals());
  gaugesFrom(registry, 'pinlatch_media_shard_up', '1 while the media shard answers, 0 while it is down or restarting', ['shard'], async () =>
    (await totals()).map((t, shard) => [{ shard: String(shard) }, t === null ? 0 : 1] as const),
  );
  const perShard = (name: string, help: string, labelNames: string[], samples: (t: RelayTotals) => Samples) =>
    countersFrom(registry, name, help, ['shard', ...labelNames], async () => {
      const out: Array<readonly [Record<string, string>, number]> = [];
      (await totals()).forEach((t, shard) => {
        if (t === null) return;
        for (const [labels, value] of samples(t)) out.push([{ shard: String(shard), ...labels }, value]);
      });
      return out;
    });
  const inOut = (inValue: number, outValue: number): Samples => [[{ direction: 'in' }, inValue], [{ direction: 'out' }, outValue]];
  perShard('pinlatch_media_packets_total', 'RTP and RTCP packets accepted from peers (in) and sent to peers (out), per shard', ['direction'], (t) => inOut(t.packetsIn, t.packetsOut));
  perShard('pinlatch_media_bytes_total', 'Bytes of the packets of pinlatch_media_packets_total (UDP payload)', ['direction'], (t) => inOut(t.bytesIn, t.bytesOut));
  perShard('pinlatch_media_rtcp_packets_total', 'The RTCP share of pinlatch_media_packets_total', ['direction'], (t) => inOut(t.rtcpIn, t.rtcpOut));
  perShard('pinlatch_media_dropped_total', 'Datagrams not relayed, per shard and reason (invalid: not RTP/RTCP; stranger: not the latched peer; no_peer: the other leg has no peer yet; send_error: sendmmsg failed)', ['reason'], (t) =>
    DROPS.map(([reason, key]) => [{ reason }, t[key]] as const),
  );
  perShard('pinlatch_media_refused_total', 'The part of the stranger drops refused by the latching rule of the leg (docs/latching.md)', [], (t) => [[{}, t.dropRefused]]);
  perShard('pinlatch_media_latch_changes_total', 'Times a leg latched onto a new RTP peer (the first latch and every handover)', [], (t) => [[{}, t.latchChanges]]);
  perShard('pinlatch_media_streams_opened_total', 'Relay streams (one per m-line of a session) opened on the shard', [], (t) => [[{}, t.streamsOpened]]);
  perShard('pinlatch_media_command_errors_total', 'Stream opens, leg policies and closes the main thread queued that the shard could not apply (its streams have no media; each batch logged)', [], (t) => [[{}, t.commandErrors]]);
  gaugesFrom(registry, 'pinlatch_media_streams', 'Relay streams open on the shard', ['shard'], async () =>
    (await totals()).flatMap((t, shard) => (t === null ? [] : [[{ shard: String(shard) }, t.streams] as const])),
  );
}
