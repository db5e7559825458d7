/**
 * bench:harness — is the harness ever what limits a measurement?
 *
 * Runs, in one job on one machine, per protocol a minimal hand-written pair (the
 * baseline: bench/minimal-pair.ts) and rtbench's own cell of that transport × inproc,
 * at the same stepped rates with the same 100 clients, and prints per setup: the client
 * side's CPU per delivery and the highest rate held with p99 < 50 ms, nothing lost and
 * the client process not saturated (the fleet's guard, applied to both), then ratios
 * to that protocol's baseline.
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
  const r = await next<{ received: number; cpuUs: number; latencyUs: string; elu: number; loopDelayP99Ms: number }>(client, "report");
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
    saturated: reasons.length > 0,
    note: reasons.length > 0 ? `saturated: ${reasons.join("; ")}` : "",
  };
}

async function minimalSeries(protocol: Protocol): Promise<Step[]> {
  const server = child("server", protocol);
  const client = child("client", protocol);
  await Promise.all([next(server, "ready"), next(client, "ready")]);
  server.send({ kind: "listen" });
  const { port } = await next<{ port: number }>(server, "listening");
  client.send({ kind: "connect", url: minimalUrl(protocol, port), clients: CLIENTS });
  await next(client, "connected");
  // A warm-up broadcast first, as rtbench's cells have one: the first step is not a cold start.
  await minimalStep(server, client, FIRST_RATE, 1);
  const steps: Step[] = [];
  try {
    for (let rate = FIRST_RATE; rate <= MAX_RATE; rate = Math.round(rate * 1.5)) {
      const step = await minimalStep(server, client, rate);
      steps.push(step);
      log(`minimal ${protocol} pair`, step);
      if (!holds(step)) break;
    }
  } finally {
    server.kill();
    client.kill();
  }
  return steps;
}

/** Seconds of CPU in a sample series (cpuPct is % of one core over each interval). */
function cpuSeconds(samples: readonly ResourceSample[]): number {
  let total = 0;
  // The first sample closes the sampler's first one-second interval.
  let prev = (samples[0]?.t ?? 1) - 1;
  for (const s of samples) {
    total += (s.cpuPct / 100) * (s.t - prev);
    prev = s.t;
  }
  return total;
}

async function rtbenchSeries(transport: string): Promise<Step[]> {
  const steps: Step[] = [];
  for (let rate = FIRST_RATE; rate <= MAX_RATE; rate = Math.round(rate * 1.5)) {
    const workload: Workload = { ...DEFAULTS, name: "bench", transports: [transport], clients: CLIENTS, rate, size: SIZE, duration: SECONDS, warmup: 1, drain: 5 };
    const cell = await runCell({ transport, broker: "inproc", repetition: 1, workload, scenario: getScenario("steady") }, { phase() {}, progress() {} });
    if (cell.status !== "ok") throw new Error(`${transport} at ${rate}/s failed: ${cell.error}`);
    const cpuUs = cell.resources.fleet.reduce((sum, s) => sum + cpuSeconds(s), 0) * 1e6;
    const step: Step = {
      rate,
      deliveries: cell.counts.delivered,
      expected: cell.counts.expected,
      p99Us: cell.latencyUs.p99,
      clientCpuUsPerDelivery: cell.counts.delivered > 0 ? cpuUs / cell.counts.delivered : 0,
      saturated: cell.saturated,
      note: cell.saturated ? `saturated: ${cell.saturationReasons.join("; ")}` : "",
    };
    steps.push(step);
    log(`rtbench ${transport} × inproc`, step);
    if (!holds(step)) break;
  }
  return steps;
}

function holds(s: Step): boolean {
  return s.p99Us < P99_LIMIT_US && s.deliveries >= s.expected && !s.saturated;
}

function log(name: string, s: Step): void {
  process.stdout.write(
    `  ${name.padEnd(22)} ${String(s.rate).padStart(5)} msg/s × ${CLIENTS}: ${s.deliveries}/${s.expected} delivered, ` +
      `p99 ${(s.p99Us / 1000).toFixed(1)} ms, client CPU ${s.clientCpuUsPerDelivery.toFixed(2)} µs/delivery ${s.note}\n`,
  );
}

function summarize(steps: Step[]): { maxRate: number; cpuAt: (rate: number) => number | undefined } {
  const held = steps.filter(holds);
  return {
    maxRate: held.length ? held.at(-1)!.rate : 0,
    cpuAt: (rate) => steps.find((s) => s.rate === rate)?.clientCpuUsPerDelivery,
  };
}

async function main(): Promise<void> {
  process.stdout.write(`bench:harness — ${CLIENTS} clients, ${SIZE} B, ${SECONDS} s per step, rates ×1.5 from ${FIRST_RATE}/s\n`);
  const rows: Array<{ protocol: Protocol; minimal: ReturnType<typeof summarize>; fleet: ReturnType<typeof summarize> }> = [];
  for (const protocol of PROTOCOLS) rows.push({ protocol, minimal: summarize(await minimalSeries(protocol)), fleet: summarize(await rtbenchSeries(protocol)) });

  // Per protocol, CPU per delivery is compared at the highest rate both its setups held
  // (the same load for both); where neither held a step, at the first step.
  const fmt = (v: number | undefined): string => v?.toFixed(2) ?? "n/a";
  const at = (a: ReturnType<typeof summarize>, b: ReturnType<typeof summarize>): number => Math.min(a.maxRate, b.maxRate) || FIRST_RATE;
  const lines = [
    "",
    "| transport | minimal client holds | fleet holds | ratio (aim ≥ 1) | compared at | minimal µs/delivery | fleet µs/delivery | ratio (aim ≤ 0.8) |",
    "|---|---|---|---|---|---|---|---|",
  ];
  for (const { protocol, minimal, fleet } of rows) {
    const rate = at(minimal, fleet);
    const base = minimal.cpuAt(rate);
    const cpu = fleet.cpuAt(rate);
    lines.push(
      `| ${protocol} | ${minimal.maxRate}/s | ${fleet.maxRate}/s | ${minimal.maxRate ? (fleet.maxRate / minimal.maxRate).toFixed(2) : "n/a"} | ${rate}/s | ${fmt(base)} | ${fmt(cpu)} | ${
        cpu !== undefined && base ? (cpu / base).toFixed(2) : "n/a"
      } |`,
    );
  }
  const [ws, sse] = [rows.find((r) => r.protocol === "ws"), rows.find((r) => r.protocol === "sse")];
  if (ws && sse) {
    const both = at(ws.fleet, sse.fleet);
    const wsCpu = ws.fleet.cpuAt(both);
    const sseCpu = sse.fleet.cpuAt(both);
    lines.push("", `SSE fleet / WebSocket fleet, CPU per delivery at ${both}/s: ${wsCpu && sseCpu !== undefined ? (sseCpu / wsCpu).toFixed(2) : "n/a"} (aim ≤ 1)`);
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
