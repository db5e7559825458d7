/**
 * bench:harness — is the harness ever what limits a measurement?
 *
 * Runs, in one job on one machine, a minimal hand-written ws pair (the baseline) and
 * rtbench's own ws × inproc and sse × inproc cells at the same stepped rates with the
 * same 100 clients, and prints per setup: the client side's CPU per delivery and the
 * highest rate held with p99 < 50 ms, nothing lost and no load generator saturated,
 * then ratios to the baseline.
 */
import { fork, type ChildProcess } from "node:child_process";
import { decodeHistogram, percentiles } from "../core/histogram.js";
import { runCell } from "../harness/runner.js";
import { getScenario } from "../harness/scenarios/index.js";
import type { ResourceSample } from "../core/sampler.js";
import { DEFAULTS, type Workload } from "../harness/workload.js";

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

function child(role: string): ChildProcess {
  return fork(new URL("./minimal-pair.js", import.meta.url), [role], { stdio: ["ignore", "inherit", "inherit", "ipc"] });
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

async function minimalStep(server: ChildProcess, client: ChildProcess, rate: number): Promise<Step> {
  await next(client, "report").catch(() => undefined);
  server.send({ kind: "broadcast", rate, seconds: SECONDS, size: SIZE });
  await next(server, "broadcast-done");
  await new Promise((r) => setTimeout(r, 500)); // let in-flight messages land
  client.send({ kind: "report" });
  const r = await next<{ received: number; cpuUs: number; latencyUs: string }>(client, "report");
  const expected = Math.round(rate * SECONDS) * CLIENTS;
  return {
    rate,
    deliveries: r.received,
    expected,
    p99Us: percentiles(decodeHistogram(r.latencyUs)).p99,
    clientCpuUsPerDelivery: r.received > 0 ? r.cpuUs / r.received : 0,
    saturated: false,
    note: "",
  };
}

async function minimalSeries(): Promise<Step[]> {
  const server = child("server");
  const client = child("client");
  await Promise.all([next(server, "ready"), next(client, "ready")]);
  server.send({ kind: "listen" });
  const { port } = await next<{ port: number }>(server, "listening");
  client.send({ kind: "connect", url: `ws://127.0.0.1:${port}`, clients: CLIENTS });
  await next(client, "connected");
  const steps: Step[] = [];
  try {
    for (let rate = FIRST_RATE; rate <= MAX_RATE; rate = Math.round(rate * 1.5)) {
      client.send({ kind: "report" }); // reset counters before the step
      const step = await minimalStep(server, client, rate);
      steps.push(step);
      log("minimal ws pair", step);
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
  const baseline = summarize(await minimalSeries());
  const results: Array<[string, ReturnType<typeof summarize>]> = [];
  for (const t of ["ws", "sse"]) results.push([t, summarize(await rtbenchSeries(t))]);

  // Compare CPU per delivery at the highest rate every setup held (same load for all).
  const common = Math.min(baseline.maxRate, ...results.map(([, r]) => r.maxRate));
  const base = baseline.cpuAt(common);
  process.stdout.write(`\nminimal ws pair: holds ${baseline.maxRate} msg/s (${baseline.maxRate * CLIENTS} deliveries/s); ` +
    `client CPU ${base?.toFixed(2) ?? "n/a"} µs/delivery at ${common} msg/s\n`);
  for (const [t, r] of results) {
    const cpu = r.cpuAt(common);
    process.stdout.write(
      `rtbench ${t} × inproc: holds ${r.maxRate} msg/s (ratio ${(r.maxRate / (baseline.maxRate || 1)).toFixed(2)}, aim ≥ 1); ` +
        `fleet CPU ${cpu?.toFixed(2) ?? "n/a"} µs/delivery at ${common} msg/s ` +
        `(ratio ${cpu !== undefined && base ? (cpu / base).toFixed(2) : "n/a"}, aim ≤ 0.5)\n`,
    );
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`bench:harness: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
