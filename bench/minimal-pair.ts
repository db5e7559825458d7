/**
 * The baselines for bench:harness: the smallest honest broadcast pair one would write
 * by hand for a protocol. Run as `minimal-pair.js server|client ws|sse`; driven over
 * IPC by bench/harness.ts.
 * - ws: a `ws` server sending to `wss.clients`, clients on the `ws` library;
 * - sse: a node:http server writing each event to every response, clients reading
 *   the stream with eventsource-parser, as most Node SSE clients do;
 * - longpoll: a node:http server holding each GET until there is something after the
 *   client's cursor, clients polling back to back on a keep-alive agent and splitting
 *   the body into lines.
 */
import http from "node:http";
import { createParser } from "eventsource-parser";
import { WebSocket, WebSocketServer } from "ws";
import { nowNs } from "../core/clock.js";
import { createHistogram, encodeHistogram } from "../core/histogram.js";

type Command =
  | { kind: "listen" }
  | { kind: "broadcast"; rate: number; seconds: number; size: number }
  | { kind: "connect"; url: string; clients: number }
  | { kind: "report" };

const role = process.argv[2];
const protocol = process.argv[3] === "sse" || process.argv[3] === "longpoll" ? process.argv[3] : "ws";
process.on("disconnect", () => process.exit(0));

/** One send to every client: the intended send time travels in the message. */
type SendAll = (intendedNs: number, size: number) => void;

function serveWs(onListening: (port: number) => void): SendAll {
  const wss = new WebSocketServer({ port: 0, host: "127.0.0.1", perMessageDeflate: false });
  wss.on("listening", () => onListening((wss.address() as { port: number }).port));
  return (intended, size) => {
    const buf = Buffer.alloc(size);
    buf.writeDoubleLE(intended, 0);
    for (const client of wss.clients) client.send(buf, { binary: true });
  };
}

function serveSse(onListening: (port: number) => void): SendAll {
  const responses = new Set<http.ServerResponse>();
  const server = http.createServer((req, res) => {
    req.socket.setNoDelay(true);
    res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
    res.write(": hello\n\n");
    responses.add(res);
    res.on("close", () => responses.delete(res));
  });
  server.listen(0, "127.0.0.1", () => onListening((server.address() as { port: number }).port));
  return (intended, size) => {
    const head = `${intended},`;
    const frame = `data: ${head}${"x".repeat(Math.max(0, size - head.length))}\n\n`;
    for (const res of responses) res.write(frame);
  };
}

function serveLongPoll(onListening: (port: number) => void): SendAll {
  const lines: string[] = [];
  const held = new Map<http.ServerResponse, number>();
  const answer = (res: http.ServerResponse, after: number): void => {
    res.writeHead(200, { "content-type": "text/plain", "x-cursor": String(lines.length) }).end(lines.slice(after).join(""));
  };
  const server = http.createServer((req, res) => {
    req.socket.setNoDelay(true);
    const param = new URL(req.url ?? "/", "http://x").searchParams.get("after");
    const after = param === null ? lines.length : Number(param);
    // A first poll learns the cursor at once; later ones wait for something new.
    if (after < lines.length || param === null) answer(res, after);
    else held.set(res, after);
  });
  server.keepAliveTimeout = 60_000;
  server.listen(0, "127.0.0.1", () => onListening((server.address() as { port: number }).port));
  return (intended, size) => {
    const head = `${intended},`;
    lines.push(`${head}${"x".repeat(Math.max(0, size - head.length))}\n`);
    for (const [res, after] of held) answer(res, after);
    held.clear();
  };
}

function connectLongPoll(url: string, onOpen: () => void, onMessage: (intendedNs: number) => void): void {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  let cursor: number | null = null;
  const poll = (): void => {
    http.get(`${url}${cursor === null ? "" : `?after=${cursor}`}`, { agent }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => (body += chunk));
      res.on("end", () => {
        if (cursor === null) onOpen();
        cursor = Number(res.headers["x-cursor"]);
        for (const line of body.split("\n")) if (line !== "") onMessage(Number(line.slice(0, line.indexOf(","))));
        poll();
      });
    });
  };
  poll();
}

function connectWs(url: string, onOpen: () => void, onMessage: (intendedNs: number) => void): void {
  const ws = new WebSocket(url, { perMessageDeflate: false });
  ws.on("open", onOpen);
  ws.on("message", (data: Buffer) => onMessage(data.readDoubleLE(0)));
}

function connectSse(url: string, onOpen: () => void, onMessage: (intendedNs: number) => void): void {
  const parser = createParser({ onEvent: (e) => onMessage(Number(e.data.slice(0, e.data.indexOf(",")))) });
  http.get(url, { agent: false }, (res) => {
    res.socket.setNoDelay(true);
    res.setEncoding("utf8");
    res.on("data", (chunk: string) => parser.feed(chunk));
    onOpen();
  });
}

if (role === "server") {
  let port = 0;
  const sendAll = (protocol === "sse" ? serveSse : protocol === "longpoll" ? serveLongPoll : serveWs)((p) => {
    port = p;
    process.send!({ kind: "ready" });
  });
  process.on("message", (m: Command) => {
    if (m.kind === "listen") {
      process.send!({ kind: "listening", port });
    } else if (m.kind === "broadcast") {
      // Open loop at 1 ms ticks: send everything due, stamped with its intended time.
      const start = nowNs();
      const interval = 1e9 / m.rate;
      const total = Math.round(m.rate * m.seconds);
      let sent = 0;
      const tick = (): void => {
        const due = Math.min(total, Math.floor((nowNs() - start) / interval) + 1);
        for (; sent < due; sent++) sendAll(start + sent * interval, m.size);
        if (sent < total) setTimeout(tick, 1);
        else process.send!({ kind: "broadcast-done", sent });
      };
      tick();
    }
  });
} else if (role === "client") {
  const latency = createHistogram();
  let received = 0;
  let cpuAtStart = process.cpuUsage();
  const onMessage = (intended: number): void => {
    latency.recordValue(Math.max(0, Math.round((nowNs() - intended) / 1000)));
    received++;
  };
  process.on("message", (m: Command) => {
    if (m.kind === "connect") {
      let open = 0;
      const onOpen = (): void => {
        if (++open === m.clients) {
          cpuAtStart = process.cpuUsage();
          process.send!({ kind: "connected" });
        }
      };
      const connect = protocol === "sse" ? connectSse : protocol === "longpoll" ? connectLongPoll : connectWs;
      for (let i = 0; i < m.clients; i++) connect(m.url, onOpen, onMessage);
    } else if (m.kind === "report") {
      const cpu = process.cpuUsage(cpuAtStart);
      process.send!({ kind: "report", received, cpuUs: cpu.user + cpu.system, latencyUs: encodeHistogram(latency) });
      latency.reset();
      received = 0;
      cpuAtStart = process.cpuUsage();
    }
  });
  process.send!({ kind: "ready" });
}
