/**
 * Splitting a cell's clients over workers as k6 splits a test over instances with
 * execution segments: worker i of n owns the segment [i/n, (i+1)/n) of the clients, and
 * its share of N clients is floor(N·(i+1)/n) − floor(N·i/n). The shares add up to N for
 * any N and n (no rounding loss), and differ by at most one.
 */

/** The global indexes of the clients worker `i` of `n` owns: a contiguous run, in order. */
export function segmentOf(clients: number, i: number, n: number): number[] {
  if (!Number.isInteger(n) || n < 1 || !Number.isInteger(i) || i < 0 || i >= n) throw new Error(`segment ${i} of ${n}: expected 0 <= i < n`);
  const from = Math.floor((clients * i) / n);
  const to = Math.floor((clients * (i + 1)) / n);
  return Array.from({ length: to - from }, (_, k) => from + k);
}

/** Splits `ids` round-robin over `parts` lists (a worker's clients over its fleet processes). */
export function roundRobin<T>(ids: readonly T[], parts: number): T[][] {
  const out = Array.from({ length: parts }, (): T[] => []);
  ids.forEach((id, k) => out[k % parts]!.push(id));
  return out;
}
