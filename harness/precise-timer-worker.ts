/** Worker side of PreciseTimer: sleeps until each requested time, then answers. */
import { parentPort } from "node:worker_threads";
import { nowNs } from "./clock.js";

const cell = new Int32Array(new SharedArrayBuffer(4));

parentPort!.on("message", (dueNs: number) => {
  for (;;) {
    const waitMs = (dueNs - nowNs()) / 1e6;
    if (waitMs <= 0) break;
    Atomics.wait(cell, 0, 0, waitMs);
  }
  parentPort!.postMessage(0);
});
