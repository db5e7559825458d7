/**
 * Broker clusters against known answers: three nodes each, every node a host of its own
 * (a network namespace on one bridge), started by the run and gone after it.
 * Killing a JetStream R3 stream's leader loses no acknowledged message, leadership
 * moves to another node, and every subscriber gets its stream back; a Kafka acks=all
 * producer (replication 3, min.insync.replicas 2) keeps every acknowledged message
 * through its partition leader's kill, as a late reader from the earliest offset finds;
 * RabbitMQ's quorum queues keep every confirmed message when the node leading them (and
 * holding the clients' connections) dies, and the clients resume on another node.
 * (The relay's kafkajs consumer groups do not always resume within the drain after
 * their coordinator dies: that is measured, not asserted.)
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { test } from "node:test";
import { clusterNetProblem } from "../brokers/cluster-net.js";
import { pairingProblem } from "../harness/pairing.js";
import type { CellResult } from "../results/schema.js";
import { readOnlyRun, rtbenchChildren, runCli, tempDir } from "./helpers.js";

const skip = clusterNetProblem() ?? false;

test("node faults say which pairings they cannot strike, and why", () => {
  const kill = { scenario: "reconnect", fault: "kill-leader" };
  assert.match(pairingProblem("ws", "jetstream", kill, { ownsBrokerServer: true }) ?? "", /not a cluster variant/);
  assert.match(pairingProblem("ws", "jetstream-r3", kill, { ownsBrokerServer: false, cluster: false }) ?? "", /only a cluster it started/);
  assert.equal(pairingProblem("ws", "jetstream-r3", kill, { ownsBrokerServer: false, cluster: true }), skip === false ? null : skip);
  // The durability scenario strikes a node where the workload names a node fault, and restarts the whole server otherwise.
  assert.match(pairingProblem("ws", "jetstream", { scenario: "durability", fault: "kill-leader" }, { ownsBrokerServer: true }) ?? "", /not a cluster variant/);
  assert.match(pairingProblem("ws", "kafka-r3", { scenario: "durability", fault: "drop" }, { ownsBrokerServer: false, cluster: true }) ?? "", /runs on a cluster/);
  const restart = { scenario: "reconnect", fault: "restart-broker" };
  assert.match(pairingProblem("ws", "kafka-r3", restart, { ownsBrokerServer: false, cluster: true }) ?? "", /runs on a cluster: a fault strikes one of its nodes/);
});

/**
 * The cluster's processes and networks: none may outlive the run. (A RabbitMQ node's
 * command line does not name it; it cannot leave its namespace, and a namespace goes
 * only once every process in it is killed.)
 */
function leftovers(): string[] {
  const namespaces = execFileSync("ip", ["netns", "list"], { encoding: "utf8" }).split("\n").filter((l) => l.startsWith("rtbc-"));
  const nodes = execFileSync("ps", ["-eo", "args"], { encoding: "utf8" }).split("\n").filter((l) => / -n n\d .*--cluster_name rtbench|kafka\.Kafka .*kafka-cluster/.test(l));
  return [...namespaces, ...nodes];
}

function assertFailedOver(cell: CellResult, minStallS = 0.2): void {
  const name = cell.broker;
  assert.equal(cell.status, "ok", `${name}: ${cell.error}`);
  const node = cell.fault?.node;
  assert.ok(node, `${name}: the cell names the node it struck`);
  assert.equal(node.role, "leader");
  assert.equal(node.index, node.leaderBefore);
  assert.ok(node.leaderAfter !== undefined && node.leaderAfter >= 0 && node.leaderAfter !== node.index, `${name}: leadership moved off the killed node (${JSON.stringify(node)})`);
  const f = cell.failover!;
  // A leader's death is noticed, not instant: publishes stall for a while, and the subscribers with them.
  assert.ok(f.publishStalledS !== null && f.publishStalledS > minStallS, `${name}: publishes stalled (${f.publishStalledS} s)`);
  assert.ok(f.deliveryStalledS.max >= f.deliveryStalledS.p50 && f.deliveryStalledS.p50 > minStallS, `${name}: deliveries stalled (${JSON.stringify(f.deliveryStalledS)})`);
  if (f.subscribersResumed === f.subscribers) {
    assert.equal(f.lostAcknowledged, 0, `${name}: no acknowledged message lost (lost ${cell.counts.lost}, of them never acknowledged ${cell.lostUnacknowledged})`);
  }
}

/** Runs one kill-leader cell (ws, 100 msg/s, the fault 2 s in) and checks that nothing of it outlives the run. */
async function killLeaderCell(scenario: string[], broker: string, clients: number, durationS: number, timeoutMs: number): Promise<CellResult> {
  const out = tempDir();
  // Only what this run made: another run's cluster may share the machine.
  const before = new Set(leftovers());
  const r = await runCli(
    ["run", ...scenario, "--fault", "kill-leader", "--fault-at", "2", "--transports", "ws", "--brokers", broker,
      "--clients", String(clients), "--rate", "100", "--duration", String(durationS), "--warmup", "1", "--drain", "20", "--out", out],
    { timeoutMs },
  );
  assert.equal(r.code, 0, r.stderr);
  const [cell] = readOnlyRun(out).cells;
  assert.deepEqual(await rtbenchChildren(), []);
  assert.deepEqual(leftovers().filter((l) => !before.has(l)), [], "no node or cluster network outlives the run");
  return cell!;
}

test("kill -9 a JetStream R3 stream's leader: nothing acknowledged is lost, every subscriber resumes", { skip }, async () => {
  const cell = await killLeaderCell(["--scenario", "reconnect", "--reconnect", "fixed"], "jetstream-r3", 3, 14, 120_000);
  assertFailedOver(cell);
  const f = cell.failover!;
  assert.equal(f.publishesResumed, true, "publishes were acknowledged again within the cell");
  assert.equal(f.subscribersResumed, f.subscribers, "every subscriber got its stream back");
});

test("kill -9 a Kafka partition's leader under acks=all: a late reader finds every acknowledged message", { skip }, async () => {
  const cell = await killLeaderCell(["--scenario", "durability"], "kafka-r3", 2, 8, 150_000);
  assertFailedOver(cell);
  // Kept means on the surviving nodes: a new subscriber from the earliest offset reads them all.
  const d = cell.durability!;
  assert.ok(d.acknowledged > 0 && d.from === "earliest", JSON.stringify(d));
  assert.equal(d.keptAcknowledged, d.acknowledged, `every acknowledged message kept (${JSON.stringify(d)})`);
});

test("kill -9 the node leading a RabbitMQ quorum queue: confirmed publishes are kept, every subscriber resumes on another node", { skip }, async () => {
  const cell = await killLeaderCell(["--scenario", "reconnect", "--reconnect", "fixed"], "amqp-quorum", 3, 8, 150_000);
  // Its clients were on the killed node: they connect to another and a new queue leader is elected there within a second.
  assertFailedOver(cell, 0.1);
  const f = cell.failover!;
  assert.equal(f.publishesResumed, true, "publishes were confirmed again within the cell");
  assert.equal(f.subscribersResumed, f.subscribers, "every subscriber consumed its queue again");
  assert.equal(f.lostAcknowledged, 0);
});
