/**
 * `rtbench advise`: seed 003's questions answered from measured cells. Each need reads
 * one figure of the metrics catalogue per transport × broker pairing; a pairing meets
 * the needs, misses one (with the figure that excluded it), or is undecided where its
 * cells lack a figure. A need no cell measures at all is said to be unknown, and never
 * guessed.
 */
import { formatValue, METRICS, readFigure } from "../results/metrics.js";
import type { CellResult } from "../results/schema.js";

/** What one need asks of a pairing: met, missed, or not known from these cells. */
interface Judgement {
  met: boolean | undefined;
  /** The figure behind it, in words ("p99 1.73 ms"), or why there is none. */
  figure: string;
}

interface NeedSpec {
  describe: string;
  /** The value's form, for the error a bad value gets. */
  expects: string;
  /** Parses the value; null when it is not of the form. */
  parse(value: string): number | boolean | null;
  /** How the need reads a pairing's cells; absent: no scenario measures it yet (why). */
  judge?(cells: readonly CellResult[], value: number | boolean): Judgement;
  unmeasured?: string;
}

const yesNo = (v: string): boolean | null => (v === "yes" || v === "true" ? true : v === "no" || v === "false" ? false : null);

/** A metric off a pairing's cells (the catalogue's readFigure), as exact or at least. */
function figureOf(metric: string, cells: readonly CellResult[]): { value: number; atLeast: boolean } | undefined {
  const f = readFigure(metric, cells);
  return f === undefined ? undefined : "value" in f ? { value: f.value, atLeast: false } : { value: f.atLeast, atLeast: true };
}

const show = (metric: string, f: { value: number; atLeast: boolean }): string => `${f.atLeast ? "≥ " : ""}${formatValue(METRICS[metric]!.unit, f.value)}`;

/** Losses across a fault, as a need "at most N messages" reads them. */
function lossJudge(metrics: readonly string[], max: number, cells: readonly CellResult[]): Judgement {
  const found = metrics.flatMap((m) => {
    const f = figureOf(m, cells);
    return f ? [{ m, f }] : [];
  });
  if (found.length === 0) return { met: undefined, figure: `not measured (${metrics.map((m) => METRICS[m]!.scenario).join(" or ")} scenario)` };
  return { met: found.every(({ f }) => f.value <= max), figure: found.map(({ m, f }) => `${m} ${show(m, f)}`).join(", ") };
}

export const NEEDS: Readonly<Record<string, NeedSpec>> = {
  p99: {
    describe: "latency p99 from the intended send time below this (steady scenario)",
    expects: "a duration: 100ms, 2s, 500us",
    parse: (v) => {
      const m = /^(\d+(?:\.\d+)?)(us|µs|ms|s)$/.exec(v);
      return m ? Number(m[1]) * (m[2] === "s" ? 1e6 : m[2] === "ms" ? 1e3 : 1) : null;
    },
    judge: (cells, limit) => {
      const f = figureOf("p99", cells);
      return f ? { met: f.value < (limit as number), figure: `p99 ${show("p99", f)}` } : { met: undefined, figure: "p99 not measured (steady scenario)" };
    },
  },
  connections: {
    describe: "connections one relay holds at least (connections scenario)",
    expects: "a whole number: 10000",
    parse: (v) => (/^\d+$/.test(v) ? Number(v) : null),
    judge: (cells, n) => {
      const f = figureOf("maxConnections", cells);
      if (!f) return { met: undefined, figure: "connections not measured (connections scenario)" };
      // "At least N held" meets a need of N or fewer; it cannot say more.
      const met = f.value >= (n as number) ? true : f.atLeast ? undefined : false;
      return { met, figure: `held ${show("maxConnections", f)} connections` };
    },
  },
  replay: {
    describe: "nothing lost when the relay drops every connection and clients reconnect (reconnect scenario, fault drop)",
    expects: "yes or no",
    parse: yesNo,
    judge: (cells, want) => (want ? lossJudge(["lostAcrossRelayDrop"], 0, cells) : { met: true, figure: "not asked" }),
  },
  "restart-loss": {
    describe: "messages the broker had acknowledged, lost at most across a relay restart or a broker restart (reconnect kill-relay, durability)",
    expects: "a whole number: 0",
    parse: (v) => (/^\d+$/.test(v) ? Number(v) : null),
    judge: (cells, max) => lossJudge(["lostAcrossRelayRestart", "lostAcrossBrokerRestart"], max as number, cells),
  },
  "two-way": { describe: "clients also send to the server", expects: "yes or no", parse: yesNo, unmeasured: "no scenario sends client-to-server traffic yet (issue 17, chat)" },
  "strict-proxy": { describe: "a strict proxy or load balancer in the path", expects: "yes or no", parse: yesNo, unmeasured: "no scenario puts nginx or HAProxy in the path yet (issue 19)" },
  browser: { describe: "the clients are browsers", expects: "yes or no", parse: yesNo, unmeasured: "no scenario drives real browsers yet (issue 18)" },
};

export class NeedError extends Error {}

/** `--need k=v,k=v`: every key known, every value of its form; throws one line naming the first that is not. */
export function parseNeeds(text: string): Array<{ key: string; value: number | boolean; given: string }> {
  const needs = text.split(",").map((p) => p.trim()).filter(Boolean);
  if (needs.length === 0) throw new NeedError(`flag --need: expected KEY=VALUE[,KEY=VALUE], keys: ${Object.keys(NEEDS).join(", ")}`);
  return needs.map((pair) => {
    const eq = pair.indexOf("=");
    const key = eq > 0 ? pair.slice(0, eq) : pair;
    const spec = NEEDS[key];
    if (!spec) throw new NeedError(`flag --need: unknown need "${key}" (known: ${Object.keys(NEEDS).join(", ")})`);
    const given = eq > 0 ? pair.slice(eq + 1) : "";
    const value = spec.parse(given);
    if (value === null) throw new NeedError(`flag --need: ${key}: expected ${spec.expects}, got ${JSON.stringify(given)}`);
    return { key, value, given };
  });
}

export interface Advice {
  /** Needs that no cell of these runs measures, with why: said, never guessed. */
  unknown: Array<{ need: string; why: string }>;
  /** Pairings that meet every need a cell measures, best p99 first. */
  ranked: Array<{ pairing: string; p99Us: number | null; figures: string[] }>;
  /** Pairings a figure excludes, with that figure. */
  excluded: Array<{ pairing: string; because: string[] }>;
  /** Pairings whose cells lack a figure some need reads. */
  undecided: Array<{ pairing: string; missing: string[]; figures: string[] }>;
}

export function advise(cells: readonly CellResult[], needs: ReturnType<typeof parseNeeds>): Advice {
  const byPairing = new Map<string, CellResult[]>();
  for (const c of cells) {
    if (c.status !== "ok") continue;
    const key = `${c.transport} × ${c.broker}`;
    byPairing.set(key, [...(byPairing.get(key) ?? []), c]);
  }
  const unknown: Advice["unknown"] = [];
  const asked = needs.filter((n) => {
    const spec = NEEDS[n.key]!;
    if (spec.judge) return true;
    // Asking for it (yes) cannot be checked; not asking for it (no) needs nothing.
    if (n.value === true) unknown.push({ need: `${n.key}=${n.given}`, why: spec.unmeasured! });
    return false;
  });
  const advice: Advice = { unknown, ranked: [], excluded: [], undecided: [] };
  for (const [pairing, mine] of byPairing) {
    const judged = asked.map((n) => ({ n, j: NEEDS[n.key]!.judge!(mine, n.value) }));
    const figures = judged.map(({ n, j }) => `${n.key}: ${j.figure}`);
    const missed = judged.filter(({ j }) => j.met === false);
    const open = judged.filter(({ j }) => j.met === undefined);
    if (missed.length > 0) advice.excluded.push({ pairing, because: missed.map(({ n, j }) => `${n.key}=${n.given}: ${j.figure}`) });
    else if (open.length > 0) advice.undecided.push({ pairing, missing: open.map(({ n, j }) => `${n.key}: ${j.figure}`), figures });
    else advice.ranked.push({ pairing, p99Us: figureOf("p99", mine)?.value ?? null, figures });
  }
  advice.ranked.sort((a, b) => (a.p99Us ?? Infinity) - (b.p99Us ?? Infinity));
  return advice;
}

export function formatAdvice(a: Advice, needs: ReturnType<typeof parseNeeds>): string {
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
