/**
 * The metrics catalogue: per metric its unit, direction, the scenario that produces
 * it, how to read it across a technology's cells (the claims) and, for those the
 * regression gate compares, its default noise floor and how to read one repetition.
 * The gate, the claims and the workload's noiseFloors validation all read this one
 * table.
 */
import { decodeHistogram, mergeEncoded } from "../core/histogram.js";
import { formatMicros, median, relayGrowthPerConnection } from "./cell-metrics.js";
import type { CellResult, RampStep } from "./schema.js";

export type Unit = "us" | "count" | "rate" | "ratio" | "bytes" | "KiB" | "MiB";

export interface MetricSpec {
  unit: Unit;
  /** Which way is better. */
  direction: "higher" | "lower";
  /** The scenario whose cells carry this metric. */
  scenario: string;
  /** "browser": it reads the cells whose clients were browser tabs, and only those; absent, only the Node clients' cells. */
  clients?: "browser";
  describe: string;
  /** Reads the metric off a technology's cells (the claims); undefined where this rtbench cannot yet. */
  read?: (cells: readonly CellResult[]) => number | undefined;
  /**
   * Where `read` has nothing because the run stopped short of the limit (a sweep or a
   * ramp ended by the load generator, the machine or the workload's top): the figure is
   * at least this, which still decides some checks ("fewer than 10,000" when 10,000 held).
   */
  atLeast?: (cells: readonly CellResult[]) => { value: number; why: string } | undefined;
  /** Where `read` has nothing because the system failed below the run's range (a sweep whose first step was not sustained): the figure is below this. */
  below?: (cells: readonly CellResult[]) => { value: number; why: string } | undefined;
  /** The regression gate compares it per repetition, by default with this noise floor (a fraction of the baseline). */
  floor?: number;
  /** One cell's value (one repetition), for the gate; undefined where that cell cannot give it. */
  readCell?: (cell: CellResult) => number | undefined;
}

const latency = (p: 50 | 90 | 99 | 99.9) => (cells: readonly CellResult[]) =>
  pct(mergeEncoded(cells.map((c) => c.histograms.latencyUs)), p);
function pct(h: ReturnType<typeof mergeEncoded>, p: number): number | undefined {
  return h.totalCount > 0 ? h.getValueAtPercentile(p) : undefined;
}
const sum = (cells: readonly CellResult[], f: (c: CellResult) => number): number => cells.reduce((n, c) => n + f(c), 0);

/** The median over the cells that have the figure; undefined when none has it. */
function medianOf(cells: readonly CellResult[], figure: (c: CellResult) => number | null | undefined): number | undefined {
  const values = cells.flatMap((c) => {
    const v = figure(c);
    return v === null || v === undefined ? [] : [v];
  });
  return values.length > 0 ? median(values) : undefined;
}

/** What ended a ramp or a sweep short of the system's own limit, in words. */
/** Seed 001's load test: 50,000 concurrent SSE connections, with thresholds on them. */
export const LOAD_TEST_CONNECTIONS = 50_000;

/**
 * A connections ramp's step at the load test's size: the first tried with at least
 * LOAD_TEST_CONNECTIONS clients. None where its load generator saturated: its figures
 * would be the generator's, not the system's.
 */
function loadTestStep(c: CellResult): RampStep | undefined {
  const step = c.ramp?.steps.find((s) => s.clients >= LOAD_TEST_CONNECTIONS && s.status !== "unavailable");
  return step?.limit === "generator" ? undefined : step;
}

/** A figure of that step, the median over the cells that reached it (none: undefined). */
function atLoadTest(figure: (s: RampStep) => number | undefined): (cells: readonly CellResult[]) => number | undefined {
  return (cells) => medianOf(cells, (c) => {
    const step = loadTestStep(c);
    return step ? figure(step) : undefined;
  });
}

const ENDED_BY: Record<string, string> = {
  generator: "the load generator saturated (its limit, not the system's)",
  limit: "a limit of this machine was reached",
  "max-clients": "the ramp reached the workload's clients",
  "max-rate": "the sweep reached the workload's maxRate",
};

/** The highest lower bound the cells give, with what ended the run that gave it. */
function highestFloor(cells: readonly CellResult[], floor: (c: CellResult) => { value: number; why: string } | undefined): { value: number; why: string } | undefined {
  let best: { value: number; why: string } | undefined;
  for (const c of cells) {
    const f = floor(c);
    if (f && (!best || f.value > best.value)) best = f;
  }
  return best;
}

/**
 * Messages lost in the cells where this fault struck, leaving out those the broker
 * never acknowledged (the producer knew they failed); undefined when it struck none.
 */
function lostAcross(cells: readonly CellResult[], fault: string): number | undefined {
  const struck = cells.filter((c) => c.fault?.struck && c.fault.kind === fault);
  return struck.length > 0 ? sum(struck, (c) => c.counts.lost - (c.lostUnacknowledged ?? 0)) : undefined;
}

/** Cells where a node fault of this kind struck a cluster (kill-leader, partition-leader, ...). */
const nodeStruck = (cells: readonly CellResult[], fault: string): CellResult[] => cells.filter((c) => c.fault?.struck && c.fault.kind === fault && c.failover);
const ofNodeFault = (fault: string, f: (struck: CellResult[]) => number) => (cells: readonly CellResult[]): number | undefined => {
  const struck = nodeStruck(cells, fault);
  return struck.length > 0 ? f(struck) : undefined;
};

/** Browser cells whose tabs held one connection each: what a page of the application does. */
const oneConnectionTabs = (cells: readonly CellResult[]): CellResult[] => cells.filter((c) => (c.params.connectionsPerTab ?? 1) === 1);
/** Reconnect cells where the relay dropped every connection; those whose page had a reconnect loop of its own only if asked. */
const droppedByRelay = (cells: readonly CellResult[], withPageLoop: boolean): CellResult[] =>
  oneConnectionTabs(cells).filter((c) => c.fault?.struck && c.fault.kind === "drop" && (withPageLoop || c.params.wsReconnect !== "loop"));

/** The proxy scenario: connections a proxy refused, broke or held unanswered at the start. */
const proxyTrouble = (c: CellResult): number => c.connections.failed + c.connections.disconnects + (c.connections.unanswered ?? 0);
const ofProxy = (cells: readonly CellResult[], kind: string): CellResult[] => cells.filter((c) => c.params.proxy === kind);

/**
 * Every metric: what a claim's check may name, what the gate compares (those with a
 * floor), and what a workload's `noiseFloors` may set. Those without `read` are
 * produced by scenarios still to come.
 */
export const METRICS: Readonly<Record<string, MetricSpec>> = {
  p50: { direction: "lower", floor: 0.1, readCell: (c) => latencyOfCell(c, 50), unit: "us", scenario: "steady", describe: "latency p50 from the intended send time", read: latency(50) },
  p90: { direction: "lower", unit: "us", scenario: "steady", describe: "latency p90 from the intended send time", read: latency(90) },
  p99: { direction: "lower", floor: 0.2, readCell: (c) => latencyOfCell(c, 99), unit: "us", scenario: "steady", describe: "latency p99 from the intended send time", read: latency(99) },
  p999: { direction: "lower", unit: "us", scenario: "steady", describe: "latency p99.9 from the intended send time", read: latency(99.9) },
  throughput: { direction: "higher", floor: 0.1, readCell: (c) => c.throughput, unit: "rate", scenario: "steady", describe: "deliveries per second (median of repetitions)", read: (cells) => median(cells.map((c) => c.throughput)) },
  lossRate: { direction: "lower", floor: 0.1, readCell: (c) => (c.counts.expected > 0 ? c.counts.lost / c.counts.expected : undefined), unit: "ratio", scenario: "steady", describe: "lost / expected", read: (cells) => sum(cells, (c) => c.counts.lost) / Math.max(1, sum(cells, (c) => c.counts.expected)) },
  reordered: { direction: "lower", unit: "count", scenario: "ordering", describe: "messages that arrived after a later one of their stream", read: (cells) => sum(cells, (c) => c.counts.reordered) },
  reorderedWithinPartition: {
    direction: "lower",
    unit: "count",
    scenario: "ordering",
    describe: "messages that arrived after a later one of their own partition (brokers that order per partition)",
    read: (cells) => (cells.some((c) => c.reorderedWithinPartition !== undefined) ? sum(cells, (c) => c.reorderedWithinPartition ?? 0) : undefined),
  },
  reorderedRate: { direction: "lower", unit: "ratio", scenario: "ordering", describe: "reordered / delivered", read: (cells) => sum(cells, (c) => c.counts.reordered) / Math.max(1, sum(cells, (c) => c.counts.delivered)) },
  framingOverheadBytes: {
    direction: "lower",
    unit: "bytes",
    scenario: "steady",
    describe: "bytes on the wire per delivered message beyond the body (framing, headers, polls)",
    read: (cells) => medianOf(cells, (c) => (c.wire?.bytesPerDelivery != null ? c.wire.bytesPerDelivery - c.params.size : undefined)),
  },
  maxConnections: {
    direction: "higher",
    unit: "count",
    scenario: "connections",
    describe: "most connections a step held before one failed",
    // Only ramps ended by the system's own failure count: one ended by the machine's limits or the workload's measured a floor.
    read: (cells) => medianOf(cells, (c) => (c.ramp?.limitMeasured ? c.ramp.maxConnections : undefined)),
    atLeast: (cells) => highestFloor(cells, (c) => (c.ramp && !c.ramp.limitMeasured && c.ramp.maxConnections !== null ? { value: c.ramp.maxConnections, why: `held at least this many, then ${ENDED_BY[c.ramp.stoppedBy] ?? c.ramp.stoppedBy}` } : undefined)),
  },
  memoryPerConnectionKiB: {
    direction: "lower",
    unit: "KiB",
    scenario: "connections",
    describe: "relay RSS per idle connection after a forced GC, at the most connections held",
    read: (cells) =>
      medianOf(cells, (c) => {
        const top = c.ramp?.steps.filter((s) => s.held).at(-1);
        return top?.idleRssPerConnectionBytes != null ? top.idleRssPerConnectionBytes / 1024 : undefined;
      }),
  },
  // Seed 001's four thresholds, read at its load test's size (an older result without p95 gives no figure).
  loadTestConnectSuccess: {
    direction: "higher",
    unit: "ratio",
    scenario: "connections",
    describe: `connections open at the end of the ramp's ${LOAD_TEST_CONNECTIONS.toLocaleString("en-US")}-connection step / attempted`,
    read: atLoadTest((s) => (s.clients > 0 ? s.open / s.clients : undefined)),
  },
  loadTestConnectErrors: {
    direction: "lower",
    unit: "count",
    scenario: "connections",
    describe: `connections that failed to open in the ramp's ${LOAD_TEST_CONNECTIONS.toLocaleString("en-US")}-connection step`,
    read: atLoadTest((s) => s.failed),
  },
  loadTestConnectP95: {
    direction: "lower",
    unit: "us",
    scenario: "connections",
    describe: `connect time p95 (start to the response's headers, or WebSocket open) in the ramp's ${LOAD_TEST_CONNECTIONS.toLocaleString("en-US")}-connection step`,
    read: atLoadTest((s) => s.connectUs.p95),
  },
  loadTestFirstEventP95: {
    direction: "lower",
    unit: "us",
    scenario: "connections",
    describe: `time to first event p95 in the ramp's ${LOAD_TEST_CONNECTIONS.toLocaleString("en-US")}-connection step`,
    read: atLoadTest((s) => s.firstEventUs.p95),
  },
  scaleOutEfficiency: {
    direction: "higher",
    unit: "ratio",
    scenario: "scale-out",
    describe: "relay CPU per delivery with one relay / with the most relays, at the same load (1: adding relays adds no work)",
    read: (cells) => medianOf(cells, (c) => c.scaleOut?.efficiency),
  },
  lostAcrossRelayDrop: {
    direction: "lower",
    unit: "count",
    scenario: "reconnect",
    describe: "messages lost when the relay drops every connection",
    read: (cells) => lostAcross(cells, "drop"),
  },
  lostAcrossRelayRestart: {
    direction: "lower",
    unit: "count",
    scenario: "reconnect",
    describe: "messages lost when the relay is killed and restarted",
    read: (cells) => lostAcross(cells, "kill-relay"),
  },
  lostAcrossBrokerRestart: {
    direction: "lower",
    unit: "count",
    scenario: "durability",
    describe: "acknowledged messages live subscribers lost when the broker restarts mid-stream",
    read: (cells) => lostAcross(cells, "restart-broker"),
  },
  leaderKillLostAcknowledged: {
    direction: "lower",
    unit: "count",
    scenario: "reconnect",
    describe: "acknowledged messages subscribers lost when the cluster node leading their topic was killed (kill -9, left down)",
    read: ofNodeFault("kill-leader", (struck) => sum(struck, (c) => c.failover!.lostAcknowledged)),
  },
  leaderKillFailover: {
    direction: "lower",
    unit: "us",
    scenario: "reconnect",
    describe: "after the leading node's kill, the longer of: publishes unacknowledged, and the median subscriber without a delivery (the worst cell)",
    read: ofNodeFault("kill-leader", (struck) => Math.max(...struck.map((c) => Math.max(c.failover!.publishStalledS ?? 0, c.failover!.deliveryStalledS.p50) * 1e6))),
  },
  leaderKillResumed: {
    direction: "higher",
    unit: "ratio",
    scenario: "reconnect",
    describe: "share of subscribers that got their stream back by themselves after the leading node's kill (1: the cluster carried on without it)",
    read: ofNodeFault("kill-leader", (struck) => sum(struck, (c) => c.failover!.subscribersResumed) / sum(struck, (c) => c.failover!.subscribers)),
  },
  partitionLostAcknowledged: {
    direction: "lower",
    unit: "count",
    scenario: "reconnect",
    describe: "acknowledged messages subscribers lost when the leading node was cut off from the other nodes for a while, its clients still reaching it",
    read: ofNodeFault("partition-leader", (struck) => sum(struck, (c) => c.failover!.lostAcknowledged)),
  },
  replayCompleteness: {
    direction: "higher",
    unit: "ratio",
    scenario: "durability",
    describe: "share of the acknowledged stream a late subscriber gets back from the broker's history",
    read: (cells) => medianOf(cells, (c) => c.durability?.keptShare),
  },
  slowReaderMemoryGrowthMiB: {
    direction: "lower",
    unit: "MiB",
    scenario: "backpressure",
    describe: "relay memory growth while some clients read slowly",
    read: (cells) => medianOf(cells, (c) => (c.backpressure ? c.backpressure.relayRssGrowthBytes / 2 ** 20 : undefined)),
  },
  // A backpressure cell's latency histogram holds the fast clients only.
  fastClientP99: { direction: "lower", unit: "us", scenario: "backpressure", describe: "p99 latency of the fast clients while others read slowly", read: latency(99) },
  chatLost: {
    direction: "lower",
    unit: "count",
    scenario: "chat",
    describe: "client-to-server messages that did not reach every other member of their room (chat: sent up, published, fanned out)",
    read: (cells) => (cells.length > 0 ? sum(cells, (c) => c.counts.lost) : undefined),
  },
  chatLossRate: {
    direction: "lower",
    unit: "ratio",
    scenario: "chat",
    describe: "chat: lost / expected room deliveries, each message to every other member of its room",
    read: (cells) => (cells.length > 0 ? sum(cells, (c) => c.counts.lost) / Math.max(1, sum(cells, (c) => c.counts.expected)) : undefined),
  },
  chatRoomP99: { direction: "lower", unit: "us", scenario: "chat", describe: "chat: latency p99 from a client's intended send to each other member of its room", read: latency(99) },
  chatUpstreamP99: {
    direction: "lower",
    unit: "us",
    scenario: "chat",
    describe: "chat: latency p99 from a client's intended send to the relay having it (direct: the broker's acknowledgement)",
    read: (cells) => pct(mergeEncoded(cells.flatMap((c) => (c.chat?.upstreamUs && c.histograms.upstreamUs ? [c.histograms.upstreamUs] : []))), 99),
  },
  chatAckP99: {
    direction: "lower",
    unit: "us",
    scenario: "chat",
    describe: "chat: latency p99 from a client's intended send to the transport's answer (an HTTP response, a Socket.IO ack)",
    read: (cells) => pct(mergeEncoded(cells.flatMap((c) => (c.chat?.upAckUs && c.histograms.upAckUs ? [c.histograms.upAckUs] : []))), 99),
  },
  chatBytesUp: { direction: "lower", unit: "bytes", scenario: "chat", describe: "chat: bytes from clients per upstream message, framing and headers included (on the relays' client sockets; direct: on the clients' broker sockets)", read: (cells) => medianOf(cells, (c) => c.chat?.bytesUpPerMessage) },
  chatRelayCpuPerUpMessage: {
    direction: "lower",
    unit: "us",
    scenario: "chat",
    describe: "chat: relay CPU per upstream message, its fan-out to the room included",
    read: (cells) => medianOf(cells, (c) => c.chat?.relayCpuUsPerUpMessage),
  },
  proxyKindsBroken: {
    direction: "lower",
    unit: "count",
    scenario: "proxy",
    describe: "proxy kinds (of those its cells ran behind) that refused or dropped some of its connections",
    read: (cells) => (cells.length > 0 ? new Set(cells.filter((c) => c.connections.failed + c.connections.disconnects > 0).map((c) => c.params.proxy)).size : undefined),
  },
  strictProxyBroken: {
    direction: "lower",
    unit: "count",
    scenario: "proxy",
    describe: "behind the strict proxy (plain HTTP, no Upgrade): connections refused, dropped or unanswered, plus messages lost",
    read: (cells) => {
      const strict = ofProxy(cells, "strict");
      return strict.length > 0 ? sum(strict, (c) => proxyTrouble(c) + c.counts.lost) : undefined;
    },
  },
  roundRobinFailureRate: {
    direction: "lower",
    unit: "ratio",
    scenario: "proxy",
    describe: "behind HAProxy round robin over several relays: connections refused, dropped or unanswered, per connection attempted",
    read: (cells) => {
      const rr = ofProxy(cells, "haproxy-rr");
      return rr.length > 0 ? sum(rr, proxyTrouble) / Math.max(1, sum(rr, (c) => c.connections.attempted)) : undefined;
    },
  },
  needsAffinity: {
    direction: "lower",
    unit: "count",
    scenario: "proxy",
    describe: "1 when it breaks behind HAProxy round robin and works with cookie affinity (it needs sticky sessions), 0 when round robin does not break it",
    read: (cells) => {
      const broke = (cs: CellResult[]): boolean => cs.some((c) => proxyTrouble(c) + c.counts.lost > 0);
      const rr = ofProxy(cells, "haproxy-rr");
      const sticky = ofProxy(cells, "haproxy-sticky");
      if (rr.length === 0) return undefined;
      if (!broke(rr)) return 0;
      return sticky.length > 0 && !broke(sticky) ? 1 : undefined;
    },
  },
  bufferingProxyP50: {
    direction: "lower",
    unit: "us",
    scenario: "proxy",
    describe: "latency p50 behind nginx as installed (response buffering on, no X-Accel-Buffering from the application)",
    read: (cells) => pct(mergeEncoded(ofProxy(cells, "nginx-default").map((c) => c.histograms.latencyUs)), 50),
  },
  proxyCpuPerDelivery: {
    direction: "lower",
    unit: "us",
    scenario: "proxy",
    describe: "the proxy's CPU per message delivered through it",
    read: (cells) => medianOf(cells, (c) => c.proxy?.cpuUsPerDelivery),
  },
  browserLoss: {
    direction: "lower",
    unit: "ratio",
    scenario: "steady",
    clients: "browser",
    describe: "lost / expected with the browser's own client API (EventSource, WebSocket, fetch) in tabs of Chromium, one connection a tab",
    read: (cells) => {
      const own = oneConnectionTabs(cells);
      return own.length > 0 ? sum(own, (c) => c.counts.lost) / Math.max(1, sum(own, (c) => c.counts.expected)) : undefined;
    },
  },
  browserStreamsPerOrigin: {
    direction: "higher",
    unit: "count",
    scenario: "steady",
    clients: "browser",
    describe: "connections one Chromium tab had open to one origin, of those it opened (a cell with connectionsPerTab above 1)",
    read: (cells) => {
      const many = cells.filter((c) => (c.params.connectionsPerTab ?? 1) > 1);
      return many.length > 0 ? Math.min(...many.map((c) => c.connections.open / (c.browser?.tabs ?? 1))) : undefined;
    },
  },
  browserAutoReconnect: {
    direction: "higher",
    unit: "ratio",
    scenario: "reconnect",
    clients: "browser",
    describe: "connections the relay dropped that Chromium reopened by itself, with no reconnect code in the page",
    read: (cells) => {
      const dropped = droppedByRelay(cells, false);
      const lost = sum(dropped, (c) => c.connections.disconnects);
      return lost > 0 ? sum(dropped, (c) => c.reconnects?.count ?? 0) / lost : undefined;
    },
  },
  browserLostAcrossRelayDrop: {
    direction: "lower",
    unit: "count",
    scenario: "reconnect",
    clients: "browser",
    describe: "messages lost when the relay drops every connection, with Chromium's own client and no reconnect code in the page",
    read: (cells) => {
      const dropped = droppedByRelay(cells, false);
      return dropped.length > 0 ? sum(dropped, (c) => c.counts.lost) : undefined;
    },
  },
  browserLastEventIdShare: {
    direction: "higher",
    unit: "ratio",
    scenario: "reconnect",
    clients: "browser",
    describe: "of Chromium's reconnects after a drop, those that sent Last-Event-ID (counted by the SSE relay)",
    read: (cells) => {
      const dropped = droppedByRelay(cells, true);
      const reconnects = sum(dropped, (c) => c.reconnects?.count ?? 0);
      return reconnects > 0 ? sum(dropped, (c) => c.reconnects?.resumeRequests ?? 0) / reconnects : undefined;
    },
  },
  maxSustainableRate: {
    direction: "higher",
    unit: "rate",
    scenario: "saturation",
    describe: "highest rate held without lag or an SLO breach",
    // Only sweeps that reached the system's own limit count: one ended by the load generator measured a floor.
    read: (cells) => medianOf(cells, (c) => (c.sweep?.limitMeasured ? c.sweep.maxSustainableRate : undefined)),
    atLeast: (cells) => highestFloor(cells, (c) => (c.sweep && !c.sweep.limitMeasured && c.sweep.maxSustainableRate !== null ? { value: c.sweep.maxSustainableRate, why: `held at least this rate, then ${ENDED_BY[c.sweep.stoppedBy] ?? c.sweep.stoppedBy}` } : undefined)),
    // No step held, and the system itself failed the first (lag or SLO): its limit lies below the sweep's lowest rate.
    below: (cells) => {
      const c = cells.find((x) => x.sweep?.limitMeasured && x.sweep.maxSustainableRate === null && x.sweep.steps.length > 0);
      const first = c?.sweep!.steps[0];
      return first
        ? { value: first.rate, why: `its sweep's first step was not sustained (p99 ${formatMicros(first.latencyUs.p99)}, ${c!.sweep!.stoppedBy}); a sweep from a lower rate would measure the limit` }
        : undefined;
    },
  },
  memoryPerConnection: {
    unit: "bytes",
    direction: "lower",
    scenario: "steady",
    describe: "relay RSS growth per connection (bytes)",
    floor: 0.1,
    readCell: relayGrowthPerConnection,
    read: (cells) => medianOf(cells, relayGrowthPerConnection),
  },
};


/** The cells a metric reads: its scenario's, with the clients it is about (a browser's or the transport's Node client). */
export function metricCells(spec: MetricSpec, cells: readonly CellResult[]): CellResult[] {
  const browser = spec.clients === "browser";
  return cells.filter((c) => c.scenario === spec.scenario && (c.params.clientKind === "browser") === browser);
}

/**
 * A metric off a pairing's cells: the usable ones (its scenario's, measured, not
 * saturated) give the figure itself, or only a lower bound with what stopped short of
 * the limit; undefined when they give neither. The claims and `advise` both read this.
 */
export function readFigure(metric: string, cells: readonly CellResult[]): { value: number } | { atLeast: number; why: string } | { below: number; why: string } | undefined {
  const spec = METRICS[metric]!;
  const usable = metricCells(spec, cells).filter((c) => c.status === "ok" && !c.saturated);
  if (usable.length === 0) return undefined;
  const value = spec.read?.(usable);
  if (value !== undefined) return { value };
  const floor = spec.atLeast?.(usable);
  if (floor) return { atLeast: floor.value, why: floor.why };
  const ceiling = spec.below?.(usable);
  return ceiling ? { below: ceiling.value, why: ceiling.why } : undefined;
}

/** A value in its unit, for people: the claims and the gate show metrics the same way. */
export function formatValue(unit: Unit, value: number): string {
  switch (unit) {
    case "us":
      return formatMicros(value);
    case "rate":
      return `${Math.round(value).toLocaleString("en")}/s`;
    case "ratio":
      return `${+(value * 100).toPrecision(3)}%`;
    case "bytes":
      return `${Math.round(value)} B`;
    case "KiB":
    case "MiB":
      return `${+value.toPrecision(3)} ${unit}`;
    default:
      return String(value);
  }
}

/** The metrics the regression gate compares, by name. */
export const GATED: Readonly<Record<string, MetricSpec & Required<Pick<MetricSpec, "floor" | "readCell">>>> = Object.fromEntries(
  Object.entries(METRICS).filter((e): e is [string, MetricSpec & Required<Pick<MetricSpec, "floor" | "readCell">>] => e[1].floor !== undefined && e[1].readCell !== undefined),
);

/** A latency percentile of one cell, off its own histogram. */
function latencyOfCell(c: CellResult, p: number): number | undefined {
  return pct(decodeHistogram(c.histograms.latencyUs), p);
}
