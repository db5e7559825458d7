/**
 * A timer with sub-millisecond wake-ups for the open-loop producer.
 *
 * Node's setTimeout has 1 ms granularity, and latency is measured from the intended
 * send time, so a 0–1 ms late wake-up would be charged to every system measured.
 * A worker thread sleeps in Atomics.wait (a futex with a fine timeout) until just
 * before the due time, spins the rest (at most 5% of the sleep, so at most 5% of a
 * core), then posts to the main thread. What remains is the main thread's own wake-up
 * (tens of µs when busy, ~0.2 ms after a long idle here), and it is still recorded as
 * publish delay.
 */
import { Worker } from "node:worker_threads";
import { nowNs } from "./clock.js";

const MAX_SPIN_NS = 200_000;
const SPIN_SHARE = 0.05;

export class PreciseTimer {
  private readonly worker: Worker;
  private pending: (() => void) | undefined;

  constructor() {
    this.worker = new Worker(new URL("./precise-timer-worker.js", import.meta.url));
    this.worker.unref();
    this.worker.on("message", () => {
      const fn = this.pending;
      this.pending = undefined;
      fn?.();
    });
  }

  /** Calls fn once at monotonic time dueNs (one pending call at a time). */
  at(dueNs: number, fn: () => void): void {
    this.pending = fn;
    const spinNs = Math.min(MAX_SPIN_NS, SPIN_SHARE * (dueNs - nowNs()));
    this.worker.postMessage({ dueNs, spinNs: Math.max(0, spinNs) });
  }

  cancel(): void {
    this.pending = undefined;
  }

  async close(): Promise<void> {
    this.pending = undefined;
    await this.worker.terminate();
  }
}
