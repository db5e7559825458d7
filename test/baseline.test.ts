import assert from "node:assert/strict";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import { test } from "node:test";
import { fingerprintId } from "../harness/compare.js";
import { BASELINES, updateBaseline } from "../harness/gate.js";
import type { RunResult } from "../results/schema.js";
import { ROOT, runCli, tempDir } from "./helpers.js";

const FIXTURE = join(ROOT, "test/fixtures/run");

test("baseline update keeps a run under results/baselines, named by profile and environment", () => {
  const root = tempDir();
  const run = JSON.parse(readFileSync(join(FIXTURE, "result.json"), "utf8")) as RunResult;
  const path = updateBaseline(root, FIXTURE, "ci");
  assert.equal(path, join(root, BASELINES, `ci.${fingerprintId(run.environment)}.json`));
  assert.deepEqual(JSON.parse(readFileSync(path, "utf8")), run);
  assert.match(basename(updateBaseline(root, FIXTURE)), new RegExp(`^${run.workload.name}\\.[0-9a-f]{10}\\.json$`), "profile defaults to the workload's name");
});

test("a baseline kept in git holds no path of this machine: its command's paths become relative to the checkout", () => {
  const root = tempDir();
  const run = JSON.parse(readFileSync(join(FIXTURE, "result.json"), "utf8")) as RunResult;
  const withPaths = { ...run, command: ["rtbench", "run", join(root, "workloads/ci.yaml"), "--out", "/var/tmp/elsewhere/runs"] };
  const source = join(tempDir(), "result.json");
  writeFileSync(source, JSON.stringify(withPaths));
  const stored = JSON.parse(readFileSync(updateBaseline(root, source, "ci"), "utf8")) as RunResult;
  assert.deepEqual(stored.command, ["rtbench", "run", "workloads/ci.yaml", "--out", "runs"]);
});

test("baseline show names this machine's baseline file for a profile", async () => {
  const r = await runCli(["baseline", "show", "--profile", "ci"]);
  assert.equal(r.code, 0, r.stderr);
  const path = r.stdout.trim().split(" ")[0]!;
  assert.match(path, /^results\/baselines\/ci\.[0-9a-f]{10}\.json$/);
  assert.equal(r.stdout.includes("none yet"), !existsSync(join(ROOT, path)));
  const bad = await runCli(["baseline", "frobnicate"]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /expected `update <run dir>/);
});
