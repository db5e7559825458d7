/**
 * `rtbench worker` against known answers: two workers, each in a network namespace of
 * its own (a host with its own address, its traffic crossing veth interfaces), the
 * second also in a time namespace whose monotonic clock runs 1000 s ahead. A cell run
 * across them counts what the same cell counts on this machine, its merged histogram
 * holds every measured delivery, and its latencies are on the coordinator's clock (the
 * 1000 s measured and removed within the recorded bound). A wrong token runs nothing; a
 * worker killed mid-cell fails that cell, named, and the finished cell is kept.
 */
import assert from "node:assert/strict";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { after, before, test } from "node:test";
import { WebSocket } from "ws";
import { decodeHistogram } from "../core/histogram.js";
import { netnsProblem, RelayNamespace } from "../harness/netns.js";
import { fleetLayout } from "../harness/runner.js";
import { roundRobin, segmentOf } from "../harness/segments.js";
import { bestReading, Workers } from "../harness/workers.js";
import type { CellResult, Workload } from "../results/schema.js";
import { CLI, processTree, readOnlyRun, rtbenchChildren, runCli, startCli, tempDir, waitFor } from "./helpers.js";

const TOKEN = "test-token-0123456789";
const SKEW_S = 1000;
const skip = netnsProblem() ?? false;
const timeNamespaces = skip === false && spawnSync("unshare", ["--time", "--monotonic", "1", "true"]).status === 0;

test("worker i of n gets its exact share of the clients, and the shares add up", () => {
  for (const [clients, n] of [[10, 3], [7, 7], [5, 8], [100_000, 6], [1, 2]] as const) {
    const shares = Array.from({ length: n }, (_, i) => segmentOf(clients, i, n));
    assert.deepEqual(shares.flat(), Array.from({ length: clients }, (_, i) => i), `${clients} over ${n}: every client once, in order`);
    const sizes = shares.map((s) => s.length);
    assert.ok(Math.max(...sizes) - Math.min(...sizes) <= 1, `${clients} over ${n}: shares differ by at most one (${sizes})`);
  }
  assert.deepEqual(roundRobin([0, 1, 2, 3, 4], 2), [[0, 2, 4], [1, 3]]);
  assert.throws(() => segmentOf(10, 3, 3), /expected 0 <= i < n/);
  // On this machine the layout is the old one: client i in process i mod P, each process its own source address.
  const w = { clients: 5, fleetProcesses: 2 } as Workload;
  assert.deepEqual(fleetLayout(w, 0), [{ ids: [0, 2, 4], local: 0 }, { ids: [1, 3], local: 1 }]);
  // Worker j's processes in proportion to its share (rounded up), its clients round-robin over them.
  assert.deepEqual(fleetLayout(w, 2), [{ ids: [0, 1], worker: 0 }, { ids: [2, 4], worker: 1 }, { ids: [3], worker: 1 }]);
  assert.deepEqual(fleetLayout({ clients: 1, fleetProcesses: 0 } as Workload, 2), [{ ids: [0], worker: 1 }]);
});

test("the clock offset comes from the exchange with the least round trip, bounded by half of it", () => {
  // The worker runs 500 µs ahead; the first exchange waited 300 µs on the way back, the second none.
  const r = bestReading([
    { sentNs: 0, atNs: 500_000 + 50_000, receivedNs: 400_000 },
    { sentNs: 1_000_000, atNs: 1_500_000 + 20_000, receivedNs: 1_040_000 },
  ]);
  assert.equal(r.boundNs, 20_000);
  assert.equal(r.offsetNs, 500_000);
  assert.throws(() => bestReading([]), /no clock exchange/);
});

test("bad worker flags are refused before anything starts (exit 2)", async () => {
  const out = tempDir();
  const env = { RTBENCH_WORKER_TOKEN: TOKEN };
  const cases: Array<[string[], RegExp, Record<string, string>]> = [
    [["--workers", "nohost"], /flag --workers: expected HOST:PORT/, env],
    [["--workers", "a:1,a:1"], /a:1 is given twice/, env],
    [["--workers", "127.0.0.1:9"], /RTBENCH_WORKER_TOKEN/, { RTBENCH_WORKER_TOKEN: "" }],
    [["--workers", "127.0.0.1:9", "--transports", "direct"], /transport direct subscribes each client to the broker itself/, env],
    [["--workers", "127.0.0.1:9", "--await-workers", "2"], /not both/, env],
    // Nothing listens there: the worker is named, nothing was measured.
    [["--workers", "127.0.0.1:9", "--transports", "sse"], /flag --workers: worker 127\.0\.0\.1:9: .*ECONNREFUSED/, env],
  ];
  for (const [args, message, e] of cases) {
    const r = await runCli(["run", "--duration", "1", "--out", out, ...args], { env: e });
    assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
    assert.match(r.stderr, message);
  }
  assert.deepEqual(await rtbenchChildren(), []);
});

interface StartedWorker {
  ns: RelayNamespace;
  child: ChildProcess;
  address: string;
  stderr: () => string;
}

async function startWorker(skewS: number): Promise<StartedWorker> {
  const ns = await RelayNamespace.create();
  const skew = skewS > 0 ? ["unshare", "--time", "--monotonic", String(skewS)] : [];
  const child = spawn("ip", [...ns.exec, ...skew, process.execPath, CLI, "worker", "--listen", `${ns.relayIp}:7420`, "--log", `${tempDir()}/worker.log`], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, RTBENCH_WORKER_TOKEN: TOKEN },
  });
  let out = "";
  let err = "";
  child.stdout!.on("data", (c: Buffer) => (out += c.toString()));
  child.stderr!.on("data", (c: Buffer) => (err += c.toString()));
  await waitFor(() => /^listening /m.test(out), 15_000, `the worker in ${ns.name} to listen (${err})`);
  return { ns, child, address: `${ns.relayIp}:7420`, stderr: () => err };
}

const workers: StartedWorker[] = [];

before(async () => {
  if (skip) return;
  workers.push(await startWorker(0), await startWorker(timeNamespaces ? SKEW_S : 0));
});

after(async () => {
  for (const w of workers) for (const pid of processTree(w.child.pid!).reverse()) spawnSync("kill", ["-9", String(pid)]);
  for (const w of workers) await w.ns.remove();
});

const cellArgs = ["run", "--scenario", "steady", "--brokers", "inproc", "--clients", "30", "--topics", "1", "--rate", "100", "--warmup", "1", "--duration", "2", "--drain", "2"];

test("a cell across two workers in namespaces counts what it counts here, on the coordinator's clock", { skip }, async () => {
  const local = tempDir();
  const apart = tempDir();
  const env = { RTBENCH_WORKER_TOKEN: TOKEN };
  const here = await runCli([...cellArgs, "--transports", "sse", "--out", local]);
  assert.equal(here.code, 0, here.stderr);
  const there = await runCli([...cellArgs, "--transports", "sse", "--out", apart, "--workers", workers.map((w) => w.address).join(",")], { env });
  assert.equal(there.code, 0, there.stderr);
  const a = readOnlyRun(local).cells[0]!;
  const b = readOnlyRun(apart).cells[0]!;
  assert.equal(b.status, "ok", b.error);
  assert.deepEqual(b.counts, a.counts, "the same counts as on this machine");
  assert.equal(b.counts.lost, 0);
  assert.equal(b.counts.delivered, 30 * 300, "every message to every client");
  // Every delivery of the measured window is in the merged histogram: 30 clients × 200 messages.
  assert.equal(decodeHistogram(b.histograms.latencyUs).totalCount, 30 * 200);
  assert.equal(decodeHistogram(a.histograms.latencyUs).totalCount, 30 * 200);
  const hosts = b.workers!.hosts;
  assert.deepEqual(
    hosts.map((h) => [h.name, h.clients]),
    workers.map((w) => [w.address, 15]),
  );
  // Each worker's offset found within its bound: none for the first, the time namespace's for the second.
  const skew = timeNamespaces ? SKEW_S * 1e6 : 0;
  assert.ok(Math.abs(hosts[0]!.offsetUs) <= hosts[0]!.clockErrorBoundUs, `first worker: offset ${hosts[0]!.offsetUs} µs within ${hosts[0]!.clockErrorBoundUs}`);
  assert.ok(Math.abs(hosts[1]!.offsetUs - skew) <= hosts[1]!.clockErrorBoundUs, `second worker: offset ${hosts[1]!.offsetUs} µs, ${skew} µs within ${hosts[1]!.clockErrorBoundUs}`);
  // Removed: no interval came out negative, and none carries the 1000 s.
  assert.equal(b.clockAnomalies, 0);
  assert.ok(b.latencyUs.max < 1e6, `latency max ${b.latencyUs.max} µs`);
  assert.equal(b.workers!.clockBoundLarge, !(b.workers!.clockErrorBoundUs <= 0.1 * b.latencyUs.p50));
});

test("a wrong or missing token is refused, logged, and runs nothing", { skip }, async () => {
  const [w] = workers;
  await assert.rejects(Workers.dial([w!.address], "not-the-token-0123", "0"), /HTTP 401 \(wrong token/);
  await waitFor(() => /refused a connection from .*: wrong token/.test(w!.stderr()), 5_000, `the refusal in the worker's log (${w!.stderr()})`);
  const status = await new Promise<number>((resolve, reject) => {
    const ws = new WebSocket(`ws://${w!.address}/`);
    ws.once("unexpected-response", (_req, res) => resolve(res.statusCode ?? 0));
    ws.once("open", () => reject(new Error("a handshake without a token was let in")));
  });
  assert.equal(status, 401, "a handshake without a token is refused");
  await waitFor(() => /refused a connection from .*: no token/.test(w!.stderr()), 5_000, `the refusal in the worker's log (${w!.stderr()})`);
  assert.deepEqual(processTree(w!.child.pid!).length, 1, "the worker started nothing");
});

test("a worker dials a coordinator that awaits it (Compose's way), serves one run and leaves (--once)", { skip }, async () => {
  const out = tempDir();
  const ns = workers[0]!.ns;
  const port = 7421;
  const run = runCli([...cellArgs, "--transports", "ws", "--out", out, "--await-workers", "1", "--listen", `${ns.hostIp}:${port}`], { env: { RTBENCH_WORKER_TOKEN: TOKEN } });
  // Dialed before the coordinator listens: the worker tries again until it does.
  const worker = spawn("ip", [...ns.exec, process.execPath, CLI, "worker", "--coordinator", `${ns.hostIp}:${port}`, "--once", "--log", `${tempDir()}/worker.log`], {
    stdio: ["ignore", "ignore", "pipe"],
    env: { ...process.env, RTBENCH_WORKER_TOKEN: TOKEN, JOB_COMPLETION_INDEX: "0" },
  });
  const left = new Promise<number | null>((resolve) => worker.on("exit", resolve));
  const r = await run;
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /worker 10\.[\d.]+:\d+ registered \(1 of 1\)/);
  const cell = readOnlyRun(out).cells[0]!;
  assert.equal(cell.counts.delivered, 30 * 300);
  assert.equal(cell.counts.lost, 0);
  assert.deepEqual(cell.workers!.hosts.map((h) => h.clients), [30]);
  assert.equal(await left, 0, "the worker left after its one coordinator");
});

test("a worker killed mid-cell fails that cell, named; the cell before is kept", { skip }, async () => {
  const out = tempDir();
  const run = startCli([...cellArgs, "--transports", "sse,ws", "--duration", "4", "--out", out, "--workers", workers.map((w) => w.address).join(",")], { RTBENCH_WORKER_TOKEN: TOKEN });
  let err = "";
  run.stderr!.on("data", (c: Buffer) => (err += c.toString()));
  const exited = new Promise<number | null>((resolve) => run.on("exit", resolve));
  await waitFor(() => /ws × inproc steady measuring/.test(err), 60_000, `the second cell to measure (${err})`);
  // The host goes: the worker and every role it ran.
  const doomed = workers[1]!;
  for (const pid of processTree(doomed.child.pid!).reverse()) spawnSync("kill", ["-9", String(pid)]);
  assert.equal(await exited, 1, err);
  const cells: CellResult[] = readOnlyRun(out).cells;
  assert.deepEqual(
    cells.map((c) => [c.transport, c.status]),
    [
      ["sse", "ok"],
      ["ws", "failed"],
    ],
  );
  assert.match(cells[1]!.error ?? "", new RegExp(`worker ${doomed.address.replace(/\./g, "\\.")}`));
  await waitFor(async () => (await rtbenchChildren()).length === 0, 10_000, "no role left on this machine or the other worker");
});
