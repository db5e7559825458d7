/**
 * The saturation scenario: a stepped sweep, not a feedback controller. Each step is a
 * whole steady cell at rate × rateStep over the last (its own processes, warm-up and
 * drain), until a step is not sustained: delivery lags, or p99 passes the SLO. The
 * cell reports the highest sustained rate and every step's latency.
 *
 * A step whose load generator saturates ends the sweep too, but then the figure is
 * only a lower bound: the generator's limit is never reported as the system's.
 */
import { fleetReasons, producerReasons } from "../guard.js";
import { getBroker } from "../registry.js";
import type { CellHooks, CellSpec, Scenario } from "./scenario.js";
import { runSteps, type Step } from "./steps.js";
import type { CellResult, SweepStep } from "../../results/schema.js";

/** A step delivers at least this share of what was sent in its window. */
export const MIN_DELIVERED_SHARE = 0.95;

type Verdict = Pick<SweepStep, "sustained" | "limit" | "reason">;

/** Whether one step held its rate, and if not, whose limit it hit. */
export function judgeStep(cell: CellResult, sloP99Us: number, producerSharesRelay: boolean): Verdict {
  if (cell.status !== "ok") return { sustained: false, limit: "failed", reason: cell.error ?? cell.status };
  const window = { fromS: cell.params.warmupS, toS: cell.params.warmupS + cell.params.durationS };
  const generator = [
    ...fleetReasons(cell.resources.fleet, window),
    // A producer sharing the relay's process falls behind when the relay does: that is the system's lag.
    ...(producerSharesRelay
      ? []
      : producerReasons({ targetRate: cell.params.rate, achievedRate: cell.publishedPerSec, publishDelayP99Us: cell.publishDelayUs.p99, producerSharesRelay })),
  ];
  // A producer stopped at its deadline: behind by the relay's doing when it shares its loop, else by its own.
  if (cell.producerStopped && !producerSharesRelay) generator.push(`producer published ${cell.producerStopped.published} of ${cell.producerStopped.total} by its deadline`);
  if (generator.length > 0) return { sustained: false, limit: "generator", reason: generator.join("; ") };
  if (cell.producerStopped) return { sustained: false, limit: "lag", reason: `the relay held the producer: ${cell.producerStopped.published} of ${cell.producerStopped.total} published by the deadline` };
  const expectedPerS = (cell.counts.expected / (cell.params.warmupS + cell.params.durationS)) * MIN_DELIVERED_SHARE;
  if (cell.counts.lost > 0 || !cell.drainedComplete) {
    return { sustained: false, limit: "lag", reason: `${cell.counts.lost} of ${cell.counts.expected} not delivered by the end of the drain` };
  }
  if (cell.throughput < expectedPerS) {
    return { sustained: false, limit: "lag", reason: `delivered ${Math.round(cell.throughput)}/s of ${Math.round(expectedPerS / MIN_DELIVERED_SHARE)}/s in the window` };
  }
  if (cell.latencyUs.p99 > sloP99Us) {
    return { sustained: false, limit: "slo", reason: `p99 ${(cell.latencyUs.p99 / 1000).toFixed(1)} ms passed the ${sloP99Us / 1000} ms SLO` };
  }
  return { sustained: true };
}

/** The next step's rate: ×factor, rounded to a readable figure, and always higher. */
export function nextRate(rate: number, factor: number): number {
  const raw = rate * factor;
  const magnitude = 10 ** Math.max(0, Math.floor(Math.log10(raw)) - 2);
  return Math.max(Math.round(raw / magnitude) * magnitude, Math.ceil(rate) + 1);
}

export async function runSaturation(spec: CellSpec, hooks: CellHooks): Promise<CellResult> {
  const w = spec.workload;
  const sloP99Us = w.sloP99 * 1e6;
  const producerSharesRelay = getBroker(spec.broker).inProcess;
  function* rates(): Generator<Step<SweepStep>> {
    for (let rate = w.rate, k = 1; rate <= w.maxRate; rate = nextRate(rate, w.rateStep), k++) yield { label: `step ${k} at ${rate}/s`, workload: { ...w, rate } };
  }
  const run = await runSteps(spec, hooks, rates(), (cell) => {
    const verdict = judgeStep(cell, sloP99Us, producerSharesRelay);
    const record = { rate: cell.params.rate, latencyUs: cell.latencyUs, throughput: cell.throughput, delivered: cell.counts.delivered, expected: cell.counts.expected, ...verdict };
    return { record, held: verdict.sustained, ...(verdict.limit ? { stoppedBy: verdict.limit } : {}) };
  });
  const stoppedBy = (run.stoppedBy ?? "max-rate") as NonNullable<SweepStep["limit"]> | "max-rate";
  const base = run.best ?? run.first!;
  // Only a sweep ended by the system's own lag or SLO measured its limit; otherwise the figure is a floor.
  const measuredLimit = stoppedBy === "lag" || stoppedBy === "slo";
  return {
    ...base,
    sweep: {
      factor: w.rateStep,
      sloP99Us,
      steps: run.steps,
      maxSustainableRate: run.best ? run.best.params.rate : null,
      stoppedBy,
      limitMeasured: measuredLimit,
    },
  };
}

export const saturation: Scenario = {
  name: "saturation",
  summary: "the steady load stepped up (×rateStep, each step its own warm-up) until delivery lags or p99 passes sloP99: the highest sustained rate and latency against rate",
  fields: [
    { key: "rateStep", kind: "number", min: 1.05, max: 10, help: "saturation scenario: each step's rate over the last (1.5)" },
    { key: "maxRate", kind: "number", min: Number.MIN_VALUE, max: 1e7, help: "saturation scenario: the highest rate to try" },
    { key: "sloP99", kind: "seconds", min: 0.000001, max: 3_600, help: "saturation scenario: latency p99 above this ends the sweep (100ms)" },
  ],
  check: (w) => (w.maxRate < w.rate ? `field "maxRate": the sweep starts at rate ${w.rate}/s: expected a number >= ${w.rate}, got ${w.maxRate}` : null),
  // A sweep seldom goes past a few steps here; at most to maxRate.
  estimatedSteps: (w) => Math.min(8, 1 + Math.floor(Math.log(w.maxRate / w.rate) / Math.log(w.rateStep))),
  run: runSaturation,
};
