/**
 * prom-client metrics whose values live elsewhere: running totals and levels kept by the component
 * that does the work, read when scraped. Nothing is counted here, so nothing is counted twice.
 */
import { Counter, Gauge, type Registry } from 'prom-client';

/** A counter whose value is a running total kept elsewhere, read when scraped. */
export function counterFrom(registry: Registry, name: string, help: string, read: () => number): Counter {
  return new Counter({ name, help, registers: [registry], collect() { this.reset(); this.inc(read()); } });
}

/** A gauge whose value is read when scraped. */
export function gaugeFrom(registry: Registry, name: string, help: string, read: () => number): Gauge {
  return new Gauge({ name, help, registers: [registry], collect() { this.set(read()); } });
}

/** Label values and the value of each, as read at one scrape. */
export type Samples = Iterable<readonly [Record<string, string>, number]>;

/** A labelled counter: each scrape sets every series `read` returns (a series never seen stays absent). */
export function countersFrom(registry: Registry, name: string, help: string, labelNames: string[], read: () => Samples | Promise<Samples>): Counter {
  return new Counter({
    name, help, labelNames, registers: [registry],
    async collect() {
      const samples = await read();
      this.reset();
      for (const [labels, value] of samples) this.inc(labels, value);
    },
  });
}

/** A labelled gauge: each scrape replaces every series with what `read` returns. */
export function gaugesFrom(registry: Registry, name: string, help: string, labelNames: string[], read: () => Samples | Promise<Samples>): Gauge {
  return new Gauge({
    name, help, labelNames, registers: [registry],
    async collect() {
      const samples = await read();
      this.reset();
      for (const [labels, value] of samples) this.set(labels, value);
    },
  });
}

/** The entries of a map as samples of one label. */
export function byLabel<K extends string>(label: string, map: ReadonlyMap<K, number>): Samples {
  return [...map].map(([value, n]) => [{ [label]: value }, n] as const);
}

/**
 * One read per scrape, shared by every metric that scrape collects: prom-client's
 * Registry.metrics() calls every metric's collect() in one synchronous pass, so the value read by
 * the first is kept until the pass is over (a microtask later) and the next scrape reads afresh.
 */
export function perScrape<T>(read: () => T): () => T {
  let cached: { value: T } | undefined;
  return () => {
    if (cached === undefined) {
      cached = { value: read() };
      queueMicrotask(() => {
        cached = undefined;
      });
    }
    return cached.value;
  };
}
