/**
 * Claims as data: reports/claims.yaml transcribes the seed tables; this module loads
 * and validates it and decides each claim against a run's cells.
 */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { parse as parseYaml } from "yaml";
import { formatValue, metricCells, METRICS, readFigure, type Unit } from "../results/metrics.js";

export { METRICS };
import { cellGroupKey } from "../results/cell-metrics.js";
import type { CellResult } from "../results/schema.js";
import { judgeNeed, NeedError, needScenarios, pairingFigures, parseNeeds, splitNeeds, type Need, type PairingFigures } from "./advise.js";

export const CLAIMS_FILE = fileURLToPath(new URL("../../reports/claims.yaml", import.meta.url));

const UNIT_FACTORS: Record<string, { unit: Unit; factor: number }> = {
  µs: { unit: "us", factor: 1 },
  us: { unit: "us", factor: 1 },
  ms: { unit: "us", factor: 1e3 },
  s: { unit: "us", factor: 1e6 },
  "/s": { unit: "rate", factor: 1 },
  "%": { unit: "ratio", factor: 0.01 },
  B: { unit: "bytes", factor: 1 },
  KiB: { unit: "KiB", factor: 1 },
  MiB: { unit: "MiB", factor: 1 },
};

type Op = "<" | "<=" | ">" | ">=" | "==";
type Operand = { value: number } | { technology: string; metric: string };
interface Comparison {
  metric: string;
  op: Op;
  rhs: Operand;
}
/** OR of ANDs: `a && b || c`. */
export type Check = Comparison[][];

export class ClaimsError extends Error {}

export function parseCheck(text: string, where: string): Check {
  return text.split("||").map((alt) =>
    alt.split("&&").map((part) => {
      const m = /^\s*(\w+)\s*(<=|>=|==|<|>)\s*(?:@([^.]+)\.(\w+)|(-?\d+(?:\.\d+)?)\s*(µs|us|ms|s|\/s|%|B|KiB|MiB)?)\s*$/.exec(part);
      if (!m) throw new ClaimsError(`${where}: cannot read the check "${part.trim()}" (expected: metric op value[unit])`);
      const [, metric, op, refTech, refMetric, num, unit] = m;
      const spec = METRICS[metric!];
      if (!spec) throw new ClaimsError(`${where}: unknown metric "${metric}" (known: ${Object.keys(METRICS).join(", ")})`);
      if (refTech !== undefined) {
        if (refMetric !== metric) throw new ClaimsError(`${where}: compare ${metric} with the same metric, not ${refMetric}`);
        return { metric: metric!, op: op as Op, rhs: { technology: refTech, metric: refMetric! } };
      }
      let value = Number(num);
      if (unit !== undefined) {
        const u = UNIT_FACTORS[unit]!;
        if (u.unit !== spec.unit) throw new ClaimsError(`${where}: ${metric} is measured in ${spec.unit}, not ${unit}`);
        value *= u.factor;
      }
      return { metric: metric!, op: op as Op, rhs: { value } };
    }),
  );
}

export interface Subject {
  transport: string;
  broker: string;
}

/** A recommendation ("Best for: chat") read as the needs that define its use case (advise's). */
export interface UseCase {
  needs: Need[];
  text: string;
}

export interface ClaimRow {
  row: string;
  claims: string[];
  /** Per claim: a check, the use case a recommendation names, or the reason it cannot be tested. */
  tests: Array<{ check: Check; text: string } | UseCase | { untestable: string }>;
  /** The technology each claim is about, where the row names its own (a decision matrix row recommends one). */
  technologies?: string[];
}

export interface ClaimTable {
  id: string;
  doc: string;
  title: string;
  /** In the document, technologies are the rows and these rows the columns. */
  transposed: boolean;
  /** Not a table in the document: each claim is a sentence of its text, quoted whole. */
  prose: boolean;
  technologies: string[];
  rows: ClaimRow[];
}

export interface Claims {
  subjects: Record<string, Subject[]>;
  tables: ClaimTable[];
}

interface RawRow {
  row?: unknown;
  claims?: unknown;
  checks?: unknown;
  needs?: unknown;
  technology?: unknown;
  untestable?: unknown;
}

/** Loads and validates the claims file; every error names the table and row. */
export function loadClaims(file = CLAIMS_FILE): Claims {
  const doc = parseYaml(readFileSync(file, "utf8")) as {
    subjects?: Record<string, Subject[]>;
    tables?: Array<{ id: string; doc: string; title: string; transposed?: boolean; prose?: boolean; technologies: string[]; rows: RawRow[] }>;
  };
  if (!doc?.subjects || !Array.isArray(doc.tables)) throw new ClaimsError(`${file}: expected "subjects" and "tables"`);
  const tables = doc.tables.map((t) => {
    // A decision matrix's one column is a heading: each row names the technology it recommends.
    const rowsName = t.rows.every((r) => r.technology !== undefined);
    for (const tech of rowsName ? [] : t.technologies) {
      if (!doc.subjects![tech]) throw new ClaimsError(`${file}: table ${t.id}: no subject for technology "${tech}"`);
    }
    const rows = t.rows.map((r): ClaimRow => {
      const where = `${file}: table ${t.id}, row "${String(r.row)}"`;
      const claims = r.claims;
      if (typeof r.row !== "string" || !Array.isArray(claims) || claims.length !== t.technologies.length) {
        throw new ClaimsError(`${where}: expected a row name and ${t.technologies.length} claims`);
      }
      let technologies: string[] | undefined;
      if (r.technology !== undefined) {
        if (typeof r.technology !== "string" || !doc.subjects![r.technology] || claims.length !== 1) {
          throw new ClaimsError(`${where}: "technology" names the one claim's technology, one of the subjects (${Object.keys(doc.subjects!).join(", ")})`);
        }
        technologies = [r.technology];
      }
      if (r.needs !== undefined && r.checks !== undefined) throw new ClaimsError(`${where}: a row has checks or needs, not both`);
      const checks = r.needs !== undefined ? r.needs : r.checks === undefined ? claims.map(() => null) : r.checks;
      if (!Array.isArray(checks) || checks.length !== claims.length) throw new ClaimsError(`${where}: expected ${claims.length} ${r.needs !== undefined ? "needs" : "checks"}`);
      const tests = checks.map((c: unknown, i) => {
        const at = `${where}, ${(technologies ?? t.technologies)[i]}`;
        if (typeof c === "string" && r.needs !== undefined) {
          try {
            return { needs: parseNeeds(c, "needs"), text: c };
          } catch (err) {
            if (err instanceof NeedError) throw new ClaimsError(`${at}: ${err.message}`);
            throw err;
          }
        }
        if (typeof c === "string") return { check: parseCheck(c, at), text: c };
        if (c && typeof c === "object" && typeof (c as { untestable?: unknown }).untestable === "string") {
          return { untestable: (c as { untestable: string }).untestable };
        }
        if (c === null && typeof r.untestable === "string") return { untestable: r.untestable };
        throw new ClaimsError(`${at}: expected a check, {untestable: reason}, or a row-level untestable reason`);
      });
      return { row: r.row, claims: claims.map(String), tests, ...(technologies ? { technologies } : {}) };
    });
    return { id: t.id, doc: t.doc, title: t.title, transposed: t.transposed === true, prose: t.prose === true, technologies: t.technologies, rows };
  });
  return { subjects: doc.subjects, tables };
}

/**
 * "unavailable here": the check's cells cannot be had on this machine: the scenario
 * refuses the pairing or the broker is missing (the cells say why), or the machine's
 * load stopped short of the check's threshold (a lower bound that decides nothing).
 */
export type Verdict = "holds" | "does not hold" | "consistent" | "inconsistent" | "not measured yet" | "unavailable here" | "not testable";

export const VERDICTS: readonly Verdict[] = ["holds", "does not hold", "consistent", "inconsistent", "not measured yet", "unavailable here", "not testable"];

export interface ClaimResult {
  technology: string;
  claim: string;
  verdict: Verdict;
  /** The measured figures, e.g. "p50 0.45 ms, p99 2.4 ms". */
  measured?: string;
  /** The check that decides the claim, as written in claims.yaml. */
  check?: string;
  /** Why the claim is not testable, or why it is not measured yet. */
  reason?: string;
  /** The cells the figures were read off, as report groups (results/cell-metrics.ts cellGroupKey). */
  cells?: string[];
  /** The scenarios whose cells the check reads (the report links each to its figure). */
  scenarios?: string[];
}

/**
 * A figure and the cells it was read off: exact, or only a lower bound (a sweep or a
 * ramp that stopped short of the system's limit), with what stopped it.
 */
type Figure = { cells: readonly CellResult[] } & ({ value: number } | { atLeast: number; why: string } | { below: number; why: string });

/** No figure: why, and whether it is that the pairing cannot be had here (its cells are unavailable, with their reason). */
interface NoFigure {
  why: string;
  unavailable: boolean;
}

/**
 * A technology's figure for a metric: read off the cells of the metric's scenario of its
 * first listed subject that has the figure (a subject's cells may lack it: SSE × inproc
 * runs the reconnect scenario with a drop, where a relay restart needs SSE × Redis).
 * A lower bound counts only where no subject has the figure itself. Otherwise, why
 * there is none: the first subject's reason, or saturation where it struck.
 */
function metricValue(claims: Claims, technology: string, metric: string, cells: readonly CellResult[]): Figure | NoFigure {
  const spec = METRICS[metric]!;
  if (!spec.read) return { why: `${metric} comes with the ${spec.scenario} scenario`, unavailable: false };
  const subjects = claims.subjects[technology] ?? [];
  let none: NoFigure | undefined;
  // A bound (a floor or a ceiling) when no subject gives the figure itself.
  let bound: Figure | undefined;
  for (const subject of subjects) {
    const ran = metricCells(spec, cells).filter((c) => c.transport === subject.transport && c.broker === subject.broker);
    const mine = ran.filter((c) => c.status === "ok");
    if (mine.length === 0) {
      const unavailable = ran.find((c) => c.status === "unavailable");
      if (unavailable) none ??= { why: `${subject.transport} × ${subject.broker} ${spec.scenario}: ${unavailable.error ?? "unavailable"}`, unavailable: true };
      continue;
    }
    const usable = mine.filter((c) => !c.saturated);
    if (usable.length === 0) {
      none ??= { why: `the ${spec.scenario} cells of ${subject.transport} × ${subject.broker} were saturated (the load generator's limit, not the system's)`, unavailable: false };
      continue;
    }
    const figure = readFigure(metric, usable);
    if (figure && "value" in figure) return { value: figure.value, cells: usable };
    if (figure && "atLeast" in figure) bound ??= { atLeast: figure.atLeast, why: `${subject.transport} × ${subject.broker}: ${figure.why}`, cells: usable };
    else if (figure) bound ??= { below: figure.below, why: `${subject.transport} × ${subject.broker}: ${figure.why}`, cells: usable };
    else none ??= { why: `no ${metric} in the ${spec.scenario} cells of ${subject.transport} × ${subject.broker}`, unavailable: false };
  }
  if (bound) return bound;
  if (none) return none;
  const s = subjects[0];
  return { why: s ? `needs the ${spec.scenario} scenario on ${s.transport} × ${s.broker}` : `no subject for ${technology}`, unavailable: false };
}

const OPS: Record<Op, (a: number, b: number) => boolean> = {
  "<": (a, b) => a < b,
  "<=": (a, b) => a <= b,
  ">": (a, b) => a > b,
  ">=": (a, b) => a >= b,
  "==": (a, b) => a === b,
};

/** true, false, or undefined where the figures cannot tell. */
type Truth = boolean | undefined;

/** `x op rhs` where all that is known of x is x >= floor. */
function compareFloor(floor: number, op: Op, rhs: number): Truth {
  switch (op) {
    case ">":
      return floor > rhs ? true : undefined;
    case ">=":
      return floor >= rhs ? true : undefined;
    case "<":
      return floor >= rhs ? false : undefined;
    case "<=":
    case "==":
      return floor > rhs ? false : undefined;
  }
}

/** A figure known only to be below `ceiling` (exclusive), against rhs. */
function compareCeiling(ceiling: number, op: Op, rhs: number): Truth {
  switch (op) {
    case ">":
    case ">=":
    case "==":
      return ceiling <= rhs ? false : undefined;
    case "<":
    case "<=":
      return ceiling <= rhs ? true : undefined;
  }
}

export function formatMetric(metric: string, value: number): string {
  const unit = METRICS[metric]?.unit;
  return unit ? formatValue(unit, value) : String(value);
}

/**
 * Decides one claim against a run's cells. A check is an OR of ANDs read with three
 * values: a figure not measured, or only bounded, leaves a comparison open, and the
 * check is decided when the known comparisons decide it either way.
 */
export function evaluate(claims: Claims, table: ClaimTable, row: ClaimRow, index: number, cells: readonly CellResult[]): ClaimResult {
  const technology = (row.technologies ?? table.technologies)[index]!;
  const claim = row.claims[index]!;
  const test = row.tests[index]!;
  if ("untestable" in test) return { technology, claim, verdict: "not testable", reason: test.untestable };
  if ("needs" in test) return evaluateUseCase(claims, table, technology, claim, test, cells);

  const figures = new Map<string, Figure | NoFigure>();
  const scenarios = new Set<string>();
  for (const alt of test.check) {
    for (const cmp of alt) {
      for (const [tech, metric] of [[technology, cmp.metric], ..."technology" in cmp.rhs ? [[cmp.rhs.technology, cmp.rhs.metric]] : []] as Array<[string, string]>) {
        const key = `${tech}.${metric}`;
        if (figures.has(key)) continue;
        scenarios.add(METRICS[metric]!.scenario);
        figures.set(key, metricValue(claims, tech, metric, cells));
      }
    }
  }
  const exact = (key: string): number | undefined => {
    const f = figures.get(key)!;
    return "value" in f ? f.value : undefined;
  };
  const truth = (cmp: Comparison): Truth => {
    const lhsKey = `${technology}.${cmp.metric}`;
    const rhs = "value" in cmp.rhs ? cmp.rhs.value : exact(`${cmp.rhs.technology}.${cmp.rhs.metric}`);
    if (rhs === undefined) return undefined;
    const lhs = figures.get(lhsKey)!;
    if ("value" in lhs) return OPS[cmp.op](lhs.value, rhs);
    if ("atLeast" in lhs) return compareFloor(lhs.atLeast, cmp.op, rhs);
    return "below" in lhs ? compareCeiling(lhs.below, cmp.op, rhs) : undefined;
  };
  const and = (alt: Comparison[]): Truth => {
    const t = alt.map(truth);
    return t.includes(false) ? false : t.every((x) => x === true) ? true : undefined;
  };
  const alts = test.check.map(and);
  const decided: Truth = alts.includes(true) ? true : alts.every((x) => x === false) ? false : undefined;

  const known = [...figures].filter((e): e is [string, Figure] => "cells" in e[1]);
  const measured = known
    .map(([key, f]) => {
      const [tech, metric] = [key.slice(0, key.lastIndexOf(".")), key.slice(key.lastIndexOf(".") + 1)];
      return `${tech === technology ? "" : `${tech} `}${metric} ${"value" in f ? formatMetric(metric, f.value) : "atLeast" in f ? `≥ ${formatMetric(metric, f.atLeast)}` : `< ${formatMetric(metric, f.below)}`}`;
    })
    .join(", ");
  const read = [...new Set(known.flatMap(([, f]) => f.cells.map(cellGroupKey)))];
  const base = { technology, claim, check: test.text, scenarios: [...scenarios], ...(measured ? { measured } : {}), ...(read.length ? { cells: read } : {}) };
  if (decided !== undefined) return { ...base, verdict: decided ? "holds" : "does not hold" };
  // Open: say why, the pairing's own unavailability and a bound that falls short first.
  const missing = [...figures.values()].filter((f): f is NoFigure => "why" in f && !("cells" in f));
  const bounded = known.map(([, f]) => f).filter((f): f is Figure & { atLeast: number; why: string } => "atLeast" in f);
  const unavailable = missing.find((f) => f.unavailable);
  if (unavailable) return { ...base, verdict: "unavailable here", reason: unavailable.why };
  if (missing.length === 0 && bounded.length > 0) return { ...base, verdict: "unavailable here", reason: `${bounded.map((f) => f.why).join("; ")}: the check's threshold is beyond what this machine could drive` };
  const ceiling = known.map(([, f]) => f).find((f): f is Figure & { below: number; why: string } => "below" in f);
  return { ...base, verdict: "not measured yet", reason: (missing[0] ?? bounded[0] ?? ceiling)!.why };
}

/** A technology's pairings (its subjects, in order) among the measured ones. */
function subjectFigures(claims: Claims, technology: string, figures: readonly PairingFigures[]): PairingFigures[] {
  return (claims.subjects[technology] ?? []).flatMap((s) => figures.filter((p) => p.transport === s.transport && p.broker === s.broker));
}

const ordinal = (n: number): string => `${n}${n % 100 >= 11 && n % 100 <= 13 ? "th" : ["th", "st", "nd", "rd"][n % 10] ?? "th"}`;

/**
 * A recommendation against the measured ranking for its use case: consistent when the
 * recommended technology meets every need that defines the use case, inconsistent when
 * a figure excludes it. The figures say where it ranks, by p99, among the table's
 * technologies that meet the needs too. A need no scenario measures leaves the
 * recommendation not testable yet, with why.
 */
function evaluateUseCase(claims: Claims, table: ClaimTable, technology: string, claim: string, use: UseCase, cells: readonly CellResult[]): ClaimResult {
  const { judged, unknown } = splitNeeds(use.needs);
  const scenarios = [...new Set(judged.flatMap((n) => needScenarios(n.key)))];
  const base = { technology, claim, check: `needs ${use.text}`, scenarios };
  if (unknown.length > 0) return { ...base, verdict: "not testable", reason: unknown.map((u) => `${u.need}: ${u.why}`).join("; ") };
  const figures = pairingFigures(cells);
  const judge = (tech: string) => judged.map((n) => ({ n, j: judgeNeed(n, subjectFigures(claims, tech, figures)) }));
  const mine = judge(technology);
  const read = [...new Set(mine.flatMap(({ j }) => j.cells))];
  const shown = mine.filter(({ j }) => j.cells.length > 0).map(({ n, j }) => `${n.key}: ${j.figure}`);
  const withRead = { ...base, ...(shown.length ? { measured: shown.join("; ") } : {}), ...(read.length ? { cells: read } : {}) };
  const missed = mine.filter(({ j }) => j.met === false);
  if (missed.length > 0) return { ...withRead, verdict: "inconsistent", measured: missed.map(({ n, j }) => `${j.figure} misses ${n.key}=${n.given}`).join("; ") };
  const open = mine.filter(({ j }) => j.met === undefined);
  if (open.length > 0) {
    const subjects = claims.subjects[technology] ?? [];
    const why = open.map(({ n, j }) => `${n.key}: ${j.figure}`).join("; ");
    const unavailable = cells.find((c) => c.status === "unavailable" && subjects.some((s) => s.transport === c.transport && s.broker === c.broker) && scenarios.includes(c.scenario));
    if (unavailable) return { ...withRead, verdict: "unavailable here", reason: `${why}; ${unavailable.transport} × ${unavailable.broker} ${unavailable.scenario}: ${unavailable.error ?? "unavailable"}` };
    // As a check's bounded figure is: measured as far as this machine could drive, short of the need.
    if (open.every(({ j }) => j.bounded)) return { ...withRead, verdict: "unavailable here", reason: `${why}: the need is beyond what this machine could drive (the run stopped before the system's own limit)` };
    return { ...withRead, verdict: "not measured yet", reason: why };
  }
  // Where it ranks among the table's technologies that meet the needs too, by p99.
  const technologies = [...new Set([...table.technologies.filter((t) => claims.subjects[t]), ...table.rows.flatMap((r) => r.technologies ?? [])])];
  const p99Of = (tech: string) => subjectFigures(claims, tech, figures).find((p) => p.figures.p99)?.figures.p99?.value ?? Infinity;
  const meeting = technologies.filter((t) => judge(t).every(({ j }) => j.met === true)).sort((a, b) => p99Of(a) - p99Of(b));
  const rank = meeting.indexOf(technology) + 1;
  const ranking = meeting.length > 1 ? `; ranks ${ordinal(rank)} by p99 of the ${meeting.length} here that meet them (${meeting.join(", ")})` : "; the only one here that meets them";
  return { ...withRead, verdict: "consistent", measured: `${shown.join("; ")}${ranking}` };
}
