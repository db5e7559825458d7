/**
 * bench:fleet — does rtbench's client fleet stay cheaper than what it measures?
 *
 * Per transport and connection count, the same rtbench relays (bench/relay-server.ts,
 * at most 15,000 connections each) broadcast the same messages to either rtbench's own
 * fleet processes (harness/fleet-process.js, as `rtbench run` forks them) or minimal
 * hand-written client processes (bench/fleet-clients.ts), 10,000 connections to a
 * process on source addresses 127.0.0.x, the two taking turns. Read from /proc for both
 * alike: the client processes' CPU per delivery over the broadcast (until every
 * delivery is in) and their resident memory per connection once the messages have
 * flowed, less an empty process of the same kind. Printed: both, the ratios rtbench /
 * minimal (aim ≤ 1.2), and the fleet's CPU per delivery against the relays' (what it
 * measures; below 1 means the fleet is the cheaper side).
 *
 * Env: BENCH_CONNECTIONS (10000,50000), BENCH_TRANSPORTS (ws,sse), BENCH_MESSAGES (10).
 */
import { execFileSync, fork, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { nowNs } from "../core/clock.js";
import { CLIENTS_PER_PROCESS } from "../harness/assemble.js";
import type { FleetPlan } from "../harness/ipc.js";
import { next, runBench } from "./ipc.js";

const CONNECTIONS = (process.env.BENCH_CONNECTIONS ?? "10000,50000").split(",").map(Number);
const TRANSPORTS = (process.env.BENCH_TRANSPORTS ?? "ws,sse").split(",");
const MESSAGES = Number(process.env.BENCH_MESSAGES ?? 10);
/** Long enough for one fan-out to 50,000 on two cores to end before the next. */
const INTERVAL_MS = 1000;
const SIZE = 256;
/** Below the 20,000 open files a process may hold here. */
const PER_RELAY = 15_000;
/** As `rtbench run` opens them. */
const CONCURRENCY = 256;
const DRAIN_MS = 15_000;
const TICKS_PER_S = Number(execFileSync("getconf", ["CLK_TCK"]).toString().trim());

type Kind = "rtbench" | "minimal";

/** User + system CPU of a process so far, µs. */
function cpuUs(pid: number): number {
  // Fields after the command's closing parenthesis: state is field 3, utime 14, stime 15.
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return ((Number(fields[11]) + Number(fields[12])) / TICKS_PER_S) * 1e6;
}

function rssBytes(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return Number(m?.[1] ?? Number.NaN) * 1024;
}

/** A client process of the kind, with `count` connections opened over `urls` (client k to urls[(first + k) mod n]). */
async function clients(kind: Kind, transport: string, urls: string[], first: number, count: number, localAddress: string): Promise<ChildProcess> {
  const what = `${kind} ${transport} clients`;
  if (kind === "minimal") {
    const c = fork(new URL("./fleet-clients.js", import.meta.url), [transport], { stdio: ["ignore", "inherit", "inherit", "ipc"] });
    const rotated = urls.map((_, i) => urls[(first + i) % urls.length]!);
    c.send({ kind: "connect", urls: rotated, count, localAddress, concurrency: CONCURRENCY });
    await expectOpen(c, count, what);
    return c;
  }
  const c = fork(new URL("../harness/fleet-process.js", import.meta.url), [], { stdio: ["ignore", "inherit", "inherit", "ipc"], execArgv: ["--expose-gc"] });
  const plan: FleetPlan = {
    transport,
    baseUrls: urls,
    topics: new Array<number>(count).fill(0),
    relays: Array.from({ length: count }, (_, k) => (first + k) % urls.length),
    localAddress,
    connectConcurrency: CONCURRENCY,
    pollIntervalMs: 1000,
  };
  c.send({ kind: "init-fleet", plan });
  await expectOpen(c, count, what);
  return c;
}

async function expectOpen(c: ChildProcess, count: number, what: string): Promise<void> {
  const { open, failed } = await next<{ open: number; failed: number }>(c, "connected", 180_000, what);
  if (open !== count) throw new Error(`${what}: ${open} of ${count} opened (${failed} failed)`);
}

/** Resident memory of an empty client process of the kind: what a connection's share is counted above. */
async function emptyRss(kind: Kind, transport: string): Promise<number> {
  const c = await clients(kind, transport, ["http://127.0.0.1:9"], 0, 0, "127.0.0.1");
  await new Promise((r) => setTimeout(r, 1000));
  const rss = rssBytes(c.pid!);
  c.kill();
  return rss;
}

interface Figures {
  cpuUsPerDelivery: number;
  rssBytesPerConnection: number;
  relayCpuUsPerDelivery: number;
  delivered: number;
  expected: number;
}

async function measure(kind: Kind, transport: string, connections: number, empty: number): Promise<Figures> {
  const what = `${kind} ${transport} × ${connections}`;
  const relays: ChildProcess[] = [];
  const procs: ChildProcess[] = [];
  try {
    for (let left = connections; left > 0; left -= PER_RELAY) {
      relays.push(fork(new URL("./relay-server.js", import.meta.url), ["rtbench", transport], { stdio: ["ignore", "inherit", "inherit", "ipc"] }));
    }
    const urls = (await Promise.all(relays.map((r) => next<{ port: number }>(r, "ready", 30_000, `${what} relay`)))).map(({ port }) => `http://127.0.0.1:${port}`);
    for (let first = 0, i = 0; first < connections; first += CLIENTS_PER_PROCESS, i++) {
      procs.push(await clients(kind, transport, urls, first, Math.min(CLIENTS_PER_PROCESS, connections - first), `127.0.0.${2 + i}`));
    }
    const expected = MESSAGES * connections;
    // Every process's deliveries so far, from the progress each sends once a second after start.
    const delivered = new Map<ChildProcess, number>();
    for (const p of procs) p.on("message", (m: { kind: string; delivered?: number }) => m.kind === "progress" && delivered.set(p, m.delivered!));
    const sum = (): number => [...delivered.values()].reduce((a, b) => a + b, 0);
    const cpuBefore = procs.map((p) => cpuUs(p.pid!));
    const t = Math.round(nowNs());
    for (const p of procs) p.send(kind === "rtbench" ? { kind: "start", times: { startAt: t, measureFrom: t, measureUntil: t + MESSAGES * INTERVAL_MS * 1e6 } } : { kind: "start" });
    for (const r of relays) r.send({ kind: "broadcast", messages: MESSAGES, intervalMs: INTERVAL_MS, size: SIZE });
    const relayCpu = (await Promise.all(relays.map((r) => next<{ cpuUs: number }>(r, "broadcast-done", MESSAGES * INTERVAL_MS + 60_000, `${what} relay`)))).reduce((a, d) => a + d.cpuUs, 0);
    const deadline = Date.now() + DRAIN_MS;
    while (sum() < expected && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
    const cpu = procs.reduce((a, p, i) => a + cpuUs(p.pid!) - cpuBefore[i]!, 0);
    const rss = procs.reduce((a, p) => a + rssBytes(p.pid!) - empty, 0);
    const got = sum();
    return { cpuUsPerDelivery: cpu / got, rssBytesPerConnection: rss / connections, relayCpuUsPerDelivery: relayCpu / got, delivered: got, expected };
  } finally {
    for (const c of [...procs, ...relays]) c.kill();
    await new Promise((r) => setTimeout(r, 1000));
  }
}

async function main(): Promise<void> {
  process.stdout.write(`bench:fleet — ${MESSAGES} messages of ${SIZE} B, one a second, to ${CONNECTIONS.map((n) => n.toLocaleString("en")).join(" and ")} connections; ${CLIENTS_PER_PROCESS.toLocaleString("en")} to a client process\n\n`);
  const lines = [
    "| transport | connections | minimal µs/delivery | rtbench µs/delivery | ratio (aim ≤ 1.2) | minimal KB/connection | rtbench KB/connection | ratio (aim ≤ 1.2) | relay µs/delivery | rtbench fleet ÷ relay |",
    "|---|---|---|---|---|---|---|---|---|---|",
  ];
  for (const transport of TRANSPORTS) {
    const empty = { minimal: await emptyRss("minimal", transport), rtbench: await emptyRss("rtbench", transport) };
    for (const n of CONNECTIONS) {
      const minimal = await measure("minimal", transport, n, empty.minimal);
      const ours = await measure("rtbench", transport, n, empty.rtbench);
      const incomplete = [minimal, ours].some((f) => f.delivered < f.expected) ? ` (delivered ${minimal.delivered}/${minimal.expected} and ${ours.delivered}/${ours.expected})` : "";
      const kb = (f: Figures): string => (f.rssBytesPerConnection / 1024).toFixed(1);
      lines.push(
        `| ${transport} | ${n.toLocaleString("en")} | ${minimal.cpuUsPerDelivery.toFixed(2)} | ${ours.cpuUsPerDelivery.toFixed(2)} | ${(ours.cpuUsPerDelivery / minimal.cpuUsPerDelivery).toFixed(2)}${incomplete} | ${kb(minimal)} | ${kb(ours)} | ${(ours.rssBytesPerConnection / minimal.rssBytesPerConnection).toFixed(2)} | ${ours.relayCpuUsPerDelivery.toFixed(2)} | ${(ours.cpuUsPerDelivery / ours.relayCpuUsPerDelivery).toFixed(2)} |`,
      );
      process.stderr.write(`bench:fleet: ${transport} × ${n} done\n`);
    }
  }
  process.stdout.write(`${lines.join("\n")}\n`);
}

runBench("bench:fleet", main);
