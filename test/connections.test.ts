/**
 * The connections ramp against a known answer: a relay made to accept at most 30
 * sockets holds the steps of 10 and 20 connections and fails at 50, so the ramp ends
 * there with the system's own failure and reports 20. And the preflight refuses, in
 * one line and before starting anything, a plan this machine's limits cannot hold.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { canAddRelays, connectionSteps, stepPlan } from "../harness/scenarios/connections.js";
import { pairingProblem } from "../harness/pairing.js";
import { openFileLimit } from "../harness/limits.js";
import { readOnlyRun, rtbenchChildren, runCli, tempDir } from "./helpers.js";

const here = { openFiles: 20_000, ports: { from: 32_768, to: 60_999 } };

test("connection counts step 1-2-5 up to the workload's clients, which is always the last", () => {
  assert.deepEqual(connectionSteps(1000, 20_000), [1000, 2000, 5000, 10_000, 20_000]);
  assert.deepEqual(connectionSteps(1000, 30_000), [1000, 2000, 5000, 10_000, 20_000, 30_000]);
  assert.deepEqual(connectionSteps(10, 50), [10, 20, 50]);
  assert.deepEqual(connectionSteps(3, 3), [3]);
});

test("a step gets a fleet process per 5,000 connections, and more relays where one cannot hold them", () => {
  const w = { fleetProcesses: 0, relays: 1 };
  assert.deepEqual(stepPlan(w, 5000, true, here), { clients: 5000, fleetProcesses: 1, relays: 1 });
  assert.deepEqual(stepPlan(w, 10_000, true, here), { clients: 10_000, fleetProcesses: 2, relays: 1 });
  assert.deepEqual(stepPlan(w, 50_000, true, here), { clients: 50_000, fleetProcesses: 10, relays: 3 });
  assert.deepEqual(stepPlan(w, 50_000, false, here), { clients: 50_000, fleetProcesses: 10, relays: 1 }, "an in-process broker keeps one relay");
  assert.deepEqual(stepPlan({ fleetProcesses: 3, relays: 2 }, 1000, true, here), { clients: 1000, fleetProcesses: 3, relays: 2 }, "the workload's own figures stand");
  assert.equal(canAddRelays("ws", "inproc"), false);
  assert.equal(canAddRelays("socketio-redis", "inproc"), true);
  assert.equal(canAddRelays("sse", "redis-pubsub"), true);
  assert.match(pairingProblem("direct", "nats", { scenario: "connections", fault: "drop" }) ?? "", /counts what a relay holds, and direct has none/);
});

test("connections: a relay that accepts 30 sockets holds 20 connections and fails at 50", async () => {
  const out = tempDir();
  const r = await runCli(
    ["run", "--scenario", "connections", "--transports", "ws,sse", "--brokers", "inproc", "--ramp-from", "10", "--clients", "50",
      "--rate", "20", "--duration", "1", "--warmup", "0.5", "--drain", "2", "--out", out],
    { timeoutMs: 170_000, env: { RTBENCH_TEST_RELAY_MAX_CONNECTIONS: "30" } },
  );
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /open files per process: .*ephemeral ports/, "the preflight prints the limits");
  const run = readOnlyRun(out);
  assert.deepEqual(run.injected, { relayMaxConnections: 30 }, "the run says its limit was injected");
  for (const cell of run.cells) {
    const name = cell.transport;
    assert.equal(cell.status, "ok", `${name}: ${cell.error}`);
    const ramp = cell.ramp!;
    assert.deepEqual(ramp.steps.map((s) => s.clients), [10, 20, 50], name);
    assert.deepEqual(ramp.steps.map((s) => s.held), [true, true, false], name);
    assert.equal(ramp.stoppedBy, "failure", `${name}: ${ramp.steps.at(-1)!.reason}`);
    assert.equal(ramp.limitMeasured, true, name);
    assert.equal(ramp.maxConnections, 20, name);
    const failed = ramp.steps[2]!;
    assert.ok(failed.failed + failed.lost > 0, `${name}: the step past the limit lost connections or messages`);
    for (const step of ramp.steps.slice(0, 2)) {
      assert.equal(step.connectUs.count, step.clients, `${name}: every connection timed`);
      assert.equal(step.firstEventUs.count, step.clients, `${name}: every client's first event timed`);
      assert.ok(step.idleHeapPerConnectionBytes !== null && step.idleHeapPerConnectionBytes > 0, `${name}: an idle connection holds relay heap`);
    }
    // The cell's own figures are the highest step held.
    assert.equal(cell.params.clients, 20, name);
    assert.match(r.stdout, /held 20 connections \(failure at 50\)/);
  }
  assert.deepEqual(await rtbenchChildren(), []);
});

const limit = openFileLimit();

test("the connections preflight refuses, in one line, a ramp whose last step cannot fit", {
  skip: limit === null ? "this system reports no open-file limit" : false,
}, async () => {
  const clients = limit! + 10;
  const r = await runCli(["run", "--scenario", "connections", "--fleet-processes", "1", "--clients", String(clients), "--out", tempDir()]);
  assert.equal(r.code, 2);
  const lines = r.stderr.trim().split("\n");
  assert.equal(lines.length, 2, r.stderr);
  assert.match(lines[0]!, /open files per process/);
  assert.match(lines[1]!, new RegExp(`the connections ramp cannot reach ${clients}: ${clients} clients per fleet process exceed`));
});
