/** `rtbench compare`, `ab` and `baseline`: the regression gate's commands (the gate itself is harness/gate.ts). */
import { relative, resolve } from "node:path";
import { existsSync } from "node:fs";
import { DEFAULT_WORKLOAD, outDirOf, parse, ROOT, UsageError, type FlagSpec } from "./cli-args.js";
import { baselineForThisMachine, compareFiles, runAb, toMarkdown, updateBaseline } from "./gate.js";
import { applyFields, DEFAULTS, FIELDS, flagName, loadWorkloadFile } from "./workload.js";

export function parseFloorsFlag(value: unknown): Record<string, number> {
  if (value === undefined) return {};
  return applyFields(DEFAULTS, { noiseFloors: value }, () => "flag --noise-floor", true).noiseFloors;
}

export async function compare(args: string[]): Promise<number> {
  const { values, positionals } = parse(
    args,
    { format: { type: "string" }, force: { type: "boolean" }, "noise-floor": { type: "string" }, "allow-missing": { type: "boolean" } },
    "compare",
  );
  if (positionals.length !== 2) throw new UsageError("rtbench compare: expected <baseline> <candidate> (run folders or result.json files)");
  const format = (values.format as string | undefined) ?? "md";
  if (format !== "md" && format !== "json") throw new UsageError(`rtbench compare: flag --format: expected md or json, got ${JSON.stringify(format)}`);
  const cmp = compareFiles(positionals[0]!, positionals[1]!, {
    floors: parseFloorsFlag(values["noise-floor"]),
    force: values.force === true,
    allowMissing: values["allow-missing"] === true,
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

export async function ab(args: string[]): Promise<number> {
  const options: FlagSpec = {
    repeat: { type: "string" },
    out: { type: "string" },
    "a-root": { type: "string" },
    "b-root": { type: "string" },
    "a-env": { type: "string" },
    "b-env": { type: "string" },
    "noise-floor": { type: "string" },
  };
  for (const f of FIELDS) if (f.key !== "repetitions") options[flagName(f.key)] = { type: "string" };
  const { values, positionals } = parse(args, options, "ab");
  if (positionals.length > 1) throw new UsageError(`rtbench ab: expected at most one workload file, got ${positionals.join(" ")}`);
  const repeat = Number(values.repeat ?? 3);
  if (!Number.isInteger(repeat) || repeat < 1 || repeat > 100) {
    throw new UsageError(`rtbench ab: flag --repeat: expected an integer >= 1 and <= 100, got ${JSON.stringify(values.repeat)}`);
  }
  // Validate the workload and flags here, before anything starts; both sides get the same.
  const file = positionals[0] ?? DEFAULT_WORKLOAD;
  const forwarded: string[] = [resolve(file)];
  const flags: Record<string, unknown> = {};
  for (const f of FIELDS) {
    const v = values[flagName(f.key)];
    if (v === undefined) continue;
    flags[f.key] = v;
    forwarded.push(`--${flagName(f.key)}`, String(v));
  }
  applyFields(loadWorkloadFile(file), flags, (key) => `flag --${flagName(key)}`, true);
  const side = (root: unknown, env: unknown, flag: string) => ({ root: resolve(typeof root === "string" ? root : ROOT), env: envPairs(env, flag) });
  const a = side(values["a-root"], values["a-env"], "a-env");
  const b = side(values["b-root"], values["b-env"], "b-env");
  const dirs = await runAb(a, b, forwarded, repeat, outDirOf(values.out, "ab"), (t) => process.stderr.write(`rtbench ab: ${t}\n`));
  const cmp = compareFiles(dirs.a, dirs.b, { floors: parseFloorsFlag(values["noise-floor"]), force: false });
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
