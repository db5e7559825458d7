import assert from "node:assert/strict";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import type { RunResult } from "../results/schema.js";
import { ROOT, runCli, tempDir } from "./helpers.js";

const FIXTURE = join(ROOT, "test/fixtures/run");

test("rtbench report writes index.html, summary.md, data.json and charts, and says where", async () => {
  const out = tempDir();
  const r = await runCli(["report", FIXTURE, "--out", out]);
  assert.equal(r.code, 0, r.stderr);
  const id = (JSON.parse(readFileSync(join(FIXTURE, "result.json"), "utf8")) as { id: string }).id;
  assert.match(r.stdout, new RegExp(`report: .*${id}/index\\.html`));
  assert.match(r.stdout, /claims: \d+ hold, \d+ do not hold, \d+ consistent, \d+ inconsistent recommendations, \d+ not measured yet, \d+ unavailable here, \d+ not testable/);
  for (const f of ["index.html", "summary.md", "data.json", "charts/spectrum.svg"]) assert.ok(existsSync(join(out, id, f)), f);
  const model = JSON.parse(readFileSync(join(out, id, "data.json"), "utf8")) as { cells: Array<{ repetitions: number }> };
  assert.deepEqual(model.cells.map((c) => c.repetitions), [2, 2], "repetitions are merged into one cell each");
});

test("rtbench report on something that is not a run says so in one line, exit 2", async () => {
  const r = await runCli(["report", "/nonexistent/run"]);
  assert.equal(r.code, 2);
  assert.equal(r.stderr.trim(), "rtbench report: /nonexistent/run: expected a run folder holding result.json");
  const empty = await runCli(["report"], { cwd: tempDir() });
  assert.equal(empty.code, 2);
  assert.match(empty.stderr, /no run folder given and none in results\/runs/);
});

test("rtbench report --baseline adds the comparison: ratio, interval and verdict per metric", async () => {
  const out = tempDir();
  const r = await runCli(["report", FIXTURE, "--baseline", FIXTURE, "--out", out]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /compared with .*: 0 regression\(s\)/);
  const id = (JSON.parse(readFileSync(join(FIXTURE, "result.json"), "utf8")) as { id: string }).id;
  const html = readFileSync(join(out, id, "index.html"), "utf8");
  assert.match(html, /<h2>Comparison with the baseline<\/h2>/);
  // The same run on both sides: ratio 1; the interval is the resampling spread around it.
  assert.match(html, /<td>p99<\/td><td>[\d.]+ ms<\/td><td>[\d.]+ ms<\/td><td>1\.000<\/td><td>0\.\d+–1\.\d+<\/td><td>±20%<\/td><td>within noise/);
  assert.ok(existsSync(join(out, id, "comparison.json")));
});

test("rtbench report merges runs of one environment into one page, and refuses others in one line unless --force", async () => {
  const run = JSON.parse(readFileSync(join(FIXTURE, "result.json"), "utf8")) as RunResult;
  // A second run of the same environment, of another scenario.
  const second = tempDir();
  const other = { ...run, id: "second-run", cells: run.cells.map((c) => ({ ...c, id: `${c.id}-b`, scenario: "reconnect" })) };
  writeFileSync(join(second, "result.json"), JSON.stringify(other));
  const out = tempDir();
  const r = await runCli(["report", FIXTURE, second, "--out", out]);
  assert.equal(r.code, 0, r.stderr);
  const id = `${run.id}+1`;
  const model = JSON.parse(readFileSync(join(out, id, "data.json"), "utf8")) as { sources: Array<{ id: string }>; cells: Array<{ scenario: string }> };
  assert.deepEqual(model.sources.map((s) => s.id), [run.id, "second-run"]);
  assert.deepEqual([...new Set(model.cells.map((c) => c.scenario))].sort(), ["reconnect", "steady"]);
  const html = readFileSync(join(out, id, "index.html"), "utf8");
  assert.match(html, /2 runs of one environment on one page/);

  // Another machine: refused, naming the field that differs; --force merges anyway.
  const elsewhere = tempDir();
  writeFileSync(join(elsewhere, "result.json"), JSON.stringify({ ...other, environment: { ...run.environment, cpuModel: "Another CPU" } }));
  const refused = await runCli(["report", FIXTURE, elsewhere, "--out", tempDir()]);
  assert.equal(refused.code, 2);
  assert.equal(refused.stderr.trim().split("\n").length, 1, refused.stderr);
  assert.match(refused.stderr, /another environment .*cpuModel: .* → Another CPU.*--force/);
  const forced = await runCli(["report", FIXTURE, elsewhere, "--out", tempDir(), "--force"]);
  assert.equal(forced.code, 0, forced.stderr);
});
