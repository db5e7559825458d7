/**
 * bench:gate — how often does the regression gate cry wolf here, and does it still
 * catch a real slowdown?
 *
 * On the CI profile (workloads/ci.yaml), with the floors calibrated for this machine
 * (`rtbench calibrate` first, on runs of its own, when the baseline file has none):
 * real A/A comparisons interleaved as `rtbench ab` makes them, real A/A comparisons of
 * consecutive whole runs as a stored baseline meets a later run, and comparisons whose
 * B side burns 1.3 ms of relay CPU per message (about 30% short of 1,000 msg/s).
 * Prints the false-call rate per mode, with the calibrated and the uncalibrated floors,
 * and the detection rate.
 *
 * Flags: --interleaved N (20), --sequential N (20), --detect N (10), --calibrate-pairs N (10).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { calibrate, uncalibratedFloors } from "../harness/calibrate.js";
import { compareRuns, type Comparison, type GateMode } from "../harness/compare.js";
import { BASELINES, floorsFor, loadOf, runAb, runInChild, storedCalibration, type AbSide } from "../harness/gate.js";
import { ROOT } from "../harness/cli-args.js";
import { describeEnvironment } from "../harness/environment.js";
import { loadWorkloadFile } from "../harness/workload.js";
import { readRun } from "../results/store.js";
import type { RunResult } from "../results/schema.js";

const { values } = parseArgs({
  options: { interleaved: { type: "string" }, sequential: { type: "string" }, detect: { type: "string" }, "calibrate-pairs": { type: "string" } },
});
const count = (v: string | undefined, fallback: number): number => {
  const n = Number(v ?? fallback);
  if (!Number.isInteger(n) || n < 0) {
    process.stderr.write(`bench:gate: expected a whole number, got ${JSON.stringify(v)}\n`);
    process.exit(2);
  }
  return n;
};
const INTERLEAVED = count(values.interleaved, 20);
const SEQUENTIAL = count(values.sequential, 20);
const DETECT = count(values.detect, 10);
const CALIBRATE_PAIRS = count(values["calibrate-pairs"], 10);

const WORKLOAD_FILE = join(ROOT, "workloads/ci.yaml");
const workload = loadWorkloadFile(WORKLOAD_FILE);
const REPETITIONS = workload.repetitions;
const BASELINES_DIR = join(ROOT, BASELINES);
const self: AbSide = { root: ROOT, env: {} };
const slowed: AbSide = { root: ROOT, env: { RTBENCH_TEST_RELAY_BURN_US: "1300" } };
const scratch = mkdtempSync(join(tmpdir(), "rtbench-bench-gate-"));
const started = Date.now();
const progress = (t: string): void => void process.stderr.write(`bench:gate: ${t} (${Math.round((Date.now() - started) / 1000)} s)\n`);

/** What one comparison called: the cell and metric of every regression. */
const calls = (cmp: Comparison): string[] =>
  cmp.cells.flatMap((c) => c.metrics.filter((m) => m.verdict === "regressed").map((m) => `${c.transport} ${m.metric}${m.ratio === null ? "" : ` ×${m.ratio.toFixed(2)}`}`));

interface Tally {
  comparisons: number;
  failed: number;
  /** With the workload's floors, not calibrated: what the gate did before. */
  failedUncalibrated: number;
  calls: string[];
}

function judge(tally: Tally, a: RunResult, b: RunResult): void {
  const calibrated = floorsFor(a, b, BASELINES_DIR);
  const cmp = compareRuns(a, b, { floors: calibrated.floors, floorsFrom: calibrated.from });
  tally.comparisons++;
  if (cmp.regressions > 0) tally.failed++;
  tally.calls.push(...calls(cmp));
  if (compareRuns(a, b, { floors: uncalibratedFloors(a.workload) }).regressions > 0) tally.failedUncalibrated++;
}

const empty = (): Tally => ({ comparisons: 0, failed: 0, failedUncalibrated: 0, calls: [] });

async function interleaved(n: number, b: AbSide, label: string): Promise<Tally> {
  const tally = empty();
  for (let i = 1; i <= n; i++) {
    const dirs = await runAb(self, b, [WORKLOAD_FILE], REPETITIONS, join(scratch, label), (t) => progress(`${label} ${i}/${n} ${t}`));
    judge(tally, readRun(dirs.a, "A"), readRun(dirs.b, "B"));
    progress(`${label} ${i}/${n}: ${tally.failed} called so far`);
  }
  return tally;
}

async function sequential(n: number): Promise<Tally> {
  const tally = empty();
  let previous: RunResult | undefined;
  for (let i = 0; i <= n; i++) {
    progress(`sequential run ${i + 1}/${n + 1}`);
    const run = await runInChild(self, [WORKLOAD_FILE], REPETITIONS, join(scratch, "sequential", String(i)));
    if (previous !== undefined) judge(tally, previous, run);
    previous = run;
  }
  return tally;
}

async function main(): Promise<void> {
  const stored = storedCalibration(BASELINES_DIR, aRunForLookup());
  if (stored?.modes.interleaved === undefined || stored.modes.sequential === undefined || stored.load !== loadOf(workload)) {
    progress(`no calibration of ci for this machine and load in ${BASELINES}: calibrating on ${CALIBRATE_PAIRS} pairs of each mode first`);
    await calibrate(ROOT, {
      args: [WORKLOAD_FILE],
      workload,
      pairs: CALIBRATE_PAIRS,
      modes: ["interleaved", "sequential"] satisfies GateMode[],
      repetitions: REPETITIONS,
      out: join(scratch, "calibration"),
      baselines: BASELINES_DIR,
      progress,
    });
  }
  const results: Array<[string, Tally]> = [];
  if (INTERLEAVED > 0) results.push(["A/A interleaved (rtbench ab)", await interleaved(INTERLEAVED, self, "interleaved")]);
  if (SEQUENTIAL > 0) results.push(["A/A sequential (consecutive runs)", await sequential(SEQUENTIAL)]);
  const detection = DETECT > 0 ? await interleaved(DETECT, slowed, "slowed") : undefined;

  const lines = [
    `### bench:gate: workloads/ci.yaml, ${REPETITIONS} repetitions a side, ${Math.round((Date.now() - started) / 60_000)} min`,
    "",
    "| comparisons | how many | failed (calibrated floors) | failed (workload floors) | what was called |",
    "|---|---|---|---|---|",
  ];
  const called = (t: Tally): string => [...new Set(t.calls)].slice(0, 8).join("; ") || "–";
  for (const [label, t] of results) lines.push(`| ${label} | ${t.comparisons} | ${t.failed} | ${t.failedUncalibrated} | ${called(t)} |`);
  const falseCalls = results.reduce((n, [, t]) => n + t.failed, 0);
  const aa = results.reduce((n, [, t]) => n + t.comparisons, 0);
  if (detection) lines.push(`| B relay +1.3 ms/message (interleaved) | ${detection.comparisons} | ${detection.failed} detected | ${detection.failedUncalibrated} detected | ${called(detection)} |`);
  lines.push("", `False calls: ${falseCalls} of ${aa} A/A comparisons.${detection ? ` Detected: ${detection.failed} of ${detection.comparisons} slowed relays.` : ""}`);
  process.stdout.write(`${lines.join("\n")}\n`);
}

/** A run of the profile's load on this machine, to look its calibration up by (no cell is needed). */
function aRunForLookup(): RunResult {
  const environment = describeEnvironment(Object.fromEntries(workload.brokers.map((b) => [b, "builtin"])));
  return { id: "lookup", workload, environment, cells: [] } as unknown as RunResult;
}

try {
  await main();
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
