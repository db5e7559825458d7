/**
 * From what the roles reported to a cell's result: a pure function, tested without
 * processes. A failed or unavailable cell comes from the same function, with no report.
 */
import { NS_PER_S } from "../core/clock.js";
import { decodeHistogram, encodeHistogram, mergeEncoded, percentiles } from "../core/histogram.js";
import type { ResourceSample } from "../core/sampler.js";
import { addCounts, zeroCounts } from "../core/tracker.js";
import type { BrokerErrors } from "../brokers/errors.js";
import type { BrokerSample, CellResult, StruckNode } from "../results/schema.js";
import { addBrokerCounts } from "../results/cell-metrics.js";
import { judgeGenerators } from "./guard.js";
import type { BrowserReport, FleetReport, MemoryProbe, ProducerReport, RelayReport, Unacknowledged } from "./ipc.js";
import { BROWSER_CLIENTS } from "./browser/page.js";
import { availableParallelism } from "node:os";
import { getBroker, getTransport } from "./registry.js";
import type { CellSpec } from "./scenarios/scenario.js";
import type { ClockReading } from "./workers.js";

/** Connections per fleet process when the workload leaves it to us (fd limit is 20,000 here). */
export const CLIENTS_PER_PROCESS = 10_000;

export function fleetProcessesFor(w: CellSpec["workload"]): number {
  return w.fleetProcesses > 0 ? w.fleetProcesses : Math.max(1, Math.ceil(w.clients / CLIENTS_PER_PROCESS));
}

/** Relay processes a cell runs: `direct` has none to add (its clients subscribe to the broker), so one (listening nowhere). */
export function relaysOf(transport: string | { listener?: string }, w: { relays: number }): number {
  const t = typeof transport === "string" ? getTransport(transport) : transport;
  return t.listener === "none" ? 1 : w.relays;
}

/** What the roles of one measured cell reported, and what the coordinator saw of them. */
export interface CellReports {
  startedAt: string;
  /** Messages the schedule had (warm-up included). */
  total: number;
  /** The first intended send (monotonic ns) and when the producer was stopped, if it was. */
  startAt: number;
  stoppedAfterS?: number;
  connected: Array<{ open: number; failed: number; firstError?: string; unanswered?: number; startedAt?: number; settledAt?: number }>;
  idleBefore: MemoryProbe;
  idleProbes: MemoryProbe[];
  produced: ProducerReport;
  unacknowledged?: Unacknowledged;
  fleets: Array<FleetReport & { brokerErrors?: BrokerErrors }>;
  relays: RelayReport[];
  producer?: { samples?: ResourceSample[]; brokerErrors?: BrokerErrors };
  broker?: { samples: BrokerSample[]; cpuUs: number | null; exited?: { atS: number; pid: number } };
  /** The proxy scenario's proxy: its CPU from the schedule's start through the drain (null: gone), RSS each second. */
  proxy?: { kind: string; version: string; cpuUs: number | null; samples: BrokerSample[]; exited?: { atS: number; pid: number } };
  fault?: { kind: string; atS: number; struck: boolean; recoveredInS?: number; restartsRelay: boolean; node?: StruckNode };
  /** Which paths went through rtbench's proxies or a namespace for the whole cell. */
  paths: { viaProxy: boolean; brokerViaProxy: boolean; relayInNamespace: boolean };
  /** backpressure: which clients read slowly. */
  slow?: { flags: boolean[]; readBytesPerSec: number };
  sharesBroadcasts: boolean;
  /** chat: the fleets' upstream, summed over them (the rest is in the fleets' and relays' reports). */
  chat?: { notSent: number };
  /** What the scenario added after the drain (durability: what the broker kept). */
  extra: Partial<CellResult>;
  /** With workers: each one's clients and clock readings before and after the cell. */
  workers?: Array<{ name: string; clients: number; start: ClockReading; end: ClockReading }>;
  teardownErrors: string[];
}

const relayName = (k: number): string => (k === 0 ? "relay" : `relay ${k + 1}`);

/** The cell's result from its roles' reports. */
export function assemble(spec: CellSpec, r: CellReports): CellResult {
  const w = spec.workload;
  const inProcess = getBroker(spec.broker).inProcess;
  const perPartition = getBroker(spec.broker).capabilities.ordering === "per-partition";
  const relayCount = r.relays.length;
  const relayReport = r.relays[0]!;
  const produced = r.produced;
  const latency = mergeEncoded(r.fleets.map((f) => f.latencyUs));
  const latencyUs = percentiles(latency);
  const publishDelay = decodeHistogram(produced.publishDelayUs);
  const runSeconds = (produced.lastSentAt - produced.firstSentAt) / NS_PER_S;
  // Rate over the span between the first and last send; n messages span n-1 intervals.
  const achievedRate = produced.published > 1 && runSeconds > 0 ? (produced.published - 1) / runSeconds : w.rate;
  const counts = r.fleets.reduce((sum, f) => addCounts(sum, f.counts), zeroCounts());
  const fleetSamples = r.fleets.map((f) => f.samples);
  const browserReports = r.fleets.flatMap((f) => (f.browser ? [f.browser] : []));
  const stoppedEarly = produced.stoppedEarly ? { published: produced.published, total: r.total, afterS: r.stoppedAfterS ?? 0 } : undefined;
  const judged = judgeGenerators({
    targetRate: w.rate,
    achievedRate,
    publishDelayP99Us: percentiles(publishDelay).p99,
    fleet: fleetSamples,
    ...(browserReports.length > 0 ? { browser: { samples: browserReports.map((b) => b.samples), cores: availableParallelism() } } : {}),
    // Chat's senders are the fleet's clients, never the relay's loop.
    producerSharesRelay: inProcess && !r.chat,
    ...(r.chat ? { publisher: "the clients' upstream senders (fleet)" } : {}),
    producerOwnShare: produced.ownBusyShare,
    ...(stoppedEarly ? { stoppedEarly } : {}),
    relay: relayReport.samples,
    window: { fromS: w.warmup, toS: w.warmup + w.duration },
  });
  const histograms = {
    latencyUs: encodeHistogram(latency),
    latencyFromSentUs: encodeHistogram(mergeEncoded(r.fleets.map((f) => f.latencyFromSentUs))),
    publishDelayUs: produced.publishDelayUs,
    connectUs: encodeHistogram(mergeEncoded(r.fleets.map((f) => f.connectUs))),
    firstEventUs: encodeHistogram(mergeEncoded(r.fleets.map((f) => f.firstEventUs))),
    ...(r.fault ? { reconnectUs: encodeHistogram(mergeEncoded(r.fleets.map((f) => f.reconnectUs))) } : {}),
    ...(r.slow ? { latencySlowUs: encodeHistogram(mergeEncoded(r.fleets.flatMap((f) => (f.slow ? [f.slow.latencyUs] : [])))) } : {}),
    ...(r.chat ? chatHistograms(r) : {}),
  };
  const wireBytes = r.relays.some((x) => x.wireBytes === null) ? null : r.relays.reduce((n, x) => n + x.wireBytes!, 0);
  const failedConnections = r.connected.reduce((n, c) => n + c.failed, 0);
  const unanswered = r.connected.reduce((n, c) => n + (c.unanswered ?? 0), 0);
  const carriedBy = r.fleets.some((f) => f.carriedBy) ? r.fleets.reduce<Record<string, number>>((sum, f) => addBrokerCounts(sum, f.carriedBy), {}) : undefined;
  const firstError = r.connected.find((c) => c.firstError)?.firstError;
  const brokerErrors = [
    ...r.relays.flatMap((x, k) => (x.brokerErrors ? [{ role: relayName(k), ...x.brokerErrors }] : [])),
    ...(r.producer?.brokerErrors ? [{ role: "producer", ...r.producer.brokerErrors }] : []),
    ...r.fleets.flatMap((f, k) => (f.brokerErrors ? [{ role: `fleet process ${k}`, ...f.brokerErrors }] : [])),
  ];
  const sumOf = (f: (x: FleetReport) => number): number => r.fleets.reduce((n, x) => n + f(x), 0);
  const brokerCounts = r.relays.reduce<Record<string, number>>((sum, x) => addBrokerCounts(sum, x.brokerCounts), {});
  return {
    ...emptyCell(spec, "ok", r.startedAt),
    // The processes that ran (with workers, each worker's share has its own).
    params: { ...paramsOf(spec), fleetProcesses: r.fleets.length },
    counts,
    subscribersWithLoss: sumOf((f) => f.subscribersWithLoss),
    // With one partition, a stream's order is its partition's.
    ...(perPartition ? { reorderedWithinPartition: w.partitions > 1 ? sumOf((f) => f.reorderedWithinPartition) : counts.reordered } : {}),
    connections: {
      attempted: w.clients,
      open: w.clients - failedConnections - unanswered,
      failed: failedConnections,
      disconnects: sumOf((f) => f.disconnects),
      ...(firstError ? { firstError } : {}),
      ...(unanswered > 0 ? { unanswered } : {}),
      ...openingOf(r.connected),
    },
    latencyUs,
    latencyFromSentUs: percentiles(decodeHistogram(histograms.latencyFromSentUs)),
    publishDelayUs: percentiles(publishDelay),
    connectUs: percentiles(decodeHistogram(histograms.connectUs)),
    firstEventUs: percentiles(decodeHistogram(histograms.firstEventUs)),
    // Counted by arrival, so a system that lags shows the rate it really delivered.
    throughput: sumOf((f) => f.arrivedInWindow) / w.duration,
    publishedPerSec: achievedRate,
    published: produced.published,
    publishErrors: r.unacknowledged?.publishErrors ?? produced.publishErrors,
    ...(r.unacknowledged
      ? { unacknowledged: r.unacknowledged.seqs.reduce((n, s) => n + s.length, 0), lostUnacknowledged: sumOf((f) => f.lostUnacknowledged) }
      : {}),
    replayed: r.relays.reduce((n, x) => n + x.replayed, 0),
    idleMemoryPerConnection: idleMemoryPerConnection(r.idleBefore, sumProbes(r.idleProbes)),
    // A killed relay takes its byte counts with it: no figure rather than a partial one.
    ...(wireBytes !== null && !r.fault?.restartsRelay ? { wire: { bytes: wireBytes, bytesPerDelivery: counts.delivered > 0 ? wireBytes / counts.delivered : null } } : {}),
    ...(carriedBy ? { carriedBy } : {}),
    ...(browserReports.length > 0 ? { browser: browserFigures(browserReports) } : {}),
    ...(r.workers ? { workers: workersFigures(r.workers, latencyUs.p50) } : {}),
    ...(r.proxy
      ? {
          proxy: {
            kind: r.proxy.kind,
            version: r.proxy.version,
            cpuUsPerDelivery: r.proxy.cpuUs !== null && counts.delivered > 0 ? r.proxy.cpuUs / counts.delivered : null,
            peakRssBytes: Math.max(0, ...r.proxy.samples.map((s) => s.rssBytes)),
            ...(r.proxy.exited ? { exitedAtS: r.proxy.exited.atS } : {}),
          },
        }
      : {}),
    ...(relayCount > 1 ? { relays: { count: relayCount, connections: r.idleProbes.map((p) => p.connections), sharedBroadcasts: r.sharesBroadcasts } } : {}),
    drainedComplete: r.fleets.every((f) => f.drainedComplete),
    ...(r.fault
      ? {
          fault: {
            kind: r.fault.kind,
            atS: r.fault.atS,
            struck: r.fault.struck,
            ...(r.fault.recoveredInS !== undefined ? { recoveredInS: r.fault.recoveredInS } : {}),
            ...(r.paths.viaProxy ? { viaProxy: true } : {}),
            ...(r.paths.brokerViaProxy ? { brokerViaProxy: true } : {}),
            ...(r.paths.relayInNamespace ? { relayInNamespace: true } : {}),
            ...(r.fault.node ? { node: r.fault.node } : {}),
          },
          ...(r.fault.node ? { failover: failover(r, counts.lost, spec.workload.clients) } : {}),
          reconnects: {
            count: sumOf((f) => f.reconnects),
            timeUs: percentiles(decodeHistogram(histograms.reconnectUs!)),
            resumeRequests: r.relays.reduce((n, x) => n + (x.resumeRequests ?? 0), 0),
          },
        }
      : {}),
    ...(r.chat ? { chat: chatFigures(spec, r, counts.delivered, histograms) } : {}),
    ...(r.slow
      ? {
          backpressure: {
            slowClients: r.slow.flags.filter(Boolean).length,
            slowReadBytesPerSec: r.slow.readBytesPerSec,
            slowCounts: r.fleets.reduce((sum, f) => (f.slow ? addCounts(sum, f.slow.counts) : sum), zeroCounts()),
            slowLatencyUs: percentiles(decodeHistogram(histograms.latencySlowUs!)),
            ...relayGrowth(relayReport.samples, w.warmup),
          },
        }
      : {}),
    clockAnomalies: sumOf((f) => f.clockAnomalies),
    resources: {
      relay: relayReport.samples,
      ...(relayCount > 1 ? { relays: r.relays.map((x) => x.samples) } : {}),
      fleet: fleetSamples,
      relayRssAtReadyBytes: relayReport.rssAtReadyBytes,
      ...(r.producer?.samples ? { producer: r.producer.samples } : {}),
      ...(r.broker ? { broker: r.broker.samples } : {}),
      ...(browserReports.length > 0 ? { browser: browserReports.map((b) => b.samples) } : {}),
    },
    saturated: judged.saturated.length > 0,
    saturationReasons: judged.saturated,
    ...(judged.relayLimit.length > 0 ? { relayLimit: judged.relayLimit } : {}),
    ...(stoppedEarly ? { producerStopped: stoppedEarly } : {}),
    ...(r.teardownErrors.length > 0 ? { teardownErrors: r.teardownErrors } : {}),
    ...(Object.keys(brokerCounts).length > 0 ? { brokerCounts } : {}),
    ...(r.broker ? { brokerCpuUsPerMessage: r.broker.cpuUs !== null && produced.published > 0 ? r.broker.cpuUs / produced.published : null } : {}),
    ...(brokerErrors.length > 0 || r.broker?.exited ? { brokerTrouble: { errors: brokerErrors, ...(r.broker?.exited ? { serverExited: r.broker.exited } : {}) } } : {}),
    ...r.extra,
    histograms,
  };
}

/** A node fault's failover, from the producer's acknowledgements and each subscriber's longest silence. */
function failover(r: CellReports, lost: number, subscribers: number): NonNullable<CellResult["failover"]> {
  const stalls = mergeEncoded(r.fleets.flatMap((f) => (f.deliveryStallUs ? [f.deliveryStallUs] : [])));
  const s = (us: number): number => Math.round(us / 1000) / 1000;
  const stall = r.unacknowledged?.ackStallUs;
  return {
    publishStalledS: stall === undefined || stall === null ? null : s(stall),
    deliveryStalledS: { p50: s(stalls.getValueAtPercentile(50)), max: s(stalls.getValueAtPercentile(100)) },
    publishesResumed: r.unacknowledged?.ackResumed ?? null,
    // Reaching the last acknowledged message is no resumption when nothing was acknowledged after the fault.
    subscribersResumed: r.unacknowledged?.ackResumed === false ? 0 : r.fleets.reduce((n, f) => n + (f.reachedEnd ?? 0), 0),
    // Every client, those that never got a message included (they have no stall to record).
    subscribers,
    lostAcknowledged: lost - r.fleets.reduce((n, f) => n + f.lostUnacknowledged, 0),
  };
}

/** A cell with nothing measured: the shape every result starts from. */
function emptyCell(spec: CellSpec, status: CellResult["status"], startedAt: string, error?: string): CellResult {
  const none = percentiles(mergeEncoded([]));
  const empty = encodeHistogram(mergeEncoded([]));
  return {
    id: `${spec.transport}.${spec.broker}.${spec.workload.scenario}.r${spec.repetition}`,
    transport: spec.transport,
    broker: spec.broker,
    scenario: spec.workload.scenario,
    params: paramsOf(spec),
    status,
    ...(error !== undefined ? { error } : {}),
    startedAt,
    finishedAt: new Date().toISOString(),
    counts: zeroCounts(),
    subscribersWithLoss: 0,
    connections: { attempted: spec.workload.clients, open: 0, failed: 0, disconnects: 0 },
    latencyUs: none,
    latencyFromSentUs: none,
    publishDelayUs: none,
    connectUs: none,
    firstEventUs: none,
    throughput: 0,
    publishedPerSec: 0,
    published: 0,
    replayed: 0,
    drainedComplete: false,
    clockAnomalies: 0,
    resources: { relay: [], fleet: [], relayRssAtReadyBytes: 0 },
    saturated: false,
    saturationReasons: [],
    histograms: { latencyUs: empty, latencyFromSentUs: empty, publishDelayUs: empty, connectUs: empty, firstEventUs: empty },
  };
}

/** A cell that started and failed: its place is kept, its figures are zero, `error` says why. */
export function failedCell(spec: CellSpec, startedAt: string, error: string): CellResult {
  return emptyCell(spec, "failed", startedAt, error);
}

/** A cell that could not run here (its broker is missing, or the pairing cannot exist); not a failure. */
export function unavailableCell(spec: CellSpec, reason: string): CellResult {
  return emptyCell(spec, "unavailable", new Date().toISOString(), reason);
}

function paramsOf(spec: CellSpec): CellResult["params"] {
  // What the cell ran with (chat: its rooms and total rate), also for a cell that could not run; cellWorkload is idempotent.
  const w = spec.scenario.cellWorkload?.(spec.workload) ?? spec.workload;
  const transport = getTransport(spec.transport);
  return {
    rate: w.rate,
    size: w.size,
    topics: w.topics,
    clients: w.clients,
    durationS: w.duration,
    warmupS: w.warmup,
    fleetProcesses: fleetProcessesFor(w),
    repetition: spec.repetition,
    ...(transport.polls ? { pollIntervalS: w.pollInterval } : {}),
    ...(w.connectRate > 0 ? { connectRate: w.connectRate } : {}),
    ...(relaysOf(transport, w) > 1 ? { relays: w.relays } : {}),
    ...(spec.scenario.proxy ? { proxy: spec.scenario.proxy(w) } : {}),
    ...(w.clientKind === "browser" ? { clientKind: "browser", ...(w.connectionsPerTab > 1 ? { connectionsPerTab: w.connectionsPerTab } : {}) } : {}),
    ...(w.clientKind === "browser" && BROWSER_CLIENTS[spec.transport]?.client === "ws" ? { wsReconnect: w.wsReconnect } : {}),
    ...(getBroker(spec.broker).capabilities.ordering === "per-partition" ? { partitions: w.partitions } : {}),
    ...(transport.details ?? {}),
  };
}

/** From the first connect's start in any fleet process to the last one's answer in any, s (the processes share one clock). */
function openingOf(connected: CellReports["connected"]): { openingS?: number } {
  const starts = connected.flatMap((c) => (c.startedAt !== undefined ? [c.startedAt] : []));
  const ends = connected.flatMap((c) => (c.settledAt !== undefined ? [c.settledAt] : []));
  return starts.length > 0 && ends.length > 0 ? { openingS: (Math.max(...ends) - Math.min(...starts)) / NS_PER_S } : {};
}

/** A bound is small when it is at most this share of the latency p50 it qualifies. */
const CLOCK_BOUND_SHARE = 0.1;

/** The workers' clocks: each one's offset, how it moved over the cell, and the bound that leaves on every latency. */
export function workersFigures(hosts: NonNullable<CellReports["workers"]>, latencyP50Us: number): NonNullable<CellResult["workers"]> {
  const each = hosts.map((h) => {
    const driftNs = Math.abs(h.end.offsetNs - h.start.offsetNs);
    return {
      name: h.name,
      clients: h.clients,
      offsetUs: h.start.offsetNs / 1000,
      clockDriftUs: driftNs / 1000,
      clockErrorBoundUs: (Math.max(h.start.boundNs, h.end.boundNs) + driftNs) / 1000,
    };
  });
  const bound = Math.max(0, ...each.map((h) => h.clockErrorBoundUs));
  return { hosts: each, clockErrorBoundUs: bound, clockBoundLarge: !(bound <= CLOCK_BOUND_SHARE * latencyP50Us) };
}

/** The browsers' facts together: the worst clock bound, their peaks summed, the mean CPU. */
function browserFigures(reports: readonly BrowserReport[]): NonNullable<CellResult["browser"]> {
  const all = reports.flatMap((b) => b.samples);
  return {
    version: reports[0]!.version,
    browsers: reports.length,
    tabs: reports.reduce((n, b) => n + b.tabs, 0),
    connectionsPerTab: reports[0]!.connectionsPerTab,
    clockErrorBoundUs: Math.max(...reports.map((b) => b.clockErrorBoundUs)),
    clockDriftUs: Math.max(...reports.map((b) => b.clockDriftUs)),
    peakPssBytes: reports.reduce((n, b) => n + Math.max(0, ...b.samples.map((s) => s.pssBytes)), 0),
    cpuPct: reports.reduce((n, b) => n + (b.samples.length > 0 ? b.samples.reduce((m, s) => m + s.cpuPct, 0) / b.samples.length : 0), 0),
    pageLagMaxMs: Math.max(0, ...all.map((s) => s.pageLagMaxMs)),
  };
}

/** Several relays' memory probes as one: what the clients cost the relays together. */
export function sumProbes(probes: readonly MemoryProbe[]): MemoryProbe {
  return probes.reduce((a, p) => ({ rssBytes: a.rssBytes + p.rssBytes, heapBytes: a.heapBytes + p.heapBytes, connections: a.connections + p.connections }), {
    rssBytes: 0,
    heapBytes: 0,
    connections: 0,
  });
}

function idleMemoryPerConnection(before: MemoryProbe, after: MemoryProbe): CellResult["idleMemoryPerConnection"] {
  const n = after.connections;
  return { connections: n, rssBytes: n > 0 ? (after.rssBytes - before.rssBytes) / n : null, heapBytes: n > 0 ? (after.heapBytes - before.heapBytes) / n : null };
}

/**
 * What slow readers cost the relay: the peak of its send queue, and its RSS growth
 * from the start of the measured window to the peak after it (drain included).
 */
function relayGrowth(samples: readonly ResourceSample[], warmupS: number): { relaySendQueuePeakBytes: number; relayRssGrowthBytes: number } {
  const after = samples.filter((s) => s.t >= warmupS);
  const base = after[0]?.rssBytes ?? 0;
  return {
    relaySendQueuePeakBytes: Math.max(0, ...samples.map((s) => s.sendQueueBytes ?? 0)),
    relayRssGrowthBytes: after.length > 0 ? Math.max(...after.map((s) => s.rssBytes)) - base : 0,
  };
}

/** chat: upstream latency from the relays (direct: the clients' broker acknowledgements), and the transports' answers. */
function chatHistograms(r: CellReports): { upstreamUs: string; upAckUs: string } {
  const acks = encodeHistogram(mergeEncoded(r.fleets.flatMap((f) => (f.chat ? [f.chat.upAckUs] : []))));
  const atRelay = r.relays.flatMap((x) => (x.upstream ? [x.upstream.latencyUs] : []));
  return { upstreamUs: atRelay.length > 0 ? encodeHistogram(mergeEncoded(atRelay)) : acks, upAckUs: acks };
}

function chatFigures(spec: CellSpec, r: CellReports, delivered: number, histograms: { upstreamUs?: string; upAckUs?: string }): NonNullable<CellResult["chat"]> {
  const w = spec.workload;
  const transport = getTransport(spec.transport);
  const direct = transport.listener === "none";
  const ups = r.relays.flatMap((x) => (x.upstream ? [x.upstream] : []));
  const fleetSum = (f: (c: NonNullable<FleetReport["chat"]>) => number): number => r.fleets.reduce((n, x) => n + (x.chat ? f(x.chat) : 0), 0);
  const acks = fleetSum((c) => c.acks);
  const echoes = fleetSum((c) => c.echoes);
  const received = direct ? acks : ups.reduce((n, u) => n + u.received, 0);
  const upstream = decodeHistogram(histograms.upstreamUs!);
  const upAck = decodeHistogram(histograms.upAckUs!);
  // Direct: the clients' own broker sockets; else the relays' client sockets.
  const sides = direct ? r.fleets.map((f) => f.brokerWire ?? null) : ups.map((u) => u.wire);
  const wire = sides.length > 0 && sides.every((x) => x !== null) ? sides.reduce((a, x) => ({ up: a.up + x!.up, down: a.down + x!.down }), { up: 0, down: 0 }) : null;
  const cpuUs = ups.reduce((n, u) => n + u.cpuUs, 0);
  const handlerUs = ups.reduce((n, u) => n + u.handlerUs, 0);
  const firstSendError = r.fleets.find((f) => f.chat?.firstSendError)?.chat?.firstSendError;
  // Direct clients' acknowledgements are the upstream itself; a relay transport's are its own answers.
  const answers = !direct && upAck.totalCount > 0;
  return {
    upRate: w.upRate,
    rooms: w.topics,
    roomSize: Math.ceil(w.clients / w.topics),
    upAck: w.upAck === "on",
    upstreamPath: transport.upstream ?? "",
    // A broker whose publish carries no acknowledgement answered a round trip behind it (a reply, a PONG).
    upstreamEndsAt: !direct ? "relay" : getBroker(spec.broker).capabilities.ackLevels.includes("none") ? "broker round trip" : "broker acknowledgement",
    upstreamUs: upstream.totalCount > 0 ? percentiles(upstream) : null,
    upstreamReceived: received,
    ...(answers ? { upAckUs: percentiles(upAck) } : {}),
    acks,
    sendErrors: fleetSum((c) => c.sendErrors),
    ...(firstSendError ? { firstSendError } : {}),
    notSent: r.chat!.notSent,
    relayPublishErrors: ups.reduce((n, u) => n + u.publishErrors, 0),
    echoes,
    bytesUpPerMessage: wire && received > 0 ? wire.up / received : null,
    bytesDownPerDelivery: wire && delivered + echoes > 0 ? wire.down / (delivered + echoes) : null,
    relayCpuUsPerUpMessage: !direct && received > 0 ? cpuUs / received : null,
    relayUpstreamUsPerMessage: !direct && received > 0 ? handlerUs / received : null,
  };
}
