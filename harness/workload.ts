/**
 * Workloads: a YAML file, then CLI flags on top. One table of fields drives the file
 * validation, the flags and the help text, so they cannot drift apart.
 */
import { readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import type { Workload } from "../results/schema.js";
import { parse as parseYaml } from "yaml";
import { HEADER_BYTES } from "../core/envelope.js";
import { GATED } from "../results/metrics.js";
import type { FieldSpec } from "./fields.js";
import { brokers, transports } from "./registry.js";
import { scenarios } from "./scenarios/index.js";

// The record type is results/'s (a result stores it); this file validates and fills it.
export type { Workload };


/** A bad workload file or flag. Its message is the one line a user sees. */
export class ConfigError extends Error {
  constructor(where: string, field: string, expected: string, got: unknown) {
    super(`${where}: field "${field}": expected ${expected}, got ${show(got)}`);
    this.name = "ConfigError";
  }
}

function show(value: unknown): string {
  if (value === undefined) return "nothing";
  // JSON has no NaN or Infinity (YAML's .nan, .inf): it would print them as null.
  if (typeof value === "number" && !Number.isFinite(value)) return String(value);
  const text = typeof value === "string" ? JSON.stringify(value) : JSON.stringify(value) ?? String(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

/** Fields every scenario reads; a scenario's own fields are in its file (harness/scenarios/). */
const COMMON_FIELDS: readonly FieldSpec[] = [
  { key: "name", kind: "string", help: "workload name (defaults to the file name)" },
  { key: "transports", kind: "names", help: "transports, comma-separated, or all", choices: () => [...transports.keys()] },
  { key: "brokers", kind: "names", help: "brokers, comma-separated, or all", choices: () => [...brokers.keys()] },
  { key: "scenario", kind: "choice", help: "scenario", choices: () => [...scenarios.keys()] },
  { key: "size", kind: "int", min: HEADER_BYTES, max: 1 << 20, help: "message body size in bytes" },
  { key: "rate", kind: "number", min: Number.MIN_VALUE, max: 1e7, help: "messages per second, total across topics" },
  { key: "topics", kind: "int", min: 1, max: 100_000, help: "streams; clients spread over them" },
  { key: "clients", kind: "int", min: 1, max: 1_000_000, help: "client connections" },
  { key: "duration", kind: "seconds", min: Number.MIN_VALUE, max: 86_400, help: "measured seconds (10, 10s, 2m, 500ms)" },
  { key: "warmup", kind: "seconds", min: 0, max: 3_600, help: "warm-up seconds, not measured for latency" },
  { key: "repetitions", kind: "int", min: 1, max: 1_000, help: "repetitions of each cell" },
  { key: "fleetProcesses", kind: "int", min: 0, max: 256, help: "client processes (0: one per 10,000 clients)" },
  { key: "relays", kind: "int", min: 1, max: 64, help: "relay processes sharing the broker, clients spread over them (scale-out: steps 1, 2, 4, ... up to it)" },
  { key: "heartbeat", kind: "seconds", min: 0.01, max: 3_600, help: "seconds between the relay's heartbeats (SSE comments; 15s)" },
  { key: "connectRate", kind: "int", min: 0, max: 1_000_000, help: "connections opened per second across the cell's clients, so a large step does not storm the relays (0: as fast as they open)" },
  { key: "drain", kind: "seconds", min: 0, max: 3_600, help: "seconds to wait for in-flight deliveries" },
  { key: "pollInterval", kind: "seconds", min: 0.001, max: 3_600, help: "seconds between short polls (1, 250ms)" },
  { key: "partitions", kind: "int", min: 1, max: 10_000, help: "partitions per topic where the broker has them (Kafka)" },
  { key: "reconnect", kind: "choice", help: "after a drop: none, fixed (delay) or backoff (exponential, jitter)", choices: () => ["none", "fixed", "backoff"] },
  { key: "reconnectDelay", kind: "seconds", min: 0, max: 600, help: "reconnect delay, or backoff's base (EventSource: 3s)" },
  { key: "clientKind", kind: "choice", help: "who the clients are: node (the transport's own Node client) or browser (tabs of headless Chromium, the browser's own EventSource, WebSocket, socket.io-client, fetch)", choices: () => ["node", "browser"] },
  { key: "connectionsPerTab", kind: "int", min: 1, max: 1_000, help: "browser clients: connections each tab opens to the relay's origin (1)" },
  { key: "wsReconnect", kind: "choice", help: "browser clients over ws: none (the page does not reconnect, as the browser does not) or loop (the usual hand-written loop, resuming after reconnectDelay)", choices: () => ["none", "loop"] },
  { key: "noiseFloors", kind: "floors", help: "noise floors for compare, e.g. p99=25%,throughput=10%", choices: () => Object.keys(GATED) },
];

/**
 * Every field: the common ones, then each scenario's own (a field two scenarios read is
 * listed once, with both). A field a scenario declares is refused for the others.
 */
export const FIELDS: readonly FieldSpec[] = (() => {
  const own = new Map<string, FieldSpec>();
  for (const s of scenarios.values()) {
    for (const f of s.fields ?? []) own.set(f.key, { ...f, scenarios: [...(own.get(f.key)?.scenarios ?? []), s.name] });
  }
  return [...COMMON_FIELDS, ...own.values()];
})();

export const DEFAULTS: Workload = {
  name: "workload",
  transports: ["sse", "ws"],
  brokers: ["inproc"],
  scenario: "steady",
  size: 256,
  rate: 1000,
  topics: 1,
  clients: 100,
  duration: 10,
  warmup: 2,
  repetitions: 1,
  fleetProcesses: 0,
  relays: 1,
  heartbeat: 15,
  connectRate: 0,
  rampFrom: 1000,
  drain: 10,
  pollInterval: 1,
  partitions: 1,
  reconnect: "none",
  reconnectDelay: 3,
  fault: "drop",
  faultDuration: 2,
  faultAt: 0,
  rateStep: 1.5,
  maxRate: 1_000_000,
  sloP99: 0.1,
  slowClients: 0.1,
  slowReadRate: 16_384,
  upRate: 2,
  roomSize: 0,
  upAck: "off",
  proxy: "nginx-tuned",
  clientKind: "node",
  connectionsPerTab: 1,
  wsReconnect: "none",
  noiseFloors: {},
};

/** CLI flag name for a field: fleetProcesses → fleet-processes. */
export function flagName(key: string): string {
  return key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

function rangeText(spec: FieldSpec, what: string): string {
  const lo = spec.min === Number.MIN_VALUE ? `> 0` : spec.min !== undefined ? `>= ${spec.min}` : "";
  const hi = spec.max !== undefined ? `<= ${spec.max}` : "";
  return [what, [lo, hi].filter(Boolean).join(" and ")].filter(Boolean).join(" ");
}

function parseSeconds(value: unknown): number | null {
  if (typeof value === "number") return value;
  if (typeof value !== "string") return null;
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$/.exec(value);
  if (!m) return null;
  const n = Number(m[1]);
  const unit = m[2] ?? "s";
  return unit === "ms" ? n / 1000 : unit === "m" ? n * 60 : unit === "h" ? n * 3600 : n;
}

/** Validates one field's value; `fromFlag` values arrive as strings. */
function coerce(spec: FieldSpec, value: unknown, where: string, fromFlag: boolean): unknown {
  const fail = (expected: string): never => {
    throw new ConfigError(where, spec.key, expected, value);
  };
  switch (spec.kind) {
    case "string":
      if (typeof value !== "string" || value.trim() === "") fail("a non-empty string");
      return value;
    case "int":
    case "number": {
      const what = spec.kind === "int" ? "an integer" : "a number";
      const n = fromFlag && typeof value === "string" && value.trim() !== "" ? Number(value) : value;
      if (typeof n !== "number" || !Number.isFinite(n)) fail(rangeText(spec, what));
      const num = n as number;
      if (spec.kind === "int" && !Number.isInteger(num)) fail(rangeText(spec, what));
      if ((spec.min !== undefined && num < spec.min) || (spec.max !== undefined && num > spec.max)) {
        fail(rangeText(spec, what));
      }
      return num;
    }
    case "seconds": {
      const s = parseSeconds(fromFlag && typeof value === "string" && /^\d+(\.\d+)?$/.test(value) ? Number(value) : value);
      const expected = rangeText(spec, "seconds (a number, or 500ms, 10s, 2m)");
      if (s === null || !Number.isFinite(s)) fail(expected);
      if ((spec.min !== undefined && s! < spec.min) || (spec.max !== undefined && s! > spec.max)) fail(expected);
      return s;
    }
    case "choice": {
      const choices = spec.choices!();
      if (typeof value !== "string" || !choices.includes(value)) fail(`one of ${choices.join(", ")}`);
      return value;
    }
    case "floors": {
      const choices = spec.choices!();
      const expected = `metric=percent pairs for ${choices.join(", ")} (e.g. p99=25%)`;
      const entries: Array<[string, unknown]> =
        typeof value === "string"
          ? value.split(",").filter(Boolean).map((pair) => pair.split("=").map((s) => s.trim()) as [string, string])
          : value !== null && typeof value === "object" && !Array.isArray(value)
            ? Object.entries(value)
            : fail(expected);
      const out: Record<string, number> = {};
      for (const [metric, raw] of entries) {
        const pct = typeof raw === "string" && /^\d+(\.\d+)?%$/.test(raw) ? Number(raw.slice(0, -1)) / 100 : typeof raw === "string" && raw !== "" ? Number(raw) : raw;
        if (!choices.includes(metric) || typeof pct !== "number" || !(pct >= 0 && pct < 1)) fail(expected);
        out[metric] = pct as number;
      }
      return out;
    }
    case "names": {
      const choices = spec.choices!();
      const expected = `a list of ${choices.join(", ")} (or all)`;
      const list =
        typeof value === "string" ? value.split(",").map((s) => s.trim()).filter(Boolean) : Array.isArray(value) ? value : null;
      if (list === null || list.length === 0) fail(expected);
      if (list!.length === 1 && list![0] === "all") return choices;
      for (const item of list!) if (typeof item !== "string" || !choices.includes(item)) fail(expected);
      return [...new Set(list as string[])];
    }
  }
}

const byKey = new Map(FIELDS.map((f) => [f.key as string, f]));

/** Whether a scenario reads a field: the common ones every scenario, a scenario's own only it. */
function readsField(key: string, scenario: string): boolean {
  const scenarios = byKey.get(key)?.scenarios;
  return !scenarios || scenarios.includes(scenario);
}

/** Applies raw values (from a file or flags) over `base`; throws ConfigError on the first bad one. */
export function applyFields(
  base: Workload,
  raw: Record<string, unknown>,
  where: (key: string) => string,
  fromFlag: boolean,
): Workload {
  const out: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(raw)) {
    const spec = byKey.get(key);
    if (!spec) {
      throw new ConfigError(where(key), key, `one of the fields ${FIELDS.map((f) => f.key).join(", ")}`, "an unknown field");
    }
    if (value === undefined) continue;
    out[key] = coerce(spec, value, where(key), fromFlag);
  }
  return out as unknown as Workload;
}


/**
 * A field given for a scenario that does not read it (a `fault` with `scenario:
 * steady`): one line naming where it was given, or null.
 */
/** Fields only a browser fleet reads. */
const BROWSER_ONLY = new Set(["connectionsPerTab", "wsReconnect"]);

export function unusedFieldProblem(workload: Workload, given: ReadonlyArray<{ key: string; where: string }>): string | null {
  for (const { key, where } of given) {
    const spec = byKey.get(key);
    if (spec?.scenarios && !readsField(key, workload.scenario)) {
      return `${where}: field "${key}": only the ${spec.scenarios.join(" and ")} scenario${spec.scenarios.length > 1 ? "s read" : " reads"} it, and this workload's scenario is ${workload.scenario}: remove it or set scenario: ${spec.scenarios[0]}`;
    }
    if (BROWSER_ONLY.has(key) && workload.clientKind !== "browser") {
      return `${where}: field "${key}": only browser clients read it, and this workload's clientKind is ${workload.clientKind}: remove it or set clientKind: browser`;
    }
    if (key === "wsReconnect" && !workload.transports.includes("ws")) {
      return `${where}: field "wsReconnect": only the ws transport's page reads it, and this workload runs ${workload.transports.join(", ")}: remove it or add ws`;
    }
  }
  return null;
}

/** Reads and validates one workload file (not a suite); every error names the file and the field. */
export function loadWorkloadFile(path: string): Workload {
  const doc = readMapping(path);
  if ("suite" in doc) throw new FileError(path, 'a suite ("suite:" lists workloads): run it with rtbench run, or name one of its parts\' files here');
  const name = fileName(path);
  return applyFields({ ...DEFAULTS, name }, doc, () => path, false);
}

/** A field given, and where (a file, a suite's entry, a flag): the unused-field check names it. */
export interface Given {
  key: string;
  where: string;
}

/** What `rtbench run` runs from a file: one workload, or a suite of them. */
export interface RunPlan {
  /** The run's own workload: a plain file's, or a suite's name and shared fields. */
  workload: Workload;
  /** A suite's parts in order, each a scenario with its own fields; absent for a plain workload. */
  parts?: Workload[];
}

/** What a plan read: per workload to run, the fields given and where. */
interface Loaded {
  workload: Workload;
  given: Given[];
}

/**
 * A workload file, or a suite: a file whose `suite:` lists workloads, each a mapping of
 * fields, or `include: other.yaml` (a path from the suite's folder) with fields over
 * that file's. A suite's other top-level fields are shared by every part; a part's own
 * win over an included file's, which win over the shared ones. A shared field that only
 * some scenarios read goes to the parts that read them.
 */
export function loadRunPlan(path: string): { plan: RunPlan; loaded: Loaded[]; suite: boolean } {
  const doc = readMapping(path);
  const name = fileName(path);
  if (!("suite" in doc)) {
    const workload = applyFields({ ...DEFAULTS, name }, doc, () => path, false);
    return { plan: { workload }, loaded: [{ workload, given: Object.keys(doc).map((key) => ({ key, where: path })) }], suite: false };
  }
  const { suite, ...shared } = doc;
  if (!Array.isArray(suite) || suite.length === 0) throw new FileError(path, 'field "suite": expected a list of workloads (mappings of fields, or include: file.yaml)');
  const sharedGiven = Object.keys(shared).filter((k) => k !== "name");
  const suiteWorkload = applyFields({ ...DEFAULTS, name }, shared, () => path, false);
  const loaded = suite.map((entry: unknown, i): Loaded => {
    const at = `${path}: suite[${i}]`;
    if (entry === null || typeof entry !== "object" || Array.isArray(entry)) throw new FileError(at, "expected a mapping of workload fields, or include: file.yaml");
    const { include, ...own } = entry as Record<string, unknown>;
    let included: Record<string, unknown> = {};
    let includedFrom = "";
    if (include !== undefined) {
      if (typeof include !== "string" || include.trim() === "") throw new FileError(at, `field "include": expected the path of a workload file, got ${show(include)}`);
      includedFrom = resolve(dirname(path), include);
      included = readMapping(includedFrom);
      if ("suite" in included) throw new FileError(at, `field "include": ${include} is a suite itself; a suite includes workloads, not suites`);
    }
    const partName = typeof own.name === "string" ? own.name : typeof included.name === "string" ? included.name : include !== undefined ? fileName(String(include)) : undefined;
    const scenario = own.scenario ?? included.scenario ?? shared.scenario ?? DEFAULTS.scenario;
    // A shared field the part's scenario does not read stays out of that part.
    const sharedHere = Object.fromEntries(Object.entries(shared).filter(([k]) => k !== "name" && readsField(k, String(scenario))));
    const raw = { ...sharedHere, ...included, ...own, name: partName ?? `${String(scenario)}-${i + 1}` };
    const where = (key: string): string => (key in own ? at : key in included ? includedFrom : path);
    const workload = applyFields({ ...DEFAULTS }, raw, where, false);
    const given = [...Object.keys(included).map((key) => ({ key, where: includedFrom })), ...Object.keys(own).map((key) => ({ key, where: at }))];
    return { workload, given };
  });
  for (const key of sharedGiven) {
    const spec = byKey.get(key);
    if (spec?.scenarios && !loaded.some((l) => readsField(key, l.workload.scenario))) {
      throw new FileError(path, `field "${key}": only the ${spec.scenarios.join(" and ")} scenario${spec.scenarios.length > 1 ? "s read" : " reads"} it, and no part of this suite runs ${spec.scenarios.length > 1 ? "them" : "it"}`);
    }
  }
  const seen = new Map<string, number>();
  loaded.forEach((l, i) => {
    const before = seen.get(l.workload.name);
    if (before !== undefined) throw new FileError(`${path}: suite[${i}]`, `field "name": "${l.workload.name}" is already the name of suite[${before}]; give each part its own name`);
    seen.set(l.workload.name, i);
  });
  return { plan: { workload: suiteWorkload, parts: loaded.map((l) => l.workload) }, loaded, suite: true };
}

/**
 * Flags over a plan: over a plain workload as given; over a suite, to every part, a
 * scenario's own field only to the parts of that scenario (refused when there is none),
 * and never --scenario (each part names its own).
 */
export function applyFlags(loaded: readonly Loaded[], flags: Record<string, unknown>, suite: boolean): Loaded[] {
  const where = (key: string): string => `flag --${flagName(key)}`;
  if (!suite) return loaded.map((l) => ({ workload: applyFields(l.workload, flags, where, true), given: [...l.given, ...Object.keys(flags).map((key) => ({ key, where: where(key) }))] }));
  if (flags.scenario !== undefined) throw new ConfigError(where("scenario"), "scenario", "no --scenario for a suite (each of its parts names its scenario)", flags.scenario);
  for (const key of Object.keys(flags)) {
    const spec = byKey.get(key);
    if (spec?.scenarios && !loaded.some((l) => readsField(key, l.workload.scenario))) {
      throw new ConfigError(where(key), key, `a flag for a part of this suite, but only the ${spec.scenarios.join(" and ")} scenario reads it and no part runs it`, flags[key]);
    }
  }
  return loaded.map((l) => {
    const mine = Object.fromEntries(Object.entries(flags).filter(([key]) => key !== "name" && readsField(key, l.workload.scenario)));
    return { workload: applyFields(l.workload, mine, where, true), given: [...l.given, ...Object.keys(mine).map((key) => ({ key, where: where(key) }))] };
  });
}

/** A workload's default name: its file's, without folder or extension. */
function fileName(path: string): string {
  return path.replace(/^.*\//, "").replace(/\.ya?ml$/, "");
}

/** A YAML file whose top level is a mapping. */
function readMapping(path: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    throw new FileError(path, `cannot read the workload file (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw new FileError(path, `not valid YAML: ${(err as Error).message.split("\n")[0]}`);
  }
  if (doc === null || typeof doc !== "object" || Array.isArray(doc)) {
    throw new FileError(path, "expected a mapping of workload fields at the top level");
  }
  return doc as Record<string, unknown>;
}

export class FileError extends Error {
  constructor(path: string, problem: string) {
    super(`${path}: ${problem}`);
    this.name = "ConfigError";
  }
}
