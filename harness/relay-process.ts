/**
 * Child process for one cell's server side: broker connection, relay and, when the
 * broker is in-process (it cannot be shared across processes), the producer.
 */
import { closeWithin, send, sendFinal, serveCoordinator, TEARDOWN_MS, type MemoryProbe, type RelayPlan, type RelayReport, type StartTimes } from "./ipc.js";
import { brokerCountsReport, brokerErrorsReport } from "../brokers/errors.js";
import { produceForCoordinator } from "./producer.js";
import { startRelay, type RunningRelay } from "./relay.js";
import { Sampler } from "../core/sampler.js";
import { encodeHistogram } from "../core/histogram.js";

let plan: RelayPlan | undefined;
let relay: RunningRelay | undefined;
let producer: { stop(): void } | undefined;
let rssAtReadyBytes = 0;
/** CPU used from the start of the schedule: the relay's CPU per upstream message. */
let cpuAtStart: NodeJS.CpuUsage | undefined;
const sampler = new Sampler(1000, () => relay?.sendQueueBytes() ?? 0);

/** Memory after a full collection, so what is left is what connections really hold. */
function probeMemory(): MemoryProbe {
  // The relay runs with --expose-gc; twice, since the first pass can leave finalizers' garbage.
  globalThis.gc?.();
  globalThis.gc?.();
  const m = process.memoryUsage();
  return { rssBytes: m.rss, heapBytes: m.heapUsed + m.external, connections: relay?.server.connections() ?? 0 };
}

function start(times: StartTimes): void {
  if (!plan || !relay) throw new Error("start before init");
  sampler.start(times.startAt);
  if (relay.upstream) relay.upstream.measureFrom = times.measureFrom;
  cpuAtStart = process.cpuUsage();
  if (plan.produce) producer = produceForCoordinator(relay.broker, plan, times);
}

serveCoordinator(async (m) => {
  switch (m.kind) {
    case "init-relay":
      plan = m.plan;
      relay = await startRelay(plan);
      rssAtReadyBytes = process.memoryUsage().rss;
      send(process, { kind: "ready", port: relay.port, baseUrl: relay.baseUrl, idle: probeMemory() });
      break;
    case "drop-clients":
      relay?.dropClients();
      break;
    case "probe-memory":
      send(process, { kind: "memory", idle: probeMemory() });
      break;
    case "start":
      start(m.times);
      break;
    case "stop-producing":
      producer?.stop();
      break;
    case "stop": {
      producer?.stop();
      const samples = sampler.stop();
      const report: RelayReport = {
        samples,
        rssAtReadyBytes,
        connections: relay?.server.connections() ?? 0,
        replayed: relay?.server.replayed ?? 0,
        resumeRequests: relay?.server.resumeRequests ?? 0,
        wireBytes: relay ? relay.wireBytes() : null,
        ...(relay?.upstream ? { upstream: upstreamReport(relay) } : {}),
        ...brokerErrorsReport(),
      };
      // What was measured is reported whatever the teardown does: a broker that never answers the goodbye costs a note, not the cell.
      const teardownError = relay ? await closeWithin(relay.close(), TEARDOWN_MS, "closing the relay and its broker connection") : undefined;
      // An adapter's counts are complete only once its connection has closed (BullMQ waits there for its QueueEvents).
      sendFinal({ kind: "relay-result", report: { ...report, ...brokerCountsReport(), ...(teardownError ? { teardownError } : {}) } });
      break;
    }
    default:
      throw new Error(`relay: unexpected message ${m.kind}`);
  }
});

function upstreamReport(r: RunningRelay): NonNullable<RelayReport["upstream"]> {
  const up = r.upstream!;
  const cpu = process.cpuUsage(cpuAtStart);
  return {
    received: up.received,
    latencyUs: encodeHistogram(up.latency),
    handlerUs: up.handlerNs / 1000,
    cpuUs: cpuAtStart ? cpu.user + cpu.system : 0,
    publishErrors: up.publishErrors,
    clockAnomalies: up.clockAnomalies,
    wire: r.wireBytesBy(),
  };
}
