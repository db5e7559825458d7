/**
 * The regression gate: its statistics, its verdicts, and its calibration on this
 * machine (A/A is within noise; a relay slowed on purpose is a regression).
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { bootstrapRatio, compareRuns, decide, fingerprintId, type Comparison } from "../harness/compare.js";
import { median } from "../results/cell-metrics.js";
import type { RunResult } from "../results/schema.js";
import { ROOT, runCli, tempDir } from "./helpers.js";

const FIXTURE = join(ROOT, "test/fixtures/run");
const fixture = (): RunResult => JSON.parse(readFileSync(join(FIXTURE, "result.json"), "utf8")) as RunResult;

test("median and the bootstrap interval of a ratio of medians", () => {
  assert.equal(median([3, 1, 2]), 2);
  assert.equal(median([4, 1, 3, 2]), 2.5);
  assert.deepEqual(bootstrapRatio([10, 10, 10], [10, 10, 10]), [1, 1]);
  const [lo, hi] = bootstrapRatio([100, 102, 98, 101, 99], [150, 153, 147, 151, 149]);
  assert.ok(lo > 1.4 && hi < 1.6, `${lo}..${hi}`);
  assert.deepEqual(bootstrapRatio([1, 2, 3], [2, 3, 4]), bootstrapRatio([1, 2, 3], [2, 3, 4]), "seeded: the same inputs give the same interval");
});

test("a verdict needs the whole interval beyond the floor, on the side the direction says is bad", () => {
  assert.equal(decide("lower", 0.1, [1.15, 1.4]), "regressed");
  assert.equal(decide("lower", 0.1, [1.05, 1.4]), "within noise");
  assert.equal(decide("lower", 0.1, [0.6, 0.85]), "improved");
  assert.equal(decide("higher", 0.1, [0.6, 0.85]), "regressed");
  assert.equal(decide("higher", 0.1, [1.12, 1.3]), "improved");
  assert.equal(decide("higher", 0.1, [0.95, 1.05]), "within noise");
});

test("a run compared with itself is within noise everywhere", () => {
  const cmp = compareRuns(fixture(), fixture());
  assert.equal(cmp.regressions, 0);
  assert.ok(cmp.cells.length === 2);
  for (const m of cmp.cells.flatMap((c) => c.metrics)) assert.equal(m.verdict, "within noise", m.metric);
});

test("different environments are not comparable unless forced", () => {
  const other = fixture();
  other.environment = { ...other.environment, cpuModel: "Another CPU", node: "v22.1.0" };
  const cmp = compareRuns(fixture(), other);
  assert.equal(cmp.comparable, false);
  assert.deepEqual(cmp.environmentDifferences, [`cpuModel: ${fixture().environment.cpuModel} → Another CPU`, "nodeMajor: 20 → 22"]);
  assert.ok(cmp.cells.flatMap((c) => c.metrics).every((m) => m.verdict === "not comparable"));
  assert.notEqual(fingerprintId(fixture().environment), fingerprintId(other.environment));
  assert.equal(compareRuns(fixture(), other, { force: true }).comparable, true);
});

test("loss from none to some is a regression when every repetition lost; a missing cell is one too, unless allowed", () => {
  const lossy = fixture();
  for (const c of lossy.cells.filter((c) => c.transport === "ws")) c.counts = { ...c.counts, lost: 5 };
  lossy.cells = lossy.cells.filter((c) => c.transport === "ws");
  const cmp = compareRuns(fixture(), lossy);
  const ws = cmp.cells.find((c) => c.transport === "ws")!;
  assert.equal(ws.metrics.find((m) => m.metric === "lossRate")!.verdict, "regressed");
  const sse = cmp.cells.find((c) => c.transport === "sse")!;
  assert.ok(sse.metrics.every((m) => m.verdict === "regressed" && m.note === "cell missing in the candidate"), JSON.stringify(sse.metrics));
  const allowed = compareRuns(fixture(), lossy, { allowMissing: true }).cells.find((c) => c.transport === "sse")!;
  assert.ok(allowed.metrics.every((m) => m.verdict === "not comparable" && m.note === "cell missing in the candidate (--allow-missing)"));
});

function verdicts(stdout: string): string[] {
  return stdout.split("\n").filter((l) => l.startsWith("| ") && !l.startsWith("| cell")).map((l) => l.split(" | ").at(-1)!.replace(/ \|$/, ""));
}

const SMALL = ["--transports", "ws", "--brokers", "inproc", "--clients", "30", "--rate", "400", "--duration", "1.5", "--warmup", "0.5", "--drain", "3"];

test("calibration: A/A in one job (A B A B ...) is within noise for every metric", async () => {
  const out = tempDir();
  const tmp = tempDir();
  const r = await runCli(["ab", ...SMALL, "--repeat", "5", "--out", out], { timeoutMs: 240_000, env: { TMPDIR: tmp } });
  assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
  assert.deepEqual(readdirSync(tmp).filter((e) => e.startsWith("rtbench-ab-")), [], "the single runs' scratch folder is removed");
  const v = verdicts(r.stdout);
  assert.equal(v.length, 5, r.stdout);
  for (const verdict of v) assert.match(verdict, /^within noise/, r.stdout);
});

test("calibration: a relay slowed on purpose is a regression in latency and throughput, exit 1", async () => {
  const out = tempDir();
  // 3 ms of CPU per message at 400/s asks 1.2 s of work a second of the relay: capacity falls ~20% short.
  const r = await runCli(["ab", ...SMALL, "--repeat", "3", "--b-env", "RTBENCH_TEST_RELAY_BURN_US=3000", "--out", out], { timeoutMs: 240_000 });
  assert.equal(r.code, 1, `${r.stdout}\n${r.stderr}`);
  for (const metric of ["throughput", "p50", "p99"]) {
    assert.match(r.stdout, new RegExp(`\\| ${metric} \\|.*🔴 regressed`), `${metric}:\n${r.stdout}`);
  }
  const b = /^B: (.*)$/m.exec(r.stdout)![1]!;
  const result = JSON.parse(readFileSync(join(ROOT, b, "result.json"), "utf8")) as RunResult;
  assert.deepEqual(result.injected, { relayBurnUsPerMessage: 3000 }, "the slowed run says so in its metadata");
});

test("rtbench compare: JSON output, and bad input in one line with exit 2", async () => {
  const r = await runCli(["compare", FIXTURE, FIXTURE, "--format", "json"]);
  assert.equal(r.code, 0, r.stderr);
  const cmp = JSON.parse(r.stdout) as Comparison;
  assert.equal(cmp.regressions, 0);
  const missing = await runCli(["compare", FIXTURE, "/nonexistent"]);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr.trim(), /^rtbench: candidate \/nonexistent: cannot read a run result \(ENOENT\)$/);
  const floor = await runCli(["compare", FIXTURE, FIXTURE, "--noise-floor", "p99=abc"]);
  assert.equal(floor.code, 2);
  assert.match(floor.stderr, /flag --noise-floor: field "noiseFloors": expected metric=percent pairs/);
});
