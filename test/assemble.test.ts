/**
 * assemble: the roles' reports become a cell's result, without any process: counts
 * add up, histograms merge (never averaged), throughput counts arrivals in the window,
 * and a failed or unavailable cell comes from the same shape.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { createHistogram, encodeHistogram } from "../core/histogram.js";
import { assemble, failedCell, unavailableCell, type CellReports } from "../harness/assemble.js";
import type { FleetReport, ProducerReport } from "../harness/ipc.js";
import { getScenario } from "../harness/scenarios/index.js";
import type { CellSpec } from "../harness/scenarios/scenario.js";
import { DEFAULTS } from "../harness/workload.js";

const spec: CellSpec = { transport: "ws", broker: "inproc", repetition: 1, workload: { ...DEFAULTS, clients: 4, rate: 100, duration: 2, warmup: 1 }, scenario: getScenario("steady") };

function histogramOf(values: number[]): string {
  const h = createHistogram();
  for (const v of values) h.recordValue(v);
  return encodeHistogram(h);
}

function fleet(latencies: number[], delivered: number, arrivedInWindow: number): FleetReport {
  const empty = histogramOf([]);
  return {
    counts: { expected: 600, delivered, lost: 600 - delivered, duplicated: 0, reordered: 0 },
    subscribersWithLoss: delivered < 600 ? 1 : 0,
    lostUnacknowledged: 0,
    reorderedWithinPartition: 0,
    open: 2,
    disconnects: 0,
    arrivedInWindow,
    clockAnomalies: 0,
    latencyUs: histogramOf(latencies),
    latencyFromSentUs: histogramOf(latencies),
    connectUs: empty,
    firstEventUs: empty,
    reconnectUs: empty,
    reconnects: 0,
    samples: [],
    drainedComplete: delivered === 600,
  };
}

const produced: ProducerReport = {
  published: 300,
  lastSeq: [300],
  firstSentAt: 1e9,
  lastSentAt: 1e9 + 2.99e9,
  lastIntendedAt: 1e9 + 2.99e9,
  publishErrors: 0,
  publishDelayUs: histogramOf([50, 60]),
  ownBusyShare: 0.01,
};

const reports = (fleets: FleetReport[]): CellReports => ({
  startedAt: new Date().toISOString(),
  total: 300,
  startAt: 1e9,
  connected: [{ open: 2, failed: 0 }, { open: 2, failed: 0 }],
  idleBefore: { rssBytes: 1_000_000, heapBytes: 500_000, connections: 0 },
  idleProbes: [{ rssBytes: 1_040_000, heapBytes: 520_000, connections: 4 }],
  produced,
  fleets,
  relays: [{ samples: [], rssAtReadyBytes: 1_000_000, connections: 4, replayed: 0, wireBytes: 240_000 }],
  paths: { viaProxy: false, brokerViaProxy: false, relayInNamespace: false },
  sharesBroadcasts: false,
  extra: {},
  teardownErrors: [],
});

test("counts add up, histograms merge, throughput is arrivals in the window per second", () => {
  // One fleet saw 1..100 ms, the other 101..200 ms: the merged p50 is the whole set's, not the mean of the two medians.
  const a = Array.from({ length: 100 }, (_, i) => (i + 1) * 1000);
  const b = Array.from({ length: 100 }, (_, i) => (i + 101) * 1000);
  const cell = assemble(spec, reports([fleet(a, 600, 400), fleet(b, 590, 398)]));
  assert.equal(cell.status, "ok");
  assert.deepEqual(cell.counts, { expected: 1200, delivered: 1190, lost: 10, duplicated: 0, reordered: 0 });
  assert.equal(cell.latencyUs.count, 200);
  assert.ok(Math.abs(cell.latencyUs.p50 - 100_000) <= 100, `merged p50 ${cell.latencyUs.p50}`);
  assert.equal(cell.throughput, (400 + 398) / 2);
  assert.equal(cell.subscribersWithLoss, 1);
  assert.equal(cell.drainedComplete, false);
  assert.equal(cell.idleMemoryPerConnection?.rssBytes, 10_000);
  assert.equal(cell.wire?.bytesPerDelivery, 240_000 / 1190);
  assert.equal(cell.saturated, false);
  assert.ok(Math.abs(cell.publishedPerSec - 299 / 2.99) < 1e-6);
});

test("a failed and an unavailable cell have the same shape as a measured one, with nothing measured", () => {
  const ok = assemble(spec, reports([fleet([1000], 600, 400)]));
  const failed = failedCell(spec, new Date().toISOString(), "fleet process 0 exited (SIGKILL)");
  const unavailable = unavailableCell(spec, "kafka is unavailable: not installed");
  for (const cell of [failed, unavailable]) {
    for (const key of ["id", "transport", "broker", "scenario", "params", "counts", "latencyUs", "histograms", "resources", "connections"]) {
      assert.ok(key in cell, `${cell.status} cell lacks ${key}`);
    }
    assert.equal(cell.id, ok.id);
    assert.deepEqual(cell.params, ok.params);
    assert.equal(cell.counts.delivered, 0);
    assert.equal(cell.latencyUs.count, 0);
  }
  assert.equal(failed.status, "failed");
  assert.equal(failed.error, "fleet process 0 exited (SIGKILL)");
  assert.equal(unavailable.status, "unavailable");
});
