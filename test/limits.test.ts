import assert from "node:assert/strict";
import { test } from "node:test";
import { connectionPlanProblem, describeLimits, FD_HEADROOM, openFileLimit } from "../harness/limits.js";
import { runCli, tempDir } from "./helpers.js";

const here = { openFiles: 20_000, ports: { from: 32_768, to: 60_999 } };
const plan = (clients: number, fleetProcesses: number, relays = 1) => ({ clients, fleetProcesses, relays });

test("a plan within the open-file and port limits passes; one over them says what fits", () => {
  assert.equal(connectionPlanProblem(plan(1000, 1), here), null);
  assert.match(connectionPlanProblem(plan(25_000, 3), here)!, /25000 clients need 25000 open files in the one relay process.* use at most 19936 clients, or more relays/);
  assert.equal(connectionPlanProblem(plan(25_000, 3, 2), here), null, "two relays hold 12,500 each");
  assert.match(connectionPlanProblem(plan(50_000, 5, 2), here)!, /need 25000 open files in each of 2 relay processes.* use at most 39872 clients/);
  assert.match(connectionPlanProblem(plan(15_000, 1), { openFiles: 10_000, ports: null })!, /use at most 9936/);
  assert.match(connectionPlanProblem(plan(30_000, 1, 2), here)!, /30000 clients per fleet process exceed the 20000 open files allowed per process \(ulimit -n\): raise fleetProcesses/);
  assert.match(connectionPlanProblem(plan(30_000, 1, 2), { openFiles: 100_000, ports: here.ports })!, /30000 clients per fleet process exceed the 28232 ephemeral ports of its source address .*raise fleetProcesses/);
  assert.match(connectionPlanProblem(plan(1000, 300), here)!, /300 fleet processes exceed the 250 source addresses/);
  assert.equal(connectionPlanProblem(plan(1_000_000, 1), { openFiles: null, ports: null }), null, "no limit known: nothing to refuse");
  assert.equal(describeLimits(here), "open files per process: 20000 (ulimit -n); ephemeral ports 32768-60999: 28232 connections per source address, 250 addresses");
});

const limit = openFileLimit();

test("rtbench run refuses more clients than this machine's limit, before starting anything", {
  skip: limit === null ? "this system reports no open-file limit" : false,
}, async () => {
  const r = await runCli(["run", "--clients", String(limit!), "--out", tempDir()]);
  assert.equal(r.code, 2);
  assert.equal(r.stderr.trim().split("\n").length, 1);
  assert.match(r.stderr, new RegExp(`use at most ${limit! - FD_HEADROOM} clients`));
});
