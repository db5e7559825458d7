/**
 * The connections scenario: the steady load (at a low rate) with the connection count
 * stepped up 1-2-5 from `rampFrom` to `clients`, each step a whole cell with its own
 * processes, until a step fails or the limit is reached. Connections are spread over
 * fleet processes (one per 5,000, each with its own source address 127.0.0.x) and,
 * where one relay process cannot hold them (open files), over more relays.
 *
 * Per step: connect time, time to first event, relay RSS and heap per connection
 * after a forced GC, and the relays' CPU while the clients sit nearly idle.
 */
import { NO_PERCENTILES } from "../../core/histogram.js";
import { connectionPlanProblem, describeLimits, FD_HEADROOM, machineLimits, type MachineLimits } from "../limits.js";
import { getBroker, getTransport } from "../registry.js";
import { unavailableCell } from "../runner.js";
import type { CellHooks, CellSpec, Scenario } from "./scenario.js";
import { runSteps, type Step } from "./steps.js";
import type { Workload } from "../../results/schema.js";
import type { CellResult, RampStep } from "../../results/schema.js";
import { relayCpuPct } from "../../results/cell-metrics.js";

/** 1-2-5 steps from `from` (rounded down onto the series) up to `to`, which is always the last. */
export function connectionSteps(from: number, to: number): number[] {
  const steps: number[] = [];
  const start = Math.min(from, to);
  for (let decade = 10 ** Math.floor(Math.log10(start)); decade <= to; decade *= 10) {
    for (const m of [1, 2, 5]) {
      const n = m * decade;
      if (n >= start && n < to) steps.push(n);
    }
  }
  steps.push(to);
  return steps;
}

/**
 * Connections per fleet process in the ramp. Each message reaches every client of a
 * process at once; with 10,000 that burst held the process's event loop for about
 * 250 ms, and the generator guard rightly ended the ramp on the load generator.
 */
export const RAMP_CLIENTS_PER_PROCESS = 5_000;

/** Fleet processes and relays for `clients` connections: as the workload says, or as many as the limits need. */
export function stepPlan(
  w: Pick<Workload, "fleetProcesses" | "relays">,
  clients: number,
  canAddRelays: boolean,
  limits: MachineLimits,
): { clients: number; fleetProcesses: number; relays: number } {
  const fleetProcesses = w.fleetProcesses > 0 ? w.fleetProcesses : Math.max(1, Math.ceil(clients / RAMP_CLIENTS_PER_PROCESS));
  const perRelay = limits.openFiles === null ? Number.POSITIVE_INFINITY : limits.openFiles - FD_HEADROOM;
  const relays = canAddRelays ? Math.max(w.relays, Math.ceil(clients / perRelay)) : w.relays;
  return { clients, fleetProcesses, relays };
}

/** Whether this pairing can spread clients over several relays (a shared broker, or an adapter). */
export function canAddRelays(transport: string, broker: string): boolean {
  return !getBroker(broker).inProcess || getTransport(transport).adapterBroker !== undefined;
}

function summarizeStep(cell: CellResult, plan: ReturnType<typeof stepPlan>): Omit<RampStep, "held" | "limit" | "reason"> {
  return {
    ...plan,
    status: cell.status,
    open: cell.connections.open,
    failed: cell.connections.failed,
    ...(cell.connections.firstError ? { firstError: cell.connections.firstError } : {}),
    lost: cell.counts.lost,
    connectUs: cell.connectUs,
    firstEventUs: cell.firstEventUs,
    idleRssPerConnectionBytes: cell.idleMemoryPerConnection?.rssBytes ?? null,
    idleHeapPerConnectionBytes: cell.idleMemoryPerConnection?.heapBytes ?? null,
    relayCpuPct: relayCpuPct(cell),
  };
}

/** Whether a step held every connection, and if not, whose limit it hit. */
export function judgeRampStep(cell: CellResult): Pick<RampStep, "held" | "limit" | "reason"> {
  if (cell.status !== "ok") return { held: false, limit: "failure", reason: cell.error ?? cell.status };
  if (cell.saturated) return { held: false, limit: "generator", reason: cell.saturationReasons.join("; ") };
  if (cell.connections.failed > 0) {
    return { held: false, limit: "failure", reason: `${cell.connections.failed} of ${cell.connections.attempted} connections failed${cell.connections.firstError ? ` (${cell.connections.firstError})` : ""}` };
  }
  if (cell.connections.disconnects > 0) return { held: false, limit: "failure", reason: `${cell.connections.disconnects} connections dropped` };
  if (cell.counts.lost > 0) return { held: false, limit: "failure", reason: `${cell.counts.lost} of ${cell.counts.expected} messages not delivered` };
  return { held: true };
}

export async function runConnections(spec: CellSpec, hooks: CellHooks, limits: MachineLimits = machineLimits()): Promise<CellResult> {
  const w = spec.workload;
  const addRelays = canAddRelays(spec.transport, spec.broker);
  const plans = new Map<number, ReturnType<typeof stepPlan>>();
  function* steps(): Generator<Step<RampStep>> {
    for (const clients of connectionSteps(w.rampFrom, w.clients)) {
      const plan = stepPlan(w, clients, addRelays, limits);
      plans.set(clients, plan);
      // A step this machine cannot hold is not tried: the ramp ends at the limit, with the reason.
      const problem = connectionPlanProblem(plan, limits);
      const why = problem && !addRelays && plan.relays === 1 && /relay process/.test(problem) ? `${problem} (${spec.transport} × ${spec.broker} runs one relay)` : problem;
      yield {
        label: `${clients} connections`,
        workload: { ...w, clients, fleetProcesses: plan.fleetProcesses, relays: plan.relays },
        ...(why
          ? {
              untried: {
                record: { ...plan, status: "unavailable", open: 0, failed: 0, lost: 0, connectUs: NO_PERCENTILES, firstEventUs: NO_PERCENTILES, idleRssPerConnectionBytes: null, idleHeapPerConnectionBytes: null, relayCpuPct: 0, held: false, limit: "limit", reason: why },
                stoppedBy: "limit",
              },
            }
          : {}),
      };
    }
  }
  const run = await runSteps(spec, hooks, steps(), (cell) => {
    const verdict = judgeRampStep(cell);
    return { record: { ...summarizeStep(cell, plans.get(cell.params.clients)!), ...verdict }, held: verdict.held, ...(verdict.limit ? { stoppedBy: verdict.limit } : {}) };
  });
  const stoppedBy = (run.stoppedBy ?? "max-clients") as NonNullable<CellResult["ramp"]>["stoppedBy"];
  const base = run.best ?? run.first;
  const maxConnections = run.best ? run.best.params.clients : null;
  const ramp = { steps: run.steps, maxConnections, stoppedBy, limitMeasured: stoppedBy === "failure" };
  if (!base) {
    // Not even the first step fits this machine.
    return { ...unavailableCell(spec, run.steps[0]!.reason!), ramp };
  }
  return { ...base, ramp };
}

export const connections: Scenario = {
  name: "connections",
  summary: "a low rate to 1-2-5 steps of connections (rampFrom up to clients, over fleet processes, source addresses and relays as the limits need) until a step fails: connect time, time to first event, relay memory per connection after a forced GC, relay CPU",
  fields: [
    { key: "rampFrom", kind: "int", min: 1, max: 1_000_000, help: "connections scenario: the first step's connections, then 1-2-5 steps up to clients (1000)" },
  ],
  check(w, note) {
    if (w.rampFrom > w.clients) return `field "rampFrom": the ramp ends at clients (${w.clients}): expected an integer <= ${w.clients}, got ${w.rampFrom}`;
    // The preflight: what this machine allows, and whether the ramp's last step fits it with fleets and relays added.
    const limits = machineLimits();
    note(describeLimits(limits));
    const problem = connectionPlanProblem(stepPlan(w, w.clients, true, limits), limits);
    return problem ? `the connections ramp cannot reach ${w.clients}: ${problem}` : null;
  },
  pairingProblem: (transport, broker) =>
    transport.listener === "none" ? `${transport.name} × ${broker.name}: the connections scenario counts what a relay holds, and ${transport.name} has none (each client is a broker client of its own)` : null,
  sizesItsOwnSteps: true,
  estimatedSteps: (w) => connectionSteps(w.rampFrom, w.clients).length,
  run: (spec, hooks) => runConnections(spec, hooks),
};
