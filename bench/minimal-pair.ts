/**
 * The baselines for bench:harness: the smallest honest broadcast pair one would write
 * by hand for a protocol, on its usual library. Run as
 * `minimal-pair.js server|client <protocol>`; driven over IPC by bench/harness.ts.
 * - ws: a `ws` server sending to `wss.clients`, clients on the `ws` library;
 * - sse: a node:http server writing each event to every response, clients reading
 *   the stream with eventsource-parser, as most Node SSE clients do;
 * - sse-h2: the same over node:http2 with TLS, the clients' streams 100 to a session
 *   (as a browser puts every EventSource of an origin on one);
 * - socketio: a Socket.IO server's `io.emit`, socket.io-client over websocket;
 * - longpoll: a node:http server holding each GET until there is something after the
 *   client's cursor, clients polling back to back on a keep-alive agent and splitting
 *   the body into lines;
 * - grpc: a grpc-js server-streaming call per client, the message bytes as they are.
 * Each client process also reports its event loop's utilization and delay, so the
 * harness judges it by the same guard as rtbench's fleet.
 */
import http from "node:http";
import http2 from "node:http2";
import { monitorEventLoopDelay, performance } from "node:perf_hooks";
import * as grpc from "@grpc/grpc-js";
import { createParser } from "eventsource-parser";
import { Server as SocketIoServer } from "socket.io";
import { io as socketIoClient } from "socket.io-client";
import { WebSocket, WebSocketServer } from "ws";
import { nowNs } from "../core/clock.js";
import { createHistogram, encodeHistogram } from "../core/histogram.js";
import { readSyscallsSoFar } from "../core/sampler.js";
import { MINIMAL_PROTOCOLS, type MinimalProtocol } from "./protocols.js";

type Command =
  | { kind: "listen" }
  | { kind: "broadcast"; rate: number; seconds: number; size: number }
  | { kind: "connect"; url: string; clients: number }
  | { kind: "window-end" }
  | { kind: "report" };

const role = process.argv[2];
const protocol: MinimalProtocol = MINIMAL_PROTOCOLS.find((p) => p === process.argv[3]) ?? "ws";

/** A text message: the intended send time, a comma, padding up to `size` characters. */
function textMessage(intended: number, size: number): string {
  const head = `${intended},`;
  return `${head}${"x".repeat(Math.max(0, size - head.length))}`;
}

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
    const frame = `data: ${textMessage(intended, size)}\n\n`;
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
    lines.push(`${textMessage(intended, size)}\n`);
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

async function serveSseH2(onListening: (port: number) => void): Promise<SendAll> {
  const { generate } = await import("selfsigned");
  const pem = await generate([{ name: "commonName", value: "localhost" }], { keyType: "ec" });
  const streams = new Set<http2.ServerHttp2Stream>();
  const server = http2.createSecureServer({ key: pem.private, cert: pem.cert });
  server.on("stream", (stream) => {
    stream.respond({ ":status": 200, "content-type": "text/event-stream" });
    stream.write(": hello\n\n");
    streams.add(stream);
    stream.on("close", () => streams.delete(stream));
    stream.on("error", () => {});
  });
  server.on("sessionError", () => {});
  server.listen(0, "127.0.0.1", () => onListening((server.address() as { port: number }).port));
  return (intended, size) => {
    const frame = `data: ${textMessage(intended, size)}\n\n`;
    for (const stream of streams) stream.write(frame);
  };
}

function serveSocketIo(onListening: (port: number) => void): SendAll {
  const server = http.createServer();
  const io = new SocketIoServer(server, { transports: ["websocket"] });
  server.listen(0, "127.0.0.1", () => onListening((server.address() as { port: number }).port));
  return (intended, size) => {
    io.emit("m", textMessage(intended, size));
  };
}

const GRPC_PATH = "/minimal.Relay/Subscribe";
const bytes = (b: Buffer): Buffer => b;

function serveGrpc(onListening: (port: number) => void): SendAll {
  const calls = new Set<grpc.ServerWritableStream<Buffer, Buffer>>();
  const server = new grpc.Server();
  const definition = {
    subscribe: { path: GRPC_PATH, requestStream: false, responseStream: true, requestSerialize: bytes, requestDeserialize: bytes, responseSerialize: bytes, responseDeserialize: bytes },
  };
  server.addService(definition, {
    subscribe: (call: grpc.ServerWritableStream<Buffer, Buffer>) => {
      call.sendMetadata(new grpc.Metadata());
      calls.add(call);
      call.on("cancelled", () => calls.delete(call));
    },
  });
  server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (_err, port) => onListening(port));
  return (intended, size) => {
    const buf = Buffer.alloc(size);
    buf.writeDoubleLE(intended, 0);
    for (const call of calls) call.write(buf);
  };
}

function connectSseH2(url: string, onOpen: () => void, onMessage: (intendedNs: number) => void): void {
  connectSseH2.sessions ??= [];
  let entry = connectSseH2.sessions.find((e) => e.streams < 100);
  if (!entry) {
    entry = { session: http2.connect(url, { rejectUnauthorized: false }), streams: 0 };
    entry.session.on("error", () => {});
    connectSseH2.sessions.push(entry);
  }
  entry.streams++;
  const parser = createParser({ onEvent: (e) => onMessage(Number(e.data.slice(0, e.data.indexOf(",")))) });
  const stream = entry.session.request({ ":path": "/", accept: "text/event-stream" });
  stream.setEncoding("utf8");
  stream.on("response", () => onOpen());
  stream.on("data", (chunk: string) => parser.feed(chunk));
}
connectSseH2.sessions = undefined as Array<{ session: http2.ClientHttp2Session; streams: number }> | undefined;

function connectSocketIo(url: string, onOpen: () => void, onMessage: (intendedNs: number) => void): void {
  const socket = socketIoClient(url, { transports: ["websocket"], forceNew: true, reconnection: false });
  socket.on("connect", onOpen);
  socket.on("m", (text: string) => onMessage(Number(text.slice(0, text.indexOf(",")))));
}

function connectGrpc(url: string, onOpen: () => void, onMessage: (intendedNs: number) => void): void {
  connectGrpc.channels ??= [];
  let entry = connectGrpc.channels.find((e) => e.streams < 100);
  if (!entry) {
    entry = { client: new grpc.Client(new URL(url).host, grpc.credentials.createInsecure(), { "grpc.use_local_subchannel_pool": 1 }), streams: 0 };
    connectGrpc.channels.push(entry);
  }
  entry.streams++;
  const call = entry.client.makeServerStreamRequest(GRPC_PATH, bytes, bytes, Buffer.alloc(0));
  call.on("metadata", onOpen);
  call.on("data", (buf: Buffer) => onMessage(buf.readDoubleLE(0)));
  call.on("error", () => {});
}
connectGrpc.channels = undefined as Array<{ client: grpc.Client; streams: number }> | undefined;

const SERVERS: Record<MinimalProtocol, (onListening: (port: number) => void) => SendAll | Promise<SendAll>> = {
  ws: serveWs,
  sse: serveSse,
  "sse-h2": serveSseH2,
  socketio: serveSocketIo,
  longpoll: serveLongPoll,
  grpc: serveGrpc,
};
const CLIENTS: Record<MinimalProtocol, (url: string, onOpen: () => void, onMessage: (intendedNs: number) => void) => void> = {
  ws: connectWs,
  sse: connectSse,
  "sse-h2": connectSseH2,
  socketio: connectSocketIo,
  longpoll: connectLongPoll,
  grpc: connectGrpc,
};

if (role === "server" || role === "client") process.on("disconnect", () => process.exit(0));

if (role === "server") {
  let port = 0;
  const sendAll = await SERVERS[protocol]((p) => {
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
  let readsAtStart = readSyscallsSoFar() ?? 0;
  // What the fleet's guard reads, over the broadcast: the loop's utilization, and the
  // worst per-second p99 of its delay (the fleet samples once a second).
  let eluAtStart = performance.eventLoopUtilization();
  let windowElu = 0;
  let worstDelayP99Ms = 0;
  const delay = monitorEventLoopDelay({ resolution: 10 });
  delay.enable();
  setInterval(() => {
    if (delay.count > 0) worstDelayP99Ms = Math.max(worstDelayP99Ms, delay.percentile(99) / 1e6);
    delay.reset();
  }, 1000).unref();
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
          readsAtStart = readSyscallsSoFar() ?? 0;
          process.send!({ kind: "connected" });
        }
      };
      for (let i = 0; i < m.clients; i++) CLIENTS[protocol](m.url, onOpen, onMessage);
    } else if (m.kind === "window-end") {
      windowElu = performance.eventLoopUtilization(eluAtStart).utilization;
    } else if (m.kind === "report") {
      const cpu = process.cpuUsage(cpuAtStart);
      const reads = readSyscallsSoFar();
      process.send!({
        kind: "report",
        received,
        cpuUs: cpu.user + cpu.system,
        ...(reads !== undefined ? { readSyscalls: reads - readsAtStart } : {}),
        latencyUs: encodeHistogram(latency),
        elu: windowElu,
        loopDelayP99Ms: worstDelayP99Ms,
      });
      latency.reset();
      received = 0;
      worstDelayP99Ms = 0;
      cpuAtStart = process.cpuUsage();
      readsAtStart = readSyscallsSoFar() ?? 0;
      eluAtStart = performance.eventLoopUtilization();
    }
  });
  process.send!({ kind: "ready" });
}
