/**
 * The baseline of bench:fleet: `fleet-clients.js <transport>`, a minimal hand-written
 * client process of the protocol reading rtbench's relays: ws clients on the `ws`
 * library, SSE as `http.get` with eventsource-parser. Each message's latency from its
 * intended send time goes into an HDR histogram and is counted: the least a client
 * that measures must do. Driven over IPC by bench/fleet.ts, with the same commands'
 * meaning as rtbench's fleet process: connect, then progress once a second.
 */
import http from "node:http";
import { createParser } from "eventsource-parser";
import { WebSocket } from "ws";
import { nowNs } from "../core/clock.js";
import { createHistogram } from "../core/histogram.js";

type Command = { kind: "connect"; urls: string[]; count: number; localAddress?: string; concurrency: number } | { kind: "start" };

const transport = process.argv[2];
process.on("disconnect", () => process.exit(0));

const latency = createHistogram();
let delivered = 0;
const onMessage = (intendedAt: number): void => {
  const us = Math.round((nowNs() - intendedAt) / 1000);
  if (us >= 0) latency.recordValue(us);
  delivered++;
};

/** Opens one connection; `settle` once it is open or has failed. */
function connectWs(base: string, localAddress: string | undefined, settle: (ok: boolean) => void): void {
  const ws = new WebSocket(`${base.replace(/^http/, "ws")}/ws?topic=0`, { perMessageDeflate: false, ...(localAddress ? { localAddress } : {}) });
  ws.on("open", () => settle(true));
  ws.on("error", () => settle(false));
  // The binary envelope: intended send time at byte 16.
  ws.on("message", (data: Buffer) => {
    if (data.length >= 32) onMessage(data.readDoubleLE(16));
  });
}

function connectSse(base: string, localAddress: string | undefined, settle: (ok: boolean) => void): void {
  // The text envelope: stream,seq,intendedAt,sentAt,padding.
  const parser = createParser({ onEvent: (e) => onMessage(Number(e.data.split(",", 3)[2])) });
  const req = http.get(`${base}/sse?topic=0`, { agent: false, headers: { accept: "text/event-stream" }, ...(localAddress ? { localAddress } : {}) }, (res) => {
    res.setEncoding("utf8");
    res.on("data", (chunk: string) => parser.feed(chunk));
    settle(res.statusCode === 200);
  });
  req.on("error", () => settle(false));
}

const CONNECT: Record<string, typeof connectWs> = { ws: connectWs, sse: connectSse };
const connect = CONNECT[transport ?? ""];
if (!connect) throw new Error(`fleet-clients: no minimal client for ${transport}`);

process.on("message", (m: Command) => {
  if (m.kind === "connect") {
    // At most `concurrency` connects in flight, as rtbench's fleet opens them.
    let next = 0;
    let open = 0;
    let failed = 0;
    const one = (): void => {
      if (next >= m.count) return;
      const k = next++;
      let settled = false;
      connect(m.urls[k % m.urls.length]!, m.localAddress, (ok) => {
        if (settled) return;
        settled = true;
        if (ok) open++;
        else failed++;
        if (open + failed === m.count) process.send!({ kind: "connected", open, failed });
        else one();
      });
    };
    if (m.count === 0) process.send!({ kind: "connected", open: 0, failed: 0 });
    for (let i = 0; i < Math.min(m.concurrency, m.count); i++) one();
  } else {
    setInterval(() => process.send!({ kind: "progress", delivered }), 1000).unref();
  }
});
