/**
 * The regression gate: compares two runs cell by cell. Per metric it reads one value
 * per repetition and takes the range of every ratio candidate/baseline between them;
 * a regression is called only when that whole range lies beyond the noise floor on the
 * bad side: every candidate repetition worse than every baseline repetition, by more
 * than the floor. The floors are calibrated on this machine from real A/A runs
 * (harness/calibrate.ts) where a calibration exists.
 */
import { createHash } from "node:crypto";
import { median } from "../results/cell-metrics.js";
import { formatValue, GATED, type MetricSpec } from "../results/metrics.js";
import type { CellResult, Environment, GateMode, RunResult } from "../results/schema.js";

export type Direction = MetricSpec["direction"];

/** A metric the gate compares: the catalogue's entry with its floor and its per-repetition reader. */
export type MetricDef = (typeof GATED)[string];

/** What the gate compares, from the one metrics catalogue (results/metrics.ts). */
export const COMPARED = GATED;

export type Verdict = "regressed" | "improved" | "within noise" | "inconclusive" | "not comparable";

/**
 * Fewer repetitions than this on a side and no call is made: one or two values cannot
 * show the spread between runs (single-run p99 moves 28-48% here), and two sets of
 * three fall apart by chance only one time in twenty per direction.
 */
export const MIN_REPETITIONS_FOR_A_CALL = 3;

export interface MetricComparison {
  metric: string;
  direction: Direction;
  floor: number;
  baseline: number | null;
  candidate: number | null;
  ratio: number | null;
  /** The range of ratios over every pair of repetitions (repetitionRange). */
  interval: [number, number] | null;
  verdict: Verdict;
  note?: string;
}

export interface CellComparison {
  key: string;
  transport: string;
  broker: string;
  scenario: string;
  repetitions: { baseline: number; candidate: number };
  metrics: MetricComparison[];
}

export type { GateMode };

/** Two runs made by one `rtbench ab` (ids <id>-a and <id>-b) were interleaved. */
export function modeOf(baseline: Pick<RunResult, "id">, candidate: Pick<RunResult, "id">): GateMode {
  const a = /^(.*)-a$/.exec(baseline.id);
  return a !== null && candidate.id === `${a[1]}-b` ? "interleaved" : "sequential";
}

export interface Comparison {
  baseline: string;
  candidate: string;
  mode: GateMode;
  /** Where the floors came from, for people (a calibration, the workload, the defaults). */
  floorsFrom: string;
  comparable: boolean;
  /** Why the environments differ, if they do. */
  environmentDifferences: string[];
  forced: boolean;
  cells: CellComparison[];
  regressions: number;
}

/**
 * The range of the ratios candidate/baseline over every pair of repetitions:
 * [min(candidate) / max(baseline), max(candidate) / min(baseline)]. With three values a
 * side a bootstrap interval is far narrower than the real spread between runs (with it,
 * one A/A comparison in four was called here, at the CI profile's former 50 clients); the range is the most a
 * handful of repetitions can say, and a call on it needs the two sets apart.
 */
export function repetitionRange(baseline: readonly number[], candidate: readonly number[]): [number, number] {
  return [Math.min(...candidate) / Math.max(...baseline), Math.max(...candidate) / Math.min(...baseline)];
}

/**
 * How far apart the two sides of an A/A comparison fell, either way round, as a
 * fraction on the metric's bad side, from their range of ratios (0 or less: they
 * overlapped). A floor at or above it would not have called that comparison.
 */
export function widestGap(direction: Direction, [lo, hi]: [number, number]): number {
  return direction === "lower" ? Math.max(lo - 1, 1 / hi - 1) : Math.max(1 - hi, 1 - 1 / lo);
}

/**
 * The floor calibrated from the widest A/A gap seen: twice it in log terms (a gap of
 * 20% slower gives a floor of 44%), so a comparison a little wider than any seen in N
 * pairs is not yet a call.
 */
export function floorForGap(direction: Direction, gap: number): number {
  if (!(gap > 0)) return 0;
  return direction === "lower" ? (1 + gap) ** 2 - 1 : 1 - (1 - Math.min(gap, 1)) ** 2;
}

export function decide(direction: Direction, floor: number, [lo, hi]: [number, number]): Verdict {
  const worse = direction === "higher" ? hi < 1 - floor : lo > 1 + floor;
  const better = direction === "higher" ? lo > 1 + floor : hi < 1 - floor;
  return worse ? "regressed" : better ? "improved" : "within noise";
}

/** What must match for two runs to be comparable: CPU model, cores, Node major, broker versions. */
export function fingerprintOf(env: Environment): Record<string, string> {
  return {
    cpuModel: env.cpuModel,
    cores: String(env.cores),
    nodeMajor: env.node.replace(/^v(\d+).*$/, "$1"),
    ...Object.fromEntries(Object.entries(env.brokers).map(([b, v]) => [`broker ${b}`, v])),
  };
}

/** A short, stable name for an environment, used to name baselines. */
export function fingerprintId(env: Environment): string {
  const f = fingerprintOf(env);
  const canonical = JSON.stringify(Object.keys(f).sort().map((k) => [k, f[k]]));
  return createHash("sha256").update(canonical).digest("hex").slice(0, 10);
}

export function environmentDifferences(a: Environment, b: Environment): string[] {
  const fa = fingerprintOf(a);
  const fb = fingerprintOf(b);
  const keys = [...new Set([...Object.keys(fa), ...Object.keys(fb)])].filter((k) => !k.startsWith("broker ") || (k in fa && k in fb));
  return keys.filter((k) => fa[k] !== fb[k]).map((k) => `${k}: ${fa[k] ?? "absent"} → ${fb[k] ?? "absent"}`);
}

function cellKey(c: CellResult): string {
  const p = c.params;
  return `${c.transport} × ${c.broker} ${c.scenario} (${p.clients} clients, ${p.rate}/s, ${p.size} B, ${p.topics} topics)`;
}

/** Cells by key, every status: a failed repetition is evidence too. */
function group(run: RunResult): Map<string, CellResult[]> {
  const out = new Map<string, CellResult[]>();
  for (const c of run.cells) out.set(cellKey(c), [...(out.get(cellKey(c)) ?? []), c]);
  return out;
}

/**
 * What a cell of the baseline lacks in the candidate: it failed there, is missing, or
 * was unavailable. A gate that passed such a candidate would pass a build that broke
 * the pairing; null when the candidate has every repetition the baseline measured.
 */
function missingInCandidate(base: readonly CellResult[], cand: readonly CellResult[]): string | null {
  const measured = base.filter((c) => c.status === "ok");
  if (measured.length === 0) return null;
  if (cand.length === 0) return "cell missing in the candidate";
  const failed = cand.filter((c) => c.status === "failed");
  if (failed.length > 0) return `failed in ${failed.length} of ${cand.length} candidate repetition(s): ${failed[0]!.error ?? "no reason given"}`;
  if (cand.every((c) => c.status === "unavailable")) return `unavailable in the candidate: ${cand[0]!.error ?? "no reason given"}`;
  return null;
}

function compareMetric(
  metric: string,
  def: MetricDef,
  floor: number,
  base: CellResult[],
  cand: CellResult[],
  comparable: boolean,
  allowMissing: boolean,
): MetricComparison {
  const bv = base.map(def.readCell).filter((v): v is number => v !== undefined && Number.isFinite(v));
  const cv = cand.map(def.readCell).filter((v): v is number => v !== undefined && Number.isFinite(v));
  const out = { metric, direction: def.direction, floor, baseline: bv.length ? median(bv) : null, candidate: cv.length ? median(cv) : null, ratio: null, interval: null };
  if (!comparable) return { ...out, verdict: "not comparable", note: "environments differ" };
  // Measured in the baseline, not in the candidate (no delivery, no latency): the candidate broke it.
  if (bv.length > 0 && cv.length === 0 && !allowMissing) return { ...out, verdict: "regressed", note: "measured in the baseline, not in the candidate" };
  if (bv.length === 0 || cv.length === 0) return { ...out, verdict: "not comparable", note: "not measured on both sides" };
  const b = median(bv);
  const c = median(cv);
  if (b === 0) {
    // A ratio to zero means nothing (no loss in the baseline): compare the values themselves.
    if (c === 0) return { ...out, ratio: 1, interval: [1, 1], verdict: "within noise", note: "zero on both sides" };
    const allWorse = cv.every((v) => (def.direction === "lower" ? v > 0 : v < 0));
    return { ...out, verdict: allWorse ? "regressed" : "within noise", note: `baseline is zero; candidate ${allWorse ? "non-zero in every repetition" : "non-zero in some repetitions"}` };
  }
  const interval = repetitionRange(bv, cv);
  const verdict = decide(def.direction, floor, interval);
  if (verdict !== "within noise" && Math.min(bv.length, cv.length) < MIN_REPETITIONS_FOR_A_CALL) {
    return {
      ...out,
      ratio: c / b,
      interval,
      verdict: "inconclusive",
      note: `${verdict} by the range, but ${bv.length} and ${cv.length} repetitions cannot show the spread between runs: at least ${MIN_REPETITIONS_FOR_A_CALL} a side are needed for a call (use --repeat ${MIN_REPETITIONS_FOR_A_CALL})`,
    };
  }
  return { ...out, ratio: c / b, interval, verdict };
}

export function compareRuns(
  baseline: RunResult,
  candidate: RunResult,
  options: { floors?: Record<string, number>; floorsFrom?: string; force?: boolean; names?: [string, string]; allowMissing?: boolean } = {},
): Comparison {
  const allowMissing = options.allowMissing === true;
  const differences = environmentDifferences(baseline.environment, candidate.environment);
  const comparable = differences.length === 0 || options.force === true;
  const base = group(baseline);
  const cand = group(candidate);
  const cells: CellComparison[] = [];
  for (const key of [...new Set([...base.keys(), ...cand.keys()])]) {
    const b = base.get(key) ?? [];
    const c = cand.get(key) ?? [];
    const first = (b[0] ?? c[0])!;
    const missing = comparable ? missingInCandidate(b, c) : null;
    const bOk = b.filter((x) => x.status === "ok");
    const cOk = c.filter((x) => x.status === "ok");
    const metrics = Object.entries(COMPARED).map(([metric, def]): MetricComparison => {
      const floor = options.floors?.[metric] ?? def.floor;
      const none = { metric, direction: def.direction, floor, baseline: null, candidate: null, ratio: null, interval: null };
      if (missing) return { ...none, verdict: allowMissing ? "not comparable" : "regressed", note: `${missing}${allowMissing ? " (--allow-missing)" : ""}` };
      if (bOk.length === 0 || cOk.length === 0) {
        return { ...none, verdict: "not comparable", note: bOk.length === 0 ? (b.length === 0 ? "cell missing in the baseline" : "not measured in the baseline") : "cell missing in the candidate" };
      }
      return compareMetric(metric, def, floor, bOk, cOk, comparable, allowMissing);
    });
    cells.push({ key, transport: first.transport, broker: first.broker, scenario: first.scenario, repetitions: { baseline: b.length, candidate: c.length }, metrics });
  }
  return {
    baseline: options.names?.[0] ?? baseline.id,
    candidate: options.names?.[1] ?? candidate.id,
    mode: modeOf(baseline, candidate),
    floorsFrom: options.floorsFrom ?? "the catalogue's defaults",
    comparable,
    environmentDifferences: differences,
    forced: options.force === true && differences.length > 0,
    cells,
    regressions: cells.reduce((n, c) => n + c.metrics.filter((m) => m.verdict === "regressed").length, 0),
  };
}

/** A compared metric's value with its unit, for people. */
export function formatCompared(metric: string, v: number | null): string {
  if (v === null) return "–";
  const unit = GATED[metric]?.unit;
  if (!unit) return String(v);
  // Memory per connection reads better in KiB than in bytes.
  return unit === "bytes" ? formatValue("KiB", v / 1024) : formatValue(unit, v);
}

const MARK: Record<Verdict, string> = {
  regressed: "🔴 regressed",
  improved: "🟢 improved",
  "within noise": "within noise",
  inconclusive: "inconclusive",
  "not comparable": "not comparable",
};

/** Markdown fit for a pull-request comment or a CI job summary. */
export function toMarkdown(cmp: Comparison): string {
  const md = (s: string): string => s.replace(/\|/g, "\\|").replace(/</g, "&lt;");
  const lines = [
    `### rtbench compare: ${cmp.regressions > 0 ? `🔴 ${cmp.regressions} regression(s)` : "no regression"}`,
    "",
    `Baseline \`${md(cmp.baseline)}\`, candidate \`${md(cmp.candidate)}\` (${cmp.mode}). Ratio of the medians of repetitions; range of candidate/baseline over every pair of repetitions; a verdict needs the whole range beyond the noise floor (floors: ${md(cmp.floorsFrom)}).`,
  ];
  if (cmp.environmentDifferences.length > 0) {
    lines.push("", `**Environments differ** (${cmp.environmentDifferences.map(md).join("; ")})${cmp.forced ? ": compared anyway (--force)." : ": not comparable. Use --force to compare anyway."}`);
  }
  lines.push("", "| cell | metric | baseline | candidate | ratio | range | floor | verdict |", "|---|---|---|---|---|---|---|---|");
  for (const cell of cmp.cells) {
    for (const m of cell.metrics) {
      lines.push(
        `| ${md(cell.key)} | ${m.metric} | ${formatCompared(m.metric, m.baseline)} | ${formatCompared(m.metric, m.candidate)} | ${m.ratio === null ? "–" : m.ratio.toFixed(3)} | ${
          m.interval === null ? "–" : `${m.interval[0].toFixed(3)}–${m.interval[1].toFixed(3)}`
        } | ±${Math.round(m.floor * 100)}% | ${MARK[m.verdict]}${m.note ? ` (${md(m.note)})` : ""} |`,
      );
    }
  }
  return `${lines.join("\n")}\n`;
}
