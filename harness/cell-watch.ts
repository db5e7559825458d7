/**
 * What watches a cell while it measures: the fault struck mid-window, and the broker
 * server's memory (and whether it died).
 */
import { nowNs, NS_PER_S } from "../core/clock.js";
import type { BrokerSample, Workload } from "../results/schema.js";
import { treeRssBytes } from "./proc.js";
import { getFault, type FaultTarget } from "./scenarios/faults.js";
import type { CellHooks } from "./scenarios/scenario.js";

export type ScheduledFault = ReturnType<typeof scheduleFault>;

/**
 * A cell's fault, struck at `faultAt` seconds into the measured window (0: its
 * middle). `done` settles when the fault is over (a restarted relay or broker listens,
 * a cut path is whole).
 */
export function scheduleFault(target: FaultTarget, name: string, w: Workload, measureFrom: number, hooks: CellHooks) {
  const fault = getFault(name);
  const atS = w.faultAt > 0 ? w.faultAt : w.duration / 2;
  const state = {
    atS,
    struck: false,
    restartsRelay: fault.restartsRelay === true,
    /** From the strike until the fault was over: how long a restarted relay took to listen again. */
    recoveredInS: undefined as number | undefined,
    timer: undefined as NodeJS.Timeout | undefined,
    done: Promise.resolve(),
  };
  const delayMs = Math.max(0, (measureFrom + atS * NS_PER_S - nowNs()) / 1e6);
  state.done = new Promise<void>((resolve, reject) => {
    state.timer = setTimeout(() => {
      const struckAt = nowNs();
      state.struck = true;
      hooks.phase(`measuring (fault: ${fault.summary})`);
      fault.strike(target).then((inEffectS) => {
        if (fault.lasting) state.recoveredInS = typeof inEffectS === "number" ? inEffectS : (nowNs() - struckAt) / NS_PER_S;
        resolve();
      }, reject);
    }, delayMs);
  });
  // A fault that fails is reported when the runner awaits `done`, not as an unhandled rejection.
  state.done.catch(() => {});
  return state;
}

/**
 * The broker server's RSS (its whole process tree), once a second, `t` in seconds from
 * the first intended send; and whether the server died meanwhile, other than by the
 * scenario's own restart (`restarting()`).
 */
export function sampleBroker(pid: () => number | number[], startAt: number, restarting: () => boolean): { stop(): BrokerSample[]; exited(): { atS: number; pid: number } | undefined } {
  const samples: BrokerSample[] = [];
  let exited: { atS: number; pid: number } | undefined;
  const check = (): void => {
    // Asked each time: a restarted server has a new pid.
    const p = pid();
    const t = Math.round((nowNs() - startAt) / 1e6) / 1000;
    // A cluster: its nodes' RSS summed; it exited when none runs.
    const each = (Array.isArray(p) ? p : [p]).map(treeRssBytes).filter((b): b is number => b !== null);
    if (each.length > 0) samples.push({ t, rssBytes: each.reduce((a, b) => a + b, 0) });
    else if (!restarting() && !exited) exited = { atS: t, pid: Array.isArray(p) ? (p[0] ?? 0) : p };
  };
  const timer = setInterval(check, 1000);
  return {
    stop() {
      clearInterval(timer);
      return samples;
    },
    exited() {
      if (!exited && !restarting()) check();
      return exited;
    },
  };
}

/** How long a producer may take past its schedule before it is stopped and its cell judged on what it published. */
export function producedDeadlineMs(w: Pick<Workload, "warmup" | "duration">): number {
  return (w.warmup + w.duration) * 2000 + 5_000;
}

