#!/usr/bin/env node
/**
 * rtbench command line: run, list, serve, report, compare, ab, baseline. Bad input fails before anything starts,
 * with one line naming the file or flag, the field and what was expected (exit 2).
 */
import { appendFileSync, existsSync, readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { lookup } from "node:dns/promises";
import { createServer, isIP } from "node:net";
import { nowNs } from "../core/clock.js";
import { describeEnvironment, gitState } from "./environment.js";
import { Progress, summaryTable } from "./progress.js";
import { runProducer } from "./producer.js";
import { freshNamespace, urlSchemesOf } from "../brokers/broker.js";
import { setLibraryLog } from "../brokers/errors.js";
import { brokers, getBroker, getTransport, scenarios, transports } from "./registry.js";
import { fetchKafka, kafkaLibs, servers } from "../brokers/servers.js";
import { treeRssBytes } from "./proc.js";
import { relayBurnUs, relayMaxConnections, startRelay } from "./relay.js";
import { connectionPlanProblem, describeLimits, machineLimits } from "./limits.js";
import { runConnections, stepPlan } from "./scenarios/connections.js";
import { fleetProcessesFor, killChildren, pairingProblem, RELAY_DEFAULTS, runCell, setChildLog, unavailableCell } from "./runner.js";
import { BrokerServers, brokersDown, brokersUp, killAllOwnedNow, readUpState, reapStaleRuns, UnsafeStateError, upDir } from "./broker-servers.js";
import { OpenLoopSchedule } from "../core/schedule.js";
import { runSaturation } from "./scenarios/saturation.js";
import { runScaleOut } from "./scenarios/scale-out.js";
import { applyFields, ConfigError, DEFAULTS, FIELDS, flagName, loadWorkload, loadWorkloadFile, unusedFieldProblem, type Workload } from "./workload.js";
import { newRunId, outDirProblem, RunReadError, RunStore } from "../results/store.js";
import { redactSecrets } from "../results/redact.js";
import { writeReport } from "../reports/report.js";
import { baselineForThisMachine, compareFiles, GateInputError, runAb, toMarkdown, updateBaseline } from "./gate.js";
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
  rtbench report [run dir] [--out DIR] [--baseline RUN]
                                        the HTML report of a run (default: the latest in results/runs)
  rtbench compare <baseline> <candidate> [--format md|json] [--force] [--allow-missing] [--noise-floor p99=25%,...]
                                        the regression gate: exit 1 on a regression (a cell the baseline
                                        measured that failed or is missing in the candidate is one,
                                        unless --allow-missing; fewer than 3 repetitions a side: no call)
  rtbench ab [workload.yaml] [--repeat N] [--a-root DIR] [--b-root DIR] [--a-env K=V] [--b-env K=V] [run flags]
                                        A and B interleaved (A B A B ...) in one job, then compared
  rtbench baseline update <run> [--profile NAME] | show [--profile NAME]
                                        baselines kept in git under results/baselines/
  rtbench brokers up|down|status [names]
                                        broker servers on private ports (redis, nats, mosquitto,
                                        rabbitmq, postgres, kafka); a run uses running ones, or
                                        starts and stops its own
  rtbench brokers fetch                 Kafka's jars from Maven Central (once; needs mvn)
  rtbench help                          this text

run flags (each overrides the workload file's field of the same name):
${FIELDS.map((f) => `  --${flagName(f.key).padEnd(17)} ${f.help}`).join("\n")}
  --out DIR            where run folders go (default: results/runs)
  --repeat N           the same as --repetitions N
  --report             write the run's HTML report when it ends (into reports/)
  --broker-url N=URL   use an external broker for broker N (repeatable), e.g. kafka=kafka://host:9092;
                       "standard": every broker on its standard port (6379, 4222, 1883, 9092, 5672, 5432)

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

type FlagSpec = Record<string, { type: "string" | "boolean"; multiple?: boolean }>;

/** --broker-url name=url (repeatable, or comma-separated): an external broker instead of one rtbench starts. */
function brokerUrls(value: unknown): Record<string, string> {
  const items = (Array.isArray(value) ? value : value === undefined ? [] : [value]).flatMap((v: string) => v.split(",")).filter(Boolean);
  const out: Record<string, string> = {};
  for (const item of items) {
    if (item === "standard") {
      // Every broker on its standard port: this machine's own services, or docker-compose.yml.
      for (const b of brokers.values()) if (b.standardUrl) out[b.name] ??= b.standardUrl;
      continue;
    }
    const eq = item.indexOf("=");
    const name = item.slice(0, eq);
    const url = item.slice(eq + 1);
    const external = [...brokers.keys()].filter((b) => !getBroker(b).inProcess);
    if (eq <= 0 || !brokers.has(name)) {
      throw new UsageError(`rtbench: flag --broker-url: expected NAME=URL with NAME one of ${external.join(", ")}, got ${JSON.stringify(redactSecrets(item))}`);
    }
    const broker = getBroker(name);
    if (broker.inProcess) throw new UsageError(`rtbench: flag --broker-url: ${name} runs inside the relay process and takes no URL (expected one of ${external.join(", ")})`);
    const schemes = urlSchemesOf(broker);
    if (!URL.canParse(url) || !schemes.includes(new URL(url).protocol)) {
      throw new UsageError(
        `rtbench: flag --broker-url: ${name}: expected a URL with scheme ${schemes.map((p) => `${p}//`).join(" or ")} (such as ${broker.standardUrl}), got ${JSON.stringify(redactSecrets(url))}`,
      );
    }
    out[name] = url;
  }
  return out;
}

async function brokersCommand(args: string[]): Promise<number> {
  const { positionals } = parse(args, {}, "brokers");
  const [action, ...names] = positionals;
  const log = (line: string): void => void process.stdout.write(`${line}\n`);
  try {
    switch (action) {
      case "up": {
        reapStaleRuns();
        const { failed } = await brokersUp(names, log);
        log(`state: ${upDir()} (rtbench run uses these until rtbench brokers down)`);
        return failed.length > 0 ? 1 : 0;
      }
      case "down":
        await brokersDown(names, log);
        return 0;
      case "status":
        process.stdout.write(brokersStatus(names));
        return 0;
      case "fetch":
        fetchKafka(log);
        log(`kafka jars: ${kafkaLibs()}`);
        return 0;
    }
  } catch (err) {
    if (err instanceof Error && /^unknown broker|runs in-process/.test(err.message)) throw new UsageError(`rtbench brokers: ${err.message}`);
    throw err;
  }
  throw new UsageError("rtbench brokers: expected up, down, status or fetch, then optional server or broker names (see rtbench help)");
}

function brokersStatus(names: string[]): string {
  const running = readUpState();
  const rows = [["server", "state", "version", "port", "pid", "rss", "url / reason"]];
  for (const name of names.length > 0 ? names : [...servers.keys()]) {
    const spec = servers.get(name);
    if (!spec) throw new UsageError(`rtbench brokers status: unknown server "${name}" (expected ${[...servers.keys()].join(", ")})`);
    const l = running.find((r) => r.name === name);
    const why = spec.unavailable();
    if (l) {
      const rss = treeRssBytes(l.pid);
      rows.push([name, "running", l.version, String(l.port), String(l.pid), rss === null ? "?" : `${(rss / 2 ** 20).toFixed(0)} MiB`, l.url]);
    } else rows.push([name, why ? "unavailable" : "stopped", why ? "" : spec.version(), "", "", "", why ?? "rtbench brokers up " + name]);
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return `${rows.map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join("  ").trimEnd()).join("\n")}\n`;
}

function parse(args: string[], options: FlagSpec, command: string) {
  try {
    return parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (err) {
    const msg = (err as Error).message.split("\n")[0]!.replace(/\. To specify a positional.*$/, "");
    // "--rate --transports ws": node calls the missing value "ambiguous"; say what is missing.
    const missing = /^Option '(--[\w-]+)(?: <value>)?' argument (?:is ambiguous|missing)/.exec(msg);
    if (missing) {
      const at = args.indexOf(missing[1]!);
      const next = at >= 0 ? args[at + 1] : undefined;
      throw new UsageError(`rtbench ${command}: flag ${missing[1]}: expected a value, got ${next === undefined ? "nothing" : `the flag ${next}`} (see rtbench help)`);
    }
    throw new UsageError(`rtbench ${command}: ${msg} (see rtbench help)`);
  }
}

async function run(args: string[]): Promise<number> {
  const options: FlagSpec = {
    out: { type: "string" },
    report: { type: "boolean" },
    repeat: { type: "string" },
    "broker-url": { type: "string", multiple: true },
  };
  for (const f of FIELDS) options[flagName(f.key)] = { type: "string" };
  const { values, positionals } = parse(args, options, "run");
  if (positionals.length > 1) throw new UsageError(`rtbench run: expected at most one workload file, got ${positionals.join(" ")}`);
  const file = positionals[0] ?? DEFAULT_WORKLOAD;
  const loaded = loadWorkload(file);
  let workload: Workload = loaded.workload;
  const flags: Record<string, unknown> = {};
  for (const f of FIELDS) {
    const v = values[flagName(f.key)];
    if (v !== undefined) flags[f.key] = v;
  }
  if (values.repeat !== undefined) {
    if (flags.repetitions !== undefined) throw new UsageError("rtbench run: give --repeat or --repetitions, not both");
    flags.repetitions = values.repeat;
  }
  workload = applyFields(workload, flags, (key) => `flag --${flagName(key)}`, true);
  const unused = unusedFieldProblem(workload, [
    ...loaded.given.map((key) => ({ key, where: file })),
    ...Object.keys(flags).map((key) => ({ key, where: `flag --${flagName(key)}` })),
  ]);
  if (unused) throw new UsageError(`rtbench run: ${unused}`);
  const outDir = outDirOf(values.out, "run");
  if (workload.scenario === "reconnect" && workload.reconnect === "none") {
    throw new UsageError(`rtbench run: field "reconnect": the reconnect scenario needs clients that reconnect: expected fixed or backoff, got "none"`);
  }
  if (workload.scenario === "saturation" && workload.maxRate < workload.rate) {
    throw new UsageError(`rtbench run: field "maxRate": the sweep starts at rate ${workload.rate}/s: expected a number >= ${workload.rate}, got ${workload.maxRate}`);
  }
  if (workload.relays > 1 && ["reconnect", "durability", "backpressure"].includes(workload.scenario)) {
    throw new UsageError(`rtbench run: field "relays": the ${workload.scenario} scenario runs one relay: expected 1, got ${workload.relays}`);
  }
  if (workload.scenario === "scale-out" && workload.relays < 2) {
    throw new UsageError(`rtbench run: field "relays": the scale-out scenario steps from 1 relay up to this many: expected an integer >= 2, got ${workload.relays}`);
  }
  if (workload.scenario === "connections") {
    if (workload.rampFrom > workload.clients) {
      throw new UsageError(`rtbench run: field "rampFrom": the ramp ends at clients (${workload.clients}): expected an integer <= ${workload.clients}, got ${workload.rampFrom}`);
    }
    // The preflight: what this machine allows, and whether the ramp's last step fits it with fleets and relays added.
    const limits = machineLimits();
    process.stderr.write(`rtbench: ${describeLimits(limits)}\n`);
    const problem = connectionPlanProblem(stepPlan(workload, workload.clients, true, limits), limits);
    if (problem) throw new UsageError(`rtbench run: the connections ramp cannot reach ${workload.clients}: ${problem}`);
  } else {
    const problem = connectionPlanProblem({ clients: workload.clients, fleetProcesses: fleetProcessesFor(workload), relays: workload.relays });
    if (problem) throw new UsageError(`rtbench run: ${problem}`);
  }

  // Repetitions go round the whole matrix (1: a b c, 2: a b c, ...), so drift on the machine hits every cell alike.
  const cells = Array.from({ length: workload.repetitions }, (_, r) =>
    workload.transports.flatMap((t) => workload.brokers.map((b) => ({ transport: t, broker: b, repetition: r + 1 }))),
  ).flat();
  const external = brokerUrls(values["broker-url"]);
  // Servers and folders of an earlier run that was killed outright go before this one starts anything.
  reapStaleRuns();
  // Brokers first: their servers start before any cell, and their versions go in the run's metadata.
  const brokerServers = new BrokerServers(external, (line) => process.stderr.write(`rtbench: ${line}\n`));
  const early = (): void => {
    brokerServers.killOwnedNow();
    process.exit(143);
  };
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.once(signal, early);
  // Socket.IO adapter transports also need the Redis server their relays talk through.
  const adapterBrokers = workload.transports.flatMap((t) => getTransport(t).adapterBroker ?? []);
  const resolved = new Map(await Promise.all([...new Set([...workload.brokers, ...adapterBrokers])].map(async (b) => [b, await brokerServers.resolve(b)] as const)));
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.off(signal, early);
  const brokerVersions = Object.fromEntries(
    [...resolved].map(([b, r]) => [b, r.ok ? r.endpoint.version : `unavailable: ${r.reason}`]),
  );
  const git = gitState(ROOT);
  let store: RunStore;
  try {
    store = new RunStore(outDir, {
    schemaVersion: SCHEMA_VERSION,
    id: newRunId(),
    startedAt: new Date().toISOString(),
    gitSha: git.sha,
    gitDirty: git.dirty,
    rtbenchVersion: VERSION,
    command: ["rtbench", "run", ...args],
    workload,
    environment: describeEnvironment(brokerVersions),
    ...(relayBurnUs() > 0 || relayMaxConnections() > 0
      ? {
          injected: {
            ...(relayBurnUs() > 0 ? { relayBurnUsPerMessage: relayBurnUs() } : {}),
            ...(relayMaxConnections() > 0 ? { relayMaxConnections: relayMaxConnections() } : {}),
          },
        }
      : {}),
    });
  } catch (err) {
    await brokerServers.stopOwned();
    throw new UsageError(`rtbench run: flag --out: ${(err as Error).message}`);
  }
  const shown = relative(process.cwd(), store.dir) || store.dir;
  // What the relays, producers and fleets print (client libraries' logs among it) goes to the run's log, not the terminal;
  // so do the logs of the clients this process opens itself (the durability scenario's late subscriber).
  const logFile = join(store.dir, "rtbench.log");
  setChildLog(logFile);
  setLibraryLog((line) => {
    try {
      appendFileSync(logFile, `[coordinator] ${line}\n`, { mode: 0o600 });
    } catch {
      /* a full disk: the line is lost, the run goes on */
    }
  });
  process.stderr.write(
    `rtbench: ${cells.length} cell(s) of "${workload.name}": ${workload.clients} clients, ${workload.rate} msg/s, ` +
      `${workload.duration}s (+${workload.warmup}s warm-up) each → ${shown}\n`,
  );

  let interrupted = false;
  const stop = (signal: NodeJS.Signals): void => {
    interrupted = true;
    killChildren();
    brokerServers.killOwnedNow();
    store.finish(true);
    process.stderr.write(`\nrtbench: ${signal === "SIGINT" ? "interrupted" : `stopped by ${signal}`}; ${store.cells.length} finished cell(s) kept in ${store.file}\n`);
    process.exit(signal === "SIGINT" ? 130 : 143);
  };
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.once(signal, () => stop(signal));

  const progress = new Progress();
  for (const [i, c] of cells.entries()) {
    const prefix = `[${i + 1}/${cells.length}] ${c.transport} × ${c.broker} ${workload.scenario}` +
      (workload.repetitions > 1 ? ` rep ${c.repetition}` : "");
    let measuringSince = 0;
    const r = resolved.get(c.broker)!;
    const owned = r.ok ? brokerServers.ownedServer(c.broker) : undefined;
    // A Socket.IO adapter transport's relays talk through a Redis server of their own.
    const adapterBroker = getTransport(c.transport).adapterBroker;
    const adapter = adapterBroker ? resolved.get(adapterBroker)! : undefined;
    const spec = {
      ...c,
      workload,
      ...(r.ok && r.endpoint.url ? { brokerUrl: r.endpoint.url } : {}),
      ...(adapter?.ok && adapter.endpoint.url ? { adapterUrl: adapter.endpoint.url } : {}),
      ...(r.ok && r.endpoint.pid ? { brokerServer: { pid: () => owned?.pid() ?? r.endpoint.pid!, ...(owned ? { restart: owned.restart } : {}) } } : {}),
    };
    const problem = !r.ok
      ? `${c.broker} is unavailable: ${r.reason}`
      : adapter && !adapter.ok
        ? `${c.transport} needs ${adapterBroker}'s server for its adapter, which is unavailable: ${adapter.reason}`
        : pairingProblem(c.transport, c.broker, workload, { ownsBrokerServer: owned !== undefined });
    const runScenario = SCENARIO_RUNNERS[workload.scenario] ?? runCell;
    const cell = problem ? unavailableCell(spec, problem) : await runScenario(
      spec,
      {
        phase: (text) => {
          // A sweep's phases carry their step: "step 2 at 300/s: measuring".
          if (text === "measuring" || text.endsWith(": measuring")) measuringSince = Date.now();
          progress.phase(prefix, text);
        },
        progress: (delivered, expected) =>
          progress.progress(prefix, delivered, expected, (Date.now() - measuringSince) / 1000),
      },
    );
    if (interrupted) break;
    const written = store.addCell(cell);
    progress.done(prefix, cell);
    // A result that cannot be written (a full disk, a read-only file system): stop here, keep what was measured in memory.
    if (!written) break;
  }
  const finished = store.finish(false);
  setChildLog(undefined);
  await brokerServers.stopOwned();
  process.stdout.write(`\n${summaryTable(store.cells)}\n\n`);
  if (!finished || store.unwritten.length > 0) {
    const notRun = cells.length - store.cells.length;
    process.stderr.write(
      `rtbench: cannot write ${shown}/result.json (${store.writeError}); stopped after cell ${store.cells.length} of ${cells.length}.\n` +
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

/** Scenarios that are more than one steady cell; the rest run as one. */
const SCENARIO_RUNNERS: Record<string, typeof runCell> = {
  saturation: runSaturation,
  "scale-out": runScaleOut,
  connections: (spec, hooks) => runConnections(spec, hooks),
};

async function report(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, { out: { type: "string" }, baseline: { type: "string" } }, "report");
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
  const comparison = typeof values.baseline === "string" ? compareFiles(values.baseline, resolve(runDir), { floors: {}, force: false }) : undefined;
  const reportsDir = typeof values.out === "string" ? values.out : "reports";
  const outProblem = outDirProblem(reportsDir);
  if (outProblem) throw new UsageError(`rtbench report: flag --out: ${outProblem}`);
  const { index, model } = await writeReport(resolve(runDir), resolve(reportsDir), comparison);
  const v = model.verdicts;
  process.stdout.write(
    `report: ${relative(process.cwd(), index) || index}\n` +
      `claims: ${v.holds} hold, ${v["does not hold"]} do not hold, ${v["not measured yet"]} not measured yet, ${v["not testable"]} not testable\n` +
      (comparison ? `compared with ${values.baseline}: ${comparison.regressions} regression(s)\n` : ""),
  );
  return 0;
}

/** --out, checked before anything starts. */
function outDirOf(value: unknown, command: string): string {
  const path = typeof value === "string" ? value : "results/runs";
  const problem = outDirProblem(path);
  if (problem) throw new UsageError(`rtbench ${command}: flag --out: ${problem}`);
  return resolve(path);
}

function parseFloorsFlag(value: unknown): Record<string, number> {
  if (value === undefined) return {};
  return applyFields(DEFAULTS, { noiseFloors: value }, () => "flag --noise-floor", true).noiseFloors;
}

async function compare(args: string[]): Promise<number> {
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

async function ab(args: string[]): Promise<number> {
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

async function baseline(args: string[]): Promise<number> {
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

function list(): number {
  const lines = ["transports:"];
  for (const t of transports.values()) lines.push(`  ${t.name.padEnd(16)} ${t.summary}`);
  lines.push("brokers:");
  for (const b of brokers.values()) {
    const c = b.capabilities;
    lines.push(
      `  ${b.name.padEnd(16)} ${b.summary} [durable: ${c.durable ? "yes" : "no"}, replay: ${c.replay ? "yes" : "no"}, ordering: ${c.ordering}]`,
    );
  }
  lines.push("scenarios:");
  for (const [name, text] of scenarios) lines.push(`  ${name.padEnd(16)} ${text}`);
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

/** Why `rtbench serve` could not listen on host:port (a taken port, an unknown host), or null: tried before anything starts. */
async function canListen(host: string, port: number): Promise<string | null> {
  let address: string;
  try {
    address = isIP(host) ? host : (await lookup(host)).address;
  } catch (err) {
    return `flag --host: cannot resolve ${JSON.stringify(host)} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`;
  }
  return new Promise((resolveCheck) => {
    const probe = createServer();
    probe.once("error", (err: NodeJS.ErrnoException) =>
      resolveCheck(
        err.code === "EADDRINUSE"
          ? `flag --port: ${host}:${port} is taken by another program (choose another --port, or 0 for any free one)`
          : `flag --host: cannot listen on ${host} (${err.code ?? err.message})`,
      ),
    );
    probe.listen({ host: address, port, exclusive: true }, () => probe.close(() => resolveCheck(null)));
  });
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
      retry: { type: "string" },
      "broker-url": { type: "string", multiple: true },
    },
    "serve",
  );
  if (positionals.length > 0) throw new UsageError(`rtbench serve: unexpected argument ${positionals[0]}`);
  const transport = (values.transport as string | undefined) ?? "sse";
  const broker = (values.broker as string | undefined) ?? "inproc";
  if (!transports.has(transport)) {
    throw new UsageError(`rtbench serve: flag --transport: expected one of ${[...transports.keys()].join(", ")}, got ${JSON.stringify(transport)}`);
  }
  if (getTransport(transport).listener === "none") {
    throw new UsageError(`rtbench serve: flag --transport: ${transport} has no relay to serve (its clients subscribe to the broker itself)`);
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
  const retryMs = intFlag(values.retry as string | undefined, "retry", 0, 3_600_000, RELAY_DEFAULTS.retryMs);

  const urls = brokerUrls(values["broker-url"]);
  // The address and port, before any broker server starts: a taken port or an unknown host is one line, nothing left running.
  const listenProblem = await canListen(host, port);
  if (listenProblem) throw new UsageError(`rtbench serve: ${listenProblem}`);
  reapStaleRuns();
  // The relay runs in this process: its client libraries' logs go to a file, the terminal keeps the endpoint.
  const serveLog = join(tmpdir(), `rtbench-serve-${process.pid}.log`);
  setLibraryLog((line) => {
    try {
      appendFileSync(serveLog, `${line}\n`, { mode: 0o600 });
    } catch {
      /* the line is lost */
    }
  });

  // The broker's server as a run gets it: --broker-url, one left up by `brokers up`, or our own.
  const brokerServers = new BrokerServers(urls, (line) => process.stderr.write(`rtbench: ${line}\n`));
  const stopEarly = (): void => {
    brokerServers.killOwnedNow();
    process.exit(143);
  };
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.once(signal, stopEarly);
  const resolved = await brokerServers.resolve(broker);
  if (!resolved.ok) {
    await brokerServers.stopOwned();
    process.stderr.write(`rtbench serve: ${broker} is unavailable: ${resolved.reason}\n`);
    return 1;
  }
  // A Socket.IO adapter transport also needs the Redis its relays talk through.
  const adapterBroker = getTransport(transport).adapterBroker;
  const adapter = adapterBroker ? await brokerServers.resolve(adapterBroker) : undefined;
  if (adapter && !adapter.ok) {
    await brokerServers.stopOwned();
    process.stderr.write(`rtbench serve: ${transport} needs ${adapterBroker}'s server for its adapter, which is unavailable: ${adapter.reason}\n`);
    return 1;
  }
  const namespace = freshNamespace();
  const relay = await startRelay({
    ...RELAY_DEFAULTS,
    transport,
    broker,
    namespace,
    history: false,
    ...(adapter?.ok && adapter.endpoint.url ? { adapterUrl: adapter.endpoint.url } : {}),
    ...(resolved.endpoint.url ? { brokerUrl: resolved.endpoint.url } : {}),
    topics: fields.topics,
    port,
    host,
    heartbeatMs,
    retryMs,
  }).catch(async (err: unknown) => {
    // Taken between the check and now, or the broker refused the relay: one line, and what this started is stopped.
    await brokerServers.stopOwned();
    throw new UsageError(`rtbench serve: ${redactSecrets((err as Error).message.split("\n")[0]!)}`);
  });
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.off(signal, stopEarly);
  const schedule = new OpenLoopSchedule(nowNs() + 1e8, fields.rate, Number.MAX_SAFE_INTEGER);
  const producer = runProducer(relay.broker, schedule, { namespace, topics: fields.topics, size: fields.size });
  const base = relay.baseUrl;
  const t = getTransport(transport);
  process.stdout.write(
    `rtbench serve: ${transport} × ${broker}, ${fields.rate} msg/s of ${fields.size} B over ${fields.topics} topic(s)\n` +
      `  endpoint: ${base}${t.endpoint}\n` +
      // Text over plain HTTP reads well in curl; WebSocket, Socket.IO and gRPC need their own clients.
      (/^\/(sse|poll)/.test(t.endpoint) ? `  try:      curl -N${t.listener === "h2-tls" ? " -k --http2" : ""} '${base}${t.endpoint}'\n` : "") +
      `  client library logs: ${serveLog}\n` +
      `Ctrl-C stops.\n`,
  );
  await new Promise<void>((resolveStop) => {
    process.once("SIGINT", resolveStop);
    process.once("SIGTERM", resolveStop);
  });
  producer.stop();
  await relay.close();
  await brokerServers.stopOwned();
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
    case "compare":
      return compare(rest);
    case "ab":
      return ab(rest);
    case "baseline":
      return baseline(rest);
    case "brokers":
      return brokersCommand(rest);
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
      throw new UsageError(`rtbench: unknown command "${command}" (expected run, list, serve, report, compare, ab, baseline, brokers or help)`);
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
