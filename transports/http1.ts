/**
 * A lean HTTP/1.1 client for the fleet's clients, which a process opens thousands of
 * times: a socket that reads into one buffer shared by the whole process (net's
 * `onread`), so a read allocates nothing and passes through no stream machinery; the
 * response head parsed once per response; the body handed over as spans of that
 * buffer, valid during the call only. Chunked, Content-Length and read-until-close
 * bodies (RFC 9112 §6.3); one request at a time on a keep-alive socket.
 * The `ws` client uses the same socket and head parser for its handshake.
 */
import net from "node:net";
import tls from "node:tls";

/** Reused by every read of every socket of this process: whatever outlives a call is copied. */
const READ_BUFFER = Buffer.allocUnsafeSlow(64 * 1024);
/** A response head longer than this is refused, as Node's own parser does at 16 KiB. */
const MAX_HEAD = 16 * 1024;
const HEAD_END = Buffer.from("\r\n\r\n");

export interface RawTarget {
  host: string;
  port: number;
  localAddress?: string;
  /** TLS to the target (an https: or wss: URL: a proxy ending TLS), its certificate not checked (loopback). */
  tls?: boolean;
}

/** Where a relay's URL points a socket: its host (IPv6 without brackets), its port, the source address. */
export function targetOf(url: URL, defaultPort: number, localAddress?: string): RawTarget {
  const tls = url.protocol === "https:" || url.protocol === "wss:";
  return { host: url.hostname.replace(/^\[|\]$/g, ""), port: Number(url.port || (tls ? 443 : defaultPort)), ...(localAddress ? { localAddress } : {}), ...(tls ? { tls } : {}) };
}

export interface RawHandlers {
  onConnect(): void;
  /** buf[start, end): valid during the call only. */
  onBytes(buf: Buffer, start: number, end: number): void;
  /** The peer ended the stream (EOF): before onClose. */
  onEnd?(): void;
  onClose(reason: string): void;
}

/** A TCP connection reading into the shared buffer; onClose is called once. */
export function openRaw(target: RawTarget, handlers: RawHandlers): net.Socket {
  if (target.tls) return openTls(target, handlers);
  const socket = net.connect({
    host: target.host,
    port: target.port,
    ...(target.localAddress ? { localAddress: target.localAddress } : {}),
    onread: {
      buffer: READ_BUFFER,
      callback: (n: number, buf: Buffer) => {
        handlers.onBytes(buf, 0, n);
        return true;
      },
    },
  });
  return withHandlers(socket, "connect", handlers);
}

/** The handlers' events on a socket, plain or TLS: open on `opened`, the first error as the close's reason. */
function withHandlers(socket: net.Socket, opened: "connect" | "secureConnect", handlers: RawHandlers): net.Socket {
  let error: string | undefined;
  socket.setNoDelay(true);
  socket.on(opened, () => handlers.onConnect());
  socket.on("end", () => handlers.onEnd?.());
  socket.on("error", (err) => (error ??= err.message));
  socket.on("close", () => handlers.onClose(error ?? "closed"));
  return socket;
}

/**
 * The same over TLS, HTTP/1.1 (no ALPN): decrypted reads arrive as chunks of their own
 * (TLS has no `onread`), handed over as the plain socket's reads are.
 */
function openTls(target: RawTarget, handlers: RawHandlers): net.Socket {
  const socket = tls.connect({
    host: target.host,
    port: target.port,
    ...(target.localAddress ? { localAddress: target.localAddress } : {}),
    rejectUnauthorized: false,
  });
  socket.on("data", (chunk: Buffer) => handlers.onBytes(chunk, 0, chunk.length));
  return withHandlers(socket, "secureConnect", handlers);
}

export interface ResponseHead {
  status: number;
  /** Header names in lower case; a repeated header keeps its last value. */
  headers: Map<string, string>;
}

/**
 * Collects a response head over reads. `feed` returns the offset in buf where the body
 * starts once the head is complete (and `head` is set), -1 while more is needed; it
 * throws on a malformed or oversized head.
 */
export class HeadReader {
  head: ResponseHead | undefined;
  private pending: Buffer | null = null;

  feed(buf: Buffer, start: number, end: number): number {
    const joined = this.pending === null ? buf.subarray(start, end) : Buffer.concat([this.pending, buf.subarray(start, end)]);
    const at = joined.indexOf(HEAD_END);
    if (at === -1) {
      if (joined.length > MAX_HEAD) throw new Error(`response head over ${MAX_HEAD} bytes`);
      this.pending = Buffer.from(joined); // a copy: buf is the shared read buffer
      return -1;
    }
    this.head = parseHead(joined.toString("latin1", 0, at));
    const consumed = at + HEAD_END.length - (this.pending?.length ?? 0);
    this.pending = null;
    return start + consumed;
  }

  reset(): void {
    this.head = undefined;
    this.pending = null;
  }
}

function parseHead(text: string): ResponseHead {
  const lines = text.split("\r\n");
  const status = /^HTTP\/1\.[01] (\d{3})(?: |$)/.exec(lines[0]!);
  if (!status) throw new Error(`not an HTTP/1.1 response: ${JSON.stringify(lines[0]!.slice(0, 60))}`);
  const headers = new Map<string, string>();
  for (let i = 1; i < lines.length; i++) {
    const colon = lines[i]!.indexOf(":");
    if (colon <= 0) throw new Error(`malformed response header: ${JSON.stringify(lines[i]!.slice(0, 60))}`);
    headers.set(lines[i]!.slice(0, colon).trim().toLowerCase(), lines[i]!.slice(colon + 1).trim());
  }
  return { status: Number(status[1]), headers };
}

export interface BodyHandlers {
  onBody(buf: Buffer, start: number, end: number): void;
  /** The body is complete: the connection may carry the next request. */
  onEnd(): void;
}

const enum Chunk {
  Size,
  Extension,
  Data,
  DataEnd,
  Trailer,
  Done,
}

export type Framing = "chunked" | "length" | "close";

/** How a response's body is delimited, read on bytes: chunked, a length, or the connection's end. */
export class BodyReader {
  private state = Chunk.Size;
  private remaining = 0;
  private sizeDigits = 0;
  /** Characters of the current trailer line (0: an empty line, which ends the trailers). */
  private trailerLine = 0;

  constructor(
    readonly framing: Framing,
    length: number,
    private readonly sink: BodyHandlers,
  ) {
    if (framing === "length") this.remaining = length;
  }

  /** For a response head: its framing (throws on one it cannot read). */
  static for(head: ResponseHead, sink: BodyHandlers): BodyReader {
    if (head.status === 204 || head.status === 304 || head.status < 200) return new BodyReader("length", 0, sink);
    const te = head.headers.get("transfer-encoding");
    if (te !== undefined) {
      if (te.toLowerCase() !== "chunked") throw new Error(`unsupported transfer-encoding: ${te}`);
      return new BodyReader("chunked", 0, sink);
    }
    const cl = head.headers.get("content-length");
    if (cl !== undefined) {
      if (!/^\d+$/.test(cl)) throw new Error(`malformed content-length: ${cl}`);
      return new BodyReader("length", Number(cl), sink);
    }
    return new BodyReader("close", 0, sink);
  }

  /** A body of no bytes at all (204, 304, Content-Length: 0): complete before any is read. */
  get empty(): boolean {
    return this.framing === "length" && this.remaining === 0;
  }

  /** Feeds body bytes; returns where this body ended in buf (end if it did not). */
  feed(buf: Buffer, start: number, end: number): number {
    if (this.framing === "close") {
      if (end > start) this.sink.onBody(buf, start, end);
      return end;
    }
    if (this.framing === "length") {
      const take = Math.min(this.remaining, end - start);
      if (take > 0) this.sink.onBody(buf, start, start + take);
      this.remaining -= take;
      if (this.remaining === 0) this.finish();
      return start + take;
    }
    let i = start;
    while (i < end && this.state !== Chunk.Done) {
      switch (this.state) {
        case Chunk.Size:
        case Chunk.Extension: {
          const c = buf[i++]!;
          if (c === 0x0a) {
            if (this.sizeDigits === 0) throw new Error("malformed chunk size");
            this.sizeDigits = 0;
            this.state = this.remaining > 0 ? Chunk.Data : Chunk.Trailer;
            this.trailerLine = 0;
          } else if (this.state === Chunk.Extension || c === 0x0d) {
            // chunk extensions are ignored, as the RFC allows
          } else if (c === 0x3b || c === 0x20 || c === 0x09) this.state = Chunk.Extension;
          else {
            const lower = c | 0x20;
            const d = c >= 0x30 && c <= 0x39 ? c - 0x30 : lower >= 0x61 && lower <= 0x66 ? lower - 0x57 : -1;
            if (d < 0 || ++this.sizeDigits > 12) throw new Error("malformed chunk size");
            this.remaining = this.remaining * 16 + d;
          }
          break;
        }
        case Chunk.Data: {
          const take = Math.min(this.remaining, end - i);
          this.sink.onBody(buf, i, i + take);
          i += take;
          this.remaining -= take;
          if (this.remaining === 0) this.state = Chunk.DataEnd;
          break;
        }
        case Chunk.DataEnd:
          if (buf[i++] === 0x0a) this.state = Chunk.Size;
          break;
        case Chunk.Trailer: {
          const c = buf[i++]!;
          if (c === 0x0a) {
            if (this.trailerLine === 0) this.finish();
            this.trailerLine = 0;
          } else if (c !== 0x0d) this.trailerLine++;
          break;
        }
      }
    }
    return i;
  }

  /** The connection's end closes a body read until then. */
  eof(): void {
    if (this.framing === "close" && this.state !== Chunk.Done) this.finish();
  }

  private finish(): void {
    this.state = Chunk.Done;
    this.sink.onEnd();
  }
}

export interface ResponseHandlers extends BodyHandlers {
  /** The response's head, before any of its body. */
  onHead(head: ResponseHead): void;
}

/**
 * One keep-alive connection carrying one request at a time (a new one may be sent from
 * onEnd). `onClose` is called once, with why: a socket error, the peer closing, or a
 * response it could not read; never after destroy().
 */
export class Http1Connection {
  private readonly socket: net.Socket;
  private readonly heads = new HeadReader();
  private body: BodyReader | undefined;
  private current: ResponseHandlers | undefined;
  private queued: string | undefined;
  private connected = false;
  private closed = false;

  constructor(
    target: RawTarget,
    private readonly onClose: (reason: string) => void,
  ) {
    this.socket = openRaw(target, {
      onConnect: () => {
        this.connected = true;
        if (this.queued !== undefined) this.socket.write(this.queued);
        this.queued = undefined;
      },
      onBytes: (buf, start, end) => this.read(buf, start, end),
      onEnd: () => this.body?.eof(),
      onClose: (reason) => this.close(reason),
    });
  }

  /** Sends a GET; its response goes to handlers. */
  get(path: string, host: string, headers: Readonly<Record<string, string>>, handlers: ResponseHandlers): void {
    this.request("GET", path, host, headers, handlers);
  }

  /** Sends a POST with its body (Content-Length framed); its response goes to handlers. */
  post(path: string, host: string, headers: Readonly<Record<string, string>>, body: string, handlers: ResponseHandlers): void {
    this.request("POST", path, host, { ...headers, "content-length": String(Buffer.byteLength(body)) }, handlers, body);
  }

  private request(method: string, path: string, host: string, headers: Readonly<Record<string, string>>, handlers: ResponseHandlers, body = ""): void {
    if (this.current) throw new Error("Http1Connection: a request is already in flight");
    this.current = handlers;
    this.heads.reset();
    this.body = undefined;
    let request = `${method} ${path} HTTP/1.1\r\nHost: ${host}\r\n`;
    for (const [name, value] of Object.entries(headers)) request += `${name}: ${value}\r\n`;
    request += `\r\n${body}`;
    if (this.connected) this.socket.write(request);
    else this.queued = request;
  }

  /** Closes the socket; onClose is not called for a close asked for. */
  destroy(): void {
    this.closed = true;
    this.socket.destroy();
  }

  private read(buf: Buffer, start: number, end: number): void {
    try {
      let i = start;
      while (i < end && !this.closed) {
        if (this.body) {
          i = this.body.feed(buf, i, end);
          continue;
        }
        const handlers = this.current;
        if (!handlers) throw new Error("response bytes with no request in flight");
        const bodyAt = this.heads.feed(buf, i, end);
        if (bodyAt === -1) return;
        const head = this.heads.head!;
        handlers.onHead(head);
        if (this.closed) return;
        const body = BodyReader.for(head, {
          onBody: (b, s, e) => handlers.onBody(b, s, e),
          onEnd: () => this.complete(handlers),
        });
        i = bodyAt;
        if (body.empty) this.complete(handlers);
        else this.body = body;
      }
    } catch (err) {
      this.close(err instanceof Error ? err.message : String(err));
    }
  }

  /** A response is complete: the connection is free before its handler runs. */
  private complete(handlers: ResponseHandlers): void {
    this.body = undefined;
    this.current = undefined;
    handlers.onEnd();
  }

  private close(reason: string): void {
    if (this.closed) return;
    this.closed = true;
    this.socket.destroy();
    this.onClose(reason);
  }
}
