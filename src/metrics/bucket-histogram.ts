/**
 * A Prometheus histogram that takes many observations at once, as counts per bucket and their
 * sum. prom-client's `Histogram` takes one value per `observe()` and allocates for each (its
 * label set's hash string, a closure, a wrapper object): at a backlog's tens of thousands of
 * calls a second that garbage alone grew the daemon's heap by tens of megabytes (see the
 * README's design notes). Counting a transaction's calls into buckets first, then adding the
 * counts once, allocates nothing per call.
 *
 */
import type { Metric, Registry } from 'prom-client';

interface Series<T extends string> {
  labels: Readonly<Record<T, string>>;
  /** Observations per bucket, not cumulative: index i counts values in (bound[i-1], bound[i]]; the last, those above every bound. */
  counts: number[];
  sum: number;
  count: number;
}

/** One line of the exposition. */
interface Sample {
  metricName: string;
  labels: Readonly<Record<string, string | number>>;
  value: number;
}

/** Counts of observations per bucket (not cumulative) and their sum, as {@link BucketHistogram.add} takes them. */
export class BucketCounts {
  readonly counts: number[];
  sum = 0;
  count = 0;

  constructor(private readonly bounds: readonly number[]) {
    this.counts = new Array<number>(bounds.length + 1).fill(0);
  }

  /** One observation; `value` in the first bucket whose bound is at least it (Prometheus's `le`). */
  observe(value: number): void {
    const b = this.bounds;
    let i = 0;
    while (i < b.length && value > b[i]!) i++;
    this.counts[i]!++;
    this.sum += value;
    this.count++;
  }
}

export interface BucketHistogramOptions<T extends string> {
  name: string;
  help: string;
  labelNames: readonly T[];
  /** Upper bounds, ascending. */
  buckets: readonly number[];
  registers: readonly Registry[];
}

/**
 * Registered as a metric of prom-client's registry, which reads a metric through `get()` (and
 * `name`, `type`, `aggregator`, `reset()`); it writes the series as it writes its own histograms'
 * (`le` first). It is not a prom-client `Histogram`: `registry.getSingleMetric()` returns it
 * typed as one, but it has no `observe()`, `labels()` or `startTimer()`.
 */
export class BucketHistogram<T extends string> {
  readonly name: string;
  readonly help: string;
  readonly type = 'histogram' as const;
  readonly aggregator = 'sum' as const;
  readonly #bounds: readonly number[];
  readonly #labelNames: readonly T[];
  readonly #series = new Map<string, Series<T>>();

  constructor(o: BucketHistogramOptions<T>) {
    if (o.buckets.some((b, i) => !Number.isFinite(b) || (i > 0 && b <= o.buckets[i - 1]!))) throw new TypeError(`${o.name}: buckets must be finite and ascending`);
    this.name = o.name;
    this.help = o.help;
    this.#bounds = [...o.buckets];
    this.#labelNames = [...o.labelNames];
    for (const r of o.registers) r.registerMetric(this as unknown as Metric);
  }

  /** Empty counts for this histogram's buckets. */
  counts(): BucketCounts {
    return new BucketCounts(this.#bounds);
  }

  /** Adds counted observations to the series of `labels`. */
  add(labels: Readonly<Record<T, string>>, c: BucketCounts): void {
    if (c.count === 0) return;
    const key = this.#labelNames.map((n) => labels[n]).join('\u0000');
    let s = this.#series.get(key);
    if (!s) {
      s = { labels: { ...labels }, counts: new Array<number>(this.#bounds.length + 1).fill(0), sum: 0, count: 0 };
      this.#series.set(key, s);
    }
    for (let i = 0; i < c.counts.length; i++) s.counts[i]! += c.counts[i]!;
    s.sum += c.sum;
    s.count += c.count;
  }

  reset(): void {
    this.#series.clear();
  }

  /** The series as prom-client's registry reads a metric's. */
  get(): Promise<{ name: string; help: string; type: 'histogram'; aggregator: 'sum'; values: Sample[] }> {
    const name = this.name;
    const values: Sample[] = [];
    for (const s of this.#series.values()) {
      let acc = 0;
      for (let i = 0; i < this.#bounds.length; i++) {
        acc += s.counts[i]!;
        values.push({ metricName: `${name}_bucket`, labels: { le: this.#bounds[i]!, ...s.labels }, value: acc });
      }
      values.push({ metricName: `${name}_bucket`, labels: { le: '+Inf', ...s.labels }, value: s.count });
      values.push({ metricName: `${name}_sum`, labels: s.labels, value: s.sum });
      values.push({ metricName: `${name}_count`, labels: s.labels, value: s.count });
    }
    return Promise.resolve({ name, help: this.help, type: this.type, aggregator: this.aggregator, values });
  }
}
