/**
 * One side of bench:relay: `relay-server.js rtbench|minimal <transport>`. Either
 * rtbench's own transport server (as its relay mounts it) or the minimal server one
 * would write by hand for the protocol, speaking the same wire format, so the same
 * clients read both. Driven over IPC by bench/relay.ts: it broadcasts messages on
 * command and reports its CPU time over them.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import { WebSocketServer } from "ws";
import { nowNs } from "../core/clock.js";
import { encodeBinary, encodeText, type EnvelopeHeader } from "../core/envelope.js";
import { startRelay } from "../harness/relay.js";

export type BenchCommand = { kind: "broadcast"; messages: number; intervalMs: number; size: number } | { kind: "connections" };

/** Sends one message to every connection. */
type Broadcast = (header: EnvelopeHeader, raw: Buffer) => void;

const [impl, transport] = [process.argv[2], process.argv[3]!];
process.on("disconnect", () => process.exit(0));

function listen(server: http.Server): Promise<number> {
  return new Promise((resolve) => server.listen({ port: 0, host: "127.0.0.1", backlog: 65535 }, () => resolve((server.address() as AddressInfo).port)));
}

/** ws: `wss.clients.forEach(send)`, the binary envelope as rtbench's ws relay sends it. */
async function minimalWs(): Promise<{ port: number; broadcast: Broadcast; connections: () => number }> {
  const server = http.createServer();
  const wss = new WebSocketServer({ server, perMessageDeflate: false });
  const port = await listen(server);
  return { port, broadcast: (_h, raw) => wss.clients.forEach((c) => c.send(raw, { binary: true })), connections: () => wss.clients.size };
}

/** SSE: `res.write` of the event on each held response. */
async function minimalSse(): Promise<{ port: number; broadcast: Broadcast; connections: () => number }> {
  const responses = new Set<http.ServerResponse>();
  const server = http.createServer((req, res) => {
    req.socket.setNoDelay(true);
    res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
    res.write(": hello\n\n");
    responses.add(res);
    res.on("close", () => responses.delete(res));
  });
  const port = await listen(server);
  return {
    port,
    broadcast: (h, raw) => {
      const frame = `id: ${h.seq}\ndata: ${encodeText(h, raw.length)}\n\n`;
      for (const res of responses) res.write(frame);
    },
    connections: () => responses.size,
  };
}

/**
 * Long polling: answer each held request with the message, and the cursor rtbench's
 * client reads; a poll that comes back behind the cursor gets what it missed at once.
 */
async function minimalLongPoll(): Promise<{ port: number; broadcast: Broadcast; connections: () => number }> {
  const held = new Set<http.ServerResponse>();
  const sockets = new Set<unknown>();
  const frames: string[] = [];
  let last = 0;
  const server = http.createServer((req, res) => {
    req.socket.setNoDelay(true);
    if (!sockets.has(req.socket)) {
      sockets.add(req.socket);
      req.socket.once("close", () => sockets.delete(req.socket));
    }
    const url = new URL(req.url ?? "/", "http://relay");
    const after = Number(url.searchParams.get("after") ?? last);
    if (after < last) {
      res.writeHead(200, { "content-type": "text/plain", "x-cursor": String(last) }).end(frames.slice(after).join(""));
      return;
    }
    if (url.searchParams.get("wait") === "0") {
      res.writeHead(204, { "x-cursor": String(last) }).end();
      return;
    }
    held.add(res);
    res.on("close", () => held.delete(res));
  });
  server.keepAliveTimeout = 60_000;
  const port = await listen(server);
  return {
    port,
    broadcast: (h, raw) => {
      last = h.seq;
      const body = `${encodeText(h, raw.length)}\n`;
      frames[h.seq - 1] = body;
      for (const res of held) res.writeHead(200, { "content-type": "text/plain", "x-cursor": String(h.seq) }).end(body);
      held.clear();
    },
    connections: () => sockets.size,
  };
}

async function rtbench(): Promise<{ port: number; broadcast: Broadcast; connections: () => number }> {
  const relay = await startRelay({
    transport,
    broker: "inproc",
    namespace: "bench",
    partitions: 1,
    topics: 1,
    replayCapacity: 1000,
    heartbeatMs: 60_000,
    retryMs: 1000,
    port: 0,
    host: "127.0.0.1",
    history: false,
    subscribe: false,
  });
  // What the relay does per message from the broker, less the broker.
  return { port: relay.port, broadcast: (h, raw) => relay.server.broadcast(h.stream, h, raw), connections: () => relay.server.connections() };
}

const MINIMAL: Record<string, () => ReturnType<typeof minimalWs>> = { ws: minimalWs, "ws-preframed": minimalWs, sse: minimalSse, longpoll: minimalLongPoll };

const start = impl === "minimal" ? MINIMAL[transport] : rtbench;
if (start === undefined) throw new Error(`no minimal server for ${transport}`);
const { port, broadcast, connections } = await start();
process.send!({ kind: "ready", port });
process.on("message", (m: BenchCommand) => {
  if (m.kind === "connections") {
    process.send!({ kind: "connections", count: connections() });
    return;
  }
  const sentAt: number[] = [];
  const cpu = process.cpuUsage();
  let busyNs = 0;
  let seq = 0;
  const tick = (): void => {
    seq++;
    // Whole nanoseconds: the text envelope carries decimal digits only.
    const t = Math.round(nowNs());
    const header = { seq, stream: 0, intendedAt: t, sentAt: t };
    broadcast(header, encodeBinary(header, m.size));
    busyNs += nowNs() - t;
    sentAt.push(t);
    if (seq < m.messages) setTimeout(tick, m.intervalMs);
    else {
      // The writes the loop queued are flushed after it returns: wait for them before reading the CPU.
      setTimeout(() => {
        const used = process.cpuUsage(cpu);
        process.send!({ kind: "broadcast-done", sentAt, cpuUs: used.user + used.system, loopNs: busyNs });
      }, 1000);
    }
  };
  tick();
});
