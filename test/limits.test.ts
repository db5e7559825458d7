import assert from "node:assert/strict";
import { test } from "node:test";
import { connectionPlanProblem, FD_HEADROOM, openFileLimit } from "../harness/limits.js";
import { runCli, tempDir } from "./helpers.js";

test("a plan within the open-file limit passes; one over it says what fits", () => {
  assert.equal(connectionPlanProblem(1000, 1, 20_000), null);
  assert.match(connectionPlanProblem(25_000, 3, 20_000)!, /25000 clients need 25000 open files .* use at most 19936 clients/);
  assert.match(connectionPlanProblem(15_000, 1, 10_000)!, /use at most 9936/);
  assert.equal(connectionPlanProblem(1_000_000, 1, null), null, "no limit known: nothing to refuse");
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
