/**
 * Server-Sent Events (text/event-stream, WHATWG HTML §9.2), over HTTP/1.1 (`sse`) and
 * over HTTP/2 with TLS (`sse-h2`, many streams multiplexed over few sessions).
 * Resume: the client sends Last-Event-ID (the last seq it holds) and the server
 * replays newer frames from its bounded buffer.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { IncomingHttpHeaders, ServerHttp2Stream } from "node:http2";
import { encodeText, readTextBytes, type EnvelopeHeader } from "../core/envelope.js";
import { LeanH2Session } from "./h2-client.js";
import { Http1Connection, targetOf } from "./http1.js";
import { SseByteParser } from "./sse-parser.js";
import { StreamFanout } from "./fanout.js";
import { handlePost, handlePostStream, PostSender, postBody, SEND_PATH } from "./upstream-http.js";
import {
  closeReporter,
  seqParam,
  topicFrom,
  type ClientConnection,
  type ClientHandlers,
  type ClientOptions,
  type Codec,
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

/** An HTTP/1.1 response or an HTTP/2 stream: all the fan-out needs. */
interface EventSink {
  write(chunk: Buffer | string): unknown;
  destroy(): void;
}

class SseServer implements TransportServer {
  private readonly fanout: StreamFanout<EventSink, Buffer>;
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

  /** Connections that came with a Last-Event-ID header: what a browser's EventSource sends when it reconnects. */
  resumeRequests = 0;

  broadcast(topic: number, header: EnvelopeHeader, raw: Buffer): void {
    if (topic >= this.options.topics) return;
    const frame = encodeFrame(header, raw);
    for (const res of this.fanout.publish(topic, header.seq, frame)) res.write(frame);
  }

  /** The part both HTTP versions share: hello, replay, and unsubscribe on close. */
  private open(sink: EventSink, topic: number, lastEventId: number | null, onClose: (f: () => void) => void): void {
    sink.write(`retry: ${this.options.retryMs}\n: rtbench topic ${topic}\n\n`);
    for (const frame of this.fanout.subscribe(topic, sink, lastEventId === null ? null : lastEventId + 1)) sink.write(frame);
    onClose(() => this.fanout.unsubscribe(topic, sink));
  }

  handleStream(stream: ServerHttp2Stream, headers: IncomingHttpHeaders): boolean {
    if (handlePostStream(stream, headers, this.options.upstream)) return true;
    const url = new URL(headers[":path"] ?? "/", "https://relay");
    if (url.pathname !== SSE_PATH) return false;
    const topic = topicFrom(url, this.options.topics);
    if (topic === null) {
      stream.respond({ ":status": 400, "content-type": "text/plain" });
      stream.end(`topic must be 0..${this.options.topics - 1}\n`);
      return true;
    }
    // HTTP/2 forbids connection-specific headers (Connection, Keep-Alive).
    stream.respond({ ":status": 200, "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache" });
    stream.on("error", () => stream.destroy());
    if (headers["last-event-id"] !== undefined) this.resumeRequests++;
    this.open(stream, topic, seqParam(headers["last-event-id"] ?? url.searchParams.get("lastEventId")), (f) => stream.on("close", f));
    return true;
  }

  handleRequest(req: IncomingMessage, res: ServerResponse): boolean {
    if (handlePost(req, res, this.options.upstream)) return true;
    const url = new URL(req.url ?? "/", "http://relay");
    if (url.pathname !== SSE_PATH) return false;
    const topic = topicFrom(url, this.options.topics);
    if (topic === null) {
      res.writeHead(400, { "Content-Type": "text/plain" }).end(`topic must be 0..${this.options.topics - 1}\n`);
      return true;
    }
    // Last-Event-ID header on reconnect; ?lastEventId= lets a first connection resume too.
    const last = seqParam(req.headers["last-event-id"] ?? url.searchParams.get("lastEventId"));
    if (req.headers["last-event-id"] !== undefined) this.resumeRequests++;

    req.socket.setNoDelay(true);
    res.writeHead(200, {
      "Content-Type": "text/event-stream; charset=utf-8",
      "Cache-Control": "no-cache",
      Connection: "keep-alive",
      ...(this.options.withoutAccelHeader ? {} : { "X-Accel-Buffering": "no" }),
    });
    this.open(res, topic, last, (f) => res.on("close", f));
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

function encodeFrame(header: EnvelopeHeader, raw: Buffer): Buffer {
  return Buffer.from(formatSseEvent({ id: String(header.seq), data: encodeText(header, raw.length) }));
}

/** Request headers and the event parser both clients share. */
function clientSetup(options: ClientOptions, handlers: ClientHandlers) {
  const path = `${SSE_PATH}?topic=${options.topic}`;
  const headers: Record<string, string> = { accept: "text/event-stream" };
  if (options.fromSeq !== undefined && options.fromSeq > 1) headers["last-event-id"] = String(options.fromSeq - 1);
  // On bytes: no string per chunk or per event (transports/sse-parser.ts).
  const parser = new SseByteParser({ onEvent: (data, start, end) => void readTextBytes(data, start, end, handlers.onMessage) });
  return { path, headers, parser, closing: closeReporter(handlers) };
}

/** The fleet's HTTP/1.1 client: the lean one (transports/http1.ts), reading on the process's shared buffer. */
function connect(options: ClientOptions, handlers: ClientHandlers): ClientConnection {
  const url = new URL(options.baseUrl);
  const { path, headers, parser, closing } = clientSetup(options, handlers);
  const conn = new Http1Connection(targetOf(url, 80, options.localAddress), (reason) => closing.report(reason));
  let open = false;
  conn.get(path, url.host, headers, {
    onHead: (head) => {
      if (head.status !== 200) {
        conn.destroy();
        closing.report(`HTTP ${head.status}`);
        return;
      }
      open = true;
      handlers.onOpen();
    },
    onBody: (buf, start, end) => {
      if (open) parser.feed(buf, start, end);
    },
    onEnd: () => {
      conn.destroy();
      closing.report("stream ended");
    },
  });
  // Upstream (chat): POSTs on a second keep-alive connection, opened on the first send.
  let poster: PostSender | undefined;
  return {
    send(header, size, onAck) {
      poster ??= new PostSender(targetOf(url, 80, options.localAddress), url.host, `${SEND_PATH}?topic=${options.topic}`);
      poster.send(postBody(header, size), onAck);
    },
    close() {
      closing.silence();
      conn.destroy();
      poster?.close();
    },
  };
}

/**
 * Streams per HTTP/2 session on the client side. Browsers put every EventSource to
 * one origin on one session; 100 is the common SETTINGS_MAX_CONCURRENT_STREAMS.
 */
export const H2_STREAMS_PER_SESSION = 100;

/** Open sessions per relay and source address, filled up to H2_STREAMS_PER_SESSION each. */
const h2Pools = new Map<string, LeanH2Session[]>();

function h2Session(baseUrl: string, localAddress: string | undefined): LeanH2Session {
  const key = `${baseUrl}|${localAddress ?? ""}`;
  const pool = h2Pools.get(key) ?? [];
  h2Pools.set(key, pool);
  let session = pool.find((p) => p.usable && p.open < H2_STREAMS_PER_SESSION);
  if (!session) {
    const url = new URL(baseUrl);
    const fresh: LeanH2Session = new LeanH2Session(
      targetOf(url, 443, localAddress),
      () => pool.splice(pool.indexOf(fresh) >>> 0, 1),
    );
    pool.push(fresh);
    session = fresh;
  }
  return session;
}

/** The fleet's HTTP/2 client: the lean one (transports/h2-client.ts), streams pooled on sessions. */
function connectH2(options: ClientOptions, handlers: ClientHandlers): ClientConnection {
  const { path, headers, parser, closing } = clientSetup(options, handlers);
  const session = h2Session(options.baseUrl, options.localAddress);
  let open = false;
  const url = new URL(options.baseUrl);
  const id = session.get(url.host, path, Object.entries(headers), {
    onResponse: (status) => {
      if (status !== 200) {
        closing.report(`HTTP ${status ?? "response without a :status"}`);
        session.cancel(id);
        release();
        return;
      }
      open = true;
      handlers.onOpen();
    },
    onData: (buf, start, end) => {
      if (open) parser.feed(buf, start, end);
    },
    onClose: (reason) => {
      release();
      closing.report(reason);
    },
  });
  let released = false;
  // The last stream of a session closes it, so a finished fleet leaves no socket open.
  function release(): void {
    if (released) return;
    released = true;
    if (session.open === 0) session.close();
  }
  return {
    // Upstream (chat): each POST a stream of the session the events come on.
    send(header, size, onAck) {
      if (!session.usable) return onAck?.("session closed");
      let status: number | undefined;
      session.post(url.host, `${SEND_PATH}?topic=${options.topic}`, POST_HEADERS, Buffer.from(postBody(header, size)), {
        onResponse: (s) => (status = s),
        onData: () => {},
        onClose: (reason) => onAck?.(status === 204 ? undefined : status !== undefined ? `HTTP ${status}` : reason),
      });
    },
    close() {
      closing.silence();
      session.cancel(id);
      release();
    },
  };
}

const POST_HEADERS: ReadonlyArray<readonly [string, string]> = [["content-type", "text/plain; charset=utf-8"]];

/** One parser, as a client keeps one per connection; a whole event in, so no state carries over. */
let codecTarget: ClientHandlers["onMessage"] = () => {};
const codecParser = new SseByteParser({ onEvent: (data, start, end) => void readTextBytes(data, start, end, codecTarget) });
const codec: Codec = {
  encode: encodeFrame,
  decode(frame, onMessage) {
    codecTarget = onMessage;
    codecParser.feed(typeof frame === "string" ? Buffer.from(frame) : frame);
  },
};

export const sse: Transport = {
  name: "sse",
  summary: "Server-Sent Events over HTTP/1.1 (text/event-stream, Last-Event-ID resume)",
  endpoint: `${SSE_PATH}?topic=0`,
  codec,
  upstream: "an HTTP POST per message on a keep-alive connection beside the event stream (HTTP/1.1: a second connection)",
  createServer: (options) => new SseServer(options),
  connect,
};

export const sseH2: Transport = {
  name: "sse-h2",
  summary: `Server-Sent Events over HTTP/2 with TLS, up to ${H2_STREAMS_PER_SESSION} streams per session (Last-Event-ID resume)`,
  endpoint: `${SSE_PATH}?topic=0`,
  listener: "h2-tls",
  details: { http: "2", tls: true, streamsPerSession: H2_STREAMS_PER_SESSION },
  codec,
  upstream: "an HTTP POST per message, a stream on the same HTTP/2 session as the events",
  createServer: (options) => new SseServer(options),
  connect: connectH2,
};
