/**
 * One cell (transport × broker × repetition): a relay (or several), the producer, and
 * client fleet processes, spoken to only through their handles (harness/roles.ts); what
 * they report becomes the result in harness/assemble.ts. What the scenario needs of the
 * cell (a fault, slow readers, a step after the drain) comes from its Scenario.
 */
import { nowNs, NS_PER_S } from "../core/clock.js";
import { OpenLoopSchedule } from "../core/schedule.js";
import { freshNamespace, topicName } from "../brokers/broker.js";
import type { CellResult, StruckNode, Workload } from "../results/schema.js";
import { baseUrlFor, type Transport } from "../transports/transport.js";
import { assemble, failedCell, fleetProcessesFor, relaysOf, sumProbes } from "./assemble.js";
import { producedDeadlineMs, sampleBroker, scheduleFault, type ScheduledFault } from "./cell-watch.js";
import type { FleetPlan, ProducerReport, RelayPlan, UpstreamSent } from "./ipc.js";
import { encodeHistogram, mergeEncoded } from "../core/histogram.js";
import { RelayNamespace } from "./netns.js";
import { getBroker, getTransport } from "./registry.js";
import { FleetHandle, forkChannel, ProducerHandle, RelayHandle, type Channel, type ChannelFactory } from "./roles.js";
import { getFault, type FaultTarget } from "./scenarios/faults.js";
import type { CellHooks, CellSpec } from "./scenarios/scenario.js";
import { TcpProxy } from "./tcp-proxy.js";
import { roundRobin, segmentOf } from "./segments.js";
import type { Scenario } from "./scenarios/scenario.js";
import { treeCpuUs } from "./proc.js";
import { getProxyKind } from "./proxies/index.js";
import { RunningProxy } from "./proxies/proxy.js";

export { fleetProcessesFor, relaysOf, unavailableCell, CLIENTS_PER_PROCESS } from "./assemble.js";
export { killChildren, setChildLog } from "./roles.js";
export type { CellHooks, CellSpec } from "./scenarios/scenario.js";

export const RELAY_DEFAULTS = {
  replayCapacity: 10_000,
  heartbeatMs: 15_000,
  retryMs: 3_000,
  host: "127.0.0.1",
} as const;

/** How long a proxy or browser cell waits for a connection to open or fail before it starts the schedule without it. */
const PROXY_OPEN_WAIT_MS = 5_000;

/** The proxies and namespace a cell's fault or scenario puts in its paths for the whole cell. */
interface Paths {
  namespace?: RelayNamespace;
  brokerProxy?: TcpProxy;
  clientProxy?: TcpProxy;
  throttle?: TcpProxy;
  /** The proxy scenario's nginx or HAProxy in front of the relays. */
  proxy?: RunningProxy;
}

export async function runCell(given: CellSpec, hooks: CellHooks, home: ChannelFactory = forkChannel): Promise<CellResult> {
  const spec = given.scenario.cellWorkload ? { ...given, workload: given.scenario.cellWorkload(given.workload) } : given;
  const w = spec.workload;
  // With workers, roles placed on one go there (harness/workers.ts); the rest start here.
  const channels = spec.workers?.channels ?? home;
  // Chat: the clients are the producers; no producer runs.
  const chat = spec.scenario.upstream === true;
  const startedAt = new Date().toISOString();
  const transport = getTransport(spec.transport);
  const inProcess = getBroker(spec.broker).inProcess;
  const total = OpenLoopSchedule.countFor(w.rate, w.warmup + w.duration);
  const faultName = spec.scenario.fault?.(w);
  const fault = faultName ? getFault(faultName) : undefined;
  // backpressure: floor(clients × slowClients) slow readers, spread evenly over the clients.
  const slowFlags = Array.from({ length: w.clients }, (_, i) => spec.scenario.slowClients === true && Math.floor((i + 1) * w.slowClients) > Math.floor(i * w.slowClients));
  const channelsUsed: Channel[] = [];
  const tracked: ChannelFactory = (script, role, place) => {
    const channel = channels(script, role, place);
    channelsUsed.push(channel);
    return channel;
  };
  const paths: Paths = {};
  const watching: { fault?: ScheduledFault; broker?: ReturnType<typeof sampleBroker>; proxy?: ReturnType<typeof sampleBroker> } = {};
  try {
    const apart = spec.workers ? workersProblem(spec.workload, spec.scenario) : null;
    if (apart) throw new Error(apart);
    // A relay in a network namespace of its own (the partition fault) listens on its end of a veth pair.
    if (fault?.netns) paths.namespace = await RelayNamespace.create();
    const plan = relayPlan(spec, total, await brokerPath(spec, fault?.proxy === "broker", paths), paths.namespace);
    if (chat) Object.assign(plan, { produce: false, total: 0, upstream: transport.listener !== "none" });
    const proxyKind = spec.scenario.proxy ? getProxyKind(spec.scenario.proxy(w)!) : undefined;
    if (proxyKind?.withoutAppAdvice) plan.withoutAccelHeader = true;
    // TLS and HTTP/2 ending at the proxy: the relays run the HTTP/1.1 side of the transport.
    if (proxyKind?.relayTransport) plan.transport = proxyKind.relayTransport(spec.transport) ?? spec.transport;
    hooks.phase("starting relay");
    const place = paths.namespace ? { namespace: paths.namespace } : {};
    const first = await RelayHandle.start(tracked, "relay", plan, place);
    // Several relays on the same broker; where an adapter passes broadcasts between them, only the first subscribes.
    const sharesBroadcasts = transport.adapterBroker !== undefined;
    const others = await Promise.all(
      Array.from({ length: relaysOf(transport, w) - 1 }, (_, k) => RelayHandle.start(tracked, `relay ${k + 2}`, { ...plan, produce: false, subscribe: !sharesBroadcasts }, place)),
    );
    const relays = [first, ...others];
    // Proxies in the clients' path for the whole cell: the cut fault's, and the slow readers' throttle.
    if (fault?.proxy === "clients") paths.clientProxy = await TcpProxy.start(RELAY_DEFAULTS.host, first.port);
    // Test-only: a delay each way in the clients' path, a known answer for latency.
    else if (clientDelayMs() > 0 && transport.listener !== "none") paths.clientProxy = await TcpProxy.start(RELAY_DEFAULTS.host, first.port, { delayMs: clientDelayMs() });
    if (proxyKind) {
      hooks.phase(`starting ${proxyKind.name}`);
      paths.proxy = await RunningProxy.start(proxyKind, RELAY_DEFAULTS.host, relays.map((r) => ({ host: RELAY_DEFAULTS.host, port: r.port })));
    }
    if (slowFlags.includes(true)) paths.throttle = await TcpProxy.start(RELAY_DEFAULTS.host, first.port, { readBytesPerSec: w.slowReadRate });
    // A real broker gets the producer in a process of its own, which outlives a killed relay.
    const { broker, namespace, partitions, topics, rate, size } = plan;
    const producer = chat
      ? undefined
      : inProcess
      ? new ProducerHandle(first.channel)
      : await ProducerHandle.start(tracked, { broker, ...(spec.brokerUrl ? { brokerUrl: spec.brokerUrl } : {}), namespace, partitions, topics, rate, size, total });

    hooks.phase(`connecting ${w.clients} clients`);
    // Behind the proxy scenario's proxy every client connects to it, whichever relay it would have had.
    const baseUrls = paths.proxy
      ? relays.map(() => (paths.proxy!.kind.tls ? `https://${RELAY_DEFAULTS.host}:${paths.proxy!.port}` : baseUrlFor(transport, RELAY_DEFAULTS.host, paths.proxy!.port)))
      : [paths.clientProxy ? baseUrlFor(transport, RELAY_DEFAULTS.host, paths.clientProxy.port) : first.baseUrl, ...others.map((o) => o.baseUrl)];
    const layout = fleetLayout(w, spec.workers?.count ?? 0);
    const processes = layout.length;
    // A worker's roles run on this host's clock: its offset is read just before they start, and again once they have reported.
    const clocksAtStart = await spec.workers?.readClocks();
    const opened = await Promise.all(
      layout.map((share, k) =>
        FleetHandle.start(tracked, `fleet process ${k}`, fleetPlan(spec, transport, share, baseUrls, plan.namespace, slowFlags, paths), connectTimeoutMs(w), share.worker !== undefined ? { worker: share.worker } : {}),
      ),
    );
    const fleets = opened.map((o) => o.fleet);
    // Every client connected and nothing sent yet: what an idle connection costs the relays.
    const idleProbes = await Promise.all(relays.map((r) => r.probeMemory()));

    // Start a little in the future so every process has the times before the first send.
    const startAt = nowNs() + 0.3 * NS_PER_S;
    let restartingBroker = false;
    const cluster = spec.brokerServer?.cluster;
    // A cluster's memory is its running nodes'; a node the fault killed is no server that died.
    watching.broker = spec.brokerServer ? sampleBroker(cluster ? cluster.pids : spec.brokerServer.pid, startAt, () => restartingBroker || node !== undefined) : undefined;
    watching.proxy = paths.proxy ? sampleBroker(() => paths.proxy!.pid(), startAt, () => false) : undefined;
    const brokerCpuFrom = brokerCpuUs(spec);
    paths.proxy?.startWindow();
    const measureFrom = startAt + w.warmup * NS_PER_S;
    const times = { startAt, measureFrom, measureUntil: measureFrom + w.duration * NS_PER_S };
    for (const role of [...relays, ...(inProcess || !producer ? [] : [producer]), ...fleets]) role.start(times);
    hooks.phase("measuring");
    let node: StruckNode | undefined;
    const target = faultTarget(spec, relays, paths, times, plan, place, tracked, (on) => (restartingBroker = on), (n) => (node = n));
    watching.fault = faultName ? scheduleFault(target, faultName, w, measureFrom, hooks) : undefined;
    const delivered = new Array<number>(processes).fill(0);
    const expected = chat ? chatExpected(total, w.clients, w.topics) : Array.from({ length: w.clients }, (_, i) => i % w.topics).reduce((sum, t) => sum + perTopic(total, w.topics, t), 0);
    fleets.forEach((fleet, k) =>
      fleet.onProgress((n) => {
        delivered[k] = n;
        hooks.progress(delivered.reduce((a, b) => a + b, 0), expected);
      }),
    );
    const produced = producer ? await producer.produced(producedDeadlineMs(w)) : upstreamProduced(await Promise.all(fleets.map((f) => f.upstreamSent(producedDeadlineMs(w)))), w.clients);
    const stoppedAfterS = produced.stoppedEarly ? (nowNs() - startAt) / NS_PER_S : undefined;
    // The relay is replaced while a fault restarts it: wait for that, then ask the one serving.
    if (watching.fault?.struck) await watching.fault.done;
    else if (watching.fault) clearTimeout(watching.fault.timer);

    hooks.phase("draining");
    const drainMs = w.drain * 1000;
    // What the broker never acknowledged (a publish failed or went unanswered): its loss is no broker's loss of a message it had.
    const unacknowledged = inProcess || !producer ? undefined : await producer.settle(drainMs);
    const fleetReports = await Promise.all(fleets.map((f) => f.finish(produced.lastSeq, drainMs, unacknowledged?.seqs)));
    const clocksAtEnd = await spec.workers?.readClocks();
    // Where leadership went: asked once the cell has drained (a cluster that lost its quorum has none).
    if (node) node.leaderAfter = await leaderOf(spec, plan.namespace).then((host) => spec.brokerServer!.cluster!.nodeAt(host), () => -1);
    const proxyCpuUs = paths.proxy?.windowCpuUs() ?? null;
    // A fault that kills or restarts a server takes its CPU time with it: no figure then.
    const brokerCpuTo = watching.fault?.struck ? null : brokerCpuUs(spec);
    const brokerCpu = brokerCpuFrom !== null && brokerCpuTo !== null ? brokerCpuTo - brokerCpuFrom : null;
    const extra = (await spec.scenario.afterDrain?.({ spec, namespace: plan.namespace, lastSeq: produced.lastSeq, unacknowledged: unacknowledged?.seqs ?? [], hooks })) ?? {};
    // Everything is measured now: what goes wrong from here on is noted beside the figures, never instead of them.
    const teardownErrors: string[] = [];
    // Relays and producer stop together: a teardown that hangs costs its timeout once, not once per role.
    const [relayReports, producerResult] = await Promise.all([Promise.all(target.relays().map((r) => r.stop(teardownErrors))), inProcess || !producer ? undefined : producer.stop(teardownErrors)]);
    const f = watching.fault;
    return assemble(spec, {
      startedAt,
      total,
      startAt,
      ...(stoppedAfterS !== undefined ? { stoppedAfterS } : {}),
      connected: opened,
      idleBefore: sumProbes(relays.map((r) => r.idle)),
      idleProbes,
      produced,
      ...(unacknowledged ? { unacknowledged } : {}),
      fleets: fleetReports,
      relays: relayReports,
      ...(producerResult ? { producer: producerResult } : {}),
      ...(watching.broker ? { broker: { samples: watching.broker.stop(), cpuUs: brokerCpu, ...withExit(watching.broker.exited()) } } : {}),
      ...(paths.proxy && watching.proxy ? { proxy: { kind: paths.proxy.kind.name, version: paths.proxy.version, cpuUs: proxyCpuUs, samples: watching.proxy.stop(), ...withExit(watching.proxy.exited()) } } : {}),
      ...(f && faultName ? { fault: { kind: faultName, atS: f.atS, struck: f.struck, ...(f.recoveredInS !== undefined ? { recoveredInS: f.recoveredInS } : {}), restartsRelay: f.restartsRelay, ...(node ? { node } : {}) } } : {}),
      paths: { viaProxy: paths.clientProxy !== undefined, brokerViaProxy: paths.brokerProxy !== undefined, relayInNamespace: paths.namespace !== undefined },
      ...(paths.throttle ? { slow: { flags: slowFlags, readBytesPerSec: w.slowReadRate } } : {}),
      sharesBroadcasts,
      ...(chat ? { chat: { notSent: produced.publishErrors } } : {}),
      extra,
      teardownErrors,
      ...(spec.workers && clocksAtStart && clocksAtEnd
        ? { workers: spec.workers.names.map((name, j) => ({ name, clients: layout.filter((s) => s.worker === j).reduce((n, s) => n + s.ids.length, 0), start: clocksAtStart[j]!, end: clocksAtEnd[j]! })) }
        : {}),
    });
  } catch (err) {
    return failedCell(spec, startedAt, err instanceof Error ? err.message : String(err));
  } finally {
    watching.broker?.stop();
    watching.proxy?.stop();
    if (watching.fault) clearTimeout(watching.fault.timer);
    for (const proxy of [paths.clientProxy, paths.brokerProxy, paths.throttle]) await proxy?.close();
    await paths.proxy?.stop();
    // Roles leave by themselves after their last report; a stuck one is ended.
    await Promise.all(channelsUsed.map((c) => c.close(2_000)));
    // Once its relay has gone, so its veth pair goes with it.
    await paths.namespace?.remove();
  }
}

function withExit(exited: { atS: number; pid: number } | undefined): { exited?: { atS: number; pid: number } } {
  return exited ? { exited } : {};
}

/** Chat: deliveries due when `total` messages go round-robin over `clients` senders, each to the other members of its room. */
function chatExpected(total: number, clients: number, rooms: number): number {
  let n = 0;
  for (let sender = 0; sender < clients; sender++) {
    const members = Math.floor(clients / rooms) + (sender % rooms < clients % rooms ? 1 : 0);
    n += perTopic(total, clients, sender) * (members - 1);
  }
  return n;
}

/** Chat: the fleets' upstream reports as one producer's, each sender its own stream (by global index). */
function upstreamProduced(parts: UpstreamSent[], clients: number): ProducerReport {
  const lastSeq = new Array<number>(clients).fill(0);
  for (const p of parts) p.senders.forEach((sender, i) => (lastSeq[sender] = p.lastSeq[i]!));
  const sent = parts.filter((p) => p.published > 0);
  return {
    published: parts.reduce((n, p) => n + p.published, 0),
    lastSeq,
    firstSentAt: sent.length > 0 ? Math.min(...sent.map((p) => p.firstSentAt)) : 0,
    lastSentAt: Math.max(0, ...sent.map((p) => p.lastSentAt)),
    lastIntendedAt: Math.max(...parts.map((p) => p.lastIntendedAt)),
    // A message due while its client was down was never sent: the publish that failed.
    publishErrors: parts.reduce((n, p) => n + p.notSent, 0),
    publishDelayUs: encodeHistogram(mergeEncoded(parts.map((p) => p.publishDelayUs))),
    ownBusyShare: Math.max(0, ...parts.map((p) => p.ownBusyShare)),
  };
}

/**
 * Why a workload's cells cannot put their clients on workers, or null. Fleets on workers
 * reach the relays over the network; what sits on this host's loopback in the clients'
 * path (a proxy, a throttle, a relay in a namespace, the broker a direct client
 * subscribes to) they cannot reach, and browsers on workers are not tested yet.
 */
export function workersProblem(w: Workload, scenario: Scenario): string | null {
  const direct = w.transports.filter((t) => getTransport(t).listener === "none");
  if (direct.length > 0) return `--workers: transport ${direct.join(", ")} subscribes each client to the broker itself; with workers, clients reach relays only`;
  if (scenario.proxy) return `--workers: the ${scenario.name} scenario puts a proxy on this host's loopback in the clients' path, which workers cannot reach`;
  if (scenario.slowClients) return `--workers: the ${scenario.name} scenario reads through a throttle on this host's loopback, which workers cannot reach`;
  const fault = scenario.fault?.(w);
  if (fault && (getFault(fault).proxy === "clients" || getFault(fault).netns)) return `--workers: fault ${fault} puts the clients' path through this host's loopback or a namespace, which workers cannot reach`;
  if (w.clientKind === "browser") return "--workers: browser clients run on this machine only";
  if (clientDelayMs() > 0) return "--workers: RTBENCH_TEST_CLIENT_DELAY_MS puts a proxy on this host's loopback";
  return null;
}

/** A delay each way in the clients' path, from RTBENCH_TEST_CLIENT_DELAY_MS: for known-answer tests only. */
export function clientDelayMs(): number {
  const n = Number(process.env.RTBENCH_TEST_CLIENT_DELAY_MS ?? 0);
  return Number.isFinite(n) && n > 0 ? n : 0;
}

/** How long a fleet process may take to connect its share: a browser tab (a context, a page) takes far longer to open than a socket. */
function connectTimeoutMs(w: Workload): number {
  const tabs = w.clientKind === "browser" ? Math.ceil(w.clients / w.connectionsPerTab) : 0;
  const paced = w.connectRate > 0 ? (1000 * w.clients) / w.connectRate : 0;
  return 30_000 + 5 * w.clients + 2_000 * tabs + paced;
}

/** Messages stream t receives when `total` go round-robin over `topics`. */
function perTopic(total: number, topics: number, t: number): number {
  return Math.floor(total / topics) + (t < total % topics ? 1 : 0);
}

/** The broker URL the relay uses: the broker's own, or a proxy in front of it when a fault cuts that path. */
async function brokerPath(spec: CellSpec, proxied: boolean, paths: Paths): Promise<string | undefined> {
  if (!proxied || !spec.brokerUrl) return spec.brokerUrl;
  // A relay in a namespace reaches the proxy on the host end of its veth pair, since a namespace cannot see loopback.
  const host = paths.namespace?.hostIp ?? RELAY_DEFAULTS.host;
  const target = new URL(spec.brokerUrl);
  paths.brokerProxy = await TcpProxy.start(host, Number(target.port), { targetHost: target.hostname });
  target.hostname = host;
  target.port = String(paths.brokerProxy.port);
  return target.toString();
}

function relayPlan(spec: CellSpec, total: number, brokerUrl: string | undefined, namespace: RelayNamespace | undefined): RelayPlan {
  const w = spec.workload;
  return {
    transport: spec.transport,
    broker: spec.broker,
    ...(brokerUrl ? { brokerUrl } : {}),
    namespace: freshNamespace(),
    partitions: w.partitions,
    topics: w.topics,
    rate: w.rate,
    size: w.size,
    total,
    produce: getBroker(spec.broker).inProcess,
    history: false,
    subscribe: true,
    ...(spec.adapterUrl ? { adapterUrl: spec.adapterUrl } : {}),
    port: 0,
    ...RELAY_DEFAULTS,
    // A relay in a namespace listens on its end of the veth pair, where the clients reach it;
    // with workers, on this host's address that they reach it at.
    ...(namespace ? { host: namespace.relayIp } : spec.workers ? { host: spec.workers.relayHost } : {}),
    heartbeatMs: w.heartbeat * 1000,
    // SSE's retry: advises the workload's reconnect delay, which a browser's EventSource honours.
    retryMs: w.reconnectDelay * 1000,
  };
}

/** One fleet process's share: the global indexes of its clients, and the worker it runs on (absent: this machine). */
export interface FleetShare {
  ids: number[];
  worker?: number;
  /** Its place among this machine's fleet processes (each takes its own source address). */
  local?: number;
}

/**
 * Which fleet process opens which clients. On this machine: client i goes to process
 * i mod P. With n workers, worker j takes segment j of the clients (harness/segments.ts),
 * spread round-robin over as many processes as its share needs.
 */
export function fleetLayout(w: Workload, workers: number): FleetShare[] {
  const all = Array.from({ length: w.clients }, (_, i) => i);
  const processes = fleetProcessesFor(w);
  if (workers === 0) return roundRobin(all, processes).map((ids, k) => ({ ids, local: k }));
  return Array.from({ length: workers }, (_, j) => segmentOf(w.clients, j, workers)).flatMap((ids, j) =>
    ids.length === 0 ? [] : roundRobin(ids, Math.max(1, Math.ceil((processes * ids.length) / w.clients))).map((part) => ({ ids: part, worker: j })),
  );
}

/** Fleet process's share of the clients: its topics and relays round-robin by global index. */
function fleetPlan(spec: CellSpec, transport: Transport, share: FleetShare, baseUrls: string[], namespace: string, slowFlags: boolean[], paths: Paths): FleetPlan {
  const w = spec.workload;
  const mine = <T>(all: T[]): T[] => share.ids.map((i) => all[i]!);
  const k = share.local;
  const relayCount = relaysOf(transport, w);
  const isDirect = transport.listener === "none";
  const perPartition = getBroker(spec.broker).capabilities.ordering === "per-partition";
  const browser = w.clientKind === "browser";
  return {
    transport: spec.transport,
    baseUrls,
    topics: mine(Array.from({ length: w.clients }, (_, i) => i % w.topics)),
    // Clients go round-robin over the relays, as a load balancer without affinity would.
    relays: mine(Array.from({ length: w.clients }, (_, i) => i % relayCount)),
    ...(paths.throttle ? { slow: { clients: mine(slowFlags), baseUrl: baseUrlFor(transport, RELAY_DEFAULTS.host, paths.throttle.port) } } : {}),
    // Spread source addresses so each process has its own ephemeral port range
    // (a relay in a namespace is reached over its veth pair, not loopback).
    ...(paths.namespace || k === undefined ? {} : { localAddress: `127.0.0.${1 + (k % 250)}` }),
    // Each direct client opens a broker connection, each browser tab a context: fewer at once.
    connectConcurrency: isDirect || browser ? 16 : 256,
    // Its share of the paced rate, in proportion to its clients, so every process finishes opening together.
    ...(w.connectRate > 0 ? { connectRate: (w.connectRate * share.ids.length) / w.clients } : {}),
    // Behind a proxy a stream may answer only once messages flow (a buffering proxy), and a
    // browser holds a stream past its per-origin limit unopened: the schedule starts without it.
    ...(spec.scenario.proxy || browser ? { openWaitMs: PROXY_OPEN_WAIT_MS } : {}),
    ...(browser ? { browser: { connectionsPerTab: w.connectionsPerTab, ...(w.wsReconnect === "loop" ? { wsReconnectMs: w.reconnectDelay * 1000 } : {}) } } : {}),
    pollIntervalMs: w.pollInterval * 1000,
    ...(isDirect ? { broker: { name: spec.broker, namespace, ...(spec.brokerUrl ? { url: spec.brokerUrl } : {}), partitions: w.partitions } } : {}),
    ...(w.reconnect === "fixed" || w.reconnect === "backoff" ? { reconnect: { kind: w.reconnect, delayMs: w.reconnectDelay * 1000 } } : {}),
    ...(perPartition && w.partitions > 1 ? { partitions: w.partitions } : {}),
    ...(spec.scenario.upstream
      ? {
          chat: {
            clients: w.clients,
            rooms: w.topics,
            ids: mine(Array.from({ length: w.clients }, (_, i) => i)),
            rate: w.rate,
            total: OpenLoopSchedule.countFor(w.rate, w.warmup + w.duration),
            size: w.size,
            upAck: w.upAck === "on",
          },
        }
      : {}),
  };
}

/** The levers a fault pulls on this cell; `relays()` is whoever serves now (a killed relay is replaced). */
function faultTarget(
  spec: CellSpec,
  relays: RelayHandle[],
  paths: Paths,
  times: Parameters<RelayHandle["start"]>[0],
  plan: RelayPlan,
  place: { namespace?: RelayNamespace },
  channels: ChannelFactory,
  restarting: (on: boolean) => void,
  struck: (node: StruckNode) => void,
): FaultTarget & { relays(): RelayHandle[] } {
  const w: Workload = spec.workload;
  const cut = async (proxy: TcpProxy | undefined): Promise<void> => {
    const ms = w.faultDuration * 1000;
    proxy!.cut(ms);
    await new Promise((resolve) => setTimeout(resolve, ms));
  };
  return {
    relays: () => relays,
    async dropClients() {
      relays[0]!.dropClients();
    },
    async restartRelay() {
      await relays[0]!.channel.kill();
      // Same port, so clients reconnect to the address they know; it refills its replay buffer from the broker's history.
      relays[0] = await RelayHandle.start(channels, "relay", { ...plan, port: relays[0]!.port, history: true }, place);
      relays[0].start(times);
    },
    cutClients: () => cut(paths.clientProxy),
    async restartBroker() {
      restarting(true);
      await spec.brokerServer!.restart!();
      restarting(false);
    },
    partitionBroker: () => paths.namespace!.partition(paths.brokerProxy!.port, w.faultDuration * 1000),
    cutBroker: () => cut(paths.brokerProxy),
    async nodeFault(action, role) {
      const cluster = spec.brokerServer!.cluster!;
      const leader = cluster.nodeAt(await leaderOf(spec, plan.namespace));
      if (leader < 0) throw new Error(`${spec.broker}: its leader is no node of the cluster rtbench started`);
      // A follower: the next node round from the leader.
      const node = role === "leader" ? leader : (leader + 1) % cluster.nodes;
      struck({ index: node, role, leaderBefore: leader });
      if (action === "kill") return cluster.kill(node);
      if (action === "partition") return cluster.partition(node, w.faultDuration * 1000);
      await cluster.kill(node);
      const from = nowNs();
      await new Promise((resolve) => setTimeout(resolve, w.faultDuration * 1000));
      await cluster.restart(node);
      return (nowNs() - from) / NS_PER_S;
    },
  };
}

/** How long the cluster may take to say which node leads: a client may wait forever for a node it cannot reach. */
const LEADER_TIMEOUT_MS = 15_000;

/**
 * The cluster node leading the cell's first topic now, as its broker's client reports it.
 * Asked again, a second apart, until one answer comes within LEADER_TIMEOUT_MS: just after
 * a failover a node may have no leader to name yet, or time out.
 */
async function leaderOf(spec: CellSpec, namespace: string): Promise<string> {
  const broker = getBroker(spec.broker);
  const topic = topicName(namespace, 0);
  const deadline = Date.now() + LEADER_TIMEOUT_MS;
  let last: unknown;
  while (Date.now() < deadline) {
    let timer: NodeJS.Timeout | undefined;
    try {
      return await Promise.race([
        broker.leaderOf!({ url: spec.brokerUrl!, partitions: spec.workload.partitions }, topic),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error("no answer")), Math.max(0, deadline - Date.now()));
        }),
      ]);
    } catch (err) {
      last = err;
      await new Promise((resolve) => setTimeout(resolve, 1000));
    } finally {
      clearTimeout(timer);
    }
  }
  throw new Error(`${spec.broker}: no node said which leads ${topic} within ${LEADER_TIMEOUT_MS / 1000} s (${(last as Error | undefined)?.message ?? "no answer"})`);
}

/** CPU time of the broker server this run owns (every node of a cluster), in µs; null when rtbench does not run it. */
function brokerCpuUs(spec: CellSpec): number | null {
  const server = spec.brokerServer;
  if (!server) return null;
  const pids = server.cluster ? server.cluster.pids() : [server.pid()];
  const each = pids.map(treeCpuUs);
  return each.every((c): c is number => c !== null) ? each.reduce((a, b) => a + b, 0) : null;
}
