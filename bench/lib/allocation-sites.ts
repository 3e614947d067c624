/**
 * Where a sampling heap profile's bytes were allocated (V8's SamplingHeapProfile, as the inspector's
 * HeapProfiler.stopSampling returns it). With the collected objects included in the sampling
 * (includeObjectsCollectedByMinorGC / ...MajorGC), the bytes are what was allocated, garbage
 * included: what drives the young generation's collections. Each sample is charged to the
 * innermost frame of the code under study (`owned`: a test on the frame's script URL), so that
 * allocations inside node or V8 builtins count toward the function of ours that asked for them;
 * samples with no such frame on their stack (the load generator's own work) are left out.
 */

export interface SamplingCallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}

export interface SamplingNode {
  callFrame: SamplingCallFrame;
  selfSize: number;
  children: SamplingNode[];
}

export interface AllocationSite {
  /** `function file:line` (line 1-based; file relative to `strip` when given). */
  site: string;
  bytes: number;
}

export interface AllocationSummary {
  /** Bytes of every sample. */
  totalBytes: number;
  /** Bytes with an owned frame on their stack. */
  ownedBytes: number;
  /** By innermost owned frame, largest first. */
  sites: AllocationSite[];
}

function frameName(frame: SamplingCallFrame, strip: string): string {
  const file = strip !== '' && frame.url.includes(strip) ? frame.url.slice(frame.url.indexOf(strip) + strip.length) : frame.url;
  return `${frame.functionName || '(anonymous)'} ${file}:${frame.lineNumber + 1}`;
}

/** Sums a profile's samples by the innermost frame for which `owned(url)` holds. */
export function allocationSites(head: SamplingNode, owned: (url: string) => boolean, strip = ''): AllocationSummary {
  const bySite = new Map<string, number>();
  let totalBytes = 0;
  let ownedBytes = 0;
  // Iterative walk: a profile's tree is as deep as the deepest stack sampled.
  const pending: Array<{ node: SamplingNode; site: string | null }> = [{ node: head, site: null }];
  while (pending.length > 0) {
    const { node, site: above } = pending.pop()!;
    const site = owned(node.callFrame.url) ? frameName(node.callFrame, strip) : above;
    if (node.selfSize > 0) {
      totalBytes += node.selfSize;
      if (site !== null) {
        ownedBytes += node.selfSize;
        bySite.set(site, (bySite.get(site) ?? 0) + node.selfSize);
      }
    }
    for (const child of node.children) pending.push({ node: child, site });
  }
  const sites = [...bySite].map(([s, bytes]) => ({ site: s, bytes })).sort((a, b) => b.bytes - a.bytes);
  return { totalBytes, ownedBytes, sites };
}
