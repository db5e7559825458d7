#!/usr/bin/env node
/**
 * rtbench command line: run, list, serve, report, compare, ab, calibrate, baseline. Bad input fails before anything starts,
 * with one line naming the file or flag, the field and what was expected (exit 2).
 */
import { existsSync, readdirSync } from "node:fs";
import { proxyKinds } from "./proxies/index.js";
import { proxyUnavailable } from "./proxies/proxy.js";
import { join, relative, resolve } from "node:path";
import { brokers, transports } from "./registry.js";
import { clusters } from "../brokers/clusters.js";
import { getScenario, scenarios } from "./scenarios/index.js";
import { connectionPlanProblem } from "./limits.js";
import { fleetProcessesFor, killChildren, workersProblem } from "./runner.js";
import { RUN_FLAGS, RUN_WORKER_FLAGS, WORKER_HELP, workerCommand, workerRequest } from "./worker-command.js";
import { RecordError, runMatrix } from "./coordinator.js";
import { killAllOwnedNow, UnsafeStateError } from "./broker-servers.js";
import { brokerUrls, DEFAULT_WORKLOAD, outDirOf, parse, ROOT, UsageError, VERSION, type FlagSpec } from "./cli-args.js";
import { brokersCommand } from "./brokers-command.js";
import { ab, baseline, calibrate, compare } from "./gate-commands.js";
import { serve } from "./serve.js";
import { summaryTable } from "./progress.js";
import { ConfigError, FIELDS, flagName, applyFields, applyFlags, loadRunPlan, unusedFieldProblem, type Workload } from "./workload.js";
import { outDirProblem, RunReadError } from "../results/store.js";
import { advise, formatAdvice, NEEDS, NeedError, parseNeeds, type Need } from "../reports/advise.js";
import { MergeError, readRuns, writeReport } from "../reports/report.js";
import { BASELINES, compareFiles, GateInputError } from "./gate.js";

const HELP = `rtbench ${VERSION}: measured latency, throughput and loss for real-time transports and brokers

Usage:
  rtbench run [workload.yaml] [flags]   run every transport × broker cell of a workload
  rtbench list                          transports, brokers, scenarios and workloads
  rtbench serve [flags]                 a relay and producer in the foreground, for curl -N or a browser
  rtbench report [RUN ...] [--out DIR] [--baseline RUN] [--force]
                                        the HTML report of a run (default: the latest in results/runs);
                                        several runs of one environment merge into one page (--force: of
                                        different environments)
  rtbench advise [RUN ...] --need KEY=VALUE,...
                                        the pairings that meet the needs, ranked, from measured cells
                                        (needs: p99=100ms, connections=10000, rate=50000, replay=yes,
                                        restart-loss=0, two-way, strict-proxy, browser); what no run
                                        measured is unknown
  rtbench compare <baseline> <candidate> [--format md|json] [--force] [--allow-missing] [--noise-floor p99=25%,...]
                                        the regression gate: exit 1 on a regression (a cell the baseline
                                        measured that failed or is missing in the candidate is one,
                                        unless --allow-missing; fewer than 3 repetitions a side: no call)
  rtbench ab [workload.yaml] [--repeat N] [--a-root DIR] [--b-root DIR] [--a-env K=V] [--b-env K=V] [run flags]
                                        A and B interleaved (A B A B ...) in one job, then compared
  rtbench calibrate [workload.yaml] [--pairs N] [--mode interleaved|sequential|both] [--repeat N] [run flags]
                                        N real A/A comparisons on this machine (default 10 of each mode):
                                        the false-call rate per metric, and the floors it implies written
                                        into the profile's baseline file, which compare and ab then use
  rtbench baseline update <run> [--profile NAME] | show [--profile NAME]
                                        baselines kept in git under results/baselines/
  rtbench brokers up|down|status [names]
                                        broker servers on private ports (redis, nats, mosquitto,
                                        rabbitmq, postgres, kafka); a run uses running ones, or
                                        starts and stops its own
  rtbench brokers fetch                 Kafka's jars from Maven Central (once; needs mvn)
${WORKER_HELP}
  rtbench help                          this text

run flags (each overrides the workload file's field of the same name):
${FIELDS.map((f) => `  --${flagName(f.key).padEnd(17)} ${f.help}`).join("\n")}
  --out DIR            where run folders go (default: results/runs)
  --repeat N           the same as --repetitions N
  --report             write the run's HTML report when it ends (into reports/)
  --broker-url N=URL   use an external broker for broker N (repeatable), e.g. kafka=kafka://host:9092;
                       "standard": every broker on its standard port (6379, 4222, 1883, 9092, 5672, 5432)
${RUN_WORKER_FLAGS}

serve flags:
  --transport NAME     ${[...transports.keys()].join(" | ")} (default sse)
  --broker NAME        ${[...brokers.keys()].join(" | ")} (default inproc)
  --port P             listen port (default 8080)
  --host H             listen address (default 127.0.0.1)
  --rate N             messages per second (default 1)
  --size B             message body bytes (default 64)
  --topics N           streams (default 1)
  --heartbeat MS       SSE comment heartbeat interval (default 15000)
  --retry MS           reconnect delay SSE advises with retry: (default 3000)
  --broker-url N=URL   as for run

The default workload is workloads/quick.yaml. Results: results/runs/<id>/result.json
(schema in results/README.md). Exit codes: 0 done, 1 a cell failed, 2 bad input.`;

async function run(args: string[]): Promise<number> {
  const options: FlagSpec = { ...RUN_FLAGS };
  for (const f of FIELDS) options[flagName(f.key)] = { type: "string" };
  const { values, positionals } = parse(args, options, "run");
  if (positionals.length > 1) throw new UsageError(`rtbench run: expected at most one workload file, got ${positionals.join(" ")}`);
  const file = positionals[0] ?? DEFAULT_WORKLOAD;
  const { plan, loaded, suite } = loadRunPlan(file);
  const flags: Record<string, unknown> = {};
  for (const f of FIELDS) {
    const v = values[flagName(f.key)];
    if (v !== undefined) flags[f.key] = v;
  }
  if (values.repeat !== undefined) {
    if (flags.repetitions !== undefined) throw new UsageError("rtbench run: give --repeat or --repetitions, not both");
    flags.repetitions = values.repeat;
  }
  const parts = applyFlags(loaded, flags, suite);
  const outDir = outDirOf(values.out, "run");
  const wanted = workerRequest(values);
  for (const { workload, given } of parts) {
    const where = suite ? `part "${workload.name}": ` : "";
    const unused = unusedFieldProblem(workload, given);
    if (unused) throw new UsageError(`rtbench run: ${unused}`);
    const scenario = getScenario(workload.scenario);
    const own = scenario.check?.(workload, (line) => process.stderr.write(`rtbench: ${where}${line}\n`));
    if (own) throw new UsageError(`rtbench run: ${where}${own}`);
    const apart = wanted ? workersProblem(workload, scenario) : null;
    if (apart) throw new UsageError(`rtbench run: ${where}${apart}`);
    if (!scenario.sizesItsOwnSteps) {
      const problem = connectionPlanProblem({ clients: workload.clients, fleetProcesses: fleetProcessesFor(workload), relays: workload.relays });
      if (problem) throw new UsageError(`rtbench run: ${where}${problem}`);
    }
  }
  // A suite's own record takes the flags every part took (its name, repetitions, ...).
  const common = Object.fromEntries(Object.entries(flags).filter(([key]) => !FIELDS.find((f) => f.key === key)?.scenarios));
  const workload: Workload = suite ? applyFields(plan.workload, common, (key) => `flag --${flagName(key)}`, true) : parts[0]!.workload;
  const external = brokerUrls(values["broker-url"]);
  const log = (line: string): void => void process.stderr.write(`rtbench: ${line}\n`);
  // Workers are reached before any broker starts: one that cannot be is bad input, and nothing is left running.
  const workers = await wanted?.connect(log);
  let outcome: Awaited<ReturnType<typeof runMatrix>>;
  try {
    outcome = await runMatrix({
      workload,
      ...(suite ? { parts: parts.map((p) => p.workload) } : {}),
      external,
      outDir,
      command: ["rtbench", "run", ...args],
      root: ROOT,
      version: VERSION,
      log,
      ...(workers ? { workers } : {}),
    });
  } catch (err) {
    if (err instanceof RecordError) throw new UsageError(`rtbench run: flag --out: ${err.message}`);
    throw err;
  } finally {
    workers?.close();
  }
  const { store, planned, shown } = outcome;
  process.stdout.write(`\n${summaryTable(store.cells)}\n\n`);
  if (store.writeError !== undefined || store.unwritten.length > 0) {
    const notRun = planned - store.cells.length;
    process.stderr.write(
      `rtbench: cannot write ${shown}/result.json (${store.writeError}); stopped after cell ${store.cells.length} of ${planned}.\n` +
        `rtbench: not written: ${store.unwritten.length > 0 ? store.unwritten.map((c) => c.id).join(", ") : "the run's end time"} (their figures are in the table above)` +
        `${notRun > 0 ? `; not run: ${notRun} cell(s)` : ""}; ${relative(process.cwd(), store.file) || store.file} keeps the ${store.cells.length - store.unwritten.length} cell(s) written before\n`,
    );
    return 1;
  }
  process.stdout.write(`results: ${relative(process.cwd(), store.file) || store.file}\n`);
  if (values.report === true) {
    const { index } = await writeReport(store.dir, resolve("reports"));
    process.stdout.write(`report:  ${relative(process.cwd(), index) || index}\n`);
  }
  return store.cells.some((c) => c.status === "failed") ? 1 : 0;
}

/** Run folders given, or the latest in results/runs; each must hold a result. */
function runFolders(given: readonly string[], command: string): string[] {
  let runDirs = [...given];
  if (runDirs.length === 0) {
    const runs = existsSync("results/runs") ? readdirSync("results/runs").filter((d) => existsSync(resolve("results/runs", d, "result.json"))).sort() : [];
    if (runs.length === 0) throw new UsageError(`rtbench ${command}: no run folder given and none in results/runs (run rtbench run first)`);
    runDirs = [resolve("results/runs", runs.at(-1)!)];
  }
  for (const runDir of runDirs) {
    if (!existsSync(resolve(runDir, "result.json"))) throw new UsageError(`rtbench ${command}: ${runDir}: expected a run folder holding result.json`);
  }
  return runDirs;
}

async function report(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, { out: { type: "string" }, baseline: { type: "string" }, force: { type: "boolean" } }, "report");
  const runDirs = runFolders(positionals, "report");
  if (values.baseline !== undefined && runDirs.length > 1) throw new UsageError("rtbench report: --baseline compares one run with it: give one run folder");
  const runDir = runDirs[0]!;
  const comparison = typeof values.baseline === "string" ? compareFiles(values.baseline, resolve(runDir), { floors: {}, force: false, baselines: join(ROOT, BASELINES) }) : undefined;
  const reportsDir = typeof values.out === "string" ? values.out : "reports";
  const outProblem = outDirProblem(reportsDir);
  if (outProblem) throw new UsageError(`rtbench report: flag --out: ${outProblem}`);
  let written: Awaited<ReturnType<typeof writeReport>>;
  try {
    written = await writeReport(runDirs.map((d) => resolve(d)), resolve(reportsDir), comparison, { force: values.force === true });
  } catch (err) {
    if (err instanceof MergeError) throw new UsageError(`rtbench report: ${err.message}`);
    throw err;
  }
  const { index, model } = written;
  const v = model.verdicts;
  process.stdout.write(
    `report: ${relative(process.cwd(), index) || index}\n` +
      `claims: ${v.holds} hold, ${v["does not hold"]} do not hold, ${v.consistent} consistent, ${v.inconsistent} inconsistent recommendations, ${v["not measured yet"]} not measured yet, ${v["unavailable here"]} unavailable here, ${v["not testable"]} not testable\n` +
      (comparison ? `compared with ${values.baseline}: ${comparison.regressions} regression(s)\n` : ""),
  );
  return 0;
}

/** `rtbench advise [RUN...] --need k=v,...`: the pairings that meet the needs, from measured cells. */
function adviseCommand(args: string[]): number {
  const { values, positionals } = parse(args, { need: { type: "string" }, force: { type: "boolean" } }, "advise");
  if (typeof values.need !== "string") throw new UsageError(`rtbench advise: flag --need: expected KEY=VALUE[,KEY=VALUE], keys: ${Object.keys(NEEDS).join(", ")}`);
  let needs: Need[];
  try {
    needs = parseNeeds(values.need);
  } catch (err) {
    if (err instanceof NeedError) throw new UsageError(`rtbench advise: ${err.message}`);
    throw err;
  }
  const runDirs = runFolders(positionals, "advise");
  let runs: ReturnType<typeof readRuns>;
  try {
    runs = readRuns(runDirs.map((d) => resolve(d)), values.force === true);
  } catch (err) {
    if (err instanceof MergeError) throw new UsageError(`rtbench advise: ${err.message}`);
    throw err;
  }
  process.stdout.write(formatAdvice(advise(runs.flatMap((r) => r.cells), needs), needs));
  return 0;
}

function list(): number {
  const lines = ["transports:"];
  for (const t of transports.values()) lines.push(`  ${t.name.padEnd(16)} ${t.summary}`);
  lines.push("brokers:");
  for (const b of brokers.values()) {
    const c = b.capabilities;
    lines.push(
      `  ${b.name.padEnd(16)} ${b.summary} [durable: ${c.durable ? "yes" : "no"}, replay: ${c.replay ? "yes" : "no"}, ordering: ${c.ordering}${b.server && clusters.has(b.server) ? `, cluster: ${b.server}` : ""}]`,
    );
  }
  lines.push("scenarios:");
  for (const [name, s] of scenarios) lines.push(`  ${name.padEnd(16)} ${s.summary}`);
  lines.push("proxies (the proxy scenario's proxy field):");
  for (const k of proxyKinds.values()) {
    const missing = proxyUnavailable(k);
    lines.push(`  ${k.name.padEnd(16)} ${k.summary}${missing ? ` [${missing}]` : ""}`);
  }
  lines.push("workloads (workloads/):");
  for (const f of readdirSync(resolve(ROOT, "workloads")).filter((f) => /\.ya?ml$/.test(f)).sort()) lines.push(`  ${f}`);
  process.stdout.write(`${lines.join("\n")}\n`);
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
    case "advise":
      return adviseCommand(rest);
    case "compare":
      return compare(rest);
    case "ab":
      return ab(rest);
    case "calibrate":
      return calibrate(rest);
    case "baseline":
      return baseline(rest);
    case "brokers":
      return brokersCommand(rest);
    case "worker":
      return workerCommand(rest);
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
      throw new UsageError(`rtbench: unknown command "${command}" (expected run, worker, list, serve, report, advise, compare, ab, calibrate, baseline, brokers or help)`);
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    if (
      err instanceof UsageError ||
      err instanceof ConfigError ||
      err instanceof GateInputError ||
      err instanceof RunReadError ||
      err instanceof UnsafeStateError ||
      (err instanceof Error && err.name === "ConfigError")
    ) {
      killAllOwnedNow();
      process.stderr.write(`${err.message.startsWith("rtbench") ? "" : "rtbench: "}${err.message}\n`);
      process.exit(2);
    }
    killChildren();
    killAllOwnedNow();
    process.stderr.write(`rtbench: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
