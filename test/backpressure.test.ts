/**
 * The backpressure scenario against a known answer: two of ten clients read 16 KiB/s
 * of a 1.6 MB/s stream. What they leave unread piles up in the relay's send queue
 * (ws and SSE write without bound), and the fast clients lose nothing and keep their
 * latency.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { readOnlyRun, rtbenchChildren, runCli, tempDir } from "./helpers.js";

const MiB = 2 ** 20;

test("slow readers fill the relay's send queue; the fast clients lose nothing", async () => {
  const out = tempDir();
  const r = await runCli(
    ["run", "--scenario", "backpressure", "--slow-clients", "0.2", "--slow-read-rate", "16384", "--transports", "ws,sse,direct,socketio-polling",
      "--brokers", "inproc,redis-pubsub", "--clients", "10", "--size", "16384", "--rate", "100", "--duration", "3", "--warmup", "0", "--drain", "1", "--out", out],
    { timeoutMs: 170_000 },
  );
  assert.equal(r.code, 0, r.stderr);
  const cells = readOnlyRun(out).cells;
  const unslowable = new Set(["direct", "socketio-polling"]);
  for (const cell of cells.filter((c) => !unslowable.has(c.transport))) {
    const name = `${cell.transport} × ${cell.broker}`;
    assert.equal(cell.status, "ok", `${name}: ${cell.error}`);
    const b = cell.backpressure!;
    assert.equal(b.slowClients, 2, name);
    // 16 KiB/s over ~5 s is at most ~5 of the ~300 messages each slow client was sent.
    assert.ok(b.slowCounts.delivered < 0.1 * b.slowCounts.expected, `${name}: the slow clients fell behind (${b.slowCounts.delivered}/${b.slowCounts.expected})`);
    assert.ok(b.relaySendQueuePeakBytes > 1 * MiB, `${name}: what they did not read waited in the relay (${(b.relaySendQueuePeakBytes / MiB).toFixed(2)} MiB)`);
    assert.ok(b.relayRssGrowthBytes > 1 * MiB, `${name}: and the relay grew (${(b.relayRssGrowthBytes / MiB).toFixed(1)} MiB)`);
    assert.equal(cell.counts.lost, b.slowCounts.lost, `${name}: every message missing is a slow client's`);
    assert.equal(cell.connections.disconnects, 0, `${name}: neither relay drops a slow reader`);
    assert.ok(cell.latencyUs.count > 0 && cell.latencyUs.p99 < 100_000, `${name}: the fast clients' p99 stayed low (${cell.latencyUs.p99} µs)`);
  }
  for (const cell of cells.filter((c) => unslowable.has(c.transport))) {
    assert.equal(cell.status, "unavailable", cell.id);
    assert.match(cell.error ?? "", cell.transport === "direct" ? /slows clients of a relay/ : /new TCP connection for each request/);
  }
  assert.deepEqual(await rtbenchChildren(), []);
});
