/**
 * Reading a pinlatch metrics endpoint in tests: the Prometheus text exposition parsed into samples,
 * summed over the series whose labels match.
 */

export interface Exposition {
  /** Metric names declared by `# TYPE` lines (a labelled metric with no series yet is there too). */
  names: Set<string>;
  samples: Array<{ name: string; labels: Record<string, string>; value: number }>;
}

export async function scrapeMetrics(base: string): Promise<Exposition> {
  const response = await fetch(`${base}/metrics`);
  if (response.status !== 200) throw new Error(`GET /metrics answered ${response.status}`);
  return parseExposition(await response.text());
}

export function parseExposition(text: string): Exposition {
  const names = new Set<string>();
  const samples: Exposition['samples'] = [];
  for (const line of text.split('\n')) {
    if (line.startsWith('# TYPE ')) names.add(line.split(' ')[2]!);
    if (line === '' || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match) throw new Error(`not an exposition line: ${line}`);
    const labels: Record<string, string> = {};
    for (const pair of (match[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[pair[1]!] = pair[2]!;
    samples.push({ name: match[1]!, labels, value: Number(match[3]) });
  }
  return { names, samples };
}

/** The sum of the series of `name` whose labels include `labels`; undefined when there is none. */
export function valueOf(exposition: Exposition, name: string, labels: Record<string, string> = {}): number | undefined {
  const matching = exposition.samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  return matching.length === 0 ? undefined : matching.reduce((sum, s) => sum + s.value, 0);
}
