/**
 * The chat scenario's upstream over HTTP, for the transports whose downstream cannot
 * carry it (SSE, polling): the client POSTs each message, a text envelope, to
 * /send?topic=N beside its stream or polls, as browser applications do with fetch();
 * the relay answers 204 once the broker has taken it. Over HTTP/1.1 the POSTs go on a
 * keep-alive connection of their own, one at a time (a second connection beside the
 * event stream); over HTTP/2 each is a stream on the session the events use.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { IncomingHttpHeaders, ServerHttp2Stream } from "node:http2";
import { encodeText, readTextBytes, type EnvelopeHeader } from "../core/envelope.js";
import { Http1Connection, type RawTarget } from "./http1.js";
import type { Upstream } from "./transport.js";

export const SEND_PATH = "/send";
/** Largest upstream body taken: a message, not an upload. */
const MAX_BODY = 1 << 20;

/** The envelope in a POSTed body, or null when it is none. */
function envelopeOf(body: Buffer): EnvelopeHeader | null {
  let header: EnvelopeHeader | null = null;
  readTextBytes(body, 0, body.length, (stream, seq, intendedAt, sentAt) => (header = { stream, seq, intendedAt, sentAt }));
  return header;
}

/** Collects a request body (either HTTP version), then answers with the status of handing it upstream. */
function take(source: NodeJS.ReadableStream & { destroy(): void }, upstream: Upstream | undefined, answer: (status: number, text?: string) => void): void {
  const chunks: Buffer[] = [];
  let length = 0;
  source.on("data", (chunk: Buffer) => {
    length += chunk.length;
    if (length > MAX_BODY) source.destroy();
    else chunks.push(chunk);
  });
  source.on("end", () => {
    const body = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, length);
    const header = envelopeOf(body);
    if (!upstream) return answer(405, "this relay takes no upstream messages (the chat scenario's)\n");
    if (!header) return answer(400, "the body is not an rtbench envelope\n");
    upstream(header, body.length).then(
      () => answer(204),
      (err: unknown) => answer(502, `${err instanceof Error ? err.message : String(err)}\n`),
    );
  });
}

/** HTTP/1.1: returns true when the request was a POST to /send. */
export function handlePost(req: IncomingMessage, res: ServerResponse, upstream: Upstream | undefined): boolean {
  if (req.method !== "POST" || !req.url?.startsWith(SEND_PATH)) return false;
  take(req, upstream, (status, text) => {
    if (text === undefined) res.writeHead(status).end();
    else res.writeHead(status, { "Content-Type": "text/plain" }).end(text);
  });
  return true;
}

/** HTTP/2: returns true when the stream was a POST to /send. */
export function handlePostStream(stream: ServerHttp2Stream, headers: IncomingHttpHeaders, upstream: Upstream | undefined): boolean {
  if (headers[":method"] !== "POST" || !headers[":path"]?.startsWith(SEND_PATH)) return false;
  stream.on("error", () => stream.destroy());
  take(stream, upstream, (status, text) => {
    if (stream.destroyed) return;
    stream.respond({ ":status": status, ...(text === undefined ? {} : { "content-type": "text/plain" }) }, { endStream: text === undefined });
    if (text !== undefined) stream.end(text);
  });
  return true;
}

/** The body a client POSTs: the text envelope, `size` bytes. */
export function postBody(header: EnvelopeHeader, size: number): string {
  return encodeText(header, size);
}

/**
 * A client's POSTs over HTTP/1.1: one keep-alive connection, one request at a time, the
 * rest queued behind it (what is queued waits, and its latency says so). A connection
 * lost is opened again for the next POST; the one in flight is answered with the error.
 */
export class PostSender {
  private conn: Http1Connection | undefined;
  private readonly queue: Array<{ body: string; onAck: ((error?: string) => void) | undefined }> = [];
  private inFlight: ((error?: string) => void) | undefined | null = null;
  private closed = false;

  constructor(
    private readonly target: RawTarget,
    private readonly host: string,
    private readonly path: string,
  ) {}

  send(body: string, onAck?: (error?: string) => void): void {
    if (this.closed) return onAck?.("closed");
    this.queue.push({ body, onAck });
    this.pump();
  }

  private pump(): void {
    if (this.inFlight !== null || this.queue.length === 0 || this.closed) return;
    const { body, onAck } = this.queue.shift()!;
    this.inFlight = onAck;
    const conn = (this.conn ??= new Http1Connection(this.target, (reason) => {
      this.conn = undefined;
      this.done(reason);
    }));
    let status = 0;
    conn.post(this.path, this.host, POST_HEADERS, body, {
      onHead: (head) => (status = head.status),
      onBody: () => {},
      onEnd: () => this.done(status === 204 || status === 200 ? undefined : `HTTP ${status}`),
    });
  }

  private done(error: string | undefined): void {
    const ack = this.inFlight;
    this.inFlight = null;
    ack?.(error);
    this.pump();
  }

  close(): void {
    this.closed = true;
    this.conn?.destroy();
    this.conn = undefined;
  }
}

const POST_HEADERS: Readonly<Record<string, string>> = { "content-type": "text/plain; charset=utf-8" };
