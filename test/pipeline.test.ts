/**
 * The whole pipeline between real processes over real sockets: coordinator, relay
 * process, fleet process, for each transport.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { RunResult } from "../results/schema.js";
import { decodeHistogram } from "../core/histogram.js";
import { readOnlyRun, rtbenchChildren, runCli, tempDir } from "./helpers.js";

test("sse and ws × inproc deliver every message with plausible latency", async () => {
  const out = tempDir();
  const r = await runCli([
    "run",
    "--transports", "sse,ws",
    "--brokers", "inproc",
    "--clients", "40",
    "--topics", "2",
    "--rate", "400",
    "--duration", "3",
    "--warmup", "1",
    "--fleet-processes", "2",
    "--out", out,
  ]);
  assert.equal(r.code, 0, r.stderr);
  const run = readOnlyRun(out);
  assert.equal(run.schemaVersion, 1);
  assert.ok(run.environment.cores >= 1 && run.environment.node.startsWith("v"));
  assert.deepEqual(run.cells.map((c) => c.transport), ["sse", "ws"]);
  for (const cell of run.cells) {
    const name = `${cell.transport} × ${cell.broker}`;
    assert.equal(cell.status, "ok", `${name}: ${cell.error}`);
    // 1600 messages over two topics; 20 clients on each topic get every message of theirs.
    assert.equal(cell.published, 1600, name);
    assert.deepEqual(cell.counts, { expected: 32_000, delivered: 32_000, lost: 0, duplicated: 0, reordered: 0 }, name);
    assert.equal(cell.connections.open, 40, name);
    // Latency is counted for the measured window only: 3 s of 4 at 400/s, to 20 clients per message.
    assert.equal(cell.latencyUs.count, 24_000, name);
    assert.equal(decodeHistogram(cell.histograms.latencyUs).totalCount, 24_000, name);
    assert.ok(cell.latencyUs.p50 > 0, `${name} p50 ${cell.latencyUs.p50}`);
    assert.ok(cell.latencyUs.p99 < 500_000, `${name} p99 ${cell.latencyUs.p99} µs is implausible at 400 msg/s`);
    // Measured from the intended time, latency can only be longer than from the send time.
    assert.ok(cell.latencyUs.p50 >= cell.latencyFromSentUs.p50, name);
    // 400/s to 20 clients per topic; by arrival time, so only the window's edges may differ.
    assert.ok(Math.abs(cell.throughput - 8_000) < 80, `${name} throughput ${cell.throughput}`);
    assert.equal(cell.saturated, false, `${name}: ${cell.saturationReasons.join("; ")}`);
    assert.ok(cell.resources.relay.length >= 3, `${name} relay samples`);
    assert.equal(cell.resources.fleet.length, 2, `${name} one sample series per fleet process`);
    for (const series of cell.resources.fleet) assert.ok(series.length >= 3 && series[0]!.rssBytes > 0, name);
  }
  assert.deepEqual(await rtbenchChildren(), [], "no child process is left running");
});

test("the smallest run, a single message, is accounted for at every client", async () => {
  const out = tempDir();
  // 1 message/s for 1 s: one message, which each of the three clients must get.
  const r = await runCli(["run", "--transports", "ws", "--brokers", "inproc", "--clients", "3", "--rate", "1", "--duration", "1", "--warmup", "0", "--out", out]);
  assert.equal(r.code, 0, r.stderr);
  const cell = readOnlyRun(out).cells[0]!;
  assert.equal(cell.counts.expected, 3);
  assert.equal(cell.counts.delivered, 3);
});

test("one fleet process holds 2,000 connections of each transport and loses nothing; paced connects take their time", async () => {
  const out = tempDir();
  const r = await runCli(["run", "--transports", "sse,ws", "--brokers", "inproc", "--clients", "2000", "--rate", "5", "--duration", "2", "--warmup", "0", "--out", out]);
  assert.equal(r.code, 0, r.stderr);
  // The same 2,000 over ws, paced at 4,000 a second: the last may start no sooner than 1999/4000 s after the first.
  const paced = tempDir();
  const p = await runCli(["run", "--transports", "ws", "--brokers", "inproc", "--clients", "2000", "--connect-rate", "4000", "--rate", "5", "--duration", "2", "--warmup", "0", "--out", paced]);
  assert.equal(p.code, 0, p.stderr);
  const pacedCell = readOnlyRun(paced).cells[0]!;
  assert.ok(pacedCell.connections.openingS! >= 1999 / 4000, `paced: opened over ${pacedCell.connections.openingS} s`);
  assert.equal(pacedCell.params.connectRate, 4000);
  for (const cell of [...readOnlyRun(out).cells, pacedCell]) {
    assert.equal(cell.params.fleetProcesses, 1);
    const { openingS, ...connections } = cell.connections;
    assert.deepEqual(connections, { attempted: 2000, open: 2000, failed: 0, disconnects: 0 }, cell.transport);
    assert.ok(openingS !== undefined && openingS > 0, `${cell.transport}: opened over ${openingS} s`);
    assert.equal(cell.counts.expected, 20_000, cell.transport);
    assert.equal(cell.counts.lost, 0, cell.transport);
    assert.equal(cell.connectUs.count, 2000, cell.transport);
    assert.equal(cell.firstEventUs.count, 2000, cell.transport);
    assert.equal(cell.clockAnomalies, 0, cell.transport);
  }
});

test("every transport delivers everything, with idle memory and bytes on the wire per message", async () => {
  const out = tempDir();
  const r = await runCli(
    ["run", "--transports", "all", "--brokers", "inproc", "--clients", "20", "--rate", "100", "--duration", "1", "--warmup", "0", "--poll-interval", "200ms", "--out", out],
    { timeoutMs: 170_000 },
  );
  assert.equal(r.code, 0, r.stderr);
  const cells = readOnlyRun(out).cells;
  const byName = new Map(cells.map((c) => [c.transport, c]));
  assert.deepEqual(
    [...byName.keys()],
    ["sse", "sse-h2", "ws", "ws-deflate", "ws-preframed", "socketio", "socketio-polling", "socketio-upgrade", "socketio-redis", "socketio-redis-streams", "longpoll", "shortpoll", "grpc", "direct"],
  );
  // Clients cannot subscribe directly to a broker that lives inside the relay process.
  assert.equal(byName.get("direct")!.status, "unavailable");
  assert.match(byName.get("direct")!.error!, /in-process broker/);
  for (const cell of cells.filter((c) => c.transport !== "direct")) {
    const name = cell.transport;
    assert.equal(cell.status, "ok", `${name}: ${cell.error}`);
    // 100 messages (1 s at 100/s), each to all 20 clients.
    assert.deepEqual(cell.counts, { expected: 2_000, delivered: 2_000, lost: 0, duplicated: 0, reordered: 0 }, name);
    assert.equal(cell.idleMemoryPerConnection?.connections, 20, `${name}: the relay counts its idle connections`);
    assert.equal(typeof cell.idleMemoryPerConnection?.heapBytes, "number", name);
    const perMessage = cell.wire?.bytesPerDelivery ?? 0;
    // Framing adds to the 256-byte body (compression aside), and no transport should need 10× the body.
    if (name !== "ws-deflate") assert.ok(perMessage >= 256, `${name}: ${perMessage} bytes on the wire per message`);
    assert.ok(perMessage < 2_560, `${name}: ${perMessage} bytes on the wire per message`);
  }
  // The padding compresses well, so permessage-deflate must show on the wire.
  assert.ok(byName.get("ws-deflate")!.wire!.bytesPerDelivery! < byName.get("ws")!.wire!.bytesPerDelivery! / 2);
  assert.equal(byName.get("sse-h2")!.params.tls, true, "the variant's details are recorded");
  assert.equal(byName.get("shortpoll")!.params.pollIntervalS, 0.2);
  // A short poll every 200 ms: the wait shows in the latency, as it does for users.
  assert.ok(byName.get("shortpoll")!.latencyUs.p50 > 20_000, `shortpoll p50 ${byName.get("shortpoll")!.latencyUs.p50} µs`);
  assert.deepEqual(await rtbenchChildren(), [], "no child process is left running");
});

test("a suite runs its parts into one run folder, with an overall progress line, and the report reads them all", async () => {
  const dir = tempDir();
  const file = join(dir, "two.yaml");
  writeFileSync(
    file,
    [
      "name: two",
      "clients: 2",
      "rate: 20",
      "warmup: 0",
      "drain: 2",
      "suite:",
      "  - { name: plain, scenario: steady, transports: [ws], brokers: [inproc], duration: 0.5 }",
      "  - { name: order, scenario: ordering, transports: [sse, direct], brokers: [inproc], duration: 0.5 }",
    ].join("\n"),
  );
  const out = join(dir, "runs");
  const r = await runCli(["run", file, "--out", out, "--report"], { cwd: dir });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /3 cell\(s\) of the suite "two" \(plain: steady, order: ordering\)/);
  assert.match(r.stderr, /\[2\/3, \d+s elapsed, ~\d+s left\] sse × inproc ordering \(order\)/);
  const [id] = readdirSync(out);
  const run = JSON.parse(readFileSync(join(out, id!, "result.json"), "utf8")) as RunResult;
  assert.deepEqual(run.parts!.map((p) => [p.name, p.scenario, p.duration]), [["plain", "steady", 0.5], ["order", "ordering", 0.5]]);
  assert.deepEqual(run.cells.map((c) => `${c.transport} ${c.scenario} ${c.status}`), ["ws steady ok", "sse ordering ok", "direct ordering unavailable"]);
  const html = readFileSync(join(dir, "reports", id!, "index.html"), "utf8");
  assert.match(html, /the suite <b>two<\/b>/);
  assert.match(html, /<b>order<\/b>: ordering/);
  assert.deepEqual(await rtbenchChildren(), [], "no child process is left running");
});
