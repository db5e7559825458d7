/**
 * Server-Sent Events over HTTP/1.1 (text/event-stream, WHATWG HTML §9.2).
 * Resume: the client sends Last-Event-ID (the last seq it holds) and the server
 * replays newer frames from its bounded buffer.
 */
import http from "node:http";
import type { IncomingMessage, ServerResponse } from "node:http";
import { createParser } from "eventsource-parser";
import { encodeText, readText, type EnvelopeHeader } from "../harness/envelope.js";
import { StreamFanout } from "./fanout.js";
import {
  closeReporter,
  topicFrom,
  type ClientConnection,
  type ClientHandlers,
  type ClientOptions,
  type ServerOptions,
  type Transport,
  type TransportServer,
} from "./transport.js";

export const SSE_PATH = "/sse";

export interface SseEvent {
  id?: string;
  event?: string;
  data?: string;
  retry?: number;
}

const LINE_BREAK = /\r\n|\r|\n/;

/** Frames one event; multi-line data becomes one `data:` line per line. */
export function formatSseEvent(e: SseEvent): string {
  let out = "";
  if (e.id !== undefined) out += `id: ${singleLine("id", e.id)}\n`;
  if (e.event !== undefined) out += `event: ${singleLine("event", e.event)}\n`;
  if (e.retry !== undefined) out += `retry: ${Math.max(0, Math.floor(e.retry))}\n`;
  if (e.data !== undefined) {
    if (e.data.indexOf("\n") < 0 && e.data.indexOf("\r") < 0) out += `data: ${e.data}\n`;
    else for (const line of e.data.split(LINE_BREAK)) out += `data: ${line}\n`;
  }
  return out + "\n";
}

function singleLine(field: string, value: string): string {
  if (LINE_BREAK.test(value) || value.includes("\0")) {
    throw new Error(`SSE ${field} must be a single line without NUL, got ${JSON.stringify(value)}`);
  }
  return value;
}

export const SSE_HEARTBEAT = Buffer.from(":\n\n");

class SseServer implements TransportServer {
  private readonly fanout: StreamFanout<ServerResponse, Buffer>;
  private readonly heartbeat: NodeJS.Timeout;

  constructor(private readonly options: ServerOptions) {
    this.fanout = new StreamFanout(options.topics, options.replayCapacity);
    // One timer for all connections; a comment line keeps proxies from timing out.
    this.heartbeat = setInterval(() => {
      for (const res of this.fanout.all()) res.write(SSE_HEARTBEAT);
    }, options.heartbeatMs);
    this.heartbeat.unref();
  }

  get replayed(): number {
    return this.fanout.replayed;
  }

  broadcast(header: EnvelopeHeader, raw: Buffer): void {
    if (header.stream >= this.options.topics) return;
    const frame = Buffer.from(
      formatSseEvent({ id: String(header.seq), data: encodeText(header, raw.length) }),
    );
    for (const res of this.fanout.publish(header.stream, header.seq, frame)) res.write(frame);
  }

  handleRequest(req: IncomingMessage, res: ServerResponse): boolean {
    const url = new URL(req.url ?? "/", "http://relay");
    if (url.pathname !== SSE_PATH) return false;
    const topic = topicFrom(url, this.options.topics);
    if (topic === null) {
      res.writeHead(400, { "Content-Type": "text/plain" }).end(`topic must be 0..${this.options.topics - 1}\n`);
      return true;
    }
    // Last-Event-ID header on reconnect; ?lastEventId= lets a first connection resume too.
    const lastId = req.headers["last-event-id"] ?? url.searchParams.get("lastEventId");
    const last = typeof lastId === "string" && /^\d+$/.test(lastId) ? Number(lastId) : null;

    req.socket.setNoDelay(true);
    res.writeHead(200, {
      "Content-Type": "text/event-stream; charset=utf-8",
      "Cache-Control": "no-cache",
      Connection: "keep-alive",
      "X-Accel-Buffering": "no",
    });
    res.write(`retry: ${this.options.retryMs}\n: rtbench topic ${topic}\n\n`);
    for (const frame of this.fanout.subscribe(topic, res, last === null ? null : last + 1)) res.write(frame);
    res.on("close", () => this.fanout.unsubscribe(topic, res));
    return true;
  }

  connections(): number {
    return this.fanout.count();
  }

  async close(): Promise<void> {
    clearInterval(this.heartbeat);
    for (const res of this.fanout.all()) res.destroy();
  }
}

function connect(options: ClientOptions, handlers: ClientHandlers): ClientConnection {
  const url = new URL(SSE_PATH, options.baseUrl);
  url.searchParams.set("topic", String(options.topic));
  const headers: Record<string, string> = { Accept: "text/event-stream" };
  if (options.fromSeq !== undefined && options.fromSeq > 1) headers["Last-Event-ID"] = String(options.fromSeq - 1);

  const closing = closeReporter(handlers);
  const parser = createParser({
    onEvent(event) {
      readText(event.data, handlers.onMessage);
    },
  });
  const req = http.request({
    host: url.hostname,
    port: url.port,
    path: url.pathname + url.search,
    headers,
    agent: false,
    localAddress: options.localAddress,
  });
  req.on("response", (res) => {
    if (res.statusCode !== 200) {
      res.resume();
      closing.report(`HTTP ${res.statusCode}`);
      return;
    }
    res.socket.setNoDelay(true);
    handlers.onOpen();
    res.setEncoding("utf8");
    res.on("data", (chunk: string) => parser.feed(chunk));
    res.on("end", () => closing.report("stream ended"));
    res.on("error", (err) => closing.report(err.message));
  });
  req.on("error", (err) => closing.report(err.message));
  req.on("close", () => closing.report("closed"));
  req.end();
  return {
    close() {
      closing.silence();
      req.destroy();
    },
  };
}

export const sse: Transport = {
  name: "sse",
  summary: "Server-Sent Events over HTTP/1.1 (text/event-stream, Last-Event-ID resume)",
  endpoint: `${SSE_PATH}?topic=0`,
  createServer: (options) => new SseServer(options),
  connect,
};
