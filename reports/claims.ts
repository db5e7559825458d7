/**
 * Claims as data: reports/claims.yaml transcribes the seed tables; this module loads
 * and validates it and decides each claim against a run's cells.
 */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { parse as parseYaml } from "yaml";
import { formatValue, METRICS, type Unit } from "../results/metrics.js";

export { METRICS };
import type { CellResult } from "../results/schema.js";

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

export interface ClaimRow {
  row: string;
  claims: string[];
  /** Per claim: a check, or the reason it cannot be tested. */
  tests: Array<{ check: Check; text: string } | { untestable: string }>;
}

export interface ClaimTable {
  id: string;
  doc: string;
  title: string;
  /** In the document, technologies are the rows and these rows the columns. */
  transposed: boolean;
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
  untestable?: unknown;
}

/** Loads and validates the claims file; every error names the table and row. */
export function loadClaims(file = CLAIMS_FILE): Claims {
  const doc = parseYaml(readFileSync(file, "utf8")) as {
    subjects?: Record<string, Subject[]>;
    tables?: Array<{ id: string; doc: string; title: string; transposed?: boolean; technologies: string[]; rows: RawRow[] }>;
  };
  if (!doc?.subjects || !Array.isArray(doc.tables)) throw new ClaimsError(`${file}: expected "subjects" and "tables"`);
  const tables = doc.tables.map((t) => {
    for (const tech of t.technologies) {
      if (!doc.subjects![tech]) throw new ClaimsError(`${file}: table ${t.id}: no subject for technology "${tech}"`);
    }
    const rows = t.rows.map((r): ClaimRow => {
      const where = `${file}: table ${t.id}, row "${String(r.row)}"`;
      const claims = r.claims;
      if (typeof r.row !== "string" || !Array.isArray(claims) || claims.length !== t.technologies.length) {
        throw new ClaimsError(`${where}: expected a row name and ${t.technologies.length} claims`);
      }
      const checks = r.checks === undefined ? claims.map(() => null) : r.checks;
      if (!Array.isArray(checks) || checks.length !== claims.length) throw new ClaimsError(`${where}: expected ${claims.length} checks`);
      const tests = checks.map((c: unknown, i) => {
        const at = `${where}, ${t.technologies[i]}`;
        if (typeof c === "string") return { check: parseCheck(c, at), text: c };
        if (c && typeof c === "object" && typeof (c as { untestable?: unknown }).untestable === "string") {
          return { untestable: (c as { untestable: string }).untestable };
        }
        if (c === null && typeof r.untestable === "string") return { untestable: r.untestable };
        throw new ClaimsError(`${at}: expected a check, {untestable: reason}, or a row-level untestable reason`);
      });
      return { row: r.row, claims: claims.map(String), tests };
    });
    return { id: t.id, doc: t.doc, title: t.title, transposed: t.transposed === true, technologies: t.technologies, rows };
  });
  return { subjects: doc.subjects, tables };
}

export type Verdict = "holds" | "does not hold" | "not measured yet" | "not testable";

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
}

interface Measured {
  cells: CellResult[];
  subject: Subject;
}

/** The cells that measure a technology in a scenario: the first listed subject that ran wins. */
function cellsFor(claims: Claims, technology: string, scenario: string, cells: readonly CellResult[]): Measured | string {
  const subjects = claims.subjects[technology] ?? [];
  for (const subject of subjects) {
    const mine = cells.filter((c) => c.transport === subject.transport && c.broker === subject.broker && c.scenario === scenario && c.status === "ok");
    if (mine.length === 0) continue;
    const usable = mine.filter((c) => !c.saturated);
    if (usable.length === 0) return `the ${scenario} cells of ${subject.transport} × ${subject.broker} were saturated (the load generator's limit, not the system's)`;
    return { cells: usable, subject };
  }
  const s = subjects[0];
  return s ? `needs the ${scenario} scenario on ${s.transport} × ${s.broker}` : `no subject for ${technology}`;
}

function metricValue(claims: Claims, technology: string, metric: string, cells: readonly CellResult[]): number | string {
  const spec = METRICS[metric]!;
  if (!spec.read) return `${metric} comes with the ${spec.scenario} scenario`;
  const found = cellsFor(claims, technology, spec.scenario, cells);
  if (typeof found === "string") return found;
  return spec.read(found.cells) ?? `no ${metric} in the ${spec.scenario} cells of ${technology}`;
}

const OPS: Record<Op, (a: number, b: number) => boolean> = {
  "<": (a, b) => a < b,
  "<=": (a, b) => a <= b,
  ">": (a, b) => a > b,
  ">=": (a, b) => a >= b,
  "==": (a, b) => a === b,
};

export function formatMetric(metric: string, value: number): string {
  const unit = METRICS[metric]?.unit;
  return unit ? formatValue(unit, value) : String(value);
}

/** Decides one claim against a run's cells. */
export function evaluate(claims: Claims, table: ClaimTable, row: ClaimRow, index: number, cells: readonly CellResult[]): ClaimResult {
  const technology = table.technologies[index]!;
  const claim = row.claims[index]!;
  const test = row.tests[index]!;
  if ("untestable" in test) return { technology, claim, verdict: "not testable", reason: test.untestable };

  const figures = new Map<string, number>();
  for (const alt of test.check) {
    for (const cmp of alt) {
      for (const [tech, metric] of [[technology, cmp.metric], ..."technology" in cmp.rhs ? [[cmp.rhs.technology, cmp.rhs.metric]] : []] as Array<[string, string]>) {
        const key = `${tech}.${metric}`;
        if (figures.has(key)) continue;
        const v = metricValue(claims, tech, metric, cells);
        if (typeof v === "string") return { technology, claim, verdict: "not measured yet", check: test.text, reason: v };
        figures.set(key, v);
      }
    }
  }
  const holds = test.check.some((alt) =>
    alt.every((cmp) => {
      const lhs = figures.get(`${technology}.${cmp.metric}`)!;
      const rhs = "value" in cmp.rhs ? cmp.rhs.value : figures.get(`${cmp.rhs.technology}.${cmp.rhs.metric}`)!;
      return OPS[cmp.op](lhs, rhs);
    }),
  );
  const measured = [...figures]
    .map(([key, v]) => {
      const [tech, metric] = [key.slice(0, key.lastIndexOf(".")), key.slice(key.lastIndexOf(".") + 1)];
      return `${tech === technology ? "" : `${tech} `}${metric} ${formatMetric(metric, v)}`;
    })
    .join(", ");
  return { technology, claim, verdict: holds ? "holds" : "does not hold", measured, check: test.text };
}
