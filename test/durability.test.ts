/**
 * The durability scenario and the broker faults against known answers: the broker
 * restarts mid-stream, then a late subscriber reads what it kept. Redis Streams (with
 * an append-only file) and JetStream (file storage) keep every message they
 * acknowledged, and their relays lose none of them; Redis Pub/Sub keeps nothing.
 * A cut of T between relay and broker costs Pub/Sub what was published in T, and
 * makes Streams late by T, not lossy. A partition of T (packets dropped, not reset)
 * leaves the connections open, so both are late by T and lose nothing.
 */
import assert from "node:assert/strict";
import { existsSync, readdirSync } from "node:fs";
import { test } from "node:test";
import { netnsProblem } from "../harness/netns.js";
import { decodeHistogram } from "../core/histogram.js";
import { SequenceTracker } from "../core/tracker.js";
import { pairingProblem } from "../harness/pairing.js";
import { readOnlyRun, rtbenchChildren, runCli, tempDir } from "./helpers.js";

test("a tracker tells which of some sequences it never saw", () => {
  const t = new SequenceTracker();
  for (const seq of [1, 2, 5, 6, 9]) t.record(seq);
  assert.equal(t.missing([3, 4, 7, 10, 11]), 5);
  assert.equal(t.missing([1, 2, 5, 6, 9]), 0);
  assert.equal(t.missing([2, 3, 6, 8, 12]), 3);
  t.record(3);
  assert.equal(t.missing([3, 4]), 1);
});

test("broker faults say which pairings they cannot strike, and why", () => {
  const cut = { scenario: "reconnect", fault: "cut-broker" };
  assert.match(pairingProblem("ws", "kafka", cut) ?? "", /connect to the address the broker advertises/);
  assert.match(pairingProblem("direct", "redis-streams", cut) ?? "", /has no relay/);
  assert.equal(pairingProblem("sse", "jetstream", cut), null);
  const durability = { scenario: "durability", fault: "drop" };
  assert.match(pairingProblem("ws", "redis-streams", durability, { ownsBrokerServer: false }) ?? "", /restarts only a broker server it started for this run/);
  assert.equal(pairingProblem("ws", "redis-streams", durability, { ownsBrokerServer: true }), null);
  assert.match(pairingProblem("ws", "inproc", durability, { ownsBrokerServer: true }) ?? "", /no server to restart/);
});

test("restart the broker mid-stream: Streams and JetStream keep all they acknowledged, Pub/Sub keeps nothing", async () => {
  const out = tempDir();
  const r = await runCli(
    ["run", "--scenario", "durability", "--transports", "ws", "--brokers", "inproc,redis-pubsub,redis-streams,jetstream",
      "--clients", "5", "--rate", "100", "--duration", "4", "--warmup", "1", "--drain", "5", "--out", out],
    { timeoutMs: 170_000 },
  );
  assert.equal(r.code, 0, r.stderr);
  const [inproc, pubsub, streams, jetstream] = readOnlyRun(out).cells;
  assert.equal(inproc!.status, "unavailable");
  assert.match(inproc!.error ?? "", /inproc has no server to restart/);
  for (const cell of [pubsub!, streams!, jetstream!]) {
    const name = cell.broker;
    assert.equal(cell.status, "ok", `${name}: ${cell.error}`);
    assert.equal(cell.fault?.kind, "restart-broker", name);
    assert.equal(cell.fault?.struck, true, name);
    assert.ok(cell.fault!.recoveredInS! > 0.01, `${name}: a restart takes time (${cell.fault!.recoveredInS} s)`);
    const d = cell.durability!;
    assert.equal(d.published, 500, name);
    assert.equal(d.acknowledged, 500 - cell.unacknowledged!, `${name}: acknowledged is what was not refused`);
  }
  // Pub/Sub: a late subscriber can only ask for what comes next, and nothing does.
  assert.deepEqual([pubsub!.durability!.from, pubsub!.durability!.kept, pubsub!.durability!.keptShare], ["latest", 0, 0]);
  for (const cell of [streams!, jetstream!]) {
    const name = cell.broker;
    const d = cell.durability!;
    assert.equal(d.from, "earliest", name);
    assert.ok(d.acknowledged > 250, `${name}: most publishes were acknowledged (${d.acknowledged})`);
    assert.equal(d.keptAcknowledged, d.acknowledged, `${name}: the restarted broker kept every message it acknowledged`);
    assert.equal(d.keptShare, 1, name);
    // The relay's subscription came back on its own and missed nothing the broker had.
    assert.equal(cell.counts.lost - cell.lostUnacknowledged!, 0, `${name}: live clients lost no acknowledged message`);
    assert.equal(cell.counts.duplicated, 0, name);
  }
  assert.deepEqual(await rtbenchChildren(), []);
});

test("cut the relay from the broker for 2 s: Pub/Sub loses what was published meanwhile, Streams delivers it late", async () => {
  const out = tempDir();
  const rate = 100;
  const r = await runCli(
    ["run", "--scenario", "reconnect", "--fault", "cut-broker", "--fault-duration", "2", "--reconnect", "fixed", "--reconnect-delay", "300ms",
      "--transports", "ws", "--brokers", "redis-pubsub,redis-streams", "--clients", "5", "--rate", String(rate), "--duration", "5",
      "--warmup", "1", "--drain", "6", "--out", out],
    { timeoutMs: 170_000 },
  );
  assert.equal(r.code, 0, r.stderr);
  const [pubsub, streams] = readOnlyRun(out).cells;
  for (const cell of [pubsub!, streams!]) {
    const name = cell.broker;
    assert.equal(cell.status, "ok", `${name}: ${cell.error}`);
    assert.deepEqual(cell.fault && { kind: cell.fault.kind, struck: cell.fault.struck, brokerViaProxy: cell.fault.brokerViaProxy }, { kind: "cut-broker", struck: true, brokerViaProxy: true }, name);
    assert.ok(Math.abs(cell.fault!.recoveredInS! - 2) < 0.1, `${name}: the path was cut for 2 s (${cell.fault!.recoveredInS} s)`);
    assert.equal(cell.connections.disconnects, 0, `${name}: the clients' path was whole`);
    assert.equal(cell.unacknowledged, 0, `${name}: the producer's path was whole too`);
  }
  const lostEach = pubsub!.counts.lost / 5;
  assert.ok(lostEach >= 0.9 * rate * 2, `Pub/Sub lost ${lostEach} per client, ${rate * 2} were published during the cut`);
  assert.equal(pubsub!.subscribersWithLoss, 5);
  assert.equal(streams!.counts.lost, 0, "Streams resumed from its last id");
  assert.equal(streams!.counts.duplicated, 0);
  const latest = decodeHistogram(streams!.histograms.latencyUs).maxValue;
  assert.ok(latest >= 1_800_000, `what was published during the cut arrived late by about the cut (max ${latest} µs)`);
  assert.deepEqual(await rtbenchChildren(), []);
});

const partitionSkip = netnsProblem();

test("partition the relay from the broker for 2 s: dropped packets keep connections open, so Pub/Sub too loses nothing, only late", {
  skip: partitionSkip ? `partition-broker cannot run here: ${partitionSkip}` : false,
}, async () => {
  const out = tempDir();
  const r = await runCli(
    ["run", "--scenario", "reconnect", "--fault", "partition-broker", "--fault-duration", "2", "--reconnect", "fixed", "--reconnect-delay", "300ms",
      "--transports", "ws", "--brokers", "redis-pubsub,redis-streams", "--clients", "5", "--rate", "100", "--duration", "5",
      "--warmup", "1", "--drain", "8", "--out", out],
    { timeoutMs: 170_000 },
  );
  assert.equal(r.code, 0, r.stderr);
  for (const cell of readOnlyRun(out).cells) {
    const name = cell.broker;
    assert.equal(cell.status, "ok", `${name}: ${cell.error}`);
    assert.deepEqual(cell.fault && { kind: cell.fault.kind, struck: cell.fault.struck, relayInNamespace: cell.fault.relayInNamespace }, { kind: "partition-broker", struck: true, relayInNamespace: true }, name);
    assert.ok(Math.abs(cell.fault!.recoveredInS! - 2) < 0.2, `${name}: the partition lasted 2 s (${cell.fault!.recoveredInS} s)`);
    assert.equal(cell.connections.disconnects, 0, `${name}: the clients reached the relay over its veth pair throughout`);
    // Unlike the reset of cut-broker, nothing broke: TCP held the messages and retransmitted them.
    assert.equal(cell.counts.lost, 0, `${name}: nothing lost`);
    assert.equal(cell.counts.duplicated, 0, name);
    const latest = decodeHistogram(cell.histograms.latencyUs).maxValue;
    assert.ok(latest >= 1_800_000, `${name}: what was sent during the partition arrived late by about its length (max ${latest} µs)`);
  }
  assert.equal(existsSync("/var/run/netns") ? readdirSync("/var/run/netns").filter((n) => n.startsWith("rtbench-")).length : 0, 0, "the namespace was removed");
  assert.deepEqual(await rtbenchChildren(), []);
});
