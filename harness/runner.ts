/**
 * The coordinator: runs each cell (transport × broker × repetition) as a relay
 * process plus client fleet processes, collects their reports, merges histograms and
 * writes the cell. Children die with it.
 */
import { fork, type ChildProcess } from "node:child_process";
import { createWriteStream, type WriteStream } from "node:fs";
import { nowNs, NS_PER_S } from "../core/clock.js";
import { judgeGenerators } from "./guard.js";
import { decodeHistogram, mergeEncoded, percentiles, encodeHistogram } from "../core/histogram.js";
import { expect, noteOutput, reap, send, TEARDOWN_MS, type FleetReport, type MemoryProbe, type ProducerReport, type RelayPlan, type RelayReport } from "./ipc.js";
import type { BrokerErrors } from "../brokers/errors.js";
import { getBroker, getTransport } from "./registry.js";
import { treeRssBytes } from "./proc.js";
import { OpenLoopSchedule } from "../core/schedule.js";
import { addCounts, zeroCounts } from "../core/tracker.js";
import type { Workload } from "./workload.js";
import type { BrokerSample, CellResult } from "../results/schema.js";
import type { ResourceSample } from "../core/sampler.js";
import { freshNamespace } from "../brokers/broker.js";
import { getFault, type FaultContext, type FaultTarget } from "./scenarios/faults.js";
import { readHistory } from "./scenarios/durability.js";
import type { Unacknowledged } from "./ipc.js";
import { TcpProxy } from "./tcp-proxy.js";
import { RelayNamespace, removeNamespacesNow } from "./netns.js";
import { baseUrlFor } from "../transports/transport.js";

/** Connections per fleet process when the workload leaves it to us (fd limit is 20,000 here). */
export const CLIENTS_PER_PROCESS = 10_000;

export const RELAY_DEFAULTS = {
  replayCapacity: 10_000,
  heartbeatMs: 15_000,
  retryMs: 3_000,
  host: "127.0.0.1",
} as const;

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
}

/** Starts a child process, inside `namespace` when given (`ip netns exec` hands on the IPC channel and execs node). */
function spawn(script: string, namespace?: RelayNamespace): ChildProcess {
  // RTBENCH_NODE_ARGS passes extra flags to relay and fleet processes (e.g. --cpu-prof).
  const nodeArgs = ["--expose-gc", ...(process.env.RTBENCH_NODE_ARGS?.split(" ").filter(Boolean) ?? [])];
  const log = childLog;
  const child = fork(new URL(script, import.meta.url), [], {
    stdio: ["ignore", log ? "pipe" : "inherit", log ? "pipe" : "inherit", "ipc"],
    ...(namespace ? { execPath: "ip", execArgv: [...namespace.exec, process.execPath, ...nodeArgs] } : { execArgv: nodeArgs }),
  });
  const role = script.replace(/^.*\/|-process\.js$/g, "");
  for (const stream of [child.stdout, child.stderr]) {
    stream?.on("data", (chunk: Buffer) => {
      log?.write(`[${role} ${child.pid}] ${chunk.toString()}`);
      noteOutput(child, chunk);
    });
  }
  // A send to a child that has just died (a fleet killed mid-cell) is reported by its exit, not thrown as an unhandled error.
  child.on("error", () => {});
  live.add(child);
  child.on("exit", () => live.delete(child));
  return child;
}

export interface CellSpec {
  transport: string;
  broker: string;
  repetition: number;
  workload: Workload;
  brokerUrl?: string;
  /** Transports with `adapterBroker`: the Redis server their relays pass broadcasts through. */
  adapterUrl?: string;
  /** The broker server's process, when rtbench started it: its RSS is sampled during the cell. */
  brokerServer?: {
    pid(): number;
    /** Present when this run owns the server, so the restart-broker fault may restart it. */
    restart?(): Promise<void>;
  };
}

export interface CellHooks {
  phase(text: string): void;
  progress(delivered: number, expected: number): void;
}

export function fleetProcessesFor(w: Workload): number {
  return w.fleetProcesses > 0 ? w.fleetProcesses : Math.max(1, Math.ceil(w.clients / CLIENTS_PER_PROCESS));
}

/** Messages stream t receives when `total` go round-robin over `topics`. */
function perTopic(total: number, topics: number, t: number): number {
  return Math.floor(total / topics) + (t < total % topics ? 1 : 0);
}

export async function runCell(spec: CellSpec, hooks: CellHooks): Promise<CellResult> {
  const w = spec.workload;
  const startedAt = new Date().toISOString();
  const total = OpenLoopSchedule.countFor(w.rate, w.warmup + w.duration);
  const processes = fleetProcessesFor(w);
  const clientTopics = Array.from({ length: w.clients }, (_, i) => i % w.topics);
  // Clients go round-robin over the relays, as a load balancer without affinity would.
  const relayCount = relaysOf(spec.transport, w);
  const clientRelays = Array.from({ length: w.clients }, (_, i) => i % relayCount);
  // backpressure: floor(clients × slowClients) slow readers, spread evenly over the clients.
  const slowFlags = Array.from({ length: w.clients }, (_, i) => w.scenario === "backpressure" && Math.floor((i + 1) * w.slowClients) > Math.floor(i * w.slowClients));
  const expectedDeliveries = clientTopics.reduce((sum, t) => sum + perTopic(total, w.topics, t), 0);
  const children: ChildProcess[] = [];
  let brokerSampler: ReturnType<typeof sampleBroker> | undefined;
  let fault: ReturnType<typeof scheduleFault> | undefined;
  let proxy: TcpProxy | undefined;
  let brokerProxy: TcpProxy | undefined;
  let namespace: RelayNamespace | undefined;
  let throttle: TcpProxy | undefined;
  const inProcess = getBroker(spec.broker).inProcess;
  // A broker that orders per partition: its order is checked within each partition too.
  const perPartition = getBroker(spec.broker).capabilities.ordering === "per-partition";
  const faultName = faultOf(w);
  const faultKind = faultName ? getFault(faultName) : undefined;
  try {
    // A fault on the relay's path to the broker needs a proxy in it from the start.
    let relayBrokerUrl = spec.brokerUrl;
    // A relay in a network namespace of its own (the partition fault) listens on its end
    // of a veth pair and reaches the broker through the proxy on the other end.
    if (faultKind?.netns) namespace = await RelayNamespace.create();
    const proxyHost = namespace?.hostIp ?? RELAY_DEFAULTS.host;
    if (faultKind?.proxy === "broker" && spec.brokerUrl) {
      const target = new URL(spec.brokerUrl);
      brokerProxy = await TcpProxy.start(proxyHost, Number(target.port), { targetHost: target.hostname });
      target.hostname = proxyHost;
      target.port = String(brokerProxy.port);
      relayBrokerUrl = target.toString();
    }
    hooks.phase("starting relay");
    const plan: RelayPlan = {
      transport: spec.transport,
      broker: spec.broker,
      ...(relayBrokerUrl ? { brokerUrl: relayBrokerUrl } : {}),
      namespace: freshNamespace(),
      partitions: w.partitions,
      topics: w.topics,
      rate: w.rate,
      size: w.size,
      total,
      produce: inProcess,
      history: false,
      subscribe: true,
      ...(spec.adapterUrl ? { adapterUrl: spec.adapterUrl } : {}),
      port: 0,
      ...RELAY_DEFAULTS,
      ...(namespace ? { host: namespace.relayIp } : {}),
      heartbeatMs: w.heartbeat * 1000,
    };
    const startRelayProcess = async (p: RelayPlan) => {
      const child = spawn("./relay-process.js", namespace);
      children.push(child);
      send(child, { kind: "init-relay", plan: p });
      return { child, ...(await expect(child, "ready", 60_000, "relay")) };
    };
    const first = await startRelayProcess(plan);
    // scale-out: more relays on the same broker. Where the transport's relays pass
    // broadcasts through an adapter, only the first subscribes to the broker.
    const sharesBroadcasts = getTransport(spec.transport).adapterBroker !== undefined;
    const others = await Promise.all(
      Array.from({ length: relayCount - 1 }, () => startRelayProcess({ ...plan, produce: false, subscribe: !sharesBroadcasts })),
    );
    let relay = first.child;
    const otherRelays = others.map((o) => o.child);
    const idleBefore = sumProbes([first.idle, ...others.map((o) => o.idle)]);
    // A fault on the clients' path needs a proxy in it from the start.
    proxy = faultKind?.proxy === "clients" ? await TcpProxy.start(RELAY_DEFAULTS.host, first.port) : undefined;
    const baseUrl = proxy ? baseUrlFor(getTransport(spec.transport), RELAY_DEFAULTS.host, proxy.port) : first.baseUrl;
    throttle = slowFlags.includes(true) ? await TcpProxy.start(RELAY_DEFAULTS.host, first.port, { readBytesPerSec: w.slowReadRate }) : undefined;
    // A real broker gets the producer in a process of its own, which outlives a killed relay.
    let producer: ChildProcess | undefined;
    if (!inProcess) {
      producer = spawn("./producer-process.js");
      children.push(producer);
      const { broker, namespace, partitions, topics, rate, size } = plan;
      // Straight to the broker: a cut of the relay's path leaves the producer publishing.
      const brokerUrl = spec.brokerUrl;
      send(producer, { kind: "init-producer", plan: { broker, ...(brokerUrl ? { brokerUrl } : {}), namespace, partitions, topics, rate, size, total } });
      await expect(producer, "producer-ready", 60_000, "producer");
    }
    const isDirect = getTransport(spec.transport).listener === "none";

    hooks.phase(`connecting ${w.clients} clients`);
    const fleets: ChildProcess[] = [];
    const connected = await Promise.all(
      Array.from({ length: processes }, (_, k) => {
        const fleet = spawn("./fleet-process.js");
        children.push(fleet);
        fleets.push(fleet);
        send(fleet, {
          kind: "init-fleet",
          plan: {
            transport: spec.transport,
            baseUrls: [baseUrl, ...others.map((o) => o.baseUrl)],
            topics: clientTopics.filter((_, i) => i % processes === k),
            relays: clientRelays.filter((_, i) => i % processes === k),
            ...(throttle
              ? { slow: { clients: slowFlags.filter((_, i) => i % processes === k), baseUrl: baseUrlFor(getTransport(spec.transport), RELAY_DEFAULTS.host, throttle.port) } }
              : {}),
            // Spread source addresses so each process has its own ephemeral port range
            // (a relay in a namespace is reached over its veth pair, not loopback).
            ...(namespace ? {} : { localAddress: `127.0.0.${1 + (k % 250)}` }),
            // Each direct client opens a broker connection: fewer at once, brokers are slower to accept.
            connectConcurrency: isDirect ? 16 : 256,
            pollIntervalMs: w.pollInterval * 1000,
            ...(isDirect ? { broker: { name: spec.broker, namespace: plan.namespace, ...(spec.brokerUrl ? { url: spec.brokerUrl } : {}), partitions: w.partitions } } : {}),
            ...(w.reconnect === "fixed" || w.reconnect === "backoff" ? { reconnect: { kind: w.reconnect, delayMs: w.reconnectDelay * 1000 } } : {}),
            ...(perPartition && w.partitions > 1 ? { partitions: w.partitions } : {}),
          },
        });
        return expect(fleet, "connected", 30_000 + 5 * w.clients, `fleet process ${k}`);
      }),
    );
    const failedConnections = connected.reduce((n, c) => n + c.failed, 0);
    const firstError = connected.find((c) => c.firstError)?.firstError;
    // Every client connected and nothing sent yet: what an idle connection costs the relays.
    const idleProbes = await Promise.all(
      [relay, ...otherRelays].map((r, k) => {
        send(r, { kind: "probe-memory" });
        return expect(r, "memory", 20_000, relayName(k)).then((m) => m.idle);
      }),
    );
    const idleAfter = sumProbes(idleProbes);

    // Start a little in the future so every process has the times before the first send.
    const startAt = nowNs() + 0.3 * NS_PER_S;
    let restartingBroker = false;
    brokerSampler = spec.brokerServer ? sampleBroker(spec.brokerServer.pid, startAt, () => restartingBroker) : undefined;
    const measureFrom = startAt + w.warmup * NS_PER_S;
    const times = { startAt, measureFrom, measureUntil: measureFrom + w.duration * NS_PER_S };
    for (const child of [relay, ...otherRelays, ...(producer ? [producer] : []), ...fleets]) send(child, { kind: "start", times });
    hooks.phase("measuring");
    const target: FaultTarget = {
      async dropClients() {
        send(relay, { kind: "drop-clients" });
      },
      async restartRelay() {
        const killed = relay;
        const exited = new Promise((resolve) => killed.once("exit", resolve));
        killed.kill("SIGKILL");
        await exited;
        // Same port, so clients reconnect to the address they know.
        const next = await startRelayProcess({ ...plan, port: first.port, history: true });
        relay = next.child;
        send(relay, { kind: "start", times });
      },
      async cutClients() {
        const ms = w.faultDuration * 1000;
        proxy!.cut(ms);
        await new Promise((resolve) => setTimeout(resolve, ms));
      },
      async restartBroker() {
        restartingBroker = true;
        await spec.brokerServer!.restart!();
        restartingBroker = false;
      },
      async partitionBroker() {
        await namespace!.partition(brokerProxy!.port, w.faultDuration * 1000);
      },
      async cutBroker() {
        const ms = w.faultDuration * 1000;
        brokerProxy!.cut(ms);
        await new Promise((resolve) => setTimeout(resolve, ms));
      },
    };
    fault = faultName ? scheduleFault(target, faultName, w, measureFrom, hooks) : undefined;
    const delivered = new Array<number>(processes).fill(0);
    fleets.forEach((fleet, k) =>
      fleet.on("message", (m: { kind: string; delivered?: number }) => {
        if (m.kind !== "progress") return;
        delivered[k] = m.delivered ?? 0;
        hooks.progress(delivered.reduce((a, b) => a + b, 0), expectedDeliveries);
      }),
    );
    const produced = await producedOrStopped(producer ?? relay, producer ? "producer" : "relay", w);
    // The relay is replaced while a fault restarts it: wait for that, then ask the one serving.
    if (fault?.struck) await fault.done;
    else if (fault) clearTimeout(fault.timer);

    hooks.phase("draining");
    const drainMs = w.drain * 1000;
    // What the broker never acknowledged (a publish failed or went unanswered): its loss is no broker's loss of a message it had.
    let unacked: Unacknowledged | undefined;
    if (producer) {
      send(producer, { kind: "settle", timeoutMs: drainMs });
      unacked = (await expect(producer, "settled", drainMs + 20_000, "producer")).unacknowledged;
    }
    const results = fleets.map((fleet, k) => expect(fleet, "fleet-result", drainMs + 60_000, `fleet process ${k}`));
    for (const fleet of fleets) send(fleet, { kind: "finish", lastSeq: produced.lastSeq, drainMs, ...(unacked ? { unacknowledged: unacked.seqs } : {}) });
    const fleetReports = (await Promise.all(results)).map((r) => r.report);
    const reports: FleetReport[] = fleetReports;
    // durability: what the broker kept of the whole stream, read by a subscriber that comes after it.
    let history: Awaited<ReturnType<typeof readHistory>> | undefined;
    if (w.scenario === "durability") {
      hooks.phase("reading the broker's history as a late subscriber");
      history = await readHistory({
        broker: spec.broker,
        ...(spec.brokerUrl ? { url: spec.brokerUrl } : {}),
        partitions: w.partitions,
        namespace: plan.namespace,
        lastSeq: produced.lastSeq,
        unacknowledged: unacked?.seqs ?? [],
      });
    }
    // Everything is measured now: what goes wrong from here on is noted beside the figures, never instead of them.
    const teardownErrors: string[] = [];
    const relayReports = await Promise.all(
      [relay, ...otherRelays].map((r, k) => {
        send(r, { kind: "stop" });
        return expect(r, "relay-result", TEARDOWN_MS + 15_000, relayName(k)).then(
          (m) => m.report,
          (err: Error): RelayReport => {
            teardownErrors.push(err.message);
            return { samples: [], rssAtReadyBytes: 0, connections: 0, replayed: 0, wireBytes: null };
          },
        );
      }),
    );
    const relayReport = relayReports[0]!;
    relayReports.forEach((r, k) => r.teardownError && teardownErrors.push(`${relayName(k)}: ${r.teardownError}`));
    const wireBytes = relayReports.some((r) => r.wireBytes === null) ? null : relayReports.reduce((n, r) => n + r.wireBytes!, 0);
    let producerSamples: ResourceSample[] | undefined;
    let producerErrors: BrokerErrors | undefined;
    if (producer) {
      send(producer, { kind: "stop" });
      const result = await expect(producer, "producer-result", TEARDOWN_MS + 15_000, "producer").catch((err: Error) => {
        teardownErrors.push(err.message);
        return undefined;
      });
      producerSamples = result?.samples;
      producerErrors = result?.brokerErrors;
      if (result?.teardownError) teardownErrors.push(`producer: ${result.teardownError}`);
    }
    const brokerErrors = [
      ...relayReports.flatMap((r, k) => (r.brokerErrors ? [{ role: relayName(k), ...r.brokerErrors }] : [])),
      ...(producerErrors ? [{ role: "producer", ...producerErrors }] : []),
      ...fleetReports.flatMap((r, k) => (r.brokerErrors ? [{ role: `fleet process ${k}`, ...r.brokerErrors }] : [])),
    ];
    const serverExited = brokerSampler?.exited();

    const latency = mergeEncoded(reports.map((r) => r.latencyUs));
    const publishDelay = decodeHistogram(produced.publishDelayUs);
    const runSeconds = (produced.lastSentAt - produced.firstSentAt) / NS_PER_S;
    // Rate over the span between the first and last send; n messages span n-1 intervals.
    const achievedRate = produced.published > 1 && runSeconds > 0 ? (produced.published - 1) / runSeconds : w.rate;
    const counts = reports.reduce((sum, r) => addCounts(sum, r.counts), zeroCounts());
    const fleetSamples = reports.map((r) => r.samples);
    const stoppedEarly = produced.stoppedEarly ? { published: produced.published, total, afterS: (nowNs() - startAt) / NS_PER_S } : undefined;
    const judged = judgeGenerators({
      targetRate: w.rate,
      achievedRate,
      publishDelayP99Us: percentiles(publishDelay).p99,
      fleet: fleetSamples,
      producerSharesRelay: inProcess,
      producerOwnShare: produced.ownBusyShare,
      ...(stoppedEarly ? { stoppedEarly } : {}),
      relay: relayReport.samples,
      window: { fromS: w.warmup, toS: w.warmup + w.duration },
    });
    const reasons = judged.saturated;
    const histograms = {
      latencyUs: encodeHistogram(latency),
      latencyFromSentUs: encodeHistogram(mergeEncoded(reports.map((r) => r.latencyFromSentUs))),
      publishDelayUs: produced.publishDelayUs,
      connectUs: encodeHistogram(mergeEncoded(reports.map((r) => r.connectUs))),
      firstEventUs: encodeHistogram(mergeEncoded(reports.map((r) => r.firstEventUs))),
      ...(fault ? { reconnectUs: encodeHistogram(mergeEncoded(reports.map((r) => r.reconnectUs))) } : {}),
      ...(throttle ? { latencySlowUs: encodeHistogram(mergeEncoded(reports.flatMap((r) => (r.slow ? [r.slow.latencyUs] : [])))) } : {}),
    };
    return {
      id: cellId(spec),
      transport: spec.transport,
      broker: spec.broker,
      scenario: w.scenario,
      params: paramsOf(spec, processes),
      status: "ok",
      startedAt,
      finishedAt: new Date().toISOString(),
      counts,
      subscribersWithLoss: reports.reduce((n, r) => n + r.subscribersWithLoss, 0),
      // With one partition, a stream's order is its partition's.
      ...(perPartition ? { reorderedWithinPartition: w.partitions > 1 ? reports.reduce((n, r) => n + r.reorderedWithinPartition, 0) : counts.reordered } : {}),
      connections: {
        attempted: w.clients,
        open: w.clients - failedConnections,
        failed: failedConnections,
        disconnects: reports.reduce((n, r) => n + r.disconnects, 0),
        ...(firstError ? { firstError } : {}),
      },
      latencyUs: percentiles(latency),
      latencyFromSentUs: percentiles(decodeHistogram(histograms.latencyFromSentUs)),
      publishDelayUs: percentiles(publishDelay),
      connectUs: percentiles(decodeHistogram(histograms.connectUs)),
      firstEventUs: percentiles(decodeHistogram(histograms.firstEventUs)),
      // Counted by arrival, so a system that lags shows the rate it really delivered.
      throughput: reports.reduce((n, r) => n + r.arrivedInWindow, 0) / w.duration,
      publishedPerSec: achievedRate,
      published: produced.published,
      publishErrors: unacked?.publishErrors ?? produced.publishErrors,
      ...(unacked
        ? { unacknowledged: unacked.seqs.reduce((n, s) => n + s.length, 0), lostUnacknowledged: reports.reduce((n, r) => n + r.lostUnacknowledged, 0) }
        : {}),
      replayed: relayReports.reduce((n, r) => n + r.replayed, 0),
      idleMemoryPerConnection: idleMemoryPerConnection(idleBefore, idleAfter),
      // A killed relay takes its byte counts with it: no figure rather than a partial one.
      ...(wireBytes !== null && !fault?.restartsRelay
        ? { wire: { bytes: wireBytes, bytesPerDelivery: counts.delivered > 0 ? wireBytes / counts.delivered : null } }
        : {}),
      ...(relayCount > 1 ? { relays: { count: relayCount, connections: idleProbes.map((p) => p.connections), sharedBroadcasts: sharesBroadcasts } } : {}),
      drainedComplete: reports.every((r) => r.drainedComplete),
      ...(fault
        ? {
            fault: {
              kind: faultName!,
              atS: fault.atS,
              struck: fault.struck,
              ...(fault.recoveredInS !== undefined ? { recoveredInS: fault.recoveredInS } : {}),
              ...(proxy ? { viaProxy: true } : {}),
              ...(brokerProxy ? { brokerViaProxy: true } : {}),
              ...(namespace ? { relayInNamespace: true } : {}),
            },
            reconnects: {
              count: reports.reduce((n, r) => n + r.reconnects, 0),
              timeUs: percentiles(decodeHistogram(histograms.reconnectUs!)),
            },
          }
        : {}),
      ...(history ? { durability: history } : {}),
      ...(throttle
        ? {
            backpressure: {
              slowClients: slowFlags.filter(Boolean).length,
              slowReadBytesPerSec: w.slowReadRate,
              slowCounts: reports.reduce((sum, r) => (r.slow ? addCounts(sum, r.slow.counts) : sum), zeroCounts()),
              slowLatencyUs: percentiles(decodeHistogram(histograms.latencySlowUs!)),
              ...relayGrowth(relayReport.samples, w.warmup),
            },
          }
        : {}),
      clockAnomalies: reports.reduce((n, r) => n + r.clockAnomalies, 0),
      resources: {
        relay: relayReport.samples,
        ...(relayCount > 1 ? { relays: relayReports.map((r) => r.samples) } : {}),
        fleet: fleetSamples,
        relayRssAtReadyBytes: relayReport.rssAtReadyBytes,
        ...(producerSamples ? { producer: producerSamples } : {}),
        ...(brokerSampler ? { broker: brokerSampler.stop() } : {}),
      },
      saturated: reasons.length > 0,
      saturationReasons: reasons,
      ...(judged.relayLimit.length > 0 ? { relayLimit: judged.relayLimit } : {}),
      ...(stoppedEarly ? { producerStopped: stoppedEarly } : {}),
      ...(teardownErrors.length > 0 ? { teardownErrors } : {}),
      ...(brokerErrors.length > 0 || serverExited ? { brokerTrouble: { errors: brokerErrors, ...(serverExited ? { serverExited } : {}) } } : {}),
      histograms,
    };
  } catch (err) {
    return failedCell(spec, processes, startedAt, err instanceof Error ? err.message : String(err));
  } finally {
    brokerSampler?.stop();
    if (fault) clearTimeout(fault.timer);
    await proxy?.close();
    await brokerProxy?.close();
    await throttle?.close();
    // Children leave by themselves after their last report; a stuck one is killed.
    await Promise.all(children.map((child) => reap(child, 2_000)));
    // Once its relay has gone, so its veth pair goes with it.
    await namespace?.remove();
  }
}

/** The fault a cell's scenario strikes: the workload's in the reconnect scenario, a broker restart in durability. */
export function faultOf(w: Pick<Workload, "scenario" | "fault">): string | undefined {
  return w.scenario === "reconnect" ? w.fault : w.scenario === "durability" ? "restart-broker" : undefined;
}

/**
 * A cell's fault, struck at `faultAt` seconds into the measured window (0: its
 * middle). `done` settles when the fault is over (a restarted relay or broker listens,
 * a cut path is whole).
 */
function scheduleFault(target: FaultTarget, name: string, w: Workload, measureFrom: number, hooks: CellHooks) {
  const fault = getFault(name);
  const atS = w.faultAt > 0 ? w.faultAt : w.duration / 2;
  const state = {
    atS,
    struck: false,
    restartsRelay: fault.name === "kill-relay",
    /** From the strike until the fault was over: how long a restarted relay took to listen again. */
    recoveredInS: undefined as number | undefined,
    timer: undefined as NodeJS.Timeout | undefined,
    done: Promise.resolve(),
  };
  const delayMs = Math.max(0, (measureFrom + atS * NS_PER_S - nowNs()) / 1e6);
  state.done = new Promise<void>((resolve, reject) => {
    state.timer = setTimeout(() => {
      const struckAt = nowNs();
      state.struck = true;
      hooks.phase(`measuring (fault: ${fault.summary})`);
      fault.strike(target).then(() => {
        if (fault.lasting) state.recoveredInS = (nowNs() - struckAt) / NS_PER_S;
        resolve();
      }, reject);
    }, delayMs);
  });
  // A fault that fails is reported when the runner awaits `done`, not as an unhandled rejection.
  state.done.catch(() => {});
  return state;
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

/**
 * The broker server's RSS (its whole process tree), once a second, `t` in seconds from
 * the first intended send; and whether the server died meanwhile, other than by the
 * scenario's own restart (`restarting()`).
 */
function sampleBroker(pid: () => number, startAt: number, restarting: () => boolean): { stop(): BrokerSample[]; exited(): { atS: number; pid: number } | undefined } {
  const samples: BrokerSample[] = [];
  let exited: { atS: number; pid: number } | undefined;
  const check = (): void => {
    // Asked each time: a restarted server has a new pid.
    const p = pid();
    const t = Math.round((nowNs() - startAt) / 1e6) / 1000;
    const rssBytes = treeRssBytes(p);
    if (rssBytes !== null) samples.push({ t, rssBytes });
    else if (!restarting() && !exited) exited = { atS: t, pid: p };
  };
  const timer = setInterval(check, 1000);
  return {
    stop() {
      clearInterval(timer);
      return samples;
    },
    exited() {
      if (!exited && !restarting()) check();
      return exited;
    },
  };
}

/** How long a producer may take past its schedule before it is stopped and its cell judged on what it published. */
export function producedDeadlineMs(w: Pick<Workload, "warmup" | "duration">): number {
  return (w.warmup + w.duration) * 2000 + 10_000;
}

/** The producer's report when it finishes, or, past the deadline, when it was told to stop: what was measured is kept either way. */
async function producedOrStopped(source: ChildProcess, role: string, w: Workload): Promise<ProducerReport> {
  try {
    return (await expect(source, "produced", producedDeadlineMs(w), role)).report;
  } catch (err) {
    if (!/no "produced" within/.test((err as Error).message)) throw err;
    const stopped = expect(source, "produced", 30_000, role);
    send(source, { kind: "stop-producing" });
    return (await stopped).report;
  }
}

/** Relay processes a cell runs: `direct` has none to add (its clients subscribe to the broker), so one (listening nowhere). */
export function relaysOf(transport: string, w: Pick<Workload, "relays">): number {
  return getTransport(transport).listener === "none" ? 1 : w.relays;
}

function relayName(k: number): string {
  return k === 0 ? "relay" : `relay ${k + 1}`;
}

/** Several relays' memory probes as one: what the clients cost the relays together. */
function sumProbes(probes: readonly MemoryProbe[]): MemoryProbe {
  return probes.reduce((a, p) => ({ rssBytes: a.rssBytes + p.rssBytes, heapBytes: a.heapBytes + p.heapBytes, connections: a.connections + p.connections }), {
    rssBytes: 0,
    heapBytes: 0,
    connections: 0,
  });
}

function idleMemoryPerConnection(before: MemoryProbe, after: MemoryProbe): CellResult["idleMemoryPerConnection"] {
  const n = after.connections;
  return {
    connections: n,
    rssBytes: n > 0 ? (after.rssBytes - before.rssBytes) / n : null,
    heapBytes: n > 0 ? (after.heapBytes - before.heapBytes) / n : null,
  };
}

function cellId(spec: CellSpec): string {
  return `${spec.transport}.${spec.broker}.${spec.workload.scenario}.r${spec.repetition}`;
}

function paramsOf(spec: CellSpec, fleetProcesses: number): CellResult["params"] {
  const w = spec.workload;
  return {
    rate: w.rate,
    size: w.size,
    topics: w.topics,
    clients: w.clients,
    durationS: w.duration,
    warmupS: w.warmup,
    fleetProcesses,
    repetition: spec.repetition,
    ...(spec.transport === "shortpoll" ? { pollIntervalS: w.pollInterval } : {}),
    ...(relaysOf(spec.transport, w) > 1 ? { relays: w.relays } : {}),
    ...(getBroker(spec.broker).capabilities.ordering === "per-partition" ? { partitions: w.partitions } : {}),
    ...(getTransport(spec.transport).details ?? {}),
  };
}

/** A cell that could not run here (its broker is missing, or the pairing cannot exist); not a failure. */
export function unavailableCell(spec: CellSpec, reason: string): CellResult {
  const now = new Date().toISOString();
  return { ...failedCell(spec, fleetProcessesFor(spec.workload), now, reason), status: "unavailable" };
}

/** Why a transport × broker pairing cannot be measured at all, or null. */
export function pairingProblem(
  transport: string,
  broker: string,
  workload: Pick<Workload, "scenario" | "fault"> & Partial<Pick<Workload, "relays">> = { scenario: "steady", fault: "drop" },
  context: FaultContext = { ownsBrokerServer: false },
): string | null {
  const { scenario } = workload;
  const fault = faultOf(workload);
  if (scenario === "connections" && getTransport(transport).listener === "none") {
    return `${transport} × ${broker}: the connections scenario counts what a relay holds, and ${transport} has none (each client is a broker client of its own)`;
  }
  if (scenario === "scale-out" && getTransport(transport).listener === "none") {
    return `${transport} × ${broker}: the scale-out scenario adds relays, and ${transport} has none (its clients subscribe to the broker)`;
  }
  if (relaysOf(transport, { relays: workload.relays ?? 1 }) > 1) {
    if (getBroker(broker).inProcess && !getTransport(transport).adapterBroker) {
      return `${transport} × ${broker}: several relays cannot apply: an in-process broker lives inside one relay process, and ${transport}'s other relays would have nothing to subscribe to`;
    }
  }
  if (scenario === "backpressure" && getTransport(transport).listener === "none") {
    return `${transport} × ${broker}: the backpressure scenario slows clients of a relay, and ${transport} has none (a slow broker consumer is another measurement)`;
  }
  if (scenario === "backpressure" && getTransport(transport).newConnectionPerRequest) {
    return `${transport} × ${broker}: its client opens a new TCP connection for each request, and the backpressure scenario's throttle slows a connection, not a client`;
  }
  if (fault) {
    const problem = getFault(fault).problem(getTransport(transport), getBroker(broker), context);
    if (problem) return `${transport} × ${broker}: the ${fault} fault cannot apply: ${problem}`;
  }
  if (getTransport(transport).listener === "none" && getBroker(broker).inProcess) {
    return `direct × ${broker}: an in-process broker lives inside the relay process, so clients cannot subscribe to it directly`;
  }
  return null;
}

function failedCell(spec: CellSpec, processes: number, startedAt: string, error: string): CellResult {
  const none = percentiles(mergeEncoded([]));
  const empty = encodeHistogram(mergeEncoded([]));
  return {
    id: cellId(spec),
    transport: spec.transport,
    broker: spec.broker,
    scenario: spec.workload.scenario,
    params: paramsOf(spec, processes),
    status: "failed",
    error,
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

