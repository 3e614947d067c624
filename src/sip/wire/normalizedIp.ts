/**
 * normalizeIp (src/net/address.ts) remembered per text. The signalling path normalizes the same few
 * peer addresses on every message (the datagram's source, Via sent-by, our own hosts), and parsing
 * an IP literal allocates; the cache is bounded and simply starts over when full.
 */
import { normalizeIp } from '../../net/address.js';

const CACHE_LIMIT = 4096;
const cache = new Map<string, string | null>();

/** The canonical text of an IP literal (IPv4-mapped IPv6 as IPv4), or null when `text` is none. */
export function normalizedIp(text: string): string | null {
  let normalized = cache.get(text);
  if (normalized === undefined) {
    normalized = normalizeIp(text);
    if (cache.size >= CACHE_LIMIT) cache.clear();
    cache.set(text, normalized);
  }
  return normalized;
}
