/**
 * The scale-out scenario: the same load (clients, rate) served by 1, 2, 4, ... relay
 * processes sharing one broker, up to the workload's `relays`; each step a whole
 * steady cell. SSE and WebSocket relays each subscribe to the broker; Socket.IO's
 * adapter transports subscribe once and pass broadcasts between relays through Redis.
 *
 * Efficiency compares work, not speed: relay CPU per delivery with one relay over that
 * with the most. On a machine with fewer cores than relays, throughput cannot grow
 * with K, but the work each delivery costs can still be counted honestly.
 */
import type { CellHooks, CellSpec, Scenario } from "./scenario.js";
import { runSteps, type Step } from "./steps.js";
import type { CellResult, ScaleOutStep } from "../../results/schema.js";
import { relayCpuPct, relayWindows } from "../../results/cell-metrics.js";

/** 1, 2, 4, ... below `max`, then `max` itself. */
export function relaySteps(max: number): number[] {
  const steps: number[] = [];
  for (let k = 1; k < max; k *= 2) steps.push(k);
  steps.push(max);
  return steps;
}

export function summarizeStep(cell: CellResult, relays: number): ScaleOutStep {
  const windows = relayWindows(cell);
  // Cores' worth of CPU the relays used on average, over deliveries per second.
  const cores = relayCpuPct(cell) / 100;
  const peaks = windows.map((w) => Math.max(0, ...w.map((s) => s.rssBytes)));
  return {
    relays,
    status: cell.status,
    throughput: cell.throughput,
    latencyUs: cell.latencyUs,
    delivered: cell.counts.delivered,
    expected: cell.counts.expected,
    lost: cell.counts.lost,
    relayCpuUsPerDelivery: cell.status === "ok" && cell.throughput > 0 && windows.every((w) => w.length > 0) ? (cores / cell.throughput) * 1e6 : null,
    relayPeakRssBytes: peaks.length > 0 ? peaks.reduce((a, b) => a + b, 0) / peaks.length : 0,
    saturationReasons: cell.saturationReasons,
  };
}

/** One relay's CPU per delivery over the most relays'; null, with the reason, where a step cannot be compared. */
export function scaleOutEfficiency(steps: readonly ScaleOutStep[]): { efficiency: number | null; reason?: string } {
  const bad = steps.find((s) => s.status !== "ok" || s.lost > 0 || s.saturationReasons.length > 0 || s.relayCpuUsPerDelivery === null);
  if (bad) {
    const why =
      bad.status !== "ok"
        ? `the step with ${bad.relays} relay(s) ${bad.status === "failed" ? "failed" : "could not run"}`
        : bad.lost > 0
          ? `the step with ${bad.relays} relay(s) lost ${bad.lost} messages`
          : bad.saturationReasons.length > 0
            ? `the load generator saturated at ${bad.relays} relay(s): ${bad.saturationReasons[0]}`
            : `the step with ${bad.relays} relay(s) delivered nothing in its window`;
    return { efficiency: null, reason: why };
  }
  if (steps.length < 2) return { efficiency: null, reason: "one step only (relays: 1); set relays to 2 or more" };
  return { efficiency: steps[0]!.relayCpuUsPerDelivery! / steps.at(-1)!.relayCpuUsPerDelivery! };
}

export async function runScaleOut(spec: CellSpec, hooks: CellHooks): Promise<CellResult> {
  const w = spec.workload;
  const steps = relaySteps(w.relays).map((relays): Step<ScaleOutStep> => ({ label: `${relays} relay${relays > 1 ? "s" : ""}`, workload: { ...w, relays } }));
  // A failed step says why; the ones after it would fail the same way.
  const run = await runSteps(spec, hooks, steps, (cell) => ({ record: summarizeStep(cell, cell.params.relays ?? 1), held: cell.status === "ok", stoppedBy: cell.status }));
  return { ...run.last!, scaleOut: { steps: run.steps, ...scaleOutEfficiency(run.steps) } };
}

export const scaleOut: Scenario = {
  name: "scale-out",
  summary: "the same load served by 1, 2, 4, ... relay processes (up to relays) sharing the broker: throughput, latency, relay memory and CPU per delivery against the relay count",
  check: (w) => (w.relays < 2 ? `field "relays": the scale-out scenario steps from 1 relay up to this many: expected an integer >= 2, got ${w.relays}` : null),
  pairingProblem: (transport, broker) =>
    transport.listener === "none" ? `${transport.name} × ${broker.name}: the scale-out scenario adds relays, and ${transport.name} has none (its clients subscribe to the broker)` : null,
  estimatedSteps: (w) => relaySteps(w.relays).length,
  run: runScaleOut,
};
