/**
 * Figures derived from a result, defined once for the gate, the report and the claims.
 */
import type { CellResult } from "./schema.js";

export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/**
 * Relay RSS growth per connection: from before the first connection to the peak under
 * load, without a forced GC, so it bounds the idle figure from above.
 */
export function relayGrowthPerConnection(c: CellResult): number | undefined {
  const peak = Math.max(0, ...c.resources.relay.map((s) => s.rssBytes));
  const base = c.resources.relayRssAtReadyBytes ?? 0;
  return base > 0 && peak > 0 ? (peak - base) / c.params.clients : undefined;
}

/** Microseconds for people: "485 µs", "3.52 ms", "2270 ms". */
export function formatMicros(us: number): string {
  return us >= 1000 ? `${+(us / 1000).toPrecision(3)} ms` : `${Math.round(us)} µs`;
}
