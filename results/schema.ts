/**
 * result.json, version 1. results/README.md documents every field; bump
 * SCHEMA_VERSION on any change a reader would notice.
 */
import type { Percentiles } from "../core/histogram.js";
import type { ResourceSample } from "../core/sampler.js";
import type { DeliveryCounts } from "../core/tracker.js";

export const SCHEMA_VERSION = 1;

/** A workload after its file and flags were applied: every field (harness/workload.ts validates and fills it). */
export interface Workload {
  name: string;
  transports: string[];
  brokers: string[];
  scenario: string;
  /** Message body size in bytes. */
  size: number;
  /** Messages per second, in total across topics. */
  rate: number;
  topics: number;
  /** Client connections, spread over topics round-robin. */
  clients: number;
  /** Measured seconds, after warm-up. */
  duration: number;
  /** Seconds sent before measuring; counted for loss, not for latency. */
  warmup: number;
  repetitions: number;
  /** Client processes; 0 picks one per 10,000 connections. */
  fleetProcesses: number;
  /** Relay processes sharing the broker, clients spread over them; the scale-out scenario steps 1, 2, 4, ... up to it. */
  relays: number;
  /** Seconds to wait after the last send for deliveries still in flight. */
  drain: number;
  /** Seconds between the relay's heartbeats (SSE comments). */
  heartbeat: number;
  /** Connections opened per second across the cell's clients; 0: as fast as they open. */
  connectRate: number;
  /** connections scenario: the first step's connections; steps go 1-2-5 up to `clients`. */
  rampFrom: number;
  /** Seconds between polls for short polling. */
  pollInterval: number;
  /** Partitions per topic where the broker has them (Kafka). */
  partitions: number;
  /** How clients reconnect after a drop: none (they stay dropped), fixed delay, or exponential backoff with jitter. */
  reconnect: string;
  /** The fixed delay, or backoff's base. */
  reconnectDelay: number;
  /** reconnect scenario: what goes wrong (see harness/scenarios/faults.ts). */
  fault: string;
  /** reconnect scenario, `cut`, `cut-broker` and `partition-broker`: how long the path stays cut, in seconds. */
  faultDuration: number;
  /** reconnect scenario: when the fault strikes, in seconds into the measured window; 0 is its middle. */
  faultAt: number;
  /** saturation scenario: each step's rate over the last. */
  rateStep: number;
  /** saturation scenario: the sweep stops before passing this rate. */
  maxRate: number;
  /** saturation scenario: a step whose latency p99 passes this many seconds is not sustained. */
  sloP99: number;
  /** backpressure scenario: the share of clients that read slowly. */
  slowClients: number;
  /** backpressure scenario: bytes per second a slow client reads. */
  slowReadRate: number;
  /** chat scenario: messages per second each client sends upstream. */
  upRate: number;
  /** chat scenario: clients per room (0: everyone in one room); rooms are the topics. */
  roomSize: number;
  /** chat scenario: "on" asks for an acknowledgement of each upstream message where it is optional (Socket.IO). */
  upAck: string;
  /** proxy scenario: the proxy kind in the clients' path (harness/proxies/). */
  proxy: string;
  /** Who the clients are: "node" (the transport's own Node client) or "browser" (tabs of headless Chromium). */
  clientKind: string;
  /** Browser clients: connections one tab opens to the relay's origin (a browser's per-origin limit applies within a tab's context). */
  connectionsPerTab: number;
  /** Browser clients over ws: "none" (the page does not reconnect, as the browser does not) or "loop" (the usual hand-written loop, resuming). */
  wsReconnect: string;
  /** Per-metric noise floors for `rtbench compare`, as fractions (0.2 = 20%). */
  noiseFloors: Record<string, number>;
}


export interface Environment {
  cpuModel: string;
  cores: number;
  memoryBytes: number;
  os: string;
  kernel: string;
  node: string;
  /** Versions of the brokers the run used; "builtin" for in-process ones. */
  brokers: Record<string, string>;
}

export interface RunMeta {
  schemaVersion: number;
  id: string;
  startedAt: string;
  finishedAt?: string;
  interrupted?: boolean;
  gitSha: string | null;
  gitDirty: boolean | null;
  rtbenchVersion: string;
  command: string[];
  /** The workload run; for a suite, its name and the fields its parts share. */
  workload: Workload;
  /** A suite's parts (each a scenario with its own fields), run in this order into this run; absent for one workload. */
  parts?: Workload[];
  environment: Environment;
  /** Present when a test-only fault was injected (RTBENCH_TEST_RELAY_BURN_US, RTBENCH_TEST_RELAY_MAX_CONNECTIONS): never a real figure. */
  injected?: { relayBurnUsPerMessage?: number; relayMaxConnections?: number };
  /** On a stored baseline: the gate's floors for this profile and machine, from `rtbench calibrate`. */
  gateCalibration?: GateCalibration;
}

/**
 * How the two runs of a comparison were made: alternately in one job (`rtbench ab`),
 * or at different times (a stored baseline against a new run). Their noise differs.
 */
export type GateMode = "interleaved" | "sequential";

/** What `rtbench calibrate` measured: per mode, real A/A comparisons of one profile on one machine. */
export interface GateCalibration {
  measuredAt: string;
  /** The workload's name (the profile). */
  profile: string;
  /** The workload's load (every field but name, noiseFloors and repetitions), as canonical JSON: floors hold for this load only. */
  load: string;
  /** Repetitions a side in each comparison. */
  repetitions: number;
  modes: Partial<Record<GateMode, ModeCalibration>>;
}

export interface ModeCalibration {
  /** A/A comparisons made. */
  pairs: number;
  /** Of those, how many the floors in use before would have failed (any metric regressed). */
  falseCallsBefore: number;
  metrics: Record<string, MetricCalibration>;
}

export interface MetricCalibration {
  /** The floor in use before calibrating (workload or default). */
  floorBefore: number;
  /** A/A comparisons this metric alone would have failed with floorBefore. */
  callsBefore: number;
  /**
   * The widest separation between the two sides' repetitions in any A/A comparison,
   * either way round, as a fraction on the metric's bad side (0 or less: always
   * overlapped); null when no comparison measured the metric on both sides.
   */
  widestGap: number | null;
  /** The floor the gate uses from now on: twice the widest gap in log terms, never below floorBefore. */
  floor: number;
}

export interface BrokerSample {
  /** Seconds since the first intended send. */
  t: number;
  /** RSS of the broker's process and its children. */
  rssBytes: number;
}

export interface CellParams {
  rate: number;
  size: number;
  topics: number;
  clients: number;
  durationS: number;
  warmupS: number;
  fleetProcesses: number;
  repetition: number;
  /** Short polling only. */
  pollIntervalS?: number;
  /** The workload's connectRate, when connects were paced. */
  connectRate?: number;
  /** Relay processes sharing the broker, when more than one. */
  relays?: number;
  /** The proxy in the clients' path (the proxy scenario). */
  proxy?: string;
  /** "browser": the clients were tabs of headless Chromium (absent: the transport's Node client). */
  clientKind?: string;
  /** Browser clients: connections each tab opened to the relay's origin, when more than one. */
  connectionsPerTab?: number;
  /** Browser clients over ws: "none" (the page does not reconnect) or "loop" (the usual hand-written loop). */
  wsReconnect?: string;
  /** The transport variant's own facts (compression, HTTP version, streams per session, ...). */
  [detail: string]: string | number | boolean | undefined;
}

/** One step of the saturation sweep: a whole steady cell at `rate`. */
export interface SweepStep {
  rate: number;
  latencyUs: Percentiles;
  throughput: number;
  delivered: number;
  expected: number;
  sustained: boolean;
  /** Why it was not: the system lagged, passed the SLO, the load generator saturated, or the cell failed. */
  limit?: "lag" | "slo" | "generator" | "failed";
  reason?: string;
}

/** One step of the scale-out scenario: a whole steady cell served by `relays` relays. */
export interface ScaleOutStep {
  relays: number;
  status: "ok" | "failed" | "unavailable";
  throughput: number;
  latencyUs: Percentiles;
  delivered: number;
  expected: number;
  lost: number;
  /** CPU time of all relays together in the measured window, in µs per delivery in it; null if nothing was delivered. */
  relayCpuUsPerDelivery: number | null;
  /** Peak RSS of each relay in the measured window, averaged over the relays. */
  relayPeakRssBytes: number;
  /** The load generator's saturation, if any (then the step's figures are not the system's). */
  saturationReasons: string[];
}

/** One step of the connections scenario: a whole cell with `clients` connections. */
export interface RampStep {
  clients: number;
  fleetProcesses: number;
  relays: number;
  /** "unavailable": the step was not tried, this machine's limits cannot hold it (`reason`). */
  status: "ok" | "failed" | "unavailable";
  open: number;
  failed: number;
  firstError?: string;
  lost: number;
  connectUs: Percentiles;
  firstEventUs: Percentiles;
  /** Relay memory per connection after a forced GC, every client connected and idle (all relays together). */
  idleRssPerConnectionBytes: number | null;
  idleHeapPerConnectionBytes: number | null;
  /** All relays' CPU over the measured window, % of one core: what the connections cost at the workload's (low) rate and heartbeat. */
  relayCpuPct: number;
  held: boolean;
  /** Why not: connections failed, dropped or lost messages; the load generator saturated; or the machine's limits. */
  limit?: "failure" | "generator" | "limit";
  reason?: string;
}

/** The cluster node a node fault struck, by its index in the cluster: whether it led the cell's first topic, and which node led before and once the cell had drained. */
export interface StruckNode {
  index: number;
  role: "leader" | "follower";
  leaderBefore: number;
  /** -1: no leader could be asked for once the cell drained (a cluster without its quorum, or the old leader's answer lost). */
  leaderAfter?: number;
}

export interface CellResult {
  id: string;
  transport: string;
  broker: string;
  scenario: string;
  params: CellParams;
  /** "unavailable": the broker could not be had here (not installed, failed to start); `error` says why. */
  status: "ok" | "failed" | "unavailable";
  error?: string;
  startedAt: string;
  finishedAt: string;
  counts: DeliveryCounts;
  subscribersWithLoss: number;
  /** Brokers that order per partition: messages that arrived after a later one of their own partition (message seq is in partition (seq - 1) mod partitions). */
  reorderedWithinPartition?: number;
  /** `unanswered`: neither open nor refused when the schedule started (the proxy scenario waits so long only), left to open late. */
  /** `openingS`: from the first connect's start to the last one's open, failure or give-up, in seconds (added within version 1). */
  connections: { attempted: number; open: number; failed: number; disconnects: number; firstError?: string; unanswered?: number; openingS?: number };
  /** End-to-end latency from the intended send time (coordinated-omission safe). */
  latencyUs: Percentiles;
  /** From the actual send time; shown beside, never instead. */
  latencyFromSentUs: Percentiles;
  publishDelayUs: Percentiles;
  connectUs: Percentiles;
  firstEventUs: Percentiles;
  /** Deliveries that arrived during the measured window, per second of that window. */
  throughput: number;
  /** Messages the producer achieved per second over its whole run. */
  publishedPerSec: number;
  published: number;
  /** Publishes that failed (a fault on the broker, say); their messages count in lost when nobody received them. */
  publishErrors?: number;
  /**
   * Messages the broker never acknowledged: failed publishes, and those still
   * unanswered after the drain time. Present when the producer had its own process.
   */
  unacknowledged?: number;
  /** Of counts.lost: deliveries of messages the broker never acknowledged. counts.lost − this is what was lost after the broker had it. */
  lostUnacknowledged?: number;
  replayed: number;
  /**
   * The relay's memory per connection with every client connected and idle, after a
   * forced GC, less the same taken before any client connected. null without connections.
   * Added within version 1: absent in older runs.
   */
  idleMemoryPerConnection?: { connections: number; rssBytes: number | null; heapBytes: number | null };
  /** Bytes on the relay's client sockets (both directions, framing, headers, TLS) per delivered message. */
  wire?: { bytes: number; bytesPerDelivery: number | null };
  drainedComplete: boolean;
  /** Negative intervals seen by clients (a clock fault): counted, never recorded. Should be 0. */
  clockAnomalies: number;
  resources: {
    /** The (first) relay's samples. */
    relay: ResourceSample[];
    /** With more than one relay: every relay's samples, the first's included. */
    relays?: ResourceSample[][];
    fleet: ResourceSample[][];
    relayRssAtReadyBytes: number;
    /** The broker server's RSS, where rtbench started it (absent for in-process and external brokers). */
    broker?: BrokerSample[];
    /** The producer's own process (real brokers; an in-process broker's producer shares the relay's). */
    producer?: ResourceSample[];
    /** Browser clients: each browser's processes, once a second. */
    browser?: BrowserSample[][];
  };
  saturated: boolean;
  saturationReasons: string[];
  /**
   * The system's own limit, not the generator's: with an in-process broker the
   * producer shares the relay's event loop, and when that loop was held by the relay
   * (its fan-out, a stall of its process), the producer's lag says so. These figures
   * are the system's.
   */
  relayLimit?: string[];
  /** The coordinator stopped a producer that was still publishing past its deadline: `published` of `total` went out. */
  producerStopped?: { published: number; total: number; afterS: number };
  /** What went wrong after the measurement had finished (a broker that never answered the goodbye): the figures stand. */
  teardownErrors?: string[];
  /**
   * Counts the relays' broker adapter kept beside the deliveries, summed over relays:
   * BullMQ's `jobs completed` by the relay's worker and `completions QueueEvents reported`
   * (it reads a trimmed event stream, so it can miss some).
   */
  brokerCounts?: Record<string, number>;
  /** Trouble on the broker's side during the cell: errors its clients reported, and a server that exited. */
  brokerTrouble?: {
    /** Errors broker client libraries reported, per role (relay, producer, fleet process k). */
    errors: Array<{ role: string; count: number; first: string; last: string }>;
    /** The broker server rtbench started exited during the cell (not by a fault of the scenario's). */
    serverExited?: { atS: number; pid: number };
  };
  /** With more than one relay (workload field relays): how the clients were spread over them. */
  relays?: {
    count: number;
    /** Clients each relay held once all had connected. */
    connections: number[];
    /** The relays passed broadcasts to each other through an adapter; only the first subscribed to the broker. */
    sharedBroadcasts: boolean;
  };
  /**
   * connections scenario: every step of the ramp. The cell's other figures are those
   * of the highest step held (or of the first, if none was).
   */
  ramp?: {
    steps: RampStep[];
    /** The most connections a step held; null if none did. */
    maxConnections: number | null;
    stoppedBy: "failure" | "generator" | "limit" | "max-clients";
    /** True when the ramp ended at the system's own failure; otherwise maxConnections is only a floor. */
    limitMeasured: boolean;
  };
  /**
   * scale-out scenario: the same load served by 1, 2, 4, ... relays. The cell's other
   * figures are those of the step with the most relays.
   */
  scaleOut?: {
    steps: ScaleOutStep[];
    /**
     * Relay CPU per delivery with one relay over that with the most relays: 1 when
     * adding relays adds no work, below 1 by the work every relay repeats. Null when a
     * step lost messages, failed or had a saturated load generator.
     */
    efficiency: number | null;
    /** Why efficiency is null. */
    reason?: string;
  };
  /**
   * backpressure scenario: the slow readers and what they cost. The cell's latency is
   * the fast clients' only; its counts are everyone's, `slowCounts` the slow ones'.
   */
  /**
   * chat scenario: two-way traffic. The cell's latencyUs and counts are the room's (intended
   * send → each other member of the room has it, per sender); these are the upstream's.
   */
  chat?: ChatFigures;
  /** Open connections at the end by the transport that carried them, where the client picks one (Socket.IO: polling, websocket). */
  carriedBy?: Record<string, number>;
  /** The proxy scenario: the proxy between clients and relays. */
  proxy?: ProxyFigures;
  /** Browser clients: the browsers, their tabs, and how well the pages' clocks map onto the envelope's. */
  browser?: BrowserFigures;
  /** `rtbench run --workers`: the hosts its clients ran on, and how well their clocks were put on the coordinator's. */
  workers?: WorkersFigures;
  backpressure?: {
    slowClients: number;
    slowReadBytesPerSec: number;
    slowCounts: DeliveryCounts;
    slowLatencyUs: Percentiles;
    /** Highest relay send queue sampled: bytes written to client sockets and not yet taken by the kernel. */
    relaySendQueuePeakBytes: number;
    /** Relay RSS growth from the start of the measured window to its peak after. */
    relayRssGrowthBytes: number;
  };
  /**
   * saturation scenario: every step of the sweep. The cell's other figures are those
   * of the highest sustained step (or of the first, if none was).
   */
  sweep?: {
    factor: number;
    sloP99Us: number;
    steps: SweepStep[];
    /** Highest rate a step sustained; null if none did. */
    maxSustainableRate: number | null;
    stoppedBy: "lag" | "slo" | "generator" | "failed" | "max-rate";
    /** True when the sweep ended at the system's own limit (lag or SLO); otherwise maxSustainableRate is only a floor. */
    limitMeasured: boolean;
  };
  /** Raw HDR histograms, compressed base64 (HdrHistogram V2 encoding). */
  histograms: {
    latencyUs: string;
    latencyFromSentUs: string;
    publishDelayUs: string;
    connectUs: string;
    firstEventUs: string;
    /** reconnect scenario: from a drop to the resumed connection's open. */
    reconnectUs?: string;
    /** backpressure scenario: the slow clients' latency (latencyUs holds the fast ones'). */
    latencySlowUs?: string;
    /** chat: intended send → the relay has it (direct: the broker acknowledged it). */
    upstreamUs?: string;
    /** chat: intended send → the transport's own answer (an HTTP response, a Socket.IO ack). */
    upAckUs?: string;
  };
  /** reconnect and durability scenarios: the fault and when it struck, in seconds into the measured window. */
  fault?: {
    /** A fault of harness/scenarios/faults.ts: drop, kill-relay, cut, restart-broker, cut-broker. */
    kind: string;
    atS: number;
    struck: boolean;
    /** From the strike until the fault was over (kill-relay: the restarted relay listens again; cut, cut-broker: the path is whole again; restart-broker: the restarted server accepts connections), in seconds. */
    recoveredInS?: number;
    /** Clients reached the relay through rtbench's TCP fault proxy for the whole cell (the `cut` fault): one hop more than other cells. */
    viaProxy?: boolean;
    /** The relay reached the broker through rtbench's TCP fault proxy for the whole cell (the `cut-broker` fault). */
    brokerViaProxy?: boolean;
    /** The relay ran in a network namespace of its own, reached over a veth pair (the `partition-broker` fault). */
    relayInNamespace?: boolean;
    /** A node fault (kill-leader, kill-follower, restart-leader, partition-leader): the cluster node it struck. */
    node?: StruckNode;
  };
  /**
   * CPU time of the broker server rtbench runs (every node of a cluster) from the
   * schedule's start through the drain, per message published: what a message costs
   * the broker, one node or three. Absent when rtbench does not run the server; null
   * when a fault struck it (a killed node takes its CPU time with it) or nothing was published.
   */
  brokerCpuUsPerMessage?: number | null;
  /**
   * A node fault's failover, as the producer and the subscribers saw it. Lost messages,
   * duplicates and reordering are the cell's counts; latency during the failover is in
   * its latency histogram.
   */
  failover?: {
    /** The longest time in the measured window with no publish acknowledged, s; null where a publish gives no answer (core NATS). Runs to the drain's end when publishes stayed unanswered. */
    publishStalledS: number | null;
    /** Per subscriber, the longest time in the window without a delivery (until the window's end when nothing came after its last one; until the drain's end for one that never got its stream back), s: the median subscriber's and the worst. */
    deliveryStalledS: { p50: number; max: number };
    /** Whether publishes were acknowledged again before the end (false: the failover outlasted the cell); null where a publish gives no answer. */
    publishesResumed: boolean | null;
    /** Subscribers that got their stream's last acknowledged message: they came back by themselves, through another node where theirs died (0 when publishes never resumed). */
    subscribersResumed: number;
    subscribers: number;
    /** Messages lost that the broker had acknowledged. */
    lostAcknowledged: number;
  };
  /**
   * durability scenario: what the broker kept of the whole stream (restarted in its
   * middle), as a subscriber that comes after it reads it back.
   */
  durability?: {
    /** Where the late subscriber started: "earliest" where the broker keeps history, else "latest". */
    from: "earliest" | "latest";
    /** Messages the producer sent, and those of them the broker acknowledged. */
    published: number;
    acknowledged: number;
    /** Distinct messages of the stream the late subscriber received, and those of them the broker had acknowledged. */
    kept: number;
    keptAcknowledged: number;
    /** keptAcknowledged / acknowledged: what the broker kept of what it said it had. */
    keptShare: number;
    /** Seconds from connecting until the last message arrived. */
    readS: number;
  };
  /** reconnect scenario: reconnects made, and the time each took from the drop. */
  /** `resumeRequests`: reconnects that asked the relay to resume (SSE: with a Last-Event-ID header). */
  reconnects?: { count: number; timeUs: Percentiles; resumeRequests?: number };
}

export interface RunResult extends RunMeta {
  cells: CellResult[];
}

/** The proxy scenario: the proxy in the clients' path and what it cost. */
export interface ProxyFigures {
  /** harness/proxies/ kind: nginx-default, nginx-tuned, strict, haproxy-rr, haproxy-sticky. */
  kind: string;
  /** The program's version, as it says. */
  version: string;
  /** CPU of its processes from the schedule's start through the drain, per message delivered; null: nothing delivered, or it was gone. */
  cpuUsPerDelivery: number | null;
  peakRssBytes: number;
  /** It died during the cell, this many seconds after the schedule's start. */
  exitedAtS?: number;
}

export interface ChatFigures {
  /** Messages per second each client sent upstream. */
  upRate: number;
  rooms: number;
  /** Clients in the largest room. */
  roomSize: number;
  upAck: boolean;
  /** How the transport's clients send upstream (Transport.upstream). */
  upstreamPath: string;
  /** Where upstream latency ends: at the relay, or (direct) at the broker's acknowledgement or, where its publish has none, the answer to a round trip sent after it. */
  upstreamEndsAt: "relay" | "broker acknowledgement" | "broker round trip";
  /** null: nothing could be timed (a direct publish the broker neither acknowledges nor lets a round trip follow). */
  upstreamUs: Percentiles | null;
  /** Upstream messages the relays took (direct: the broker acknowledged). */
  upstreamReceived: number;
  /** Intended send → the transport's answer; absent for a transport that gives none. */
  upAckUs?: Percentiles;
  acks: number;
  /** Sends the transport answered with an error, and messages due while their client was down. */
  sendErrors: number;
  firstSendError?: string;
  notSent: number;
  /** The relays' publishes of upstream messages the broker refused. */
  relayPublishErrors: number;
  /** A sender's own messages that came back to it (not counted as deliveries). */
  echoes: number;
  /** Bytes from clients per upstream message, and to them per message delivered (echoes included); framing, headers and polls included. Counted on the relays' client sockets, or (direct) on the clients' broker sockets. */
  bytesUpPerMessage: number | null;
  bytesDownPerDelivery: number | null;
  /** The relays' CPU from the schedule's start to their stop, per upstream message (fan-out included). */
  relayCpuUsPerUpMessage: number | null;
  /** Of it, the upstream handler's own time (decode, encode, the publish call). */
  relayUpstreamUsPerMessage: number | null;
}

/** A browser's processes, once a second: PSS summed (shared pages counted once), CPU as % of one core, the worst page timer lag. */
export interface BrowserSample {
  t: number;
  pssBytes: number;
  cpuPct: number;
  pageLagMaxMs: number;
}

export interface BrowserFigures {
  /** Chromium's version. */
  version: string;
  /** Browser processes (one per fleet process) and tabs across them; each tab is a browser context of its own. */
  browsers: number;
  tabs: number;
  connectionsPerTab: number;
  /**
   * How far an arrival stamped in a page (performance.timeOrigin + now()) can be off the
   * envelope's monotonic clock: half the best probe's round trip, plus the drift between
   * the probes at the start and the end of the cell, plus the page clock's 100 µs
   * resolution. Latencies are within this of true.
   */
  clockErrorBoundUs: number;
  clockDriftUs: number;
  /** The browsers' PSS at their peaks, summed. */
  peakPssBytes: number;
  /** Mean CPU of the browsers' processes, % of one core, summed over browsers. */
  cpuPct: number;
  pageLagMaxMs: number;
}

/** Workers on other hosts ran the cell's clients; their latencies were taken on the coordinator's clock. */
export interface WorkersFigures {
  hosts: WorkerFigures[];
  /** The worst host's error bound: every latency is within this of true. */
  clockErrorBoundUs: number;
  /** The bound is more than a tenth of the latency p50 the cell reports: its latencies say more about the clocks than the system. */
  clockBoundLarge: boolean;
}

export interface WorkerFigures {
  /** Its address, as the coordinator knew it. */
  name: string;
  clients: number;
  /** Its monotonic clock minus the coordinator's, as read before the cell (its roles were corrected by it). */
  offsetUs: number;
  /** How much the offset read after the cell differed. */
  clockDriftUs: number;
  /** Half the best clock exchange's round trip (the worse of the two readings) plus the drift. */
  clockErrorBoundUs: number;
}
