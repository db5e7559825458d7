/** `rtbench compare`, `ab` and `baseline`: the regression gate's commands (the gate itself is harness/gate.ts). */
import { join, relative, resolve } from "node:path";
import { newRunId } from "../results/store.js";
import { existsSync } from "node:fs";
import { DEFAULT_WORKLOAD, outDirOf, parse, ROOT, UsageError, type FlagSpec } from "./cli-args.js";
import { BASELINES, baselineForThisMachine, compareFiles, runAb, toMarkdown, updateBaseline } from "./gate.js";
import { applyFields, DEFAULTS, FIELDS, flagName, loadWorkloadFile } from "./workload.js";
import { calibrate as runCalibration } from "./calibrate.js";
import { MIN_REPETITIONS_FOR_A_CALL, type GateMode } from "./compare.js";
import type { Workload } from "../results/schema.js";

/** --baselines DIR: where the calibrated baseline files are (default: this checkout's results/baselines). */
function baselinesFlag(value: unknown): string {
  return typeof value === "string" && value !== "" ? resolve(value) : join(ROOT, BASELINES);
}

export function parseFloorsFlag(value: unknown): Record<string, number> {
  if (value === undefined) return {};
  return applyFields(DEFAULTS, { noiseFloors: value }, () => "flag --noise-floor", true).noiseFloors;
}

export async function compare(args: string[]): Promise<number> {
  const { values, positionals } = parse(
    args,
    { format: { type: "string" }, force: { type: "boolean" }, "noise-floor": { type: "string" }, "allow-missing": { type: "boolean" }, baselines: { type: "string" } },
    "compare",
  );
  if (positionals.length !== 2) throw new UsageError("rtbench compare: expected <baseline> <candidate> (run folders or result.json files)");
  const format = (values.format as string | undefined) ?? "md";
  if (format !== "md" && format !== "json") throw new UsageError(`rtbench compare: flag --format: expected md or json, got ${JSON.stringify(format)}`);
  const cmp = compareFiles(positionals[0]!, positionals[1]!, {
    floors: parseFloorsFlag(values["noise-floor"]),
    force: values.force === true,
    allowMissing: values["allow-missing"] === true,
    baselines: baselinesFlag(values.baselines),
  });
  process.stdout.write(format === "json" ? `${JSON.stringify(cmp, null, 2)}\n` : toMarkdown(cmp));
  return cmp.regressions > 0 ? 1 : 0;
}

function envPairs(value: unknown, flag: string): Record<string, string> {
  if (value === undefined) return {};
  const out: Record<string, string> = {};
  for (const pair of String(value).split(",").filter(Boolean)) {
    const eq = pair.indexOf("=");
    if (eq <= 0) throw new UsageError(`rtbench ab: flag --${flag}: expected KEY=VALUE[,KEY=VALUE], got ${JSON.stringify(value)}`);
    out[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return out;
}

/** The run flags `ab` and `calibrate` pass on to each run (all but --repetitions, which they set). */
function runFlags(options: FlagSpec): FlagSpec {
  for (const f of FIELDS) if (f.key !== "repetitions") options[flagName(f.key)] = { type: "string" };
  return options;
}

/**
 * The workload and run flags, validated here before anything starts (both sides get
 * the same): the arguments to forward and the workload they give.
 */
function forwardedRun(values: Record<string, unknown>, positionals: string[], command: string, fallback = DEFAULT_WORKLOAD): { forwarded: string[]; workload: Workload } {
  if (positionals.length > 1) throw new UsageError(`rtbench ${command}: expected at most one workload file, got ${positionals.join(" ")}`);
  const file = positionals[0] ?? fallback;
  const forwarded: string[] = [resolve(file)];
  const flags: Record<string, unknown> = {};
  for (const f of FIELDS) {
    const v = values[flagName(f.key)];
    if (v === undefined || f.key === "repetitions") continue;
    flags[f.key] = v;
    forwarded.push(`--${flagName(f.key)}`, String(v));
  }
  return { forwarded, workload: applyFields(loadWorkloadFile(file), flags, (key) => `flag --${flagName(key)}`, true) };
}

function repeatFlag(value: unknown, command: string, min: number, fallback: number): number {
  const repeat = Number(value ?? fallback);
  if (!Number.isInteger(repeat) || repeat < min || repeat > 100) {
    throw new UsageError(`rtbench ${command}: flag --repeat: expected an integer >= ${min} and <= 100, got ${JSON.stringify(value)}`);
  }
  return repeat;
}

export async function ab(args: string[]): Promise<number> {
  const options = runFlags({
    repeat: { type: "string" },
    out: { type: "string" },
    "a-root": { type: "string" },
    "b-root": { type: "string" },
    "a-env": { type: "string" },
    "b-env": { type: "string" },
    "noise-floor": { type: "string" },
    baselines: { type: "string" },
  });
  const { values, positionals } = parse(args, options, "ab");
  const { forwarded, workload } = forwardedRun(values, positionals, "ab");
  const repeat = repeatFlag(values.repeat, "ab", 1, Math.max(MIN_REPETITIONS_FOR_A_CALL, workload.repetitions));
  const side = (root: unknown, env: unknown, flag: string) => ({ root: resolve(typeof root === "string" ? root : ROOT), env: envPairs(env, flag) });
  const a = side(values["a-root"], values["a-env"], "a-env");
  const b = side(values["b-root"], values["b-env"], "b-env");
  const dirs = await runAb(a, b, forwarded, repeat, outDirOf(values.out, "ab"), (t) => process.stderr.write(`rtbench ab: ${t}\n`));
  const cmp = compareFiles(dirs.a, dirs.b, { floors: parseFloorsFlag(values["noise-floor"]), force: false, baselines: baselinesFlag(values.baselines) });
  process.stdout.write(`${toMarkdown(cmp)}\nA: ${relative(process.cwd(), dirs.a)}\nB: ${relative(process.cwd(), dirs.b)}\n`);
  return cmp.regressions > 0 ? 1 : 0;
}

export async function baseline(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, { profile: { type: "string" } }, "baseline");
  const [action, run, ...extra] = positionals;
  const profile = values.profile as string | undefined;
  if (action === "update" && run !== undefined && extra.length === 0) {
    process.stdout.write(`baseline: ${relative(process.cwd(), updateBaseline(ROOT, resolve(run), profile))}\n`);
    return 0;
  }
  if (action === "show" && run === undefined) {
    const path = baselineForThisMachine(ROOT, profile ?? "ci");
    process.stdout.write(`${relative(process.cwd(), path)}${existsSync(path) ? "" : " (none yet: rtbench baseline update <run>)"}\n`);
    return 0;
  }
  throw new UsageError("rtbench baseline: expected `update <run dir> [--profile NAME]` or `show [--profile NAME]`");
}

export async function calibrate(args: string[]): Promise<number> {
  const options = runFlags({ pairs: { type: "string" }, mode: { type: "string" }, repeat: { type: "string" }, out: { type: "string" }, baselines: { type: "string" } });
  const { values, positionals } = parse(args, options, "calibrate");
  // The gate's profile is what is calibrated unless another is named.
  const { forwarded, workload } = forwardedRun(values, positionals, "calibrate", join(ROOT, "workloads/ci.yaml"));
  const pairs = Number(values.pairs ?? 10);
  if (!Number.isInteger(pairs) || pairs < 1 || pairs > 1000) throw new UsageError(`rtbench calibrate: flag --pairs: expected an integer >= 1 and <= 1000, got ${JSON.stringify(values.pairs)}`);
  const mode = (values.mode as string | undefined) ?? "both";
  if (mode !== "both" && mode !== "interleaved" && mode !== "sequential") {
    throw new UsageError(`rtbench calibrate: flag --mode: expected interleaved, sequential or both, got ${JSON.stringify(mode)}`);
  }
  // Fewer repetitions and the gate makes no call, so there would be nothing to calibrate.
  const repetitions = repeatFlag(values.repeat, "calibrate", MIN_REPETITIONS_FOR_A_CALL, Math.max(MIN_REPETITIONS_FOR_A_CALL, workload.repetitions));
  const modes: GateMode[] = mode === "both" ? ["interleaved", "sequential"] : [mode];
  const out = join(outDirOf(values.out, "calibrate"), `calibrate-${newRunId()}`);
  const started = Date.now();
  const progress = (t: string): void => void process.stderr.write(`rtbench calibrate: ${t} (${Math.round((Date.now() - started) / 1000)} s)\n`);
  const { calibration, path, created } = await runCalibration(ROOT, { args: forwarded, workload, pairs, modes, repetitions, out, baselines: baselinesFlag(values.baselines), progress });
  const lines = [`### rtbench calibrate: ${calibration.profile}, ${repetitions} repetitions a side`, "", "| mode | metric | floor before | A/A calls before | widest A/A gap | calibrated floor |", "|---|---|---|---|---|---|"];
  for (const [m, cal] of Object.entries(calibration.modes)) {
    lines.push(`| ${m} | any | | ${cal.falseCallsBefore} of ${cal.pairs} | | |`);
    for (const [metric, c] of Object.entries(cal.metrics)) {
      const gap = c.widestGap === null ? "–" : `${(c.widestGap * 100).toFixed(1)}%`;
      lines.push(`| ${m} | ${metric} | ±${(c.floorBefore * 100).toFixed(0)}% | ${c.callsBefore} of ${cal.pairs} | ${gap} | ±${(c.floor * 100).toFixed(1)}% |`);
    }
  }
  lines.push("", `${created ? "Wrote" : "Updated"} ${relative(process.cwd(), path)}${created ? " (a run of the calibration is its baseline, in place of any of another load)" : ""}: compare and ab use these floors for this profile on this machine. A/A runs: ${relative(process.cwd(), out)}.`);
  process.stdout.write(`${lines.join("\n")}\n`);
  return 0;
}
