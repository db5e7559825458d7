/**
 * Long polling and short polling over HTTP/1.1 keep-alive, with a cursor.
 *
 * GET /poll?topic=N&after=<seq> answers at once with every frame after the cursor
 * (text envelopes, one per line) when some are waiting. Otherwise a long poll is held
 * until a message arrives or HOLD_MS passes (204); `wait=0` answers at once (204),
 * which is what a short poll and every client's first poll send. Each answer carries
 * X-Cursor: the last seq the client now holds, so a client without one learns it.
 * Resume is the cursor itself, served from the relay's bounded replay buffer.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Socket } from "node:net";
import { encodeText, readTextBytes, type EnvelopeHeader } from "../core/envelope.js";
import { StreamFanout } from "./fanout.js";
import { handlePost, PostSender, postBody, SEND_PATH } from "./upstream-http.js";
import { Http1Connection, targetOf, type ResponseHead } from "./http1.js";
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

export const POLL_PATH = "/poll";
/** How long a long poll is held before a 204 (below common proxy idle timeouts of 30-60 s). */
export const HOLD_MS = 25_000;
export const DEFAULT_POLL_INTERVAL_MS = 1_000;

interface HeldPoll {
  res: ServerResponse;
  timer: NodeJS.Timeout;
}

function encodeFrame(header: EnvelopeHeader, raw: Buffer): Buffer {
  return Buffer.from(`${encodeText(header, raw.length)}\n`);
}

class PollServer implements TransportServer {
  private readonly fanout: StreamFanout<HeldPoll, Buffer>;
  private readonly lastSeq: number[];
  /** Keep-alive sockets that have polled: the transport's connections. */
  private readonly sockets = new Set<Socket>();
  private resumed = 0;

  constructor(private readonly options: ServerOptions) {
    this.fanout = new StreamFanout(options.topics, options.replayCapacity);
    this.lastSeq = new Array<number>(options.topics).fill(0);
  }

  /** Frames answered to the first poll of a new connection that brought a cursor: a resume. */
  get replayed(): number {
    return this.resumed;
  }

  broadcast(topic: number, header: EnvelopeHeader, raw: Buffer): void {
    if (topic >= this.options.topics) return;
    // The cursor is the topic's sequence: the message's own where one producer numbers
    // the topic, the relay's count where many clients send to it (chat), whose seqs are each sender's.
    const position = this.options.upstream ? this.lastSeq[topic]! + 1 : header.seq;
    this.lastSeq[topic] = position;
    const frame = encodeFrame(header, raw);
    const held = this.fanout.publish(topic, position, frame);
    for (const poll of held) {
      clearTimeout(poll.timer);
      answer(poll.res, [frame], position);
    }
    // Every held poll is answered: the next poll from each client starts afresh.
    held.clear();
  }

  handleRequest(req: IncomingMessage, res: ServerResponse): boolean {
    if (handlePost(req, res, this.options.upstream)) {
      this.track(req.socket);
      return true;
    }
    const url = new URL(req.url ?? "/", "http://relay");
    if (url.pathname !== POLL_PATH) return false;
    const topic = topicFrom(url, this.options.topics);
    const afterRaw = url.searchParams.get("after");
    const after = seqParam(afterRaw);
    if (topic === null || (afterRaw !== null && after === null)) {
      res.writeHead(400, { "Content-Type": "text/plain" }).end(`topic must be 0..${this.options.topics - 1}, after a sequence number\n`);
      return true;
    }
    const fresh = this.track(req.socket);
    const frames = after === null ? [] : this.fanout.since(topic, after + 1);
    if (frames.length > 0) {
      if (fresh) this.resumed += frames.length;
      answer(res, frames, Math.max(after!, this.lastSeq[topic]!));
      return true;
    }
    const cursor = after ?? this.lastSeq[topic]!;
    if (url.searchParams.get("wait") === "0") {
      answer(res, [], cursor);
      return true;
    }
    const poll: HeldPoll = { res, timer: setTimeout(() => this.release(topic, poll, cursor), HOLD_MS) };
    // With a cursor, a poll waits for what comes after it even from a relay still refilling its buffer.
    this.fanout.subscribe(topic, poll, after === null ? null : after + 1);
    res.on("close", () => {
      clearTimeout(poll.timer);
      this.fanout.unsubscribe(topic, poll);
    });
    return true;
  }

  /** Counts a keep-alive socket as a connection once; returns whether it is new. */
  private track(socket: Socket): boolean {
    if (this.sockets.has(socket)) return false;
    socket.setNoDelay(true);
    this.sockets.add(socket);
    socket.once("close", () => this.sockets.delete(socket));
    return true;
  }

  private release(topic: number, poll: HeldPoll, cursor: number): void {
    this.fanout.unsubscribe(topic, poll);
    answer(poll.res, [], cursor);
  }

  connections(): number {
    return this.sockets.size;
  }

  async close(): Promise<void> {
    for (const poll of this.fanout.all()) clearTimeout(poll.timer);
    for (const socket of this.sockets) socket.destroy();
  }
}

function answer(res: ServerResponse, frames: Buffer[], cursor: number): void {
  if (res.writableEnded || res.destroyed) return;
  if (frames.length === 0) {
    res.writeHead(204, { "X-Cursor": String(cursor) }).end();
    return;
  }
  const body = frames.length === 1 ? frames[0]! : Buffer.concat(frames);
  res.writeHead(200, { "Content-Type": "text/plain; charset=utf-8", "Content-Length": body.length, "X-Cursor": String(cursor) });
  res.end(body);
}

/** One envelope per line, read off the bytes: no string per answer or per line. */
function readLines(body: Buffer, onMessage: ClientHandlers["onMessage"], from = 0, to = body.length): void {
  let start = from;
  while (start < to) {
    const nl = body.indexOf(10, start);
    if (nl < 0 || nl >= to) return;
    readTextBytes(body, start, nl, onMessage);
    start = nl + 1;
  }
}

/**
 * One client: a keep-alive connection of its own (the lean client of
 * transports/http1.ts), a cursor, and a loop of polls: back to back for long polling,
 * on a fixed schedule for short.
 */
function poller(long: boolean) {
  return (options: ClientOptions, handlers: ClientHandlers): ClientConnection => {
    const url = new URL(options.baseUrl);
    const interval = options.pollIntervalMs ?? DEFAULT_POLL_INTERVAL_MS;
    const closing = closeReporter(handlers);
    let cursor: number | null = options.fromSeq !== undefined ? options.fromSeq - 1 : null;
    let opened = false;
    let stopped = false;
    let timer: NodeJS.Timeout | undefined;
    let nextAt = Date.now();
    const conn = new Http1Connection(targetOf(url, 80, options.localAddress), (reason) => {
      stopped = true;
      closing.report(reason);
    });

    const fail = (reason: string): void => {
      stopped = true;
      conn.destroy();
      closing.report(reason);
    };

    // A body that came whole in one read is read in place (its end follows in the same
    // read, while the shared buffer still holds it); one spread over reads is copied together.
    let parts: Buffer[] = [];
    let length = 0;
    let whole: Buffer | undefined;
    let wholeStart = 0;
    let wholeEnd = 0;
    let next: number | null = null;
    let ok = false;
    const response = {
      onHead(head: ResponseHead) {
        ok = head.status === 200 || head.status === 204;
        if (!ok) return fail(`HTTP ${head.status}`);
        next = seqParam(head.headers.get("x-cursor"));
        length = Number(head.headers.get("content-length") ?? -1);
      },
      onBody(buf: Buffer, start: number, end: number) {
        if (!ok) return;
        if (parts.length === 0 && end - start === length) {
          whole = buf;
          wholeStart = start;
          wholeEnd = end;
        } else parts.push(Buffer.from(buf.subarray(start, end)));
      },
      onEnd() {
        if (stopped || !ok) return;
        if (next !== null) cursor = next;
        if (!opened) {
          opened = true;
          handlers.onOpen();
        }
        if (whole !== undefined) readLines(whole, handlers.onMessage, wholeStart, wholeEnd);
        else if (parts.length > 0) readLines(parts.length === 1 ? parts[0]! : Buffer.concat(parts), handlers.onMessage);
        whole = undefined;
        parts = [];
        if (long) return poll();
        nextAt += interval;
        timer = setTimeout(poll, Math.max(0, nextAt - Date.now()));
      },
    };

    const poll = (): void => {
      if (stopped) return;
      const wait = !opened || !long ? "&wait=0" : "";
      conn.get(`${POLL_PATH}?topic=${options.topic}${cursor === null ? "" : `&after=${cursor}`}${wait}`, url.host, NO_HEADERS, response);
    };
    poll();
    // Upstream (chat): POSTs on a second keep-alive connection, since the first carries the polls.
    let poster: PostSender | undefined;
    return {
      send(header, size, onAck) {
        poster ??= new PostSender(targetOf(url, 80, options.localAddress), url.host, `${SEND_PATH}?topic=${options.topic}`);
        poster.send(postBody(header, size), onAck);
      },
      close() {
        closing.silence();
        stopped = true;
        clearTimeout(timer);
        conn.destroy();
        poster?.close();
      },
    };
  };
}

const NO_HEADERS: Readonly<Record<string, string>> = {};

const codec: Codec = {
  encode: encodeFrame,
  decode: (frame, onMessage) => readLines(typeof frame === "string" ? Buffer.from(frame) : frame, onMessage),
};

export const longPolling: Transport = {
  name: "longpoll",
  summary: `long polling: a held GET with a cursor (?after=), batches what is waiting, 204 after ${HOLD_MS / 1000} s`,
  endpoint: `${POLL_PATH}?topic=0`,
  details: { holdMs: HOLD_MS },
  codec,
  upstream: "an HTTP POST per message on a keep-alive connection beside the polls",
  createServer: (options) => new PollServer(options),
  connect: poller(true),
};

export const shortPolling: Transport = {
  name: "shortpoll",
  summary: "short polling: a GET with a cursor (?after=) every pollInterval (default 1 s)",
  endpoint: `${POLL_PATH}?topic=0&wait=0`,
  polls: true,
  codec,
  upstream: "an HTTP POST per message on a keep-alive connection beside the polls",
  createServer: (options) => new PollServer(options),
  connect: poller(false),
};
