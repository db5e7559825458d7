/**
 * The reconnect scenario against known answers: the relay drops every connection
 * mid-window; with a fixed reconnect delay T, no client is back before T; and resuming
 * from the relay's replay buffer, nobody loses a message.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { reconnectDelayMs } from "../harness/fleet.js";
import { decodeHistogram } from "../core/histogram.js";
import { readOnlyRun, rtbenchChildren, runCli, tempDir } from "./helpers.js";

test("reconnect delays: fixed is fixed; backoff doubles from the base with full jitter, capped at 30 s", () => {
  assert.equal(reconnectDelayMs({ kind: "fixed", delayMs: 3000 }, 1), 3000);
  assert.equal(reconnectDelayMs({ kind: "fixed", delayMs: 3000 }, 7), 3000);
  const top = (n: number) => reconnectDelayMs({ kind: "backoff", delayMs: 100 }, n, () => 1);
  assert.deepEqual([1, 2, 3, 4].map(top), [100, 200, 400, 800]);
  assert.equal(top(20), 30_000);
  assert.equal(reconnectDelayMs({ kind: "backoff", delayMs: 100 }, 3, () => 0), 0, "full jitter reaches down to zero");
});

test("a drop with a fixed 500 ms delay: every client back after at least 500 ms, nothing lost, the gap replayed", async () => {
  const out = tempDir();
  const transports = ["sse", "sse-h2", "ws", "socketio", "longpoll", "grpc"];
  const r = await runCli(
    ["run", "--scenario", "reconnect", "--reconnect", "fixed", "--reconnect-delay", "500ms", "--transports", transports.join(","),
      "--brokers", "inproc", "--clients", "10", "--rate", "100", "--duration", "2", "--warmup", "0", "--drain", "5", "--out", out],
    { timeoutMs: 170_000 },
  );
  assert.equal(r.code, 0, r.stderr);
  const cells = readOnlyRun(out).cells;
  assert.deepEqual(cells.map((c) => c.transport), transports);
  for (const cell of cells) {
    const name = cell.transport;
    assert.equal(cell.status, "ok", `${name}: ${cell.error}`);
    assert.deepEqual(cell.fault, { kind: "drop", atS: 1, struck: true }, name);
    assert.equal(cell.connections.disconnects, 10, `${name}: every client was dropped once`);
    assert.equal(cell.reconnects?.count, 10, `${name}: and came back once`);
    const t = cell.reconnects!.timeUs;
    assert.ok(t.p50 >= 500_000 && t.max >= 500_000, `${name}: no client back before the 500 ms delay (p50 ${t.p50} µs)`);
    assert.ok(t.max < 2_500_000, `${name}: back within 2 s of the delay (max ${t.max} µs)`);
    assert.equal(cell.counts.lost, 0, `${name}: resuming from the replay buffer loses nothing`);
    assert.ok(cell.replayed > 0, `${name}: the ~50 messages sent meanwhile were replayed (${cell.replayed})`);
  }
  assert.deepEqual(await rtbenchChildren(), []);
});

test("without a reconnect policy the reconnect scenario is refused in one line", async () => {
  const r = await runCli(["run", "--scenario", "reconnect", "--brokers", "inproc", "--out", tempDir()]);
  assert.equal(r.code, 2);
  assert.match(r.stderr.trim(), /^rtbench run: field "reconnect": the reconnect scenario needs clients that reconnect: expected fixed or backoff, got "none"$/);
});

test("kill -9 the relay: Redis Pub/Sub loses what was published while it was down; Redis Streams, refilled from history, loses nothing", async () => {
  const out = tempDir();
  const rate = 100;
  const r = await runCli(
    ["run", "--scenario", "reconnect", "--fault", "kill-relay", "--reconnect", "fixed", "--reconnect-delay", "300ms", "--transports", "ws",
      "--brokers", "inproc,redis-pubsub,redis-streams", "--clients", "10", "--rate", String(rate), "--duration", "4", "--warmup", "1",
      "--drain", "4", "--out", out],
    { timeoutMs: 170_000 },
  );
  assert.equal(r.code, 0, r.stderr);
  const [inproc, pubsub, streams] = readOnlyRun(out).cells;
  assert.equal(inproc!.status, "unavailable");
  assert.match(inproc!.error ?? "", /inproc lives inside the relay process/);
  for (const cell of [pubsub!, streams!]) {
    const name = cell.broker;
    assert.equal(cell.status, "ok", `${name}: ${cell.error}`);
    assert.equal(cell.fault?.kind, "kill-relay", name);
    assert.equal(cell.fault?.struck, true, name);
    const downS = cell.fault!.recoveredInS!;
    assert.ok(downS > 0.05, `${name}: a new relay takes time to start (${downS} s)`);
    assert.equal(cell.connections.disconnects, 10, `${name}: every client lost its relay`);
    assert.equal(cell.reconnects?.count, 10, `${name}: and came back to the new one`);
    assert.ok(cell.reconnects!.timeUs.p50 >= 300_000, `${name}: not before the 300 ms delay`);
    assert.equal(cell.wire, undefined, `${name}: the killed relay's byte counts are gone, so none is reported`);
  }
  // Pub/Sub keeps nothing: each client misses what was published between the kill and the new subscription.
  const downMsgs = rate * pubsub!.fault!.recoveredInS!;
  assert.equal(pubsub!.subscribersWithLoss, 10, "every Pub/Sub client lost messages");
  const lostEach = pubsub!.counts.lost / 10;
  assert.ok(lostEach > 0.3 * downMsgs && lostEach < downMsgs + 2 * rate, `lost ${lostEach} per client, ~${downMsgs.toFixed(0)} published while down`);
  assert.equal(pubsub!.counts.duplicated, 0);
  // Streams keeps history: the new relay reads it from the start, and every client resumes where it was.
  assert.equal(streams!.counts.lost, 0, "Redis Streams with resume loses nothing");
  assert.equal(streams!.counts.duplicated, 0, "nor sends anything twice");
  assert.equal(streams!.counts.reordered, 0);
  assert.ok(streams!.replayed >= 10 * 0.5 * downMsgs, `the gap was replayed from the refilled buffer (${streams!.replayed})`);
  assert.deepEqual(await rtbenchChildren(), []);
});

test("a cut of 1.5 s between clients and relay: no client is back in less than 1.5 s, and resuming loses nothing", async () => {
  const out = tempDir();
  const transports = ["sse", "ws", "socketio"];
  const r = await runCli(
    ["run", "--scenario", "reconnect", "--fault", "cut", "--fault-duration", "1500ms", "--reconnect", "fixed", "--reconnect-delay", "200ms",
      "--transports", transports.join(","), "--brokers", "inproc", "--clients", "10", "--rate", "100", "--duration", "4", "--warmup", "1",
      "--drain", "4", "--out", out],
    { timeoutMs: 170_000 },
  );
  assert.equal(r.code, 0, r.stderr);
  for (const cell of readOnlyRun(out).cells) {
    const name = cell.transport;
    assert.equal(cell.status, "ok", `${name}: ${cell.error}`);
    assert.equal(cell.fault?.kind, "cut", name);
    assert.equal(cell.fault?.viaProxy, true, name);
    assert.ok(Math.abs(cell.fault!.recoveredInS! - 1.5) < 0.1, `${name}: the path was cut for 1.5 s (${cell.fault!.recoveredInS} s)`);
    assert.equal(cell.connections.disconnects, 10, `${name}: every connection was reset`);
    assert.equal(cell.reconnects?.count, 10, `${name}: and every client came back once`);
    // From the moment a client saw the reset to its new connection's open: the cut's length, less only the time to see the reset.
    const min = decodeHistogram(cell.histograms.reconnectUs!).minNonZeroValue;
    assert.ok(min >= 1_450_000, `${name}: the fastest reconnect took ${min} µs, the cut lasted 1.5 s`);
    assert.ok(cell.reconnects!.timeUs.max < 1_500_000 + 200_000 + 1_000_000, `${name}: back within a retry of the cut's end`);
    assert.equal(cell.counts.lost, 0, `${name}: the relay stayed up, so its buffer covers the gap`);
    assert.equal(cell.counts.duplicated, 0, name);
    assert.ok(cell.replayed >= 10 * 100, `${name}: ~150 messages per client replayed (${cell.replayed})`);
  }
  assert.deepEqual(await rtbenchChildren(), []);
});
