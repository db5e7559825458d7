/**
 * The regression gate: its statistics, its verdicts, and its calibration on this
 * machine (A/A is within noise; a relay slowed on purpose is a regression).
 */
import assert from "node:assert/strict";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { compareRuns, decide, fingerprintId, floorForGap, modeOf, repetitionRange, widestGap, type Comparison } from "../harness/compare.js";
import { calibrationOf } from "../harness/calibrate.js";
import { baselineFile, compareFiles, loadOf } from "../harness/gate.js";
import { median } from "../results/cell-metrics.js";
import type { RunResult } from "../results/schema.js";
import { ROOT, runCli, tempDir } from "./helpers.js";
import { createHistogram, decodeHistogram, encodeHistogram } from "../core/histogram.js";

const FIXTURE = join(ROOT, "test/fixtures/run");
const fixture = (): RunResult => JSON.parse(readFileSync(join(FIXTURE, "result.json"), "utf8")) as RunResult;

test("median, and the range of ratios over every pair of repetitions", () => {
  assert.equal(median([3, 1, 2]), 2);
  assert.equal(median([4, 1, 3, 2]), 2.5);
  assert.deepEqual(repetitionRange([10, 10, 10], [10, 10, 10]), [1, 1]);
  assert.deepEqual(repetitionRange([100, 110, 90], [150, 165, 135]), [135 / 110, 165 / 90]);
  // One slow repetition on the candidate side moves its median, not the range's low end: no separation.
  const [lo] = repetitionRange([100, 101, 99], [100, 300, 300]);
  assert.equal(lo, 100 / 101);
});

test("calibration: the widest A/A gap either way round, and the floor it implies", () => {
  // Lower is better: the candidate 20% above the baseline's worst, or the baseline 25% above the candidate's worst.
  assert.ok(Math.abs(widestGap("lower", [1.2, 1.5]) - 0.2) < 1e-9);
  assert.ok(Math.abs(widestGap("lower", [0.5, 0.8]) - 0.25) < 1e-9);
  assert.ok(widestGap("lower", [0.9, 1.1]) < 0, "overlapping sides have no gap");
  assert.ok(Math.abs(widestGap("higher", [0.7, 0.9]) - 0.1) < 1e-9);
  assert.ok(Math.abs(floorForGap("lower", 0.2) - 0.44) < 1e-9, "twice the gap in log terms");
  assert.ok(Math.abs(floorForGap("higher", 0.1) - 0.19) < 1e-9);
  assert.equal(floorForGap("lower", -0.3), 0);
  // The implied floor never calls the comparison it came from.
  for (const interval of [[1.2, 1.5], [0.5, 0.8]] as [number, number][]) {
    assert.equal(decide("lower", floorForGap("lower", widestGap("lower", interval)), interval), "within noise");
  }
});

/** A run whose cells have p50 (and the other latency figures) scaled per repetition. */
function scaled(run: RunResult, id: string, factors: number[]): RunResult {
  const base = run.cells.filter((c) => c.params.repetition === 1);
  const cells = factors.flatMap((f, i) =>
    base.map((c) => {
      const h = decodeHistogram(c.histograms.latencyUs);
      const out = createHistogram();
      out.recordValueWithCount(Math.round(h.getValueAtPercentile(50) * f), 100);
      return { ...c, params: { ...c.params, repetition: i + 1 }, histograms: { ...c.histograms, latencyUs: encodeHistogram(out) } };
    }),
  );
  return { ...run, id, cells };
}

test("calibration of recorded A/A pairs: calls counted with the floors before, and floors that clear them", () => {
  const f = fixture();
  // Pair 1 overlaps; in pair 2 B's every p50 is at least 30% above A's worst.
  const pairs = [
    [scaled(f, "1-a", [1, 1.1, 0.95]), scaled(f, "1-b", [1.05, 0.9, 1])],
    [scaled(f, "2-a", [1, 1.02, 0.98]), scaled(f, "2-b", [1.35, 1.4, 1.33])],
  ] as const;
  const cal = calibrationOf(pairs, { p50: 0.1, p99: 0.2, throughput: 0.1, lossRate: 0.1, memoryPerConnection: 0.1 });
  assert.equal(cal.pairs, 2);
  assert.equal(cal.falseCallsBefore, 1);
  assert.equal(cal.metrics.p50!.callsBefore, 1);
  assert.ok(cal.metrics.p50!.widestGap! > 0.29 && cal.metrics.p50!.widestGap! < 0.31, String(cal.metrics.p50!.widestGap));
  assert.ok(cal.metrics.p50!.floor > 0.6, "twice the 30% gap in log terms");
  assert.equal(cal.metrics.throughput!.floor, 0.1, "no gap: the floor stays what it was");
  // With the calibrated floors the same pairs call nothing.
  const floors = Object.fromEntries(Object.entries(cal.metrics).map(([m, c]) => [m, c.floor]));
  for (const [a, b] of pairs) assert.equal(compareRuns(a, b, { floors }).regressions, 0);
});

test("compare uses the stored calibration for the comparison's mode and load, and says where its floors came from", () => {
  const f = fixture();
  const a = scaled(f, "9-a", [1, 1.02, 0.98]);
  const b = scaled(f, "9-b", [1.35, 1.4, 1.33]);
  assert.equal(modeOf(a, b), "interleaved");
  assert.equal(modeOf(a, { id: "8-b" }), "sequential");
  const dir = tempDir();
  const write = (name: string, run: RunResult): string => {
    const path = join(dir, name);
    writeFileSync(path, JSON.stringify(run));
    return path;
  };
  const [pa, pb] = [write("a.json", a), write("b.json", b)];
  const baselines = join(dir, "baselines");
  assert.equal(compareFiles(pa, pb, { floors: {}, force: false, baselines }).regressions, 4, "uncalibrated: p50 and p99 called in both cells");
  const metric = { floorBefore: 0.1, callsBefore: 1, widestGap: 0.3, floor: 0.69 };
  mkdirSync(baselines);
  const calibration = { measuredAt: "2026-12-01T00:00:00Z", profile: f.workload.name, load: loadOf(f.workload), repetitions: 3, modes: { interleaved: { pairs: 10, falseCallsBefore: 1, metrics: { p50: metric, p99: metric } } } };
  writeFileSync(baselineFile(baselines, f.workload.name, f), JSON.stringify({ ...f, gateCalibration: calibration }));
  const calibrated = compareFiles(pa, pb, { floors: {}, force: false, baselines });
  assert.equal(calibrated.regressions, 0);
  assert.match(calibrated.floorsFrom, /^calibrated on this machine, 10 interleaved A\/A pairs on 2026-12-01/);
  assert.equal(calibrated.cells[0]!.metrics.find((m) => m.metric === "p50")!.floor, 0.69);
  // The same runs compared as if made at different times: no sequential calibration, so the workload's floors.
  const seq = compareFiles(pa, write("c.json", { ...b, id: "other" }), { floors: {}, force: false, baselines });
  assert.equal(seq.regressions, 4);
  assert.match(seq.floorsFrom, /has no sequential calibration/);
  // Another load (more clients) is not what was calibrated.
  const more = { ...b, workload: { ...b.workload, clients: b.workload.clients + 1 } };
  assert.match(compareFiles(pa, write("d.json", more), { floors: {}, force: false, baselines }).floorsFrom, /is for another load/);
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
  const r = await runCli(["ab", ...SMALL, "--repeat", "3", "--out", out], { timeoutMs: 240_000, env: { TMPDIR: tmp } });
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

test("rtbench calibrate: real A/A pairs on this machine, their floors written into the baseline file, which compare then uses", async () => {
  const out = tempDir();
  const baselines = join(tempDir(), "baselines");
  const r = await runCli(["calibrate", join(ROOT, "workloads/quick.yaml"), ...SMALL, "--pairs", "1", "--mode", "sequential", "--out", out, "--baselines", baselines], { timeoutMs: 240_000 });
  assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
  assert.match(r.stdout, /\| sequential \| p50 \| ±10% \| [01] of 1 \|/);
  assert.match(r.stdout, /Wrote .*baselines\/quick\.[0-9a-f]{10}\.json \(a run of the calibration is its baseline/);
  assert.match(r.stderr, /sequential run 2\/2/, "progress on stderr");
  const [file] = readdirSync(baselines);
  const stored = JSON.parse(readFileSync(join(baselines, file!), "utf8")) as RunResult;
  const cal = stored.gateCalibration!;
  assert.equal(cal.modes.sequential!.pairs, 1);
  assert.equal(cal.repetitions, 3);
  assert.equal(stored.cells.length, 3, "the baseline is a whole run of the profile: ws × inproc, 3 repetitions");
  for (const c of Object.values(cal.modes.sequential!.metrics)) assert.ok(c.floor >= c.floorBefore && Number.isFinite(c.floor));
  // The second run of the calibration against its baseline: compared with the calibrated floors.
  const second = readdirSync(join(out, readdirSync(out)[0]!, "sequential", "2"))[0]!;
  const cmp = await runCli(["compare", join(baselines, file!), join(out, readdirSync(out)[0]!, "sequential", "2", second), "--baselines", baselines, "--format", "json"]);
  assert.equal(cmp.code, 0, `the pair the floors came from is not called:\n${cmp.stdout}`);
  assert.match((JSON.parse(cmp.stdout) as Comparison).floorsFrom, /^calibrated on this machine, 1 sequential A\/A pairs/);
  for (const [flag, value, expected] of [["--pairs", "0", /flag --pairs: expected an integer >= 1/], ["--mode", "both-ways", /flag --mode: expected interleaved, sequential or both/], ["--repeat", "2", /flag --repeat: expected an integer >= 3/]] as const) {
    const bad = await runCli(["calibrate", ...SMALL, flag, value, "--out", out]);
    assert.equal(bad.code, 2, bad.stderr);
    assert.match(bad.stderr, expected);
  }
  assert.ok(!existsSync(join(ROOT, "results/baselines", file!)), "the checkout's baselines are untouched");
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
