/** Worker side of PreciseTimer: sleeps until each requested time, then answers. */
import { parentPort } from "node:worker_threads";
import { nowNs } from "./clock.js";

const cell = new Int32Array(new SharedArrayBuffer(4));

parentPort!.on("message", ({ dueNs, spinNs }: { dueNs: number; spinNs: number }) => {
  // Sleep in the kernel until shortly before the due time...
  for (;;) {
    const waitMs = (dueNs - spinNs - nowNs()) / 1e6;
    if (waitMs <= 0) break;
    Atomics.wait(cell, 0, 0, waitMs);
  }
  // ...then spin the rest: waking from a long sleep is a few hundred µs late here.
  while (nowNs() < dueNs) {
    /* spin */
  }
  parentPort!.postMessage(0);
});
