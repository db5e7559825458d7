/**
 * The roles of a cell (relay, producer, client fleet) as the coordinator sees them:
 * handles over a message channel. Every message is serialisable, nothing assumes a
 * shared file or a local pid, so a channel to a worker on another host can stand
 * behind the same handles; the first channel is a forked child's IPC.
 */
import { fork, type ChildProcess } from "node:child_process";
import { createWriteStream, type WriteStream } from "node:fs";
import {
  expect,
  lastLine,
  noteOutput,
  reap,
  send,
  TEARDOWN_MS,
  type FleetPlan,
  type FleetReport,
  type FromChild,
  type MemoryProbe,
  type ProducerPlan,
  type ProducerReport,
  type RelayPlan,
  type RelayReport,
  type StartTimes,
  type ToChild,
  type Unacknowledged,
  type UpstreamSent,
} from "./ipc.js";
import { removeNamespacesNow, type RelayNamespace } from "./netns.js";
import { killProxiesNow } from "./proxies/proxy.js";
import type { BrokerErrors } from "../brokers/errors.js";

/** A two-way message channel to one role, wherever it runs. */
export interface Channel {
  /** The role's name in errors: "relay", "fleet process 2". */
  readonly role: string;
  send(message: ToChild): void;
  /** The next message of `kind`; rejects on the role's error report, its end, or the timeout. */
  expect<K extends FromChild["kind"]>(kind: K, timeoutMs: number): Promise<Extract<FromChild, { kind: K }>>;
  /** Every message of `kind`, as it comes. */
  on<K extends FromChild["kind"]>(kind: K, listener: (message: Extract<FromChild, { kind: K }>) => void): void;
  /** Ends the role at once (a fault's kill -9); resolves once it is gone. */
  kill(): Promise<void>;
  /** Waits for the role to leave by itself after its last report, then ends it. */
  close(graceMs: number): Promise<void>;
}

/** Where a role's process starts. */
export interface Place {
  /** A network namespace of its own (the partition fault). */
  namespace?: RelayNamespace;
  /** On this worker of the run's (`rtbench run --workers`), by index; absent: on this machine. */
  worker?: number;
}

/** The program a role's process runs: harness/<script>-process.js. */
export type RoleScript = "relay" | "producer" | "fleet";

const live = new Set<ChildProcess>();

/** Where children's output goes (client libraries' logs among it); undefined: the terminal. */
let childLog: WriteStream | undefined;

/** Sends what relay, producer and fleet processes print to this file from now on (undefined: back to the terminal). */
export function setChildLog(path: string | undefined): void {
  childLog?.end();
  childLog = path === undefined ? undefined : createWriteStream(path, { flags: "a", mode: 0o600 });
  // A log that cannot be written (a full disk) must not take the run down: the output is lost, the run goes on.
  childLog?.on("error", () => (childLog = undefined));
}

/** Kills every child this process started (on Ctrl-C, or after a failed cell), and removes its network namespaces. */
export function killChildren(): void {
  for (const child of live) child.kill("SIGKILL");
  live.clear();
  removeNamespacesNow();
  killProxiesNow();
}

/** A forked child process on this machine, spoken to over Node's IPC. */
export class ForkChannel implements Channel {
  private readonly child: ChildProcess;

  constructor(
    script: RoleScript,
    readonly role: string,
    place: Place = {},
    /** Added to its environment (a worker's clock offset). */
    env: Record<string, string> = {},
  ) {
    // RTBENCH_NODE_ARGS passes extra flags to relay and fleet processes (e.g. --cpu-prof).
    // A relay's memory probes compare heaps: V8 must not drop the bytecode of functions
    // unused for a few collections between them, or an idle connection reads as negative.
    const keepBytecode = script === "relay" ? ["--no-flush-bytecode"] : [];
    const nodeArgs = ["--expose-gc", ...keepBytecode, ...(process.env.RTBENCH_NODE_ARGS?.split(" ").filter(Boolean) ?? [])];
    const log = childLog;
    const ns = place.namespace;
    // `ip netns exec` hands on the IPC channel and execs node inside the namespace.
    this.child = fork(new URL(`./${script}-process.js`, import.meta.url), [], {
      stdio: ["ignore", log ? "pipe" : "inherit", log ? "pipe" : "inherit", "ipc"],
      ...(Object.keys(env).length > 0 ? { env: { ...process.env, ...env } } : {}),
      ...(ns ? { execPath: "ip", execArgv: [...ns.exec, process.execPath, ...nodeArgs] } : { execArgv: nodeArgs }),
    });
    const child = this.child;
    for (const stream of [child.stdout, child.stderr]) {
      stream?.on("data", (chunk: Buffer) => {
        log?.write(`[${script} ${child.pid}] ${chunk.toString()}`);
        noteOutput(child, chunk);
      });
    }
    // A send to a child that has just died (a fleet killed mid-cell) is reported by its exit, not thrown as an unhandled error.
    child.on("error", () => {});
    live.add(child);
    child.on("exit", () => live.delete(child));
  }

  send(message: ToChild): void {
    send(this.child, message);
  }

  expect<K extends FromChild["kind"]>(kind: K, timeoutMs: number): Promise<Extract<FromChild, { kind: K }>> {
    return expect(this.child, kind, timeoutMs, this.role);
  }

  on<K extends FromChild["kind"]>(kind: K, listener: (message: Extract<FromChild, { kind: K }>) => void): void {
    this.child.on("message", (m: FromChild) => {
      if (m.kind === kind) listener(m as Extract<FromChild, { kind: K }>);
    });
  }

  /**
   * Every message as it comes, then how it exited (a worker relays both to its coordinator).
   * The exit is told once the IPC channel has closed (or a second after the exit), so no
   * message still in the pipe comes after it.
   */
  forward(onMessage: (m: FromChild) => void, onExit: (how: string, last: string) => void): void {
    this.child.on("message", onMessage);
    this.child.once("exit", (code, signal) => {
      const tell = (): void => onExit(signal ?? `code ${code}`, lastLine(this.child));
      if (!this.child.connected) return void setImmediate(tell);
      const late = setTimeout(tell, 1_000);
      this.child.once("disconnect", () => {
        clearTimeout(late);
        setImmediate(tell);
      });
    });
  }

  async kill(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise((resolve) => this.child.once("exit", resolve));
    this.child.kill("SIGKILL");
    await exited;
  }

  close(graceMs: number): Promise<void> {
    return reap(this.child, graceMs);
  }
}

/** Makes the channel for a role; a distributed coordinator hands in its own. */
export type ChannelFactory = (script: RoleScript, role: string, place?: Place) => Channel;

export const forkChannel: ChannelFactory = (script, role, place) => new ForkChannel(script, role, place);

/** After the measurement, a role that does not report is noted, never a reason to drop the figures. */
const REPORT_MS = TEARDOWN_MS + 15_000;

export class RelayHandle {
  private constructor(
    readonly channel: Channel,
    readonly port: number,
    readonly baseUrl: string,
    /** Its memory once listening, before any client. */
    readonly idle: MemoryProbe,
  ) {}

  static async start(channels: ChannelFactory, role: string, plan: RelayPlan, place?: Place): Promise<RelayHandle> {
    const channel = channels("relay", role, place);
    channel.send({ kind: "init-relay", plan });
    const ready = await channel.expect("ready", 60_000);
    return new RelayHandle(channel, ready.port, ready.baseUrl, ready.idle);
  }

  /** Memory after a forced GC, with whatever clients it holds. */
  async probeMemory(): Promise<MemoryProbe> {
    this.channel.send({ kind: "probe-memory" });
    return (await this.channel.expect("memory", 20_000)).idle;
  }

  start(times: StartTimes): void {
    this.channel.send({ kind: "start", times });
  }

  dropClients(): void {
    this.channel.send({ kind: "drop-clients" });
  }

  /** Its report; a relay that does not give one is a teardown error, with an empty report in its place. */
  async stop(teardownErrors: string[]): Promise<RelayReport> {
    this.channel.send({ kind: "stop" });
    try {
      const report = (await this.channel.expect("relay-result", REPORT_MS)).report;
      if (report.teardownError) teardownErrors.push(`${this.channel.role}: ${report.teardownError}`);
      return report;
    } catch (err) {
      teardownErrors.push((err as Error).message);
      return { samples: [], rssAtReadyBytes: 0, connections: 0, replayed: 0, wireBytes: null };
    }
  }
}

/** Whoever publishes the cell's schedule: the producer's own process, or the relay hosting it (an in-process broker). */
export class ProducerHandle {
  constructor(readonly channel: Channel) {}

  static async start(channels: ChannelFactory, plan: ProducerPlan): Promise<ProducerHandle> {
    const channel = channels("producer", "producer");
    channel.send({ kind: "init-producer", plan });
    await channel.expect("producer-ready", 60_000);
    return new ProducerHandle(channel);
  }

  start(times: StartTimes): void {
    this.channel.send({ kind: "start", times });
  }

  /** Its report once it has published the schedule; past the deadline it is told to stop and reports what it published. */
  async produced(deadlineMs: number): Promise<ProducerReport> {
    try {
      return (await this.channel.expect("produced", deadlineMs)).report;
    } catch (err) {
      if (!/no "produced" within/.test((err as Error).message)) throw err;
      const stopped = this.channel.expect("produced", 30_000);
      this.channel.send({ kind: "stop-producing" });
      return (await stopped).report;
    }
  }

  /** Waits for publishes in flight, then says what the broker never acknowledged. */
  async settle(timeoutMs: number): Promise<Unacknowledged> {
    this.channel.send({ kind: "settle", timeoutMs });
    return (await this.channel.expect("settled", timeoutMs + 20_000)).unacknowledged;
  }

  async stop(teardownErrors: string[]): Promise<{ samples?: import("../core/sampler.js").ResourceSample[]; brokerErrors?: BrokerErrors }> {
    this.channel.send({ kind: "stop" });
    try {
      const result = await this.channel.expect("producer-result", REPORT_MS);
      if (result.teardownError) teardownErrors.push(`producer: ${result.teardownError}`);
      return { samples: result.samples, ...(result.brokerErrors ? { brokerErrors: result.brokerErrors } : {}) };
    } catch (err) {
      teardownErrors.push((err as Error).message);
      return {};
    }
  }
}

export class FleetHandle {
  private constructor(readonly channel: Channel) {}

  /** Starts a fleet process and opens its clients; resolves with how many opened. */
  static async start(channels: ChannelFactory, role: string, plan: FleetPlan, connectTimeoutMs: number, place: Place = {}): Promise<{ fleet: FleetHandle; open: number; failed: number; firstError?: string; unanswered?: number; startedAt?: number; settledAt?: number }> {
    const channel = channels("fleet", role, place);
    channel.send({ kind: "init-fleet", plan });
    const { kind: _, ...connected } = await channel.expect("connected", connectTimeoutMs);
    return { fleet: new FleetHandle(channel), ...connected };
  }

  start(times: StartTimes): void {
    this.channel.send({ kind: "start", times });
  }

  onProgress(listener: (delivered: number) => void): void {
    this.channel.on("progress", (m) => listener(m.delivered));
  }

  /** The chat scenario: what its clients sent upstream, once their schedule is done. */
  async upstreamSent(timeoutMs: number): Promise<UpstreamSent> {
    return (await this.channel.expect("upstream-sent", timeoutMs)).sent;
  }

  /** Tells it the last sequence of each stream and waits for its report once it has them all or the drain is over. */
  async finish(lastSeq: number[], drainMs: number, unacknowledged?: number[][]): Promise<FleetReport & { brokerErrors?: BrokerErrors }> {
    const result = this.channel.expect("fleet-result", drainMs + 60_000);
    this.channel.send({ kind: "finish", lastSeq, drainMs, ...(unacknowledged ? { unacknowledged } : {}) });
    return (await result).report;
  }
}
