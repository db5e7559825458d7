/**
 * `rtbench calibrate`: measures the gate's noise on this machine instead of assuming it.
 * It runs real A/A comparisons of one profile (this build on both sides), interleaved
 * as `rtbench ab` runs them and sequential as a stored baseline meets a later run,
 * counts how many the floors in use would have failed, and writes per metric the floor
 * that clears every one of them with a margin into the profile's baseline file.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { COMPARED, compareRuns, floorForGap, widestGap, type GateMode } from "./compare.js";
import { baselineFile, loadOf, portable, runAb, runInChild, type AbSide } from "./gate.js";
import { readRun } from "../results/store.js";
import type { GateCalibration, MetricCalibration, ModeCalibration, RunResult, Workload } from "../results/schema.js";

export type AaPair = readonly [RunResult, RunResult];

/** The floors the gate uses for a workload without a calibration: its noiseFloors, else the catalogue's. */
export function uncalibratedFloors(workload: Pick<Workload, "noiseFloors">): Record<string, number> {
  return Object.fromEntries(Object.entries(COMPARED).map(([m, def]) => [m, workload.noiseFloors[m] ?? def.floor]));
}

/** Per metric: A/A calls with the floors before, the widest gap seen, and the floor it implies. */
export function calibrationOf(pairs: readonly AaPair[], floorsBefore: Record<string, number>): ModeCalibration {
  const metrics: Record<string, MetricCalibration> = Object.fromEntries(
    Object.keys(COMPARED).map((m) => [m, { floorBefore: floorsBefore[m]!, callsBefore: 0, widestGap: null, floor: floorsBefore[m]! }]),
  );
  let falseCallsBefore = 0;
  for (const [a, b] of pairs) {
    const cmp = compareRuns(a, b, { floors: floorsBefore });
    if (cmp.regressions > 0) falseCallsBefore++;
    for (const [metric, cal] of Object.entries(metrics)) {
      const rows = cmp.cells.flatMap((c) => c.metrics.filter((m) => m.metric === metric));
      if (rows.some((m) => m.verdict === "regressed")) cal.callsBefore++;
      for (const m of rows) if (m.interval !== null) cal.widestGap = Math.max(cal.widestGap ?? Number.NEGATIVE_INFINITY, widestGap(m.direction, m.interval));
    }
  }
  for (const [metric, cal] of Object.entries(metrics)) {
    cal.floor = cal.widestGap === null ? cal.floorBefore : Math.max(cal.floorBefore, floorForGap(COMPARED[metric]!.direction, cal.widestGap));
  }
  return { pairs: pairs.length, falseCallsBefore, metrics };
}

export interface CalibrateOptions {
  /** The run arguments both sides get: the workload file first, then flags. */
  args: string[];
  /** The workload those arguments give, for its floors before calibrating. */
  workload: Workload;
  pairs: number;
  modes: GateMode[];
  repetitions: number;
  /** Where the A/A runs are kept. */
  out: string;
  /** The baselines folder the calibration is written into. */
  baselines: string;
  progress: (text: string) => void;
}

/** Runs the A/A pairs of one mode; sequential pairs are consecutive runs (N + 1 runs give N pairs). */
export async function aaPairs(mode: GateMode, o: CalibrateOptions, side: AbSide): Promise<AaPair[]> {
  const pairs: AaPair[] = [];
  if (mode === "interleaved") {
    for (let i = 1; i <= o.pairs; i++) {
      const dirs = await runAb(side, side, o.args, o.repetitions, join(o.out, "interleaved"), (t) => o.progress(`interleaved pair ${i}/${o.pairs} ${t}`));
      pairs.push([readRun(dirs.a, "A"), readRun(dirs.b, "B")]);
    }
    return pairs;
  }
  let previous: RunResult | undefined;
  for (let i = 0; i <= o.pairs; i++) {
    o.progress(`sequential run ${i + 1}/${o.pairs + 1} (${o.repetitions} repetitions)`);
    const run = await runInChild(side, o.args, o.repetitions, join(o.out, "sequential", String(i + 1)));
    if (previous !== undefined) pairs.push([previous, run]);
    previous = run;
  }
  return pairs;
}

/**
 * Writes the calibration into the profile's baseline file for this machine; where there
 * is none yet, or its run is of another load, `fallback` (a run of the calibration)
 * becomes the baseline. Other modes already calibrated for the same load are kept.
 */
export function writeCalibration(baselines: string, calibration: GateCalibration, fallback: RunResult, root: string): { path: string; created: boolean } {
  const path = baselineFile(baselines, calibration.profile, fallback);
  const existing = existsSync(path) ? (JSON.parse(readFileSync(path, "utf8")) as RunResult) : undefined;
  const created = existing === undefined || loadOf(existing.workload) !== calibration.load;
  const base: RunResult = portable(created ? fallback : existing, root);
  const before = base.gateCalibration;
  const kept = before !== undefined && before.load === calibration.load && before.repetitions === calibration.repetitions ? before.modes : {};
  base.gateCalibration = { ...calibration, modes: { ...kept, ...calibration.modes } };
  mkdirSync(baselines, { recursive: true });
  writeFileSync(`${path}.tmp`, `${JSON.stringify(base, null, 2)}\n`);
  renameSync(`${path}.tmp`, path);
  return { path, created };
}

/** Runs the A/A pairs with the build in `root` and writes what they imply. */
export async function calibrate(root: string, o: CalibrateOptions): Promise<{ calibration: GateCalibration; path: string; created: boolean }> {
  const side: AbSide = { root, env: {} };
  const floorsBefore = uncalibratedFloors(o.workload);
  const modes: GateCalibration["modes"] = {};
  const firsts: Partial<Record<GateMode, RunResult>> = {};
  for (const mode of o.modes) {
    const pairs = await aaPairs(mode, o, side);
    firsts[mode] = pairs[0]![0];
    modes[mode] = calibrationOf(pairs, floorsBefore);
  }
  // A stored baseline meets later runs sequentially: a whole run of the profile suits it best.
  const first = (firsts.sequential ?? firsts.interleaved)!;
  const calibration: GateCalibration = { measuredAt: new Date().toISOString(), profile: first.workload.name, load: loadOf(first.workload), repetitions: o.repetitions, modes };
  return { calibration, ...writeCalibration(o.baselines, calibration, first, root) };
}
