/**
 * Child of MediaRelay.placement.test.ts, run without CAP_SYS_NICE (capsh --drop): starts a media
 * relay whose shard asks for SCHED_FIFO and prints, as one JSON line, how the start ended.
 */
import { MediaRelay } from '../../src/media/MediaRelay.ts';

const [min, max] = (process.argv[2] ?? '').split('-').map(Number);
try {
  const relay = await MediaRelay.start({ address: '127.0.0.1', ports: { min: min!, max: max! }, shards: 1, realtimePriority: 10 });
  await relay.close();
  process.stdout.write(`${JSON.stringify({ started: true })}\n`);
} catch (err) {
  const e = err as { code?: string; message?: string; syscallCode?: string };
  process.stdout.write(`${JSON.stringify({ started: false, code: e.code, message: e.message, syscallCode: e.syscallCode })}\n`);
}
