/**
 * A timer with sub-millisecond wake-ups for the open-loop producer.
 *
 * Node's setTimeout has 1 ms granularity, and latency is measured from the intended
 * send time, so a 0–1 ms late wake-up would be charged to every system measured.
 * A worker thread sleeps in Atomics.wait (a futex with a fine timeout) until the due
 * time and then posts to the main thread: about 0.1 ms late here instead of ~0.6 ms.
 * Whatever lateness remains is still recorded as publish delay.
 */
import { Worker } from "node:worker_threads";

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
    this.worker.postMessage(dueNs);
  }

  cancel(): void {
    this.pending = undefined;
  }

  async close(): Promise<void> {
    this.pending = undefined;
    await this.worker.terminate();
  }
}
