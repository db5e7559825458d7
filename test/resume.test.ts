/**
 * Resume after reconnect against `rtbench serve` in its own process, for every
 * transport: SSE Last-Event-ID, WebSocket ?from=, Socket.IO auth.from, the polling
 * cursor, gRPC from_seq. The relay's replay buffer fills the gap.
 */
import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { after, test } from "node:test";
import { transports } from "../harness/registry.js";
import type { Transport } from "../transports/transport.js";
import { serveRelay } from "./helpers.js";

const servers: ChildProcess[] = [];
after(() => servers.forEach((s) => s.kill("SIGINT")));

const serve = (transport: string, ...extra: string[]): Promise<string> =>
  serveRelay(["--transport", transport, "--rate", "1000", ...extra], servers);

/** Receives messages until `count` have arrived, then closes; returns their seqs. */
function receive(t: Transport, baseUrl: string, count: number, fromSeq?: number): Promise<number[]> {
  return new Promise((resolve, reject) => {
    const seqs: number[] = [];
    const timer = setTimeout(() => {
      conn.close();
      reject(new Error(`only ${seqs.length} of ${count} messages within 10 s`));
    }, 10_000);
    const conn = t.connect(
      // Short polls every 50 ms, so a test waits no second per poll.
      { baseUrl, topic: 0, pollIntervalMs: 50, ...(fromSeq !== undefined ? { fromSeq } : {}) },
      {
        onOpen() {},
        onMessage(stream, seq) {
          assert.equal(stream, 0);
          seqs.push(seq);
          if (seqs.length === count) {
            clearTimeout(timer);
            conn.close();
            resolve(seqs);
          }
        },
        onClose: (reason) => {
          clearTimeout(timer);
          reject(new Error(`closed early: ${reason}`));
        },
      },
    );
  });
}

// `direct` has no relay to resume from: its clients are the broker's consumers.
for (const t of [...transports.values()].filter((t) => t.listener !== "none")) {
  test(`${t.name}: a reconnecting client resumes right after the last message it had`, async () => {
    const baseUrl = await serve(t.name);
    await t.load?.();
    const first = await receive(t, baseUrl, 20);
    for (let i = 1; i < first.length; i++) assert.equal(first[i], first[i - 1]! + 1, "in order, no gap");
    const last = first.at(-1)!;
    // Stay away for a while: about 300 messages go by at 1000/s. The rate is high so that
    // a broadcast is often in flight when the client comes back (a race once seen only
    // in CI at 200/s: socketio-redis-streams delivered one ahead of the replay).
    await new Promise((r) => setTimeout(r, 300));
    const second = await receive(t, baseUrl, 100, last + 1);
    assert.equal(second[0], last + 1, "the first message after reconnecting is the one after the last received");
    for (let i = 1; i < second.length; i++) assert.equal(second[i], second[i - 1]! + 1, "replayed then live, no gap, no duplicate");
  });
}

test("sse: the Last-Event-ID header on the wire selects the replay start", async () => {
  const baseUrl = await serve("sse");
  await new Promise((r) => setTimeout(r, 400)); // ~400 messages published
  const res = await fetch(`${baseUrl}/sse?topic=0`, { headers: { "Last-Event-ID": "5" } });
  assert.equal(res.headers.get("content-type"), "text/event-stream; charset=utf-8");
  assert.equal(res.headers.get("cache-control"), "no-cache");
  assert.equal(res.headers.get("x-accel-buffering"), "no");
  const reader = res.body!.getReader();
  let text = "";
  while (!text.includes("id: 8\n")) text += new TextDecoder().decode((await reader.read()).value);
  await reader.cancel();
  assert.match(text, /^retry: \d+\n/);
  const ids = [...text.matchAll(/^id: (\d+)$/gm)].map((m) => Number(m[1]));
  assert.deepEqual(ids.slice(0, 3), [6, 7, 8]);
});

test("sse: comment heartbeats keep an idle stream alive", async () => {
  const baseUrl = await serve("sse", "--rate", "0.1", "--heartbeat", "100");
  const res = await fetch(`${baseUrl}/sse?topic=0`);
  const reader = res.body!.getReader();
  let text = "";
  const deadline = Date.now() + 2_000;
  while (text.split(":\n\n").length < 4 && Date.now() < deadline) text += new TextDecoder().decode((await reader.read()).value);
  await reader.cancel();
  // At least three heartbeat comments and no event in the meantime (one message per 10 s).
  assert.ok(text.split(":\n\n").length >= 4, `heartbeats seen: ${JSON.stringify(text)}`);
});
