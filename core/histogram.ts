/**
 * HDR histograms: record here, ship as compressed base64 between processes, merge
 * with add(). Percentiles are only ever read off a merged histogram, never averaged.
 */
import * as hdr from "hdr-histogram-js";

export type Histogram = hdr.Histogram;

/** Values are integers in the unit the caller chose (µs for latency). */
export function createHistogram(): Histogram {
  return hdr.build({
    bitBucketSize: 32,
    autoResize: true,
    lowestDiscernibleValue: 1,
    highestTrackableValue: 3_600_000_000, // one hour in µs; autoResize covers more
    numberOfSignificantValueDigits: 3,
  });
}

export function encodeHistogram(h: Histogram): string {
  return hdr.encodeIntoCompressedBase64(h);
}

export function decodeHistogram(base64: string): Histogram {
  return hdr.decodeFromCompressedBase64(base64, 32, false);
}

/** Merges encoded histograms from several processes into one. */
export function mergeEncoded(parts: readonly string[]): Histogram {
  const merged = createHistogram();
  for (const part of parts) merged.add(decodeHistogram(part));
  return merged;
}

export interface Percentiles {
  count: number;
  p50: number;
  p90: number;
  /** Seed 001's load test sets its thresholds on the 95th percentile. */
  p95: number;
  p99: number;
  p999: number;
  max: number;
  mean: number;
}

/** The summary of nothing recorded. */
export const NO_PERCENTILES: Readonly<Percentiles> = { count: 0, p50: 0, p90: 0, p95: 0, p99: 0, p999: 0, max: 0, mean: 0 };

/** Summary in the histogram's own unit; all zero when nothing was recorded. */
export function percentiles(h: Histogram): Percentiles {
  const count = h.totalCount;
  if (count === 0) return { ...NO_PERCENTILES };
  return {
    count,
    p50: h.getValueAtPercentile(50),
    p90: h.getValueAtPercentile(90),
    p95: h.getValueAtPercentile(95),
    p99: h.getValueAtPercentile(99),
    p999: h.getValueAtPercentile(99.9),
    // Read off the buckets, like the percentiles, so it is the same before and after a merge.
    max: h.getValueAtPercentile(100),
    mean: h.mean,
  };
}
