/**
 * Messages between the coordinator (`rtbench run`) and its child processes.
 * Children exit when the coordinator goes away, so a crash or Ctrl-C leaves none.
 */
import type { ChildProcess } from "node:child_process";
import type { DirectBroker } from "../transports/transport.js";
import type { DeliveryCounts } from "../core/tracker.js";
import type { ResourceSample } from "../core/sampler.js";
import type { BrokerErrors } from "../brokers/errors.js";
import type { BrowserSample } from "../results/schema.js";

export interface RelayPlan {
  transport: string;
  broker: string;
  brokerUrl?: string;
  /** The cell's topic namespace on the broker (see topicName). */
  namespace: string;
  /** Partitions per topic where the broker has them (Kafka). */
  partitions?: number;
  topics: number;
  rate: number;
  size: number;
  /** Messages to publish in total (warm-up + measured). */
  total: number;
  /** The producer runs in this process (an in-process broker), else in its own. */
  produce: boolean;
  /**
   * Subscribe from the broker's earliest message where it keeps history, to refill
   * the replay buffer: a relay restarted after a crash.
   */
  history: boolean;
  /**
   * Subscribe to the broker. False for all but the first relay of a transport whose
   * relays pass broadcasts to each other (a Socket.IO adapter): they get them that way.
   */
  subscribe: boolean;
  /** The Redis server of a Socket.IO adapter (transports with `adapterBroker`). */
  adapterUrl?: string;
  /** The chat scenario: take clients' upstream messages and publish them to the broker. */
  upstream?: boolean;
  /** SSE behind the nginx-default proxy: no `X-Accel-Buffering: no` (ServerOptions). */
  withoutAccelHeader?: boolean;
  replayCapacity: number;
  heartbeatMs: number;
  retryMs: number;
  port: number;
  host: string;
}

/** What the broker never acknowledged: publishes that failed, and those still unanswered when asked. */
export interface Unacknowledged {
  /** Per stream, ascending. */
  seqs: number[][];
  publishErrors: number;
  /**
   * The longest time in the measured window with publishes in flight and none
   * acknowledged, in µs (a failover's "until publishes are acknowledged again");
   * null where a publish gives no answer (core NATS, MQTT QoS 0).
   */
  ackStallUs?: number | null;
  /** False when the publishes after the last acknowledgement all failed or went unanswered: acknowledgements had not come back by the end. */
  ackResumed?: boolean;
}

/** The producer's own process (real brokers): what it publishes, where. */
export type ProducerPlan = Pick<RelayPlan, "broker" | "brokerUrl" | "namespace" | "partitions" | "topics" | "rate" | "size" | "total">;

/** How a client reconnects after a drop: a fixed delay, or exponential backoff with full jitter from a base. */
export interface ReconnectPolicy {
  kind: "fixed" | "backoff";
  delayMs: number;
}

export interface FleetPlan {
  transport: string;
  /** Every relay's base URL; a client connects to the one `relays` names. */
  baseUrls: string[];
  /** Topic of each client this process opens. */
  topics: number[];
  /** Relay of each client (parallel to `topics`), an index into `baseUrls`. */
  relays: number[];
  localAddress?: string;
  connectConcurrency: number;
  /** Connections this process opens per second (its share of the workload's connectRate); absent: as fast as connectConcurrency lets them. */
  connectRate?: number;
  /**
   * The proxy scenario: a connection neither open nor refused after this long is left
   * to open when it will (a buffering proxy holds a stream's first bytes until its buffer
   * fills, which only messages do) and counted as unanswered; absent: waited for.
   */
  openWaitMs?: number;
  pollIntervalMs: number;
  /** `direct`: the broker each client subscribes to. */
  broker?: DirectBroker;
  /** Absent: a dropped client stays dropped. */
  reconnect?: ReconnectPolicy;
  /**
   * A broker that orders per partition, with more than one: message `seq` was put in
   * partition (seq - 1) mod partitions, so order is also checked within each.
   */
  partitions?: number;
  /**
   * backpressure scenario: which clients (parallel to `topics`) read slowly, through
   * the throttle at `slowBaseUrl`. Their latency and counts are kept apart.
   */
  slow?: { clients: boolean[]; baseUrl: string };
  /** The chat scenario: every client also sends upstream (see ChatPlan). */
  chat?: ChatPlan;
  /** The clients are tabs of a real browser (harness/browser/), not Node connections. */
  browser?: BrowserPlan;
}

/** A browser fleet: its connections `connectionsPerTab` to a tab, in order. */
export interface BrowserPlan {
  connectionsPerTab: number;
  /** WebSocket: the page reconnects by hand after this long (absent: it does not, as the browser does not). */
  wsReconnectMs?: number;
}


export interface BrowserReport {
  version: string;
  tabs: number;
  connectionsPerTab: number;
  /** How far a page's arrival time can be off the envelope's clock: the clock readings' bound and change over the cell, plus the page clock's 100 µs resolution. */
  clockErrorBoundUs: number;
  clockDriftUs: number;
  samples: BrowserSample[];
}

/**
 * The chat scenario's upstream schedule: one open-loop schedule of `total` messages at
 * `rate` across all `clients`; message j is sent by client j mod clients with its own
 * seq floor(j / clients) + 1, so each client sends at rate / clients, evenly staggered.
 * Client c is in room c mod rooms (the topics), and its envelope's stream is c.
 */
export interface ChatPlan {
  clients: number;
  rooms: number;
  /** The global index of each client this process opens (parallel to `topics`). */
  ids: number[];
  rate: number;
  total: number;
  size: number;
  /** Ask for an acknowledgement where it is optional (Socket.IO). */
  upAck: boolean;
}

/** A fleet's upstream once its schedule is done: what each of its clients sent. */
export interface UpstreamSent {
  /** Global client indexes, parallel to lastSeq. */
  senders: number[];
  lastSeq: number[];
  published: number;
  /** Messages due while their client was not connected: never sent, so lost for every receiver. */
  notSent: number;
  publishDelayUs: string;
  firstSentAt: number;
  lastSentAt: number;
  lastIntendedAt: number;
  /** The fleet's own work of sending (scheduling, encoding, the send calls) as a share of the window's wall time. */
  ownBusyShare: number;
}

export interface StartTimes {
  /** Intended time of the first message (monotonic ns). */
  startAt: number;
  /** Messages intended before this are warm-up: counted, not timed. */
  measureFrom: number;
  /** End of the measured window (intended time of the last message). */
  measureUntil: number;
}

/** Coordinator → child. */
export type ToChild =
  | { kind: "init-relay"; plan: RelayPlan }
  | { kind: "init-fleet"; plan: FleetPlan }
  | { kind: "init-producer"; plan: ProducerPlan }
  | { kind: "start"; times: StartTimes }
  /** `unacknowledged`: per stream, the sequences the broker never acknowledged (their loss is counted apart). */
  | { kind: "finish"; lastSeq: number[]; drainMs: number; unacknowledged?: number[][] }
  /** To the producer: wait for publishes in flight, then say what the broker never acknowledged. */
  | { kind: "settle"; timeoutMs: number }
  | { kind: "probe-memory" }
  /** Past the deadline: stop publishing and report "produced" with what was published. */
  | { kind: "stop-producing" }
  /** The `drop` fault: close every client socket of the relay at once. */
  | { kind: "drop-clients" }
  | { kind: "stop" };

export interface ProducerReport {
  published: number;
  lastSeq: number[];
  firstSentAt: number;
  lastSentAt: number;
  /** Intended time of the last message. */
  lastIntendedAt: number;
  publishErrors: number;
  publishDelayUs: string;
  /** The producer's own work (not its publish calls) as a share of the measured window's wall time. */
  ownBusyShare: number;
  /** Stopped by the coordinator's deadline before it had published every message. */
  stoppedEarly?: boolean;
}

export interface FleetReport {
  counts: DeliveryCounts;
  subscribersWithLoss: number;
  /** Of counts.lost: messages the broker never acknowledged to the producer. */
  lostUnacknowledged: number;
  /** With `FleetPlan.partitions`: messages that arrived after a later one of their own partition. */
  reorderedWithinPartition: number;
  open: number;
  disconnects: number;
  /** Deliveries that arrived inside the measured window, whatever their intended time. */
  arrivedInWindow: number;
  clockAnomalies: number;
  latencyUs: string;
  latencyFromSentUs: string;
  connectUs: string;
  firstEventUs: string;
  /** From a drop to the resumed connection's open. */
  reconnectUs: string;
  /** Per subscriber, the longest time in the measured window between two deliveries (a failover's "until subscribers receive again"), µs. */
  deliveryStallUs?: string;
  /** Subscribers that got their stream's last acknowledged message. */
  reachedEnd?: number;
  /** backpressure scenario: the slow clients' latency and counts (the others' are latencyUs and counts). */
  slow?: { latencyUs: string; counts: DeliveryCounts };
  /** The chat scenario: answers to clients' upstream sends, and their own messages coming back. */
  chat?: { upAckUs: string; acks: number; sendErrors: number; firstSendError?: string; echoes: number };
  /** Open connections by the transport that carried them at the end, where the client picks one (Socket.IO). */
  carriedBy?: Record<string, number>;
  /** `direct`: bytes on its clients' broker sockets, sent up and read down, connects and subscribes included. */
  brokerWire?: { up: number; down: number };
  reconnects: number;
  samples: ResourceSample[];
  drainedComplete: boolean;
  browser?: BrowserReport;
}

export interface RelayReport {
  samples: ResourceSample[];
  /** Relay RSS once listening, before any client connected: the baseline for memory per connection. */
  rssAtReadyBytes: number;
  connections: number;
  replayed: number;
  /** Requests that asked to resume where the client left off (SSE: a Last-Event-ID header). */
  resumeRequests?: number;
  /** Bytes read and written on every client socket of the relay, framing, headers and TLS included; null without a listener (direct). */
  wireBytes: number | null;
  /** Errors its broker client reported (a broker that died, a connection refused). */
  brokerErrors?: BrokerErrors;
  /** What went wrong after the measurement (a broker that never answered the goodbye): noted beside the figures. */
  teardownError?: string;
  /** Counts its broker adapter kept (brokers/errors.ts addBrokerCount), taken once its connection closed. */
  brokerCounts?: Record<string, number>;
  /** The chat scenario: clients' upstream messages this relay took. */
  upstream?: RelayUpstreamReport;
}

export interface RelayUpstreamReport {
  received: number;
  /** Intended send → the relay has it, for messages of the measured window. */
  latencyUs: string;
  /** Time in the upstream handler itself (decode, encode, the publish call), summed. */
  handlerUs: number;
  /** The relay process's CPU from the start of the schedule to its stop (fan-out included). */
  cpuUs: number;
  publishErrors: number;
  clockAnomalies: number;
  /** Bytes read from client sockets (up) and written to them (down); null without a listener. */
  wire: { up: number; down: number } | null;
}


/** How long a role waits for its connections to close after it has reported: past this the teardown is noted, not awaited. */
export const TEARDOWN_MS = 5_000;

/** Awaits a close for at most `ms`; says what went wrong (an error, or no answer), or undefined when it closed. */
export async function closeWithin(closing: Promise<void>, ms: number, what: string): Promise<string | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<string>((resolve) => {
    timer = setTimeout(() => resolve(`${what}: no answer within ${ms / 1000} s`), ms);
    timer.unref();
  });
  try {
    return await Promise.race([closing.then(() => undefined), late]);
  } catch (err) {
    return `${what}: ${(err as Error).message}`;
  } finally {
    clearTimeout(timer);
  }
}

/** The relay's memory after a forced GC: at ready (no client) and with every client connected, idle. */
export interface MemoryProbe {
  rssBytes: number;
  /** V8 heap in use plus memory outside it that JS objects hold (Buffers). */
  heapBytes: number;
  connections: number;
}

/** Child → coordinator. */
export type FromChild =
  | { kind: "ready"; port: number; baseUrl: string; idle: MemoryProbe }
  | { kind: "memory"; idle: MemoryProbe }
  /** `startedAt`..`settledAt`: the first connect's start and the last one's answer (monotonic ns). */
  | { kind: "connected"; open: number; failed: number; firstError?: string; unanswered?: number; startedAt?: number; settledAt?: number }
  | { kind: "producer-ready" }
  | { kind: "produced"; report: ProducerReport }
  | { kind: "producer-result"; samples: ResourceSample[]; brokerErrors?: BrokerErrors; teardownError?: string }
  | { kind: "settled"; unacknowledged: Unacknowledged }
  | { kind: "progress"; delivered: number }
  | { kind: "upstream-sent"; sent: UpstreamSent }
  | { kind: "fleet-result"; report: FleetReport & { brokerErrors?: BrokerErrors } }
  | { kind: "relay-result"; report: RelayReport }
  | { kind: "error"; message: string };

/** Sends to a child (or, in a child, to the coordinator). A peer that has gone is noticed by its exit, so a failed send is dropped, never thrown. */
export function send(child: ChildProcess | NodeJS.Process, message: ToChild | FromChild): void {
  if (!child.connected) return;
  child.send?.(message, undefined, {}, () => {});
}

/** The last lines each child printed: said beside its unexpected exit. */
const lastOutput = new WeakMap<ChildProcess, string>();

export function noteOutput(child: ChildProcess, chunk: Buffer): void {
  lastOutput.set(child, `${lastOutput.get(child) ?? ""}${chunk.toString()}`.slice(-600));
}

/** "; it last printed: ..." (its last error line, else its last line), or "". */
export function lastLine(child: ChildProcess): string {
  const lines = (lastOutput.get(child) ?? "").trim().split("\n").filter((l) => l.trim() !== "");
  const error = [...lines].reverse().find((l) => /Error|error:/.test(l)) ?? lines.at(-1);
  return error ? `; it last printed: ${error.trim().slice(0, 200)}` : "";
}

/** Waits for one message of `kind` from a child; rejects on an error report, exit or timeout. */
export function expect<K extends FromChild["kind"]>(
  child: ChildProcess,
  kind: K,
  timeoutMs: number,
  role: string,
): Promise<Extract<FromChild, { kind: K }>> {
  return new Promise((resolve, reject) => {
    // Gone already (killed while the coordinator was waiting for something else): say so now, not after the timeout.
    if (child.exitCode !== null || child.signalCode !== null) {
      reject(new Error(`${role} exited (${child.signalCode ?? `code ${child.exitCode}`}) before "${kind}"${lastLine(child)}`));
      return;
    }
    const timer = setTimeout(() => done(new Error(`${role}: no "${kind}" within ${timeoutMs} ms`)), timeoutMs);
    const onMessage = (m: FromChild): void => {
      if (m.kind === kind) done(null, m as Extract<FromChild, { kind: K }>);
      else if (m.kind === "error") done(new Error(`${role}: ${m.message}`));
    };
    const onExit = (code: number | null, signal: string | null): void => {
      const fail = (): void => done(new Error(`${role} exited (${signal ?? `code ${code}`}) while waiting for "${kind}"${lastLine(child)}`));
      // Its exit can be seen before its last messages are read off the IPC pipe (a busy
      // coordinator, 50,000 connections: a producer's final report was lost so): those
      // come before the channel closes, or within a second.
      if (!child.connected) return void setImmediate(fail);
      const late = setTimeout(fail, 1_000);
      child.once("disconnect", () => {
        clearTimeout(late);
        setImmediate(fail);
      });
    };
    let settled = false;
    const done = (err: Error | null, value?: Extract<FromChild, { kind: K }>): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      child.off("message", onMessage);
      child.off("exit", onExit);
      if (err) reject(err);
      else resolve(value!);
    };
    child.on("message", onMessage);
    child.on("exit", onExit);
  });
}

/** For child processes: send the last report, then leave once it is flushed. */
export function sendFinal(message: FromChild): void {
  process.send?.(message, undefined, {}, () => process.disconnect());
}

/** Waits for a child to exit by itself, then kills it. */
export async function reap(child: ChildProcess, graceMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  await new Promise<void>((resolve) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      resolve();
    }, graceMs);
    child.once("exit", () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/** For child processes: handle coordinator messages; exit when the coordinator is gone. */
export function serveCoordinator(handler: (m: ToChild) => Promise<void> | void): void {
  process.on("disconnect", () => process.exit(0));
  process.on("message", (m: ToChild) => {
    Promise.resolve()
      .then(() => handler(m))
      .catch((err: unknown) => {
        send(process, { kind: "error", message: err instanceof Error ? err.message : String(err) });
      });
  });
}
