/**
 * Browser clients against known answers, in real headless Chromium: a delay put in the
 * clients' path shows in the latency stamped in the page, within the clock bound the
 * cell records; a relay dropping every connection makes EventSource reconnect after the
 * advertised retry: with Last-Event-ID (nothing lost), Socket.IO reconnect and recover,
 * and a WebSocket stay closed; one tab holds six HTTP/1.1 streams to an origin and every
 * HTTP/2 one.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { test } from "node:test";
import { readOnlyRun, rtbenchChildren, runCli, tempDir } from "./helpers.js";
import { chromiumPath } from "../harness/browser/tabs.js";

const skip = existsSync(chromiumPath()) ? false : `no Chromium at ${chromiumPath()}`;
const MS = 1000;

/** Chromium processes a cell left behind (Playwright's profiles are named so). */
async function browsersLeft(): Promise<string[]> {
  return new Promise((resolve) => execFile("pgrep", ["-f", "playwright_chromiumdev_profile"], (_e, out) => resolve(out.split("\n").filter(Boolean))));
}

async function nothingLeft(): Promise<void> {
  assert.deepEqual(await rtbenchChildren(), []);
  assert.deepEqual(await browsersLeft(), [], "no Chromium left running");
}

const common = ["--client-kind", "browser", "--brokers", "inproc", "--size", "256", "--warmup", "0.5"];

test("a delay in the clients' path shows in the latency stamped in the page, within the recorded clock bound", { skip }, async () => {
  const out = tempDir();
  const r = await runCli(["run", ...common, "--transports", "sse", "--clients", "2", "--rate", "20", "--duration", "1.5", "--drain", "2", "--out", out], {
    env: { RTBENCH_TEST_CLIENT_DELAY_MS: "40" },
  });
  assert.equal(r.code, 0, r.stderr);
  const cells = readOnlyRun(out).cells;
  assert.equal(cells.length, 1);
  for (const c of cells) {
    const name = c.transport;
    assert.equal(c.status, "ok", `${name}: ${c.error}`);
    assert.equal(c.params.clientKind, "browser", name);
    assert.equal(c.counts.lost, 0, name);
    assert.equal(c.counts.delivered, c.counts.expected, name);
    const b = c.browser!;
    assert.match(b.version, /^\d+\./, name);
    assert.equal(b.tabs, 2, name);
    assert.ok(b.clockErrorBoundUs > 0 && b.clockErrorBoundUs < 5 * MS, `${name}: clock bound ${b.clockErrorBoundUs} µs`);
    // Relay to page is one way through the delay: 40 ms, and never less than it by more than the clock's bound.
    assert.ok(c.latencyUs.p50 >= 40 * MS - b.clockErrorBoundUs, `${name}: p50 ${c.latencyUs.p50} µs below the injected 40 ms`);
    assert.ok(c.latencyUs.p50 < 70 * MS, `${name}: p50 ${c.latencyUs.p50} µs`);
    assert.ok(c.resources.browser![0]!.length > 0, `${name}: the browser's processes were sampled`);
    assert.ok(b.peakPssBytes > 10 * 1024 * 1024, `${name}: Chromium's PSS ${b.peakPssBytes}`);
  }
  assert.match(r.stdout, /Chromium \d+\.[\d.]+, 2 tabs; page clock within/);
  await nothingLeft();
});

test("a relay drop: EventSource reconnects after retry: with Last-Event-ID, Socket.IO recovers, a WebSocket stays closed", { skip }, async () => {
  const out = tempDir();
  const r = await runCli(
    ["run", ...common, "--scenario", "reconnect", "--fault", "drop", "--reconnect-delay", "1", "--transports", "sse,socketio,ws", "--clients", "2", "--rate", "20", "--duration", "2.5", "--drain", "4", "--out", out],
  );
  assert.equal(r.code, 0, r.stderr);
  const cells = new Map(readOnlyRun(out).cells.map((c) => [c.transport, c]));
  const sse = cells.get("sse")!;
  assert.equal(sse.status, "ok", sse.error);
  assert.equal(sse.fault?.struck, true);
  assert.equal(sse.connections.disconnects, 2);
  assert.equal(sse.reconnects?.count, 2, "EventSource reopened both by itself");
  assert.equal(sse.reconnects?.resumeRequests, 2, "each reconnect sent Last-Event-ID");
  assert.equal(sse.counts.lost, 0, "the relay replayed what the drop missed");
  // retry: 1000 advised; the browser waits that long, then connects.
  assert.ok(sse.reconnects!.timeUs.p50 >= 1000 * MS - sse.browser!.clockErrorBoundUs && sse.reconnects!.timeUs.p50 < 1600 * MS, `reconnect p50 ${sse.reconnects!.timeUs.p50} µs`);
  const io = cells.get("socketio")!;
  assert.equal(io.status, "ok", io.error);
  assert.equal(io.reconnects?.count, 2, "Socket.IO's own loop reconnected");
  assert.equal(io.counts.lost, 0, "connection state recovery handed back what was missed");
  const ws = cells.get("ws")!;
  assert.equal(ws.status, "ok", ws.error);
  assert.equal(ws.connections.disconnects, 2);
  assert.equal(ws.reconnects?.count, 0, "a browser does not reopen a WebSocket");
  assert.ok(ws.counts.lost > 0, "what came after the drop never reached the page");
  assert.equal(ws.drainedComplete, true, "a closed WebSocket is not waited for");
  await nothingLeft();
});

test("one tab holds six HTTP/1.1 EventSources to an origin, and every one over HTTP/2", { skip }, async () => {
  const out = tempDir();
  const r = await runCli(
    ["run", ...common, "--transports", "sse,sse-h2", "--clients", "8", "--connections-per-tab", "8", "--rate", "10", "--duration", "1", "--drain", "2", "--out", out],
  );
  assert.equal(r.code, 0, r.stderr);
  const cells = new Map(readOnlyRun(out).cells.map((c) => [c.transport, c]));
  const h1 = cells.get("sse")!;
  assert.equal(h1.browser?.tabs, 1);
  assert.equal(h1.connections.open, 6, "HTTP/1.1: six connections per origin");
  assert.equal(h1.connections.unanswered, 2, "the seventh and eighth never opened");
  const h2 = cells.get("sse-h2")!;
  assert.equal(h2.connections.open, 8, "HTTP/2: every stream over one connection");
  assert.equal(h2.counts.lost, 0);
  await nothingLeft();
});
