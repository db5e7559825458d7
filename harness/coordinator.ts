/**
 * The matrix: every transport × broker × repetition of a workload, run one after the
 * other through its scenario, each written as soon as it ends. It resolves the broker
 * servers first (starting those it needs), keeps every finished cell whatever stops it
 * (Ctrl-C, a full disk), and stops what it started. The CLI and bench/ both use it.
 */
import { appendFileSync } from "node:fs";
import { join, relative } from "node:path";
import { setLibraryLog } from "../brokers/errors.js";
import { SCHEMA_VERSION, type CellResult, type RunMeta, type Workload } from "../results/schema.js";
import { newRunId, RunStore } from "../results/store.js";
import { BrokerServers, reapStaleRuns, type Resolved } from "./broker-servers.js";
import { describeEnvironment, gitState } from "./environment.js";
import { pairingProblem } from "./pairing.js";
import { Progress } from "./progress.js";
import { getBroker, getTransport } from "./registry.js";
import { faults } from "./scenarios/faults.js";
import { relayBurnUs, relayMaxConnections } from "./relay.js";
import { killChildren, runCell, setChildLog, unavailableCell } from "./runner.js";
import { forkChannel, type ChannelFactory } from "./roles.js";
import { getScenario } from "./scenarios/index.js";
import type { CellSpec } from "./scenarios/scenario.js";
import type { Workers } from "./workers.js";

export interface MatrixOptions {
  /** The run's workload; for a suite, its name and shared fields. */
  workload: Workload;
  /** A suite's parts, run one after the other into the one run; absent: the workload alone. */
  parts?: readonly Workload[];
  /** --broker-url: brokers on servers the user runs. */
  external: Readonly<Record<string, string>>;
  outDir: string;
  /** The command line, as the result records it (its passwords are redacted there). */
  command: string[];
  /** rtbench's own folder, for the git state recorded. */
  root: string;
  version: string;
  /** One line for the user (stderr). */
  log(line: string): void;
  /** Where roles run; a forked child per role unless given. */
  channels?: ChannelFactory;
  /** --workers: the hosts the cells' clients run on. */
  workers?: Workers;
}

export interface MatrixOutcome {
  store: RunStore;
  /** Cells the matrix had, of which store.cells ran. */
  planned: number;
  /** The run folder as the user should see it. */
  shown: string;
}

/** Thrown when the run cannot even be recorded (its folder cannot be written): nothing was measured. */
export class RecordError extends Error {}

export async function runMatrix(o: MatrixOptions): Promise<MatrixOutcome> {
  const parts = o.parts ?? [o.workload];
  // Repetitions go round a workload's whole matrix (1: a b c, 2: a b c, ...), so drift on the machine hits every cell alike.
  const cells = parts.flatMap((w) =>
    Array.from({ length: w.repetitions }, (_, r) => w.transports.flatMap((t) => w.brokers.map((b) => ({ transport: t, broker: b, repetition: r + 1, w })))).flat(),
  );
  // Servers and folders of an earlier run that was killed outright go before this one starts anything.
  reapStaleRuns();
  // Brokers first: their servers start before any cell, and their versions go in the run's metadata.
  const brokerServers = new BrokerServers(o.external, o.log);
  const early = (): void => {
    brokerServers.killOwnedNow();
    process.exit(143);
  };
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.once(signal, early);
  // Socket.IO adapter transports also need the Redis server their relays talk through.
  const adapterBrokers = parts.flatMap((w) => w.transports.flatMap((t) => getTransport(t).adapterBroker ?? []));
  const wanted = new Set([...parts.flatMap((w) => w.brokers), ...adapterBrokers]);
  // A cluster starts just before its first cell and stops after its last (BrokerServers.deferred).
  const deferred = new Map([...wanted].flatMap((b) => [[b, brokerServers.deferred(b)] as const]).filter((e): e is [string, Resolved] => e[1] !== undefined));
  const resolved = new Map(await Promise.all([...wanted].map(async (b) => [b, deferred.get(b) ?? (await brokerServers.resolve(b))] as const)));
  const lastCellOf = new Map<string, number>();
  cells.forEach((c, i) => deferred.has(c.broker) && lastCellOf.set(getBroker(c.broker).server!, i));
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.off(signal, early);
  let store: RunStore;
  try {
    store = new RunStore(o.outDir, runMeta(o, resolved));
  } catch (err) {
    await brokerServers.stopOwned();
    throw new RecordError((err as Error).message);
  }
  const shown = relative(process.cwd(), store.dir) || store.dir;
  logToRunFolder(store.dir);
  const w = o.workload;
  o.log(
    o.parts
      ? `${cells.length} cell(s) of the suite "${w.name}" (${o.parts.map((p) => `${p.name}: ${p.scenario}`).join(", ")}), about ${formatDuration(cells.reduce((sum, c) => sum + estimatedSeconds(c.w), 0))} → ${shown}`
      : `${cells.length} cell(s) of "${w.name}": ${w.clients} clients, ${w.rate} msg/s, ${w.duration}s (+${w.warmup}s warm-up) each → ${shown}`,
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
  const eta = new Eta(cells.map((c) => estimatedSeconds(c.w)));
  for (const [i, c] of cells.entries()) {
    const cw = c.w;
    const scenario = getScenario(cw.scenario);
    const prefix =
      `[${i + 1}/${cells.length}${eta.text(i)}] ${c.transport} × ${c.broker} ${cw.scenario}` + (o.parts ? ` (${cw.name})` : "") + (cw.repetitions > 1 ? ` rep ${c.repetition}` : "");
    if (deferred.get(c.broker)?.ok) resolved.set(c.broker, await brokerServers.resolve(c.broker));
    const r = resolved.get(c.broker)!;
    const owned = r.ok ? brokerServers.ownedServer(c.broker) : undefined;
    // A Socket.IO adapter transport's relays talk through a Redis server of their own.
    const adapterBroker = getTransport(c.transport).adapterBroker;
    const adapter = adapterBroker ? resolved.get(adapterBroker)! : undefined;
    const spec: CellSpec = {
      transport: c.transport,
      broker: c.broker,
      repetition: c.repetition,
      workload: cw,
      scenario,
      ...(r.ok && r.endpoint.url ? { brokerUrl: r.endpoint.url } : {}),
      ...(adapter?.ok && adapter.endpoint.url ? { adapterUrl: adapter.endpoint.url } : {}),
      ...(o.workers ? { workers: o.workers } : {}),
      ...(r.ok && r.endpoint.pid
        ? { brokerServer: { pid: () => owned?.pid() ?? r.endpoint.pid!, ...(owned?.restart ? { restart: owned.restart } : {}), ...(owned?.cluster ? { cluster: owned.cluster } : {}) } }
        : {}),
    };
    const problem = !r.ok
      ? `${c.broker} is unavailable: ${r.reason}`
      : adapter && !adapter.ok
        ? `${c.transport} needs ${adapterBroker}'s server for its adapter, which is unavailable: ${adapter.reason}`
        : pairingProblem(c.transport, c.broker, cw, { ownsBrokerServer: owned?.restart !== undefined, cluster: owned?.cluster !== undefined });
    const cell = problem ? unavailableCell(spec, problem) : await runOne(spec, prefix, progress, o.channels ?? forkChannel);
    if (interrupted) break;
    eta.finished(i, !problem);
    const written = store.addCell(cell);
    progress.done(prefix, cell);
    // A cluster goes after its last cell; before, a node a fault left down is started again for the next.
    const server = getBroker(c.broker).server;
    if (server && lastCellOf.get(server) === i) await brokerServers.stopClusterOwned(server);
    else if (owned?.cluster && !problem && faultStrikesNode(scenario.fault?.(cw))) {
      await owned.cluster.heal().catch((err: unknown) => o.log(`${server}: a node could not be started again, later cells run without it: ${(err as Error).message.split("\n")[0]}`));
    }
    // A result that cannot be written (a full disk, a read-only file system): stop here, keep what was measured in memory.
    if (!written) break;
  }
  store.finish(false);
  setChildLog(undefined);
  await brokerServers.stopOwned();
  return { store, planned: cells.length, shown };
}

/**
 * A cell's wall time before it runs, for the progress line: its warm-up, window and
 * drain plus a few seconds of processes starting, times the steps its scenario takes.
 */
function estimatedSeconds(w: Workload): number {
  const steps = getScenario(w.scenario).estimatedSteps?.(w) ?? 1;
  return steps * (w.warmup + w.duration + w.drain / 2 + 4);
}

/**
 * Time left: the estimates of the cells to come, scaled by how the finished cells
 * compared with theirs; elapsed is the wall time since the first cell started.
 */
class Eta {
  private readonly startedAt = Date.now();
  private estimatedDone = 0;

  constructor(private readonly estimates: readonly number[]) {}

  /** A cell ended; one that never ran (unavailable) took none of the time its estimate said. */
  finished(i: number, ran: boolean): void {
    if (ran) this.estimatedDone += this.estimates[i]!;
  }

  text(i: number): string {
    if (this.estimates.length < 2) return "";
    const elapsedS = (Date.now() - this.startedAt) / 1000;
    const left = this.estimates.slice(i).reduce((a, b) => a + b, 0);
    const scale = this.estimatedDone > 0 ? elapsedS / this.estimatedDone : 1;
    return `, ${formatDuration(elapsedS)} elapsed, ~${formatDuration(left * scale)} left`;
  }
}

function formatDuration(seconds: number): string {
  const s = Math.round(seconds);
  return s >= 60 ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s` : `${s}s`;
}

/** One cell through its scenario, its phases and progress on the progress line. */
function runOne(spec: CellSpec, prefix: string, progress: Progress, channels: ChannelFactory): Promise<CellResult> {
  let measuringSince = 0;
  const hooks = {
    phase: (text: string) => {
      // A sweep's phases carry their step: "step 2 at 300/s: measuring".
      if (text === "measuring" || text.endsWith(": measuring")) measuringSince = Date.now();
      progress.phase(prefix, text);
    },
    progress: (delivered: number, expected: number) => progress.progress(prefix, delivered, expected, (Date.now() - measuringSince) / 1000),
  };
  return spec.scenario.run ? spec.scenario.run(spec, hooks) : runCell(spec, hooks, channels);
}

function runMeta(o: MatrixOptions, resolved: ReadonlyMap<string, Resolved>): RunMeta {
  const git = gitState(o.root);
  const brokerVersions = Object.fromEntries([...resolved].map(([b, r]) => [b, r.ok ? r.endpoint.version : `unavailable: ${r.reason}`]));
  return {
    schemaVersion: SCHEMA_VERSION,
    id: newRunId(),
    startedAt: new Date().toISOString(),
    gitSha: git.sha,
    gitDirty: git.dirty,
    rtbenchVersion: o.version,
    command: o.command,
    workload: o.workload,
    ...(o.parts ? { parts: [...o.parts] } : {}),
    environment: describeEnvironment(brokerVersions),
    ...(relayBurnUs() > 0 || relayMaxConnections() > 0
      ? {
          injected: {
            ...(relayBurnUs() > 0 ? { relayBurnUsPerMessage: relayBurnUs() } : {}),
            ...(relayMaxConnections() > 0 ? { relayMaxConnections: relayMaxConnections() } : {}),
          },
        }
      : {}),
  };
}

/**
 * What the relays, producers and fleets print (client libraries' logs among it) goes to
 * the run's log, not the terminal; so do the logs of the clients this process opens
 * itself (the durability scenario's late subscriber).
 */
function logToRunFolder(dir: string): void {
  const logFile = join(dir, "rtbench.log");
  setChildLog(logFile);
  setLibraryLog((line) => {
    try {
      appendFileSync(logFile, `[coordinator] ${line}\n`, { mode: 0o600 });
    } catch {
      /* a full disk: the line is lost, the run goes on */
    }
  });
}

/** Whether the fault strikes one node of a cluster (and may leave it down). */
function faultStrikesNode(fault: string | undefined): boolean {
  return fault !== undefined && faults.get(fault)?.node !== undefined;
}
