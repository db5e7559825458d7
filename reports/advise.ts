/**
 * `rtbench advise`: seed 003's questions answered from measured cells. A need is a
 * criterion on one or more metrics of the catalogue, read per transport × broker
 * pairing; a pairing meets the needs, misses one (with the figure that excluded it),
 * or is undecided where its cells lack a figure. A need no cell measures at all is said
 * to be unknown, and never guessed. The report's guide section runs the same judgement
 * in the page (`meets` is carried there as it is), on the figures `pairingFigures` reads.
 */
import { cellGroupKey } from "../results/cell-metrics.js";
import { formatValue, metricCells, METRICS, readFigure } from "../results/metrics.js";
import type { CellResult } from "../results/schema.js";

/** How a criterion compares a figure with the need's limit. */
export type Test = "below" | "atLeast" | "atMost";

/** A figure as the guide reads it: exact, or only a lower bound (a ramp or sweep that stopped short), or an upper one (a sweep whose first step failed). */
export interface GuideFigure {
  value: number;
  atLeast: boolean;
  /** The figure is below `value` (exclusive). */
  below?: boolean;
  /** For people: "p99 1.73 ms", "maxConnections ≥ 10000". */
  text: string;
  /** The report groups it was read off (cellGroupKey), which a verdict links to. */
  cells: string[];
}

/**
 * Whether the figures found meet `test` against `limit`: true, false, or undefined where
 * a bound cannot tell or no figure was found. Every figure found must meet it (a loss
 * need reads a relay restart and a broker restart alike). Self-contained: the report's
 * page runs this function's own source.
 */
export function meets(test: Test, found: ReadonlyArray<{ value: number; atLeast: boolean; below?: boolean }>, limit: number): boolean | undefined {
  if (found.length === 0) return undefined;
  let open = false;
  for (const f of found) {
    let t: boolean | undefined;
    // Known only to be under f.value: enough where f.value is at or under the limit.
    if (f.below) t = f.value <= limit ? test !== "atLeast" : undefined;
    else if (test === "below") t = f.atLeast ? (f.value >= limit ? false : undefined) : f.value < limit;
    else if (test === "atLeast") t = f.value >= limit ? true : f.atLeast ? undefined : false;
    else t = f.atLeast ? (f.value > limit ? false : undefined) : f.value <= limit;
    if (t === false) return false;
    if (t === undefined) open = true;
  }
  return open ? undefined : true;
}

/** The value's form: the CLI parses it from text, the page's form has an input of this kind. */
type Form = "duration" | "count" | "rate" | "yes";

interface NeedSpec {
  describe: string;
  form: Form;
  /** What a pairing's figures must do; absent: no scenario measures it yet (`unmeasured` says why). */
  criterion?: { metrics: readonly string[]; test: Test };
  unmeasured?: string;
}

export const NEEDS: Readonly<Record<string, NeedSpec>> = {
  p99: { describe: "latency p99 from the intended send time below this (steady scenario)", form: "duration", criterion: { metrics: ["p99"], test: "below" } },
  connections: { describe: "connections one relay holds at least (connections scenario)", form: "count", criterion: { metrics: ["maxConnections"], test: "atLeast" } },
  rate: { describe: "messages per second sustained at least (saturation scenario)", form: "rate", criterion: { metrics: ["maxSustainableRate"], test: "atLeast" } },
  replay: {
    describe: "nothing lost when the relay drops every connection and clients reconnect (reconnect scenario, fault drop)",
    form: "yes",
    criterion: { metrics: ["lostAcrossRelayDrop"], test: "atMost" },
  },
  "restart-loss": {
    describe: "messages the broker had acknowledged, lost at most across a relay restart or a broker restart (reconnect kill-relay, durability)",
    form: "count",
    criterion: { metrics: ["lostAcrossRelayRestart", "lostAcrossBrokerRestart"], test: "atMost" },
  },
  "two-way": {
    describe: "clients also send to the server, and every message they send reaches the other members of its room (chat scenario)",
    form: "yes",
    criterion: { metrics: ["chatLost"], test: "atMost" },
  },
  "strict-proxy": {
    describe: "works behind a strict proxy that passes plain HTTP and no Upgrade: no connection refused, dropped or unanswered, nothing lost (proxy scenario, proxy strict)",
    form: "yes",
    criterion: { metrics: ["strictProxyBroken"], test: "atMost" },
  },
  browser: { describe: "the clients are browsers", form: "yes", unmeasured: "no scenario drives real browsers yet (issue 18)" },
};

const EXPECTS: Record<Form, string> = { duration: "a duration: 100ms, 2s, 500us", count: "a whole number: 10000", rate: "a rate: 50000 or 50000/s", yes: "yes or no" };

/** The value in the criterion's unit (µs, a count, /s), true/false for yes-or-no; null when not of the form. */
function parseValue(form: Form, v: string): number | boolean | null {
  switch (form) {
    case "duration": {
      const m = /^(\d+(?:\.\d+)?)(us|µs|ms|s)$/.exec(v);
      return m ? Number(m[1]) * (m[2] === "s" ? 1e6 : m[2] === "ms" ? 1e3 : 1) : null;
    }
    case "count":
      return /^\d+$/.test(v) ? Number(v) : null;
    case "rate":
      return /^\d+(\/s)?$/.test(v) ? Number.parseInt(v, 10) : null;
    case "yes":
      return v === "yes" || v === "true" ? true : v === "no" || v === "false" ? false : null;
  }
}

/** The limit a need's value sets its criterion; null: it asks nothing (a yes-or-no need answered no). */
export function limitOf(value: number | boolean): number | null {
  return typeof value === "number" ? value : value ? 0 : null;
}

export class NeedError extends Error {}

export interface Need {
  key: string;
  value: number | boolean;
  given: string;
}

/** `k=v,k=v`: every key known, every value of its form; throws one line naming the first that is not. */
export function parseNeeds(text: string, what = "flag --need"): Need[] {
  const needs = text.split(",").map((p) => p.trim()).filter(Boolean);
  if (needs.length === 0) throw new NeedError(`${what}: expected KEY=VALUE[,KEY=VALUE], keys: ${Object.keys(NEEDS).join(", ")}`);
  return needs.map((pair) => {
    const eq = pair.indexOf("=");
    const key = eq > 0 ? pair.slice(0, eq) : pair;
    const spec = NEEDS[key];
    if (!spec) throw new NeedError(`${what}: unknown need "${key}" (known: ${Object.keys(NEEDS).join(", ")})`);
    const given = eq > 0 ? pair.slice(eq + 1) : "";
    const value = parseValue(spec.form, given);
    if (value === null) throw new NeedError(`${what}: ${key}: expected ${EXPECTS[spec.form]}, got ${JSON.stringify(given)}`);
    return { key, value, given };
  });
}

/** Every metric a need reads, p99 first (it ranks). */
export const GUIDE_METRICS: readonly string[] = [...new Set(Object.values(NEEDS).flatMap((n) => n.criterion?.metrics ?? []))];

/** The scenarios whose cells carry the figures a need reads. */
export function needScenarios(key: string): string[] {
  return [...new Set((NEEDS[key]?.criterion?.metrics ?? []).map((m) => METRICS[m]!.scenario))];
}

/** What a pairing without the need's figure is told (the CLI, the claims and the page say the same). */
export function notMeasured(key: string): string {
  return `not measured (${needScenarios(key).join(" or ")} scenario)`;
}

export interface PairingFigures {
  pairing: string;
  transport: string;
  broker: string;
  figures: Record<string, GuideFigure>;
}

/** The figures each pairing's measured cells give for the metrics the needs read, in the cells' order. */
export function pairingFigures(cells: readonly CellResult[]): PairingFigures[] {
  const byPairing = new Map<string, CellResult[]>();
  for (const c of cells) {
    if (c.status !== "ok") continue;
    const key = `${c.transport} × ${c.broker}`;
    byPairing.set(key, [...(byPairing.get(key) ?? []), c]);
  }
  return [...byPairing].map(([pairing, mine]) => {
    const figures: Record<string, GuideFigure> = {};
    for (const metric of GUIDE_METRICS) {
      const f = readFigure(metric, mine);
      if (!f) continue;
      const spec = METRICS[metric]!;
      const read = metricCells(spec, mine).filter((c) => !c.saturated);
      const cellsRead = [...new Set(read.map(cellGroupKey))];
      if ("value" in f) figures[metric] = { value: f.value, atLeast: false, text: `${metric} ${formatValue(spec.unit, f.value)}`, cells: cellsRead };
      else if ("atLeast" in f) figures[metric] = { value: f.atLeast, atLeast: true, text: `${metric} ≥ ${formatValue(spec.unit, f.atLeast)}`, cells: cellsRead };
      else figures[metric] = { value: f.below, atLeast: false, below: true, text: `${metric} < ${formatValue(spec.unit, f.below)}`, cells: cellsRead };
    }
    return { pairing, transport: mine[0]!.transport, broker: mine[0]!.broker, figures };
  });
}

export interface Judgement {
  met: boolean | undefined;
  /** The figures behind it, in words, or which scenario would measure it. */
  figure: string;
  cells: string[];
  /** Undecided only because the figure is a lower bound short of the need (a sweep or ramp stopped before the system's limit). */
  bounded?: boolean;
}

/**
 * One need on a technology's pairings, read in order: the first whose cells have a
 * figure for the criterion decides (as the claims read a technology's subjects).
 */
export function judgeNeed(need: Need, pairings: readonly PairingFigures[]): Judgement {
  const c = NEEDS[need.key]!.criterion!;
  const limit = limitOf(need.value);
  if (limit === null) return { met: true, figure: "not asked", cells: [] };
  for (const p of pairings) {
    const found = c.metrics.flatMap((m) => (p.figures[m] ? [p.figures[m]!] : []));
    if (found.length === 0) continue;
    const met = meets(c.test, found, limit);
    return { met, figure: found.map((f) => f.text).join(", "), cells: found.flatMap((f) => f.cells), ...(met === undefined && found.some((f) => f.atLeast) ? { bounded: true } : {}) };
  }
  return { met: undefined, figure: notMeasured(need.key), cells: [] };
}

export interface Advice {
  /** Needs that no scenario measures, with why: said, never guessed. */
  unknown: Array<{ need: string; why: string }>;
  /** Pairings that meet every measured need, best p99 first. */
  ranked: Array<{ pairing: string; p99Us: number | null; figures: string[] }>;
  /** Pairings a figure excludes, with that figure. */
  excluded: Array<{ pairing: string; because: string[] }>;
  /** Pairings whose cells lack a figure some need reads. */
  undecided: Array<{ pairing: string; missing: string[]; figures: string[] }>;
}

/** Splits needs into those judged off figures and those no scenario measures (unknown when asked for). */
export function splitNeeds(needs: readonly Need[]): { judged: Need[]; unknown: Advice["unknown"] } {
  const unknown: Advice["unknown"] = [];
  const judged = needs.filter((n) => {
    const spec = NEEDS[n.key]!;
    if (spec.criterion) return true;
    // Asking for it (yes) cannot be checked; not asking for it (no) needs nothing.
    if (n.value === true) unknown.push({ need: `${n.key}=${n.given}`, why: spec.unmeasured! });
    return false;
  });
  return { judged, unknown };
}

export function advise(cells: readonly CellResult[], needs: readonly Need[]): Advice {
  const { judged: asked, unknown } = splitNeeds(needs);
  const advice: Advice = { unknown, ranked: [], excluded: [], undecided: [] };
  for (const p of pairingFigures(cells)) {
    const judged = asked.map((n) => ({ n, j: judgeNeed(n, [p]) }));
    const figures = judged.map(({ n, j }) => `${n.key}: ${j.figure}`);
    const missed = judged.filter(({ j }) => j.met === false);
    const open = judged.filter(({ j }) => j.met === undefined);
    if (missed.length > 0) advice.excluded.push({ pairing: p.pairing, because: missed.map(({ n, j }) => `${n.key}=${n.given}: ${j.figure}`) });
    else if (open.length > 0) advice.undecided.push({ pairing: p.pairing, missing: open.map(({ n, j }) => `${n.key}: ${j.figure}`), figures });
    else advice.ranked.push({ pairing: p.pairing, p99Us: p.figures.p99?.value ?? null, figures });
  }
  advice.ranked.sort((a, b) => (a.p99Us ?? Infinity) - (b.p99Us ?? Infinity));
  return advice;
}

export function formatAdvice(a: Advice, needs: readonly Need[]): string {
  const lines = [`needs: ${needs.map((n) => `${n.key}=${n.given} (${NEEDS[n.key]!.describe})`).join("; ")}`, ""];
  if (a.unknown.length) {
    lines.push("unknown (no run here measures it, so no pairing is judged on it):");
    for (const u of a.unknown) lines.push(`  ${u.need}: ${u.why}`);
    lines.push("");
  }
  lines.push(a.ranked.length ? "meet every measured need, lowest p99 first:" : "no pairing meets every measured need");
  a.ranked.forEach((r, i) => lines.push(`  ${i + 1}. ${r.pairing}: ${r.figures.join("; ")}`));
  if (a.undecided.length) {
    lines.push("", "undecided (their cells lack a figure a need reads):");
    for (const u of a.undecided) lines.push(`  ${u.pairing}: ${u.missing.join("; ")}`);
  }
  if (a.excluded.length) {
    lines.push("", "excluded:");
    for (const e of a.excluded) lines.push(`  ${e.pairing}: ${e.because.join("; ")}`);
  }
  return `${lines.join("\n")}\n`;
}
