/**
 * The CI regression gate's commands: compare two runs, run A and B interleaved in one
 * job, keep baselines in git. Kept apart from cli.ts so that file stays a router.
 */
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, isAbsolute, join, relative, resolve } from "node:path";
import { compareRuns, fingerprintId, modeOf, toMarkdown, type Comparison } from "./compare.js";
import { describeEnvironment } from "./environment.js";
import { loadWorkloadFile } from "./workload.js";
import { newRunId, readRun, RunStore } from "../results/store.js";
import type { GateCalibration, RunResult, Workload } from "../results/schema.js";

/** Bad input to a gate command: one line, exit 2. */
export class GateInputError extends Error {}

export function compareFiles(
  baselinePath: string,
  candidatePath: string,
  options: { floors: Record<string, number>; force: boolean; allowMissing?: boolean; baselines?: string },
): Comparison {
  const baseline = readRun(baselinePath, "baseline");
  const candidate = readRun(candidatePath, "candidate");
  // A run killed before its end has fewer cells than it meant to: a gate must not pass on part of a run.
  for (const [label, path, run] of [["baseline", baselinePath, baseline], ["candidate", candidatePath, candidate]] as const) {
    if (run.finishedAt === undefined || run.interrupted === true) {
      throw new GateInputError(`${label} ${path}: the run did not finish (${run.interrupted ? "it was interrupted" : "it was killed or is still running"}), so its cells cannot be compared: run it again to the end`);
    }
  }
  const chosen = floorsFor(baseline, candidate, options.baselines);
  const floors = { ...chosen.floors, ...options.floors };
  const floorsFrom = Object.keys(options.floors).length > 0 ? `${chosen.from}; --noise-floor for ${Object.keys(options.floors).join(", ")}` : chosen.from;
  return compareRuns(baseline, candidate, { floors, floorsFrom, force: options.force, names: [baselinePath, candidatePath], allowMissing: options.allowMissing === true });
}

/** The calibration on the stored baseline of a run's profile and machine, if there is one. */
export function storedCalibration(baselines: string, run: Pick<RunResult, "workload" | "environment">): GateCalibration | undefined {
  const path = baselineFile(baselines, run.workload.name, run);
  return existsSync(path) ? readRun(path, "baseline").gateCalibration : undefined;
}

/** The load a calibration holds for: the workload less what does not change the load. */
export function loadOf(w: Workload): string {
  const { name: _name, noiseFloors: _floors, repetitions: _repetitions, ...load } = w;
  return JSON.stringify(Object.fromEntries(Object.entries(load).sort(([a], [b]) => (a < b ? -1 : 1))));
}

/**
 * The floors for a comparison: the workloads' noiseFloors, then, where this profile was
 * calibrated on this machine for this load and this mode, the calibrated ones (the
 * calibration on the baseline file itself, or on the stored baseline in `baselines`).
 */
export function floorsFor(baseline: RunResult, candidate: RunResult, baselines?: string): { floors: Record<string, number>; from: string } {
  const workload = { ...baseline.workload.noiseFloors, ...candidate.workload.noiseFloors };
  const fromWorkload = Object.keys(workload).length > 0 ? "the workload's noiseFloors" : "the catalogue's defaults";
  const calibration = baseline.gateCalibration ?? (baselines === undefined ? undefined : storedCalibration(baselines, baseline));
  const where = baseline.gateCalibration ? "the baseline file" : relative(process.cwd(), baselineFile(baselines ?? "", baseline.workload.name, baseline));
  if (calibration === undefined) return { floors: workload, from: `${fromWorkload} (not calibrated on this machine: rtbench calibrate)` };
  const mode = modeOf(baseline, candidate);
  const calibrated = calibration.modes[mode];
  if (calibration.profile !== baseline.workload.name || calibration.load !== loadOf(baseline.workload) || loadOf(candidate.workload) !== calibration.load) {
    return { floors: workload, from: `${fromWorkload} (the calibration in ${where} is for another load)` };
  }
  if (calibrated === undefined) return { floors: workload, from: `${fromWorkload} (${where} has no ${mode} calibration)` };
  const floors = Object.fromEntries(Object.entries(calibrated.metrics).map(([m, c]) => [m, c.floor]));
  return { floors: { ...workload, ...floors }, from: `calibrated on this machine, ${calibrated.pairs} ${mode} A/A pairs on ${calibration.measuredAt.slice(0, 10)} (${where})` };
}

export interface AbSide {
  /** An rtbench checkout (built) to run; this one when absent. */
  root: string;
  env: Record<string, string>;
}

/** One `rtbench run` of a side in a child process, into `out` (which then holds that run only). */
export function runInChild(side: AbSide, args: string[], repetitions: number, out: string): Promise<RunResult> {
  const cli = join(side.root, "dist/harness/cli.js");
  if (!existsSync(cli)) throw new GateInputError(`${side.root}: no built rtbench there (expected ${cli}; run npm ci in it)`);
  return new Promise((resolveRun, reject) => {
    const child = spawn(process.execPath, [cli, "run", ...args, "--repetitions", String(repetitions), "--out", out], {
      stdio: ["ignore", "ignore", "inherit"],
      env: { ...process.env, ...side.env },
    });
    child.on("exit", (code) => {
      const runs = existsSync(out) ? readdirSync(out) : [];
      // Exit 1 is a run whose cell failed: the comparison says so (a failed cell is a regression).
      if ((code !== 0 && code !== 1) || runs.length !== 1) reject(new Error(`run in ${side.root} exited with ${code}`));
      else resolveRun(readRun(join(out, runs[0]!), "run"));
    });
  });
}

/**
 * Runs A and B alternately (A B A B ...), one repetition each turn, so both see the
 * same machine at nearly the same time; returns the two merged run folders.
 */
export async function runAb(
  a: AbSide,
  b: AbSide,
  args: string[],
  repeat: number,
  outDir: string,
  progress: (text: string) => void,
): Promise<{ a: string; b: string }> {
  const scratch = mkdtempSync(join(tmpdir(), "rtbench-ab-"));
  const id = newRunId();
  const stores: Partial<Record<"a" | "b", RunStore>> = {};
  try {
    for (let i = 1; i <= repeat; i++) {
      for (const [name, side] of [["a", a], ["b", b]] as const) {
        progress(`[${i}/${repeat}] ${name.toUpperCase()} (${side.root})`);
        const run = await runInChild(side, args, 1, join(scratch, `${name}${i}`));
        const { cells, ...meta } = run;
        stores[name] ??= new RunStore(outDir, { ...meta, id: `${id}-${name}`, command: ["rtbench", "ab", name, ...args] });
        for (const cell of cells) stores[name]!.addCell({ ...cell, params: { ...cell.params, repetition: i } });
      }
    }
  } finally {
    // The single runs were copied into the two merged folders: their scratch folder goes.
    rmSync(scratch, { recursive: true, force: true });
  }
  stores.a!.finish(false);
  stores.b!.finish(false);
  return { a: stores.a!.dir, b: stores.b!.dir };
}

export const BASELINES = "results/baselines";

/** results/baselines/<profile>.<environment fingerprint>.json */
export function baselinePath(root: string, profile: string, run: Pick<RunResult, "environment">): string {
  return baselineFile(join(root, BASELINES), profile, run);
}

/** <dir>/<profile>.<environment fingerprint>.json */
export function baselineFile(dir: string, profile: string, run: Pick<RunResult, "environment">): string {
  return join(dir, `${profile.replace(/[^\w.-]/g, "_")}.${fingerprintId(run.environment)}.json`);
}

/**
 * A run fit to keep in git: paths of this machine in its command become relative to
 * the checkout, or just the file's name when outside it.
 */
export function portable(run: RunResult, root: string): RunResult {
  const command = run.command.map((arg) => {
    if (!isAbsolute(arg)) return arg;
    const rel = relative(root, arg);
    return rel.startsWith("..") || isAbsolute(rel) ? basename(arg) : rel;
  });
  return { ...run, command };
}

export function updateBaseline(root: string, runPath: string, profile?: string): string {
  const run = readRun(runPath, "run");
  const target = baselinePath(root, profile ?? run.workload.name, run);
  mkdirSync(join(root, BASELINES), { recursive: true });
  writeFileSync(`${target}.tmp`, `${JSON.stringify(portable(run, root), null, 2)}\n`);
  renameSync(`${target}.tmp`, target);
  return target;
}

/** The baseline this machine would use for a profile (a workload in workloads/). */
export function baselineForThisMachine(root: string, profile: string): string {
  const workloadFile = resolve(root, "workloads", `${profile}.yaml`);
  const brokers = existsSync(workloadFile) ? loadWorkloadFile(workloadFile).brokers : [];
  return baselinePath(root, profile, { environment: describeEnvironment(Object.fromEntries(brokers.map((b) => [b, "builtin"]))) });
}

export { toMarkdown };
