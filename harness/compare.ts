/**
 * The regression gate: compares two runs cell by cell. Per metric the statistic is the
 * median of per-repetition values; a 95% bootstrap interval on the ratio
 * candidate/baseline is set against a noise floor, and a regression is called only
 * when the whole interval lies beyond the floor on the bad side.
 */
import { createHash } from "node:crypto";
import { median } from "../results/cell-metrics.js";
import { formatValue, GATED, type MetricSpec } from "../results/metrics.js";
import type { CellResult, Environment, RunResult } from "../results/schema.js";

export type Direction = MetricSpec["direction"];

/** A metric the gate compares: the catalogue's entry with its floor and its per-repetition reader. */
export type MetricDef = (typeof GATED)[string];

/** What the gate compares, from the one metrics catalogue (results/metrics.ts). */
export const COMPARED = GATED;

export type Verdict = "regressed" | "improved" | "within noise" | "inconclusive" | "not comparable";

/**
 * Fewer repetitions than this on a side and the spread between repetitions cannot be
 * estimated: the interval from the bootstrap would be a point or two, far narrower than
 * the real run-to-run spread (single-run p99 moves 28-48% here), so no call is made.
 */
export const MIN_REPETITIONS_FOR_A_CALL = 3;

export interface MetricComparison {
  metric: string;
  direction: Direction;
  floor: number;
  baseline: number | null;
  candidate: number | null;
  ratio: number | null;
  /** 95% bootstrap interval on the ratio of medians. */
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

export interface Comparison {
  baseline: string;
  candidate: string;
  comparable: boolean;
  /** Why the environments differ, if they do. */
  environmentDifferences: string[];
  forced: boolean;
  cells: CellComparison[];
  regressions: number;
}

/** Small seeded PRNG (mulberry32) so the same inputs give the same interval. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** 95% percentile-bootstrap interval of median(candidate) / median(baseline). */
export function bootstrapRatio(baseline: readonly number[], candidate: readonly number[], resamples = 4000, seed = 1): [number, number] {
  const random = rng(seed);
  const pick = (xs: readonly number[]): number[] => xs.map(() => xs[Math.floor(random() * xs.length)]!);
  const ratios: number[] = [];
  for (let i = 0; i < resamples; i++) {
    const b = median(pick(baseline));
    if (b > 0) ratios.push(median(pick(candidate)) / b);
  }
  ratios.sort((x, y) => x - y);
  if (ratios.length === 0) return [Number.NaN, Number.NaN];
  return [ratios[Math.floor(0.025 * (ratios.length - 1))]!, ratios[Math.ceil(0.975 * (ratios.length - 1))]!];
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

function environmentDifferences(a: Environment, b: Environment): string[] {
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
  const interval = bootstrapRatio(bv, cv);
  const verdict = decide(def.direction, floor, interval);
  if (verdict !== "within noise" && Math.min(bv.length, cv.length) < MIN_REPETITIONS_FOR_A_CALL) {
    return {
      ...out,
      ratio: c / b,
      interval,
      verdict: "inconclusive",
      note: `${verdict} by the interval, but ${bv.length} and ${cv.length} repetitions cannot show the spread between runs: at least ${MIN_REPETITIONS_FOR_A_CALL} a side are needed for a call (use --repeat ${MIN_REPETITIONS_FOR_A_CALL})`,
    };
  }
  return { ...out, ratio: c / b, interval, verdict };
}

export function compareRuns(
  baseline: RunResult,
  candidate: RunResult,
  options: { floors?: Record<string, number>; force?: boolean; names?: [string, string]; allowMissing?: boolean } = {},
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
    `Baseline \`${md(cmp.baseline)}\`, candidate \`${md(cmp.candidate)}\`. Median of repetitions; 95% bootstrap interval on candidate/baseline; a verdict needs the whole interval beyond the noise floor.`,
  ];
  if (cmp.environmentDifferences.length > 0) {
    lines.push("", `**Environments differ** (${cmp.environmentDifferences.map(md).join("; ")})${cmp.forced ? ": compared anyway (--force)." : ": not comparable. Use --force to compare anyway."}`);
  }
  lines.push("", "| cell | metric | baseline | candidate | ratio | 95% interval | floor | verdict |", "|---|---|---|---|---|---|---|---|");
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
