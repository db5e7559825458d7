#!/usr/bin/env node
/**
 * rtbench command line: run, list, serve. Bad input fails before anything starts,
 * with one line naming the file or flag, the field and what was expected (exit 2).
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { nowNs } from "./clock.js";
import { describeEnvironment, gitState } from "./environment.js";
import { Progress, summaryTable } from "./progress.js";
import { runProducer } from "./producer.js";
import { brokers, getTransport, scenarios, transports } from "./registry.js";
import { startRelay } from "./relay.js";
import { connectionPlanProblem } from "./limits.js";
import { fleetProcessesFor, killChildren, RELAY_DEFAULTS, runCell } from "./runner.js";
import { OpenLoopSchedule } from "./schedule.js";
import { applyFields, ConfigError, DEFAULTS, FIELDS, flagName, loadWorkloadFile, type Workload } from "./workload.js";
import { newRunId, RunStore } from "../results/store.js";
import { writeReport } from "../reports/report.js";
import { SCHEMA_VERSION } from "../results/schema.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const DEFAULT_WORKLOAD = resolve(ROOT, "workloads/quick.yaml");
const VERSION = (JSON.parse(readFileSync(resolve(ROOT, "package.json"), "utf8")) as { version: string }).version;

/** Exit code 2: the user's input was wrong; nothing was started. */
class UsageError extends Error {}

const HELP = `rtbench ${VERSION}: measured latency, throughput and loss for real-time transports and brokers

Usage:
  rtbench run [workload.yaml] [flags]   run every transport × broker cell of a workload
  rtbench list                          transports, brokers, scenarios and workloads
  rtbench serve [flags]                 a relay and producer in the foreground, for curl -N or a browser
  rtbench report [run dir] [--out DIR]  the HTML report of a run (default: the latest in results/runs)
  rtbench help                          this text

run flags (each overrides the workload file's field of the same name):
${FIELDS.map((f) => `  --${flagName(f.key).padEnd(17)} ${f.help}`).join("\n")}
  --out DIR            where run folders go (default: results/runs)
  --report             write the run's HTML report when it ends (into reports/)

serve flags:
  --transport NAME     ${[...transports.keys()].join(" | ")} (default sse)
  --broker NAME        ${[...brokers.keys()].join(" | ")} (default inproc)
  --port P             listen port (default 8080)
  --host H             listen address (default 127.0.0.1)
  --rate N             messages per second (default 1)
  --size B             message body bytes (default 64)
  --topics N           streams (default 1)
  --heartbeat MS       SSE comment heartbeat interval (default 15000)

The default workload is workloads/quick.yaml. Results: results/runs/<id>/result.json
(schema in results/README.md). Exit codes: 0 done, 1 a cell failed, 2 bad input.`;

type FlagSpec = Record<string, { type: "string" | "boolean" }>;

function parse(args: string[], options: FlagSpec, command: string) {
  try {
    return parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (err) {
    const msg = (err as Error).message.split("\n")[0]!.replace(/\. To specify a positional.*$/, "");
    throw new UsageError(`rtbench ${command}: ${msg} (see rtbench help)`);
  }
}

async function run(args: string[]): Promise<number> {
  const options: FlagSpec = { out: { type: "string" }, report: { type: "boolean" } };
  for (const f of FIELDS) options[flagName(f.key)] = { type: "string" };
  const { values, positionals } = parse(args, options, "run");
  if (positionals.length > 1) throw new UsageError(`rtbench run: expected at most one workload file, got ${positionals.join(" ")}`);
  const file = positionals[0] ?? DEFAULT_WORKLOAD;
  let workload: Workload = loadWorkloadFile(file);
  const flags: Record<string, unknown> = {};
  for (const f of FIELDS) {
    const v = values[flagName(f.key)];
    if (v !== undefined) flags[f.key] = v;
  }
  workload = applyFields(workload, flags, (key) => `flag --${flagName(key)}`, true);
  const outDir = resolve(typeof values.out === "string" ? values.out : "results/runs");
  const problem = connectionPlanProblem(workload.clients, fleetProcessesFor(workload));
  if (problem) throw new UsageError(`rtbench run: ${problem}`);

  const cells = workload.transports.flatMap((t) =>
    workload.brokers.flatMap((b) => Array.from({ length: workload.repetitions }, (_, r) => ({ transport: t, broker: b, repetition: r + 1 }))),
  );
  const git = gitState(ROOT);
  const store = new RunStore(outDir, {
    schemaVersion: SCHEMA_VERSION,
    id: newRunId(),
    startedAt: new Date().toISOString(),
    gitSha: git.sha,
    gitDirty: git.dirty,
    rtbenchVersion: VERSION,
    command: ["rtbench", "run", ...args],
    workload,
    environment: describeEnvironment(Object.fromEntries(workload.brokers.map((b) => [b, "builtin"]))),
  });
  const shown = relative(process.cwd(), store.dir) || store.dir;
  process.stderr.write(
    `rtbench: ${cells.length} cell(s) of "${workload.name}": ${workload.clients} clients, ${workload.rate} msg/s, ` +
      `${workload.duration}s (+${workload.warmup}s warm-up) each → ${shown}\n`,
  );

  let interrupted = false;
  process.once("SIGINT", () => {
    interrupted = true;
    killChildren();
    store.finish(true);
    process.stderr.write(`\nrtbench: interrupted; ${store.cells.length} finished cell(s) kept in ${store.file}\n`);
    process.exit(130);
  });

  const progress = new Progress();
  for (const [i, c] of cells.entries()) {
    const prefix = `[${i + 1}/${cells.length}] ${c.transport} × ${c.broker} ${workload.scenario}` +
      (workload.repetitions > 1 ? ` rep ${c.repetition}` : "");
    let measuringSince = 0;
    const cell = await runCell(
      { ...c, workload },
      {
        phase: (text) => {
          if (text === "measuring") measuringSince = Date.now();
          progress.phase(prefix, text);
        },
        progress: (delivered, expected) =>
          progress.progress(prefix, delivered, expected, (Date.now() - measuringSince) / 1000),
      },
    );
    if (interrupted) break;
    store.addCell(cell);
    progress.done(prefix, cell);
  }
  store.finish(false);
  process.stdout.write(`\n${summaryTable(store.cells)}\n\nresults: ${relative(process.cwd(), store.file) || store.file}\n`);
  if (values.report === true) {
    const { index } = await writeReport(store.dir, resolve("reports"));
    process.stdout.write(`report:  ${relative(process.cwd(), index) || index}\n`);
  }
  return store.cells.some((c) => c.status === "failed") ? 1 : 0;
}

async function report(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, { out: { type: "string" } }, "report");
  if (positionals.length > 1) throw new UsageError(`rtbench report: expected at most one run folder, got ${positionals.join(" ")}`);
  let runDir = positionals[0];
  if (runDir === undefined) {
    const runs = existsSync("results/runs") ? readdirSync("results/runs").filter((d) => existsSync(resolve("results/runs", d, "result.json"))).sort() : [];
    if (runs.length === 0) throw new UsageError("rtbench report: no run folder given and none in results/runs (run rtbench run first)");
    runDir = resolve("results/runs", runs.at(-1)!);
  }
  if (!existsSync(resolve(runDir, "result.json"))) {
    throw new UsageError(`rtbench report: ${runDir}: expected a run folder holding result.json`);
  }
  const { index, model } = await writeReport(resolve(runDir), resolve(typeof values.out === "string" ? values.out : "reports"));
  const v = model.verdicts;
  process.stdout.write(
    `report: ${relative(process.cwd(), index) || index}\n` +
      `claims: ${v.holds} hold, ${v["does not hold"]} do not hold, ${v["not measured yet"]} not measured yet, ${v["not testable"]} not testable\n`,
  );
  return 0;
}

function list(): number {
  const lines = ["transports:"];
  for (const t of transports.values()) lines.push(`  ${t.name.padEnd(14)} ${t.summary}`);
  lines.push("brokers:");
  for (const b of brokers.values()) {
    const c = b.capabilities;
    lines.push(
      `  ${b.name.padEnd(14)} ${b.summary} [durable: ${c.durable ? "yes" : "no"}, replay: ${c.replay ? "yes" : "no"}, ordering: ${c.ordering}]`,
    );
  }
  lines.push("scenarios:");
  for (const [name, text] of scenarios) lines.push(`  ${name.padEnd(14)} ${text}`);
  lines.push("workloads (workloads/):");
  for (const f of readdirSync(resolve(ROOT, "workloads")).filter((f) => /\.ya?ml$/.test(f)).sort()) lines.push(`  ${f}`);
  process.stdout.write(`${lines.join("\n")}\n`);
  return 0;
}

function intFlag(value: string | undefined, flag: string, min: number, max: number, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (value.trim() === "" || !Number.isInteger(n) || n < min || n > max) {
    throw new UsageError(`rtbench serve: flag --${flag}: expected an integer >= ${min} and <= ${max}, got ${JSON.stringify(value)}`);
  }
  return n;
}

async function serve(args: string[]): Promise<number> {
  const { values, positionals } = parse(
    args,
    {
      transport: { type: "string" },
      broker: { type: "string" },
      port: { type: "string" },
      host: { type: "string" },
      rate: { type: "string" },
      size: { type: "string" },
      topics: { type: "string" },
      heartbeat: { type: "string" },
    },
    "serve",
  );
  if (positionals.length > 0) throw new UsageError(`rtbench serve: unexpected argument ${positionals[0]}`);
  const transport = (values.transport as string | undefined) ?? "sse";
  const broker = (values.broker as string | undefined) ?? "inproc";
  if (!transports.has(transport)) {
    throw new UsageError(`rtbench serve: flag --transport: expected one of ${[...transports.keys()].join(", ")}, got ${JSON.stringify(transport)}`);
  }
  if (!brokers.has(broker)) {
    throw new UsageError(`rtbench serve: flag --broker: expected one of ${[...brokers.keys()].join(", ")}, got ${JSON.stringify(broker)}`);
  }
  const fields = applyFields(
    { ...DEFAULTS, rate: 1, size: 64, topics: 1 },
    Object.fromEntries(["rate", "size", "topics"].filter((k) => values[k] !== undefined).map((k) => [k, values[k]])),
    (key) => `rtbench serve: flag --${key}`,
    true,
  );
  const port = intFlag(values.port as string | undefined, "port", 0, 65535, 8080);
  const host = (values.host as string | undefined) ?? RELAY_DEFAULTS.host;
  const heartbeatMs = intFlag(values.heartbeat as string | undefined, "heartbeat", 10, 3_600_000, RELAY_DEFAULTS.heartbeatMs);

  const relay = await startRelay({ ...RELAY_DEFAULTS, transport, broker, topics: fields.topics, port, host, heartbeatMs });
  const schedule = new OpenLoopSchedule(nowNs() + 1e8, fields.rate, Number.MAX_SAFE_INTEGER);
  const producer = runProducer(relay.broker, schedule, { topics: fields.topics, size: fields.size });
  const base = `http://${host.includes(":") ? `[${host}]` : host}:${relay.port}`;
  const t = getTransport(transport);
  process.stdout.write(
    `rtbench serve: ${transport} × ${broker}, ${fields.rate} msg/s of ${fields.size} B over ${fields.topics} topic(s)\n` +
      `  endpoint: ${base}${t.endpoint}\n` +
      (transport === "sse" ? `  try:      curl -N ${base}${t.endpoint}\n` : "") +
      `Ctrl-C stops.\n`,
  );
  await new Promise<void>((resolveStop) => {
    process.once("SIGINT", resolveStop);
    process.once("SIGTERM", resolveStop);
  });
  producer.stop();
  await relay.close();
  return 0;
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case "run":
      return run(rest);
    case "list":
      return list();
    case "serve":
      return serve(rest);
    case "report":
      return report(rest);
    case undefined:
    case "help":
    case "--help":
    case "-h":
      process.stdout.write(`${HELP}\n`);
      return 0;
    case "--version":
      process.stdout.write(`${VERSION}\n`);
      return 0;
    default:
      throw new UsageError(`rtbench: unknown command "${command}" (expected run, list, serve, report or help)`);
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    if (err instanceof UsageError || err instanceof ConfigError || (err instanceof Error && err.name === "ConfigError")) {
      process.stderr.write(`${err.message.startsWith("rtbench") ? "" : "rtbench: "}${err.message}\n`);
      process.exit(2);
    }
    killChildren();
    process.stderr.write(`rtbench: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
