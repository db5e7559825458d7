/**
 * The reconnect scenario against known answers: the relay drops every connection
 * mid-window; with a fixed reconnect delay T, no client is back before T; and resuming
 * from the relay's replay buffer, nobody loses a message.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { reconnectDelayMs } from "../harness/fleet.js";
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
      "--brokers", "inproc", "--clients", "10", "--rate", "100", "--duration", "3", "--warmup", "1", "--drain", "5", "--out", out],
    { timeoutMs: 170_000 },
  );
  assert.equal(r.code, 0, r.stderr);
  const cells = readOnlyRun(out).cells;
  assert.deepEqual(cells.map((c) => c.transport), transports);
  for (const cell of cells) {
    const name = cell.transport;
    assert.equal(cell.status, "ok", `${name}: ${cell.error}`);
    assert.deepEqual(cell.fault, { kind: "drop", atS: 1.5, struck: true }, name);
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
