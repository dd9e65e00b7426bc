/**
 * A log-bucketed latency histogram: 64 buckets per power of two (≈1.1 % relative resolution) from 1 µs to
 * 2^27 µs (≈134 s), exact count / sum / min / max. Mergeable and serialisable, so every generator worker
 * keeps its own and the coordinator adds them up. Values are microseconds.
 */

const SUB_BUCKETS = 64;
const MAX_EXPONENT = 27;
const BUCKETS = 1 + MAX_EXPONENT * SUB_BUCKETS;

export interface HistogramJson {
  count: number;
  sum: number;
  min: number;
  max: number;
  /** Sparse [bucketIndex, count] pairs. */
  buckets: [number, number][];
}

/** Milliseconds, as printed in reports. */
export interface LatencySummary {
  count: number;
  min: number;
  avg: number;
  max: number;
  p50: number;
  p90: number;
  p95: number;
  p99: number;
  p999: number;
}

function bucketOf(micros: number): number {
  if (!(micros >= 1)) return 0;
  const index = 1 + Math.floor(Math.log2(micros) * SUB_BUCKETS);
  return index < BUCKETS ? index : BUCKETS - 1;
}

/** The geometric middle of a bucket, in µs. */
function bucketValue(index: number): number {
  if (index === 0) return 0.5;
  return 2 ** ((index - 1 + 0.5) / SUB_BUCKETS);
}

export class Histogram {
  private counts = new Float64Array(BUCKETS);
  count = 0;
  sum = 0;
  min = Number.POSITIVE_INFINITY;
  max = 0;

  record(micros: number): void {
    const value = micros > 0 ? micros : 0;
    this.counts[bucketOf(value)]! += 1;
    this.count += 1;
    this.sum += value;
    if (value < this.min) this.min = value;
    if (value > this.max) this.max = value;
  }

  merge(other: Histogram | HistogramJson): void {
    if (other instanceof Histogram) {
      for (let i = 0; i < BUCKETS; i++) this.counts[i]! += other.counts[i]!;
    } else {
      for (const [index, count] of other.buckets) this.counts[index]! += count;
    }
    this.count += other.count;
    this.sum += other.sum;
    if (other.count > 0) {
      this.min = Math.min(this.min, other.min);
      this.max = Math.max(this.max, other.max);
    }
  }

  reset(): void {
    this.counts.fill(0);
    this.count = 0;
    this.sum = 0;
    this.min = Number.POSITIVE_INFINITY;
    this.max = 0;
  }

  /** The value at quantile q (0…1), µs; clamped to the exact min and max. */
  quantile(q: number): number {
    if (this.count === 0) return 0;
    const rank = Math.max(1, Math.ceil(q * this.count));
    let seen = 0;
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.counts[i]!;
      if (seen >= rank) return Math.min(this.max, Math.max(this.min, bucketValue(i)));
    }
    return this.max;
  }

  mean(): number {
    return this.count === 0 ? 0 : this.sum / this.count;
  }

  summary(): LatencySummary {
    const ms = (micros: number): number => Math.round(micros) / 1000;
    return {
      count: this.count,
      min: this.count === 0 ? 0 : ms(this.min),
      avg: ms(this.mean()),
      max: ms(this.max),
      p50: ms(this.quantile(0.5)),
      p90: ms(this.quantile(0.9)),
      p95: ms(this.quantile(0.95)),
      p99: ms(this.quantile(0.99)),
      p999: ms(this.quantile(0.999)),
    };
  }

  toJSON(): HistogramJson {
    const buckets: [number, number][] = [];
    for (let i = 0; i < BUCKETS; i++) if (this.counts[i]! > 0) buckets.push([i, this.counts[i]!]);
    return { count: this.count, sum: this.sum, min: this.count === 0 ? 0 : this.min, max: this.max, buckets };
  }

  static fromJSON(json: HistogramJson): Histogram {
    const histogram = new Histogram();
    histogram.merge(json);
    return histogram;
  }
}

/** Histograms by a key (an OCPP action, an outcome): created on first use. */
export class HistogramSet {
  readonly byKey = new Map<string, Histogram>();

  get(key: string): Histogram {
    let histogram = this.byKey.get(key);
    if (histogram === undefined) {
      histogram = new Histogram();
      this.byKey.set(key, histogram);
    }
    return histogram;
  }

  merge(json: Record<string, HistogramJson>): void {
    for (const [key, histogram] of Object.entries(json)) this.get(key).merge(histogram);
  }

  total(): Histogram {
    const all = new Histogram();
    for (const histogram of this.byKey.values()) all.merge(histogram);
    return all;
  }

  toJSON(): Record<string, HistogramJson> {
    const out: Record<string, HistogramJson> = {};
    for (const [key, histogram] of this.byKey) out[key] = histogram.toJSON();
    return out;
  }

  summaries(): Record<string, LatencySummary> {
    const out: Record<string, LatencySummary> = {};
    for (const [key, histogram] of [...this.byKey].sort(([a], [b]) => a.localeCompare(b))) out[key] = histogram.summary();
    return out;
  }
}
