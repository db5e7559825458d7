/**
 * bench:harness — is the harness ever what limits a measurement?
 *
 * Runs, in one job on one machine, per protocol a minimal hand-written pair (the
 * baseline: bench/minimal-pair.ts) and rtbench's own cell of that transport × inproc,
 * at the same stepped rates with the same 100 clients, the two taking turns at each
 * rate, and prints per setup: the client side's CPU per delivery over the broadcast
 * window and the highest rate held with p99 < 50 ms, nothing lost and the client
 * process not saturated (the fleet's guard, applied to both), then ratios to that
 * protocol's baseline.
 */
import { fork, type ChildProcess } from "node:child_process";
import { decodeHistogram, percentiles } from "../core/histogram.js";
import { runCell } from "../harness/runner.js";
import { getScenario } from "../harness/scenarios/index.js";
import type { ResourceSample } from "../core/sampler.js";
import { DEFAULTS, type Workload } from "../harness/workload.js";
import { GUARD } from "../harness/guard.js";
import { MINIMAL_PROTOCOLS, minimalUrl, type MinimalProtocol } from "./protocols.js";

const CLIENTS = Number(process.env.BENCH_CLIENTS ?? 100);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 4);
const SIZE = 256;
const P99_LIMIT_US = 50_000;
const FIRST_RATE = Number(process.env.BENCH_FIRST_RATE ?? 100);
const MAX_RATE = Number(process.env.BENCH_MAX_RATE ?? 5000);

interface Step {
  rate: number;
  /** A saturated load generator means the harness, not the system, set the limit. */
  saturated: boolean;
  deliveries: number;
  expected: number;
  p99Us: number;
  clientCpuUsPerDelivery: number;
  /** Deliveries per read system call of the client process(es): a client that lags reads several messages at once, and pays fewer reads. */
  deliveriesPerRead: number | null;
  note: string;
}

/** The protocols with a minimal pair, each named as the rtbench transport it is set beside (BENCH_TRANSPORTS picks some). */
const PROTOCOLS: readonly MinimalProtocol[] = process.env.BENCH_TRANSPORTS
  ? MINIMAL_PROTOCOLS.filter((p) => process.env.BENCH_TRANSPORTS!.split(",").includes(p))
  : MINIMAL_PROTOCOLS;
type Protocol = MinimalProtocol;

function child(role: string, protocol: Protocol): ChildProcess {
  return fork(new URL("./minimal-pair.js", import.meta.url), [role, protocol], { stdio: ["ignore", "inherit", "inherit", "ipc"] });
}

function next<T>(c: ChildProcess, kind: string): Promise<T> {
  return new Promise((resolve) => {
    const on = (m: { kind: string }): void => {
      if (m.kind !== kind) return;
      c.off("message", on);
      resolve(m as T);
    };
    c.on("message", on);
  });
}

async function minimalStep(server: ChildProcess, client: ChildProcess, rate: number, seconds = SECONDS): Promise<Step> {
  client.send({ kind: "report" }); // resets the client's counters before the step
  await next(client, "report");
  server.send({ kind: "broadcast", rate, seconds, size: SIZE });
  await next(server, "broadcast-done");
  client.send({ kind: "window-end" });
  await new Promise((r) => setTimeout(r, 500)); // let in-flight messages land
  client.send({ kind: "report" });
  const r = await next<{ received: number; cpuUs: number; readSyscalls?: number; latencyUs: string; elu: number; loopDelayP99Ms: number }>(client, "report");
  const expected = Math.round(rate * seconds) * CLIENTS;
  // The fleet's own guard, applied to the minimal client too: both are held to one rule.
  const reasons = [
    ...(r.elu > GUARD.maxFleetElu ? [`event loop busy ${Math.round(r.elu * 100)}% of the time`] : []),
    ...(r.loopDelayP99Ms > GUARD.maxFleetLoopDelayMs ? [`event-loop delay p99 reached ${r.loopDelayP99Ms.toFixed(0)} ms`] : []),
  ];
  return {
    rate,
    deliveries: r.received,
    expected,
    p99Us: percentiles(decodeHistogram(r.latencyUs)).p99,
    clientCpuUsPerDelivery: r.received > 0 ? r.cpuUs / r.received : 0,
    deliveriesPerRead: r.readSyscalls ? r.received / r.readSyscalls : null,
    saturated: reasons.length > 0,
    note: reasons.length > 0 ? `saturated: ${reasons.join("; ")}` : "",
  };
}

/** A minimal pair, connected once and stepped by rate while rtbench's cells run between its steps. */
async function startMinimal(protocol: Protocol): Promise<{ step: (rate: number) => Promise<Step>; stop: () => void }> {
  const server = child("server", protocol);
  const client = child("client", protocol);
  const stop = (): void => {
    server.kill();
    client.kill();
  };
  try {
    await Promise.all([next(server, "ready"), next(client, "ready")]);
    server.send({ kind: "listen" });
    const { port } = await next<{ port: number }>(server, "listening");
    client.send({ kind: "connect", url: minimalUrl(protocol, port), clients: CLIENTS });
    await next(client, "connected");
    // A warm-up broadcast first, as rtbench's cells have one: the first step is not a cold start.
    await minimalStep(server, client, FIRST_RATE, 1);
  } catch (err) {
    stop();
    throw err;
  }
  return { step: (rate) => minimalStep(server, client, rate), stop };
}

/**
 * CPU seconds, seconds and read system calls in the samples whose whole interval lies
 * in [fromS, toS]: the measured window, which is what the minimal client's counters
 * cover too (they are reset before each broadcast), so neither side is charged for
 * starting or connecting.
 */
function cpuInWindow(samples: readonly ResourceSample[], fromS: number, toS: number): { cpuS: number; spanS: number; reads: number | null } {
  let cpuS = 0;
  let spanS = 0;
  let reads: number | null = 0;
  // The first sample closes the sampler's first one-second interval.
  let prev = (samples[0]?.t ?? 1) - 1;
  for (const s of samples) {
    if (prev >= fromS && s.t <= toS) {
      cpuS += (s.cpuPct / 100) * (s.t - prev);
      spanS += s.t - prev;
      reads = s.readSyscalls !== undefined && reads !== null ? reads + s.readSyscalls : null;
    }
    prev = s.t;
  }
  return { cpuS, spanS, reads };
}

/** One rtbench cell of `transport` × inproc at `rate`; its CPU per delivery is the fleet's over the measured window. */
async function fleetStep(transport: string, rate: number): Promise<Step> {
  const workload: Workload = { ...DEFAULTS, name: "bench", transports: [transport], clients: CLIENTS, rate, size: SIZE, duration: SECONDS, warmup: 1, drain: 5 };
  const cell = await runCell({ transport, broker: "inproc", repetition: 1, workload, scenario: getScenario("steady") }, { phase() {}, progress() {} });
  if (cell.status !== "ok") throw new Error(`${transport} at ${rate}/s failed: ${cell.error}`);
  // Each fleet process's CPU rate over whole sample intervals inside the window, summed, per delivery/s arriving in it.
  const windows = cell.resources.fleet.map((s) => cpuInWindow(s, workload.warmup, workload.warmup + workload.duration));
  const coresBusy = windows.reduce((sum, w) => sum + (w.spanS > 0 ? w.cpuS / w.spanS : 0), 0);
  const readsPerS = windows.every((w) => w.reads !== null) ? windows.reduce((sum, w) => sum + (w.spanS > 0 ? w.reads! / w.spanS : 0), 0) : 0;
  return {
    rate,
    deliveries: cell.counts.delivered,
    expected: cell.counts.expected,
    p99Us: cell.latencyUs.p99,
    clientCpuUsPerDelivery: cell.throughput > 0 ? (coresBusy * 1e6) / cell.throughput : 0,
    deliveriesPerRead: readsPerS > 0 ? cell.throughput / readsPerS : null,
    saturated: cell.saturated,
    note: cell.saturated ? `saturated: ${cell.saturationReasons.join("; ")}` : "",
  };
}

/**
 * Both setups of a protocol at each rate in turn (minimal, then rtbench's cell), so
 * the two figures a ratio divides were taken minutes apart at most, under the same
 * state of the machine; each setup stops at its first step that does not hold.
 */
async function interleavedSeries(protocol: Protocol): Promise<{ minimal: Step[]; fleet: Step[] }> {
  const minimal: Step[] = [];
  const fleet: Step[] = [];
  const pair = await startMinimal(protocol);
  try {
    for (let rate = FIRST_RATE; rate <= MAX_RATE; rate = Math.round(rate * 1.5)) {
      const minimalHolds = minimal.every(holds);
      const fleetHolds = fleet.every(holds);
      if (!minimalHolds && !fleetHolds) break;
      if (minimalHolds) {
        minimal.push(await pair.step(rate));
        log(`minimal ${protocol} pair`, minimal.at(-1)!);
      }
      if (fleetHolds) {
        fleet.push(await fleetStep(protocol, rate));
        log(`rtbench ${protocol} × inproc`, fleet.at(-1)!);
      }
    }
  } finally {
    pair.stop();
  }
  return { minimal, fleet };
}

function holds(s: Step): boolean {
  return s.p99Us < P99_LIMIT_US && s.deliveries >= s.expected && !s.saturated;
}

function log(name: string, s: Step): void {
  process.stdout.write(
    `  ${name.padEnd(22)} ${String(s.rate).padStart(5)} msg/s × ${CLIENTS}: ${s.deliveries}/${s.expected} delivered, ` +
      `p99 ${(s.p99Us / 1000).toFixed(1)} ms, client CPU ${s.clientCpuUsPerDelivery.toFixed(2)} µs/delivery, ${s.deliveriesPerRead?.toFixed(2) ?? "n/a"} deliveries/read ${s.note}\n`,
  );
}

function summarize(steps: Step[]): { maxRate: number; at: (rate: number) => Step | undefined } {
  const held = steps.filter(holds);
  return { maxRate: held.length ? held.at(-1)!.rate : 0, at: (rate) => steps.find((s) => s.rate === rate) };
}

/** The load the issue's own figures were taken at (338 msg/s × 100), where neither client is near its limit. */
const REFERENCE_RATE = 338;

async function main(): Promise<void> {
  process.stdout.write(`bench:harness — ${CLIENTS} clients, ${SIZE} B, ${SECONDS} s per step, rates ×1.5 from ${FIRST_RATE}/s\n`);
  const rows: Array<{ protocol: Protocol; minimal: ReturnType<typeof summarize>; fleet: ReturnType<typeof summarize> }> = [];
  for (const protocol of PROTOCOLS) {
    const { minimal, fleet } = await interleavedSeries(protocol);
    rows.push({ protocol, minimal: summarize(minimal), fleet: summarize(fleet) });
  }

  // Per protocol, CPU per delivery is compared at the highest rate both its setups held
  // (the same load for both; where neither held a step, at the first step), and at the
  // reference rate. Deliveries per read say how much of a difference is the kernel's:
  // a client that falls behind reads several messages per call and pays fewer calls.
  const fmt = (v: number | null | undefined): string => (v === null || v === undefined ? "n/a" : v.toFixed(2));
  const ratio = (a: Step | undefined, b: Step | undefined): string => (a && b && b.clientCpuUsPerDelivery > 0 ? (a.clientCpuUsPerDelivery / b.clientCpuUsPerDelivery).toFixed(2) : "n/a");
  const at = (a: ReturnType<typeof summarize>, b: ReturnType<typeof summarize>): number => Math.min(a.maxRate, b.maxRate) || FIRST_RATE;
  const lines = [
    "",
    `| transport | minimal client holds | fleet holds | ratio (aim ≥ 1) | compared at | minimal µs/delivery | fleet µs/delivery | ratio (aim ≤ 0.8) | deliveries/read, minimal / fleet | ratio at ${REFERENCE_RATE}/s |`,
    "|---|---|---|---|---|---|---|---|---|---|",
  ];
  for (const { protocol, minimal, fleet } of rows) {
    const rate = at(minimal, fleet);
    const [base, mine] = [minimal.at(rate), fleet.at(rate)];
    lines.push(
      `| ${protocol} | ${minimal.maxRate}/s | ${fleet.maxRate}/s | ${minimal.maxRate ? (fleet.maxRate / minimal.maxRate).toFixed(2) : "n/a"} | ${rate}/s | ${fmt(base?.clientCpuUsPerDelivery)} | ${fmt(
        mine?.clientCpuUsPerDelivery,
      )} | ${ratio(mine, base)} | ${fmt(base?.deliveriesPerRead)} / ${fmt(mine?.deliveriesPerRead)} | ${ratio(fleet.at(REFERENCE_RATE), minimal.at(REFERENCE_RATE))} |`,
    );
  }
  const [ws, sse] = [rows.find((r) => r.protocol === "ws"), rows.find((r) => r.protocol === "sse")];
  if (ws && sse) {
    const both = at(ws.fleet, sse.fleet);
    lines.push("", `SSE fleet / WebSocket fleet, CPU per delivery at ${both}/s: ${ratio(sse.fleet.at(both), ws.fleet.at(both))} (aim ≤ 1)`);
  }
  process.stdout.write(`${lines.join("\n")}\n`);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`bench:harness: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
