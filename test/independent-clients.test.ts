/**
 * The wire formats, checked by clients rtbench did not write: curl for SSE over
 * HTTP/1.1 and HTTP/2, the `eventsource` package (a browser's EventSource for Node)
 * reconnecting with Last-Event-ID, a plain `ws` client, and socket.io-client
 * recovering missed packets through connection state recovery. Each against
 * `rtbench serve` in its own process.
 */
import assert from "node:assert/strict";
import { execFile, type ChildProcess } from "node:child_process";
import net from "node:net";
import { after, test } from "node:test";
import { EventSource } from "eventsource";
import { io } from "socket.io-client";
import WebSocket from "ws";
import { decodeBinary } from "../core/envelope.js";
import { serveRelay, waitFor } from "./helpers.js";

const servers: ChildProcess[] = [];
after(() => servers.forEach((s) => s.kill("SIGINT")));

const serve = (...args: string[]): Promise<string> => serveRelay(args, servers);

function curl(args: string[]): Promise<string> {
  return new Promise((resolve, reject) =>
    execFile("curl", args, { timeout: 10_000 }, (err, stdout) =>
      // --max-time ends a stream with exit 28, which is how these reads are meant to stop.
      err && (err as { code?: number }).code !== 28 ? reject(err) : resolve(stdout),
    ),
  );
}

/** Checks text/event-stream framing: blocks of `field: value` lines, each event with consecutive ids. */
function assertEventStream(text: string): void {
  assert.match(text, /^retry: \d+\n: rtbench topic 0\n\n/, "hello block: retry, then a comment");
  const events = text.split("\n\n").slice(1).filter((b) => b.startsWith("id: "));
  assert.ok(events.length >= 5, `at least 5 events, got ${events.length}: ${JSON.stringify(text.slice(0, 300))}`);
  const ids = events.map((block) => {
    const m = /^id: (\d+)\ndata: (\d+),(\d+),(\d+),(\d+),x*$/.exec(block);
    assert.ok(m, `an event is "id: N" then one "data:" line with the envelope: ${JSON.stringify(block)}`);
    assert.equal(m[1], m[3], "the event id is the envelope's seq");
    return Number(m[1]);
  });
  for (let i = 1; i < ids.length; i++) assert.equal(ids[i], ids[i - 1]! + 1, "consecutive ids");
}

test("curl -N reads SSE events with the right framing over HTTP/1.1", async () => {
  const base = await serve("--transport", "sse", "--rate", "50");
  const text = await curl(["-sN", "--max-time", "1", `${base}/sse?topic=0`]);
  assertEventStream(text);
});

test("curl --http2 reads the same events from sse-h2, over HTTP/2 with TLS", async () => {
  const base = await serve("--transport", "sse-h2", "--rate", "50");
  assert.match(base, /^https:/);
  const out = await curl(["-sNk", "--http2", "--max-time", "1", "-w", "\nHTTP_VERSION=%{http_version}\n", `${base}/sse?topic=0`]);
  assert.match(out, /HTTP_VERSION=2\n$/);
  assertEventStream(out.replace(/\nHTTP_VERSION=.*\n$/, ""));
});

test("the eventsource package reconnects after a cut and resumes with Last-Event-ID", async () => {
  const base = await serve("--transport", "sse", "--rate", "100", "--retry", "100");
  // A TCP proxy in the path, so the test can cut the connection as a network would.
  const target = new URL(base);
  const sockets = new Set<net.Socket>();
  const proxy = net.createServer((client) => {
    const upstream = net.connect(Number(target.port), target.hostname);
    client.pipe(upstream).pipe(client);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on("error", () => {});
      s.on("close", () => sockets.delete(s));
    }
  });
  await new Promise<void>((r) => proxy.listen(0, "127.0.0.1", r));
  const port = (proxy.address() as net.AddressInfo).port;
  const ids: number[] = [];
  let opens = 0;
  const es = new EventSource(`http://127.0.0.1:${port}/sse?topic=0`);
  es.onopen = () => opens++;
  es.onmessage = (e) => ids.push(Number(e.lastEventId));
  try {
    await waitFor(() => ids.length >= 20, 5_000, "20 events before the cut");
    for (const s of sockets) s.destroy();
    const cutAt = ids.length;
    // The client waits retry (100 ms), reconnects with Last-Event-ID, and ~10 messages were missed meanwhile.
    await waitFor(() => opens >= 2 && ids.length >= cutAt + 40, 5_000, "40 events after reconnecting");
  } finally {
    es.close();
    proxy.close();
  }
  assert.equal(opens, 2, "one reconnect");
  for (let i = 1; i < ids.length; i++) assert.equal(ids[i], ids[i - 1]! + 1, `no gap or duplicate across the reconnect at ${i}`);
});

test("a plain ws client gets one binary frame per message, and ?from= resumes", async () => {
  const base = (await serve("--transport", "ws", "--rate", "200")).replace(/^http/, "ws");
  const read = (url: string, count: number): Promise<number[]> =>
    new Promise((resolve, reject) => {
      const seqs: number[] = [];
      const sock = new WebSocket(url);
      sock.on("message", (data: Buffer, isBinary) => {
        assert.equal(isBinary, true);
        assert.equal(data.length, 64, "the frame is the envelope: --size 64 by default");
        seqs.push(decodeBinary(data).seq);
        if (seqs.length === count) {
          sock.close();
          resolve(seqs);
        }
      });
      sock.on("error", reject);
    });
  const first = await read(`${base}/ws?topic=0`, 10);
  await new Promise((r) => setTimeout(r, 200));
  const resumed = await read(`${base}/ws?topic=0&from=${first.at(-1)! + 1}`, 60);
  assert.equal(resumed[0], first.at(-1)! + 1);
  for (let i = 1; i < resumed.length; i++) assert.equal(resumed[i], resumed[i - 1]! + 1);
});

test("socket.io-client recovers the packets missed while its transport was down", async () => {
  const base = await serve("--transport", "socketio", "--rate", "200");
  const seqs: number[] = [];
  const recovered: boolean[] = [];
  const socket = io(base, { transports: ["websocket"], query: { topic: "0" }, reconnectionDelay: 100, reconnectionDelayMax: 100 });
  socket.on("connect", () => recovered.push(socket.recovered));
  socket.on("m", (text: string) => seqs.push(Number(text.split(",")[1])));
  try {
    await waitFor(() => seqs.length >= 20, 5_000, "20 events");
    // Closes the engine.io connection as a network drop would; the client reconnects by itself.
    socket.io.engine.close();
    const cutAt = seqs.length;
    await waitFor(() => recovered.length >= 2 && seqs.length >= cutAt + 60, 5_000, "60 events after reconnecting");
  } finally {
    socket.disconnect();
  }
  assert.deepEqual(recovered, [false, true], "the second connection recovered the session");
  for (let i = 1; i < seqs.length; i++) assert.equal(seqs[i], seqs[i - 1]! + 1, `no gap or duplicate across the reconnect at ${i}`);
});
