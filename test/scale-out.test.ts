/**
 * The scale-out and ordering scenarios against known answers.
 *
 * Scale-out: a relay made to burn 5 ms of CPU per message from the broker does that
 * work once per relay when every relay subscribes (ws), so two relays spend about
 * twice the CPU per delivery of one: efficiency near 0.5. Through a Socket.IO adapter
 * only the first relay subscribes, so the burn is not repeated: efficiency near 1. And
 * over the in-process broker, which lives in the first relay only, the second relay's
 * clients get every message only if the adapter carried it.
 *
 * Ordering: Kafka keeps order per partition, and rtbench puts a stream's messages round
 * the partitions, so a stream over 4 partitions arrives out of order, though never
 * within a partition; a Redis stream keeps one order.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { pairingProblem } from "../harness/pairing.js";
import { relaySteps, scaleOutEfficiency } from "../harness/scenarios/scale-out.js";
import type { ScaleOutStep } from "../results/schema.js";
import { readOnlyRun, rtbenchChildren, runCli, tempDir } from "./helpers.js";

const step = (relays: number, cpu: number | null, over: Partial<ScaleOutStep> = {}): ScaleOutStep => ({
  relays,
  status: "ok",
  throughput: 1000,
  latencyUs: { p50: 1, p90: 1, p95: 1, p99: 1, p999: 1, max: 1, mean: 1, count: 1 },
  delivered: 100,
  expected: 100,
  lost: 0,
  relayCpuUsPerDelivery: cpu,
  relayPeakRssBytes: 0,
  saturationReasons: [],
  ...over,
});

test("relay counts double up to the workload's, which is always the last step", () => {
  assert.deepEqual(relaySteps(2), [1, 2]);
  assert.deepEqual(relaySteps(4), [1, 2, 4]);
  assert.deepEqual(relaySteps(5), [1, 2, 4, 5]);
});

test("efficiency is one relay's CPU per delivery over the most relays', and none where a step cannot be compared", () => {
  assert.deepEqual(scaleOutEfficiency([step(1, 20), step(2, 25)]), { efficiency: 0.8 });
  assert.match(scaleOutEfficiency([step(1, 20), step(2, 25, { lost: 3 })]).reason ?? "", /2 relay\(s\) lost 3 messages/);
  assert.match(scaleOutEfficiency([step(1, 20, { saturationReasons: ["fleet CPU 98%"] }), step(2, 25)]).reason ?? "", /load generator saturated at 1 relay/);
  assert.match(scaleOutEfficiency([step(1, 20), step(2, null, { status: "failed" })]).reason ?? "", /2 relay\(s\) failed/);
  assert.equal(scaleOutEfficiency([step(1, 20)]).efficiency, null);
});

test("several relays say which pairings they cannot serve, and why", () => {
  const scaleOut = { scenario: "scale-out", fault: "drop", relays: 2 };
  assert.match(pairingProblem("sse", "inproc", scaleOut) ?? "", /in-process broker lives inside one relay process/);
  assert.equal(pairingProblem("socketio-redis", "inproc", scaleOut), null, "an adapter carries the first relay's broadcasts to the others");
  assert.match(pairingProblem("direct", "redis-pubsub", scaleOut) ?? "", /adds relays, and direct has none/);
  assert.equal(pairingProblem("direct", "redis-pubsub", { scenario: "ordering", fault: "drop", relays: 2 }), null, "direct has no relays to count");
  assert.equal(pairingProblem("sse", "redis-pubsub", scaleOut), null);
});

test("scale-out: relays that each subscribe repeat the broker side's work; an adapter's relays do not", async () => {
  const scaleOut = async (transports: string, brokers: string) => {
    const out = tempDir();
    const r = await runCli(
      ["run", "--scenario", "scale-out", "--relays", "2", "--transports", transports, "--brokers", brokers,
        "--clients", "4", "--rate", "50", "--duration", "2", "--warmup", "1", "--drain", "3", "--out", out],
      { timeoutMs: 170_000, env: { RTBENCH_TEST_RELAY_BURN_US: "5000" } },
    );
    assert.equal(r.code, 0, r.stderr);
    return readOnlyRun(out).cells;
  };
  const [wsInproc, ws] = await scaleOut("ws", "inproc,redis-pubsub");
  assert.equal(wsInproc!.status, "unavailable");
  assert.match(wsInproc!.error ?? "", /in-process broker lives inside one relay process/);
  // Over the in-process broker, which lives in the first relay only, the second
  // relay's clients can have every message only if the adapter carried it.
  const adapters = await scaleOut("socketio-redis,socketio-redis-streams", "inproc");
  for (const cell of [ws!, ...adapters]) {
    const name = `${cell.transport} × ${cell.broker}`;
    assert.equal(cell.status, "ok", `${name}: ${cell.error}`);
    const steps = cell.scaleOut!.steps;
    assert.deepEqual(steps.map((s) => s.relays), [1, 2], name);
    for (const s of steps) {
      assert.equal(s.lost, 0, `${name}, ${s.relays} relay(s): nothing lost`);
      assert.equal(s.delivered, s.expected, name);
      assert.ok(s.relayCpuUsPerDelivery! > 0, name);
    }
    // The cell is the two-relay step's: clients split evenly, both relays sampled.
    assert.deepEqual(cell.relays?.connections, [2, 2], name);
    assert.equal(cell.resources.relays?.length, 2, name);
    assert.equal(cell.relays?.sharedBroadcasts, cell.transport !== "ws", name);
    assert.notEqual(cell.scaleOut!.efficiency, null, `${name}: ${cell.scaleOut!.reason}`);
  }
  // Each ws relay burns 5 ms for every message: about twice the work per delivery with two.
  const wsEfficiency = ws!.scaleOut!.efficiency!;
  assert.ok(wsEfficiency > 0.35 && wsEfficiency < 0.75, `ws efficiency ${wsEfficiency}, expected about 0.5`);
  for (const cell of adapters) {
    const e = cell.scaleOut!.efficiency!;
    assert.ok(e > wsEfficiency + 0.15, `${cell.transport}: efficiency ${e}, expected near 1 (only the first relay burns), well above ws's ${wsEfficiency}`);
  }
  assert.deepEqual(await rtbenchChildren(), []);
});

test("ordering: a Kafka stream over 4 partitions arrives out of order, never within a partition; a Redis stream in order", async () => {
  const out = tempDir();
  const r = await runCli(
    ["run", "--scenario", "ordering", "--partitions", "4", "--relays", "2", "--transports", "ws,direct", "--brokers", "kafka,redis-streams",
      "--clients", "4", "--rate", "500", "--duration", "2", "--warmup", "1", "--drain", "5", "--out", out],
    { timeoutMs: 170_000 },
  );
  assert.equal(r.code, 0, r.stderr);
  // direct: four clients, each a Kafka consumer of its own, find the topic made a moment
  // before by another, and must still get every partition's messages.
  const [kafka, streams, directKafka, directStreams] = readOnlyRun(out).cells;
  for (const cell of [kafka!, streams!, directKafka!, directStreams!]) {
    const name = `${cell.transport} × ${cell.broker}`;
    assert.equal(cell.status, "ok", `${name}: ${cell.error}`);
    assert.equal(cell.counts.lost, 0, name);
    assert.equal(cell.counts.delivered, 4 * 1500, name);
  }
  assert.equal(kafka!.params.partitions, 4);
  for (const cell of [kafka!, directKafka!]) {
    assert.ok(cell.counts.reordered > 0, `${cell.transport}: a stream round 4 partitions, some messages arrive after a later one`);
    // ...but never after a later one of their own partition: Kafka's promise, kept.
    assert.equal(cell.reorderedWithinPartition, 0, cell.transport);
  }
  for (const cell of [streams!, directStreams!]) assert.equal(cell.counts.reordered, 0, cell.transport);
  assert.match(r.stdout, /\d+ reordered/);
});

test("a queue (BullMQ) pairs only where one subscriber takes each job: never direct, never several relays without an adapter", () => {
  assert.match(pairingProblem("direct", "bullmq") ?? "", /a queue that hands each job to one worker/);
  assert.match(pairingProblem("sse", "bullmq", { scenario: "scale-out", fault: "drop", relays: 2 }) ?? "", /each relay would fan out a share/);
  assert.equal(pairingProblem("socketio-redis", "bullmq", { scenario: "scale-out", fault: "drop", relays: 2 }), null, "the adapter's first relay alone subscribes");
  assert.equal(pairingProblem("sse", "bullmq"), null);
});
