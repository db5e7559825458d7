/**
 * One clock for every process on the machine: CLOCK_MONOTONIC in nanoseconds.
 *
 * process.hrtime.bigint() reads CLOCK_MONOTONIC on Linux but allocates a BigInt per
 * call. performance.now() reads the same clock (as milliseconds since this process
 * started) without allocating, so we calibrate its offset once and use it on hot paths.
 * Values stay below 2^53 ns for 104 days of uptime and lose at most a few ns beyond.
 */
import { performance } from "node:perf_hooks";

function calibrate(): number {
  // Take the tightest of a few back-to-back readings so the offset error is sub-microsecond.
  let best = Number.POSITIVE_INFINITY;
  let offset = 0;
  for (let i = 0; i < 9; i++) {
    const before = performance.now();
    const hr = Number(process.hrtime.bigint());
    const after = performance.now();
    const gap = after - before;
    if (gap < best) {
      best = gap;
      offset = hr - ((before + after) / 2) * 1e6;
    }
  }
  return offset;
}

/**
 * A role that an rtbench worker runs for a coordinator on another host keeps the
 * coordinator's clock: the worker measured its own clock's lead over it and hands it on
 * here, so intended send times and arrivals compare across hosts (harness/worker.ts).
 */
export const CLOCK_OFFSET_ENV = "RTBENCH_CLOCK_OFFSET_NS";
const leadNs = Number(process.env[CLOCK_OFFSET_ENV] ?? 0);

const offsetNs = calibrate() - (Number.isFinite(leadNs) ? leadNs : 0);

/** Monotonic time in nanoseconds, comparable across processes on this machine (and a worker's roles with their coordinator's). */
export function nowNs(): number {
  return offsetNs + performance.now() * 1e6;
}

export const NS_PER_S = 1e9;
