/**
 * Real proxies in the clients' path, against known answers: nginx as installed holds an
 * SSE stream in its buffer (latency, and connections unanswered until it fills) where
 * nginx with the seeds' advice does not, over HTTP/1.1 or ending HTTP/2; a strict proxy refuses WebSocket while SSE
 * passes and Socket.IO falls back to polling; HAProxy round robin over two relays
 * breaks Socket.IO over polling, cookie affinity mends it.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { test } from "node:test";
import type { CellResult } from "../results/schema.js";
import { readOnlyRun, rtbenchChildren, runCli, tempDir } from "./helpers.js";

async function behind(proxy: string, transports: string, extra: string[] = ["--brokers", "inproc"]): Promise<Map<string, CellResult>> {
  const out = tempDir();
  const r = await runCli(
    ["run", "--scenario", "proxy", "--proxy", proxy, "--transports", transports, "--clients", "10", "--rate", "50", "--duration", "1.5", "--warmup", "0.5", "--drain", "1.5", "--out", out, ...extra],
    { timeoutMs: 120_000, env: { RTBENCH_BROKERS_DIR: tempDir() } },
  );
  assert.equal(r.code, 0, r.stderr);
  const cells = readOnlyRun(out).cells;
  for (const c of cells) {
    assert.equal(c.status, "ok", `${c.transport} behind ${proxy}: ${c.error}`);
    assert.equal(c.proxy?.kind, proxy, "the cell says which proxy it ran behind");
  }
  return new Map(cells.map((c) => [c.transport, c]));
}

/** Proxies a run started and left running (their folders are named rtbench-<kind>-XXXXXX). */
function proxiesLeft(): Promise<string[]> {
  return new Promise((resolve) => execFile("pgrep", ["-f", "/rtbench-[a-z-]+-[A-Za-z0-9]{6}"], (_e, stdout) => resolve(stdout.split("\n").filter(Boolean))));
}

const broken = (c: CellResult): number => c.connections.failed + c.connections.disconnects + (c.connections.unanswered ?? 0);

test("nginx as installed holds SSE in its buffer, nginx with the seeds' advice passes it at once", async () => {
  const held = (await behind("nginx-default", "sse")).get("sse")!;
  const tuned = (await behind("nginx-tuned", "sse,ws")).get("sse")!;
  // Nothing reaches a client until some kilobytes of events fill nginx's buffer: not even the response's headers.
  assert.equal(held.connections.unanswered, 10, "every stream held unanswered at the start");
  assert.ok(held.counts.delivered > 0, "the buffer, once full, is passed on");
  assert.ok(held.latencyUs.p50 > 50_000 && held.latencyUs.p50 > 10 * tuned.latencyUs.p50, `p50 ${held.latencyUs.p50} µs behind nginx-default, ${tuned.latencyUs.p50} µs tuned`);
  assert.equal(tuned.counts.lost, 0);
  assert.equal(broken(tuned), 0);
  // TLS ends at nginx: HTTP/2 for sse-h2's clients (an HTTP/1.1 sse relay behind it), wss: for WebSocket.
  for (const c of (await behind("nginx-h2", "sse-h2,ws")).values()) assert.equal(broken(c) + c.counts.lost, 0, c.transport);
  assert.deepEqual(await proxiesLeft(), []);
});

test("a strict proxy refuses WebSocket, passes SSE, and Socket.IO falls back to polling", async () => {
  const cells = await behind("strict", "sse,ws,socketio-upgrade");
  const ws = cells.get("ws")!;
  assert.equal(ws.connections.failed, 10, "no upgrade passed: every WebSocket refused");
  assert.match(ws.connections.firstError ?? "", /404|400|426/, "the reason is the relay's answer to a request without Upgrade");
  assert.equal(cells.get("sse")!.counts.lost, 0);
  const io = cells.get("socketio-upgrade")!;
  assert.equal(io.counts.lost, 0);
  assert.deepEqual(io.carriedBy, { polling: 10 }, "its upgrade refused, each connection stays on polling");
  assert.deepEqual(await proxiesLeft(), []);
});

test("HAProxy round robin over two relays breaks Socket.IO over polling; cookie affinity does not", async () => {
  const rr = await behind("haproxy-rr", "sse,socketio-polling", ["--relays", "2", "--brokers", "redis-pubsub"]);
  assert.ok(broken(rr.get("socketio-polling")!) > 0, "a poll sent to the relay that did not hand out the session is refused");
  assert.match(rr.get("socketio-polling")!.connections.firstError ?? "", /HTTP 400/);
  assert.equal(broken(rr.get("sse")!) + rr.get("sse")!.counts.lost, 0, "one long request per client: round robin cannot split it");
  const sticky = (await behind("haproxy-sticky", "socketio-polling", ["--relays", "2", "--brokers", "redis-pubsub"])).get("socketio-polling")!;
  assert.equal(broken(sticky) + sticky.counts.lost, 0, "the affinity cookie sends every poll back to its relay");
  assert.deepEqual(await rtbenchChildren(), []);
  assert.deepEqual(await proxiesLeft(), []);
});
