/**
 * A lean HTTP/2 client (RFC 9113) over TLS for the fleet's `sse-h2` streams, which a
 * process opens thousands of: frames read off the TLS socket's chunks as they come,
 * a DATA frame's payload handed over as a span of its chunk, nothing per frame but a
 * call. It asks for no header compression state (SETTINGS_HEADER_TABLE_SIZE 0, so the
 * server's HPACK encoder never indexes into a dynamic table) and no server push, and
 * reads of each response head only `:status`. It answers SETTINGS and PING, keeps the
 * flow-control windows open with WINDOW_UPDATE as a browser does (6 MiB per stream,
 * 15 MiB per connection), and reports RST_STREAM, GOAWAY and a lost connection per
 * stream. Requests are GETs (and the chat scenario's small POSTs) whose headers it
 * encodes as HPACK literals.
 */
import tls from "node:tls";

const PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
const enum Frame {
  Data = 0x0,
  Headers = 0x1,
  Priority = 0x2,
  RstStream = 0x3,
  Settings = 0x4,
  PushPromise = 0x5,
  Ping = 0x6,
  GoAway = 0x7,
  WindowUpdate = 0x8,
  Continuation = 0x9,
}
const END_STREAM = 0x1;
const ACK = 0x1;
const END_HEADERS = 0x4;
const PADDED = 0x8;
const PRIORITY = 0x20;
/** The frame size every peer must accept; the server may not send more unless we allow it. */
const MAX_FRAME = 16_384;
const STREAM_WINDOW = 6 * 1024 * 1024;
const CONNECTION_WINDOW = 15 * 1024 * 1024;
const DEFAULT_WINDOW = 65_535;

export interface H2Target {
  host: string;
  port: number;
  localAddress?: string;
}

export interface H2StreamHandlers {
  /** The response head's :status (undefined if it had none). */
  onResponse(status: number | undefined): void;
  /** buf[start, end): valid during the call only. */
  onData(buf: Buffer, start: number, end: number): void;
  /** Once, with why: "stream ended", a reset, a GOAWAY, a lost connection. Never after cancel(). */
  onClose(reason: string): void;
}

interface StreamState {
  handlers: H2StreamHandlers;
  responded: boolean;
  /** Flow-controlled bytes received since the last WINDOW_UPDATE for the stream. */
  unacked: number;
}

/** One TLS connection carrying many streams. `onIdle` is called when it closes. */
export class LeanH2Session {
  private readonly socket: tls.TLSSocket;
  private readonly streams = new Map<number, StreamState>();
  private nextId = 1;
  private pending: Buffer | null = null;
  /** A header block spread over HEADERS and CONTINUATION frames. */
  private block: { id: number; parts: Buffer[]; endStream: boolean } | null = null;
  private unackedConnection = 0;
  private closed = false;
  private ready = false;
  private queued: Buffer[] = [];

  constructor(
    target: H2Target,
    private readonly onGone: () => void,
  ) {
    this.socket = tls.connect({
      host: target.host,
      port: target.port,
      ALPNProtocols: ["h2"],
      // The relay's certificate is made at its start-up, on loopback: nothing to verify it against.
      rejectUnauthorized: false,
      ...(target.localAddress ? { localAddress: target.localAddress } : {}),
    });
    this.socket.setNoDelay(true);
    this.socket.on("secureConnect", () => {
      if (this.socket.alpnProtocol !== "h2") return this.fail(`the server did not agree to h2 (ALPN ${String(this.socket.alpnProtocol)})`);
      const settings = Buffer.alloc(18);
      settings.writeUInt16BE(0x1, 0); // HEADER_TABLE_SIZE
      settings.writeUInt32BE(0, 2);
      settings.writeUInt16BE(0x2, 6); // ENABLE_PUSH
      settings.writeUInt32BE(0, 8);
      settings.writeUInt16BE(0x4, 12); // INITIAL_WINDOW_SIZE
      settings.writeUInt32BE(STREAM_WINDOW, 14);
      const grow = Buffer.alloc(4);
      grow.writeUInt32BE(CONNECTION_WINDOW - DEFAULT_WINDOW, 0);
      this.socket.write(Buffer.concat([PREFACE, frame(Frame.Settings, 0, 0, settings), frame(Frame.WindowUpdate, 0, 0, grow), ...this.queued]));
      this.queued = [];
      this.ready = true;
    });
    this.socket.on("data", (chunk: Buffer) => this.read(chunk));
    let error: string | undefined;
    this.socket.on("error", (err) => (error ??= err.message));
    this.socket.on("close", () => this.fail(error ?? "connection closed"));
  }

  /** Open streams (their count decides whether the session takes another). */
  get open(): number {
    return this.streams.size;
  }

  get usable(): boolean {
    return !this.closed && this.nextId < 0x7fff_ffff;
  }

  /** Sends a GET (END_STREAM: no body); returns the stream id, for cancel(). */
  get(authority: string, path: string, headers: ReadonlyArray<readonly [string, string]>, handlers: H2StreamHandlers): number {
    const id = this.nextId;
    this.nextId += 2;
    this.streams.set(id, { handlers, responded: false, unacked: 0 });
    const block = requestBlock(authority, path, headers);
    this.send(frame(Frame.Headers, END_STREAM | END_HEADERS, id, block));
    return id;
  }

  /**
   * Sends a POST with a small body (the chat scenario's upstream message): HEADERS, then
   * one DATA frame ending the stream. The body must fit the server's initial windows,
   * which a message of a few hundred bytes does; no send window is tracked.
   */
  post(authority: string, path: string, headers: ReadonlyArray<readonly [string, string]>, body: Buffer, handlers: H2StreamHandlers): number {
    if (body.length > MAX_FRAME) throw new Error(`h2 POST body over ${MAX_FRAME} bytes`);
    const id = this.nextId;
    this.nextId += 2;
    this.streams.set(id, { handlers, responded: false, unacked: 0 });
    const block = requestBlock(authority, path, [...headers, ["content-length", String(body.length)]], "POST");
    this.send(Buffer.concat([frame(Frame.Headers, END_HEADERS, id, block), frame(Frame.Data, END_STREAM, id, body)]));
    return id;
  }

  /** Resets a stream (CANCEL); its handlers hear nothing more. */
  cancel(id: number): void {
    if (!this.streams.delete(id)) return;
    const code = Buffer.alloc(4);
    code.writeUInt32BE(0x8, 0);
    this.send(frame(Frame.RstStream, 0, id, code));
  }

  /** Closes the connection; open streams' handlers hear nothing more. */
  close(): void {
    this.streams.clear();
    this.fail("closed");
  }

  private send(bytes: Buffer): void {
    if (this.closed) return;
    if (this.ready) this.socket.write(bytes);
    else this.queued.push(bytes);
  }

  private read(chunk: Buffer): void {
    const buf = this.pending === null ? chunk : Buffer.concat([this.pending, chunk]);
    this.pending = null;
    let at = 0;
    try {
      while (buf.length - at >= 9 && !this.closed) {
        const length = (buf[at]! << 16) | (buf[at + 1]! << 8) | buf[at + 2]!;
        if (length > MAX_FRAME) throw new Error(`a frame of ${length} bytes, over the ${MAX_FRAME} allowed`);
        if (buf.length - at - 9 < length) break;
        this.frame(buf[at + 3]!, buf[at + 4]!, buf.readUInt32BE(at + 5) & 0x7fff_ffff, buf, at + 9, at + 9 + length);
        at += 9 + length;
      }
    } catch (err) {
      return this.fail(`HTTP/2 protocol error: ${err instanceof Error ? err.message : String(err)}`);
    }
    if (at < buf.length && !this.closed) this.pending = Buffer.from(buf.subarray(at));
  }

  private frame(type: number, flags: number, id: number, buf: Buffer, start: number, end: number): void {
    if (this.block !== null && type !== Frame.Continuation) throw new Error("a header block interrupted");
    switch (type) {
      case Frame.Data: {
        if (id === 0) throw new Error("DATA on stream 0");
        this.credit(id, end - start);
        const stream = this.streams.get(id);
        if (!stream) return; // a stream we cancelled: its remaining frames are dropped
        // No tuple per frame: this is every delivery's path.
        const from = flags & PADDED ? start + 1 : start;
        const to = flags & PADDED ? end - padLength(buf, start, end) : end;
        if (to > from) stream.handlers.onData(buf, from, to);
        if (flags & END_STREAM) this.end(id, "stream ended");
        return;
      }
      case Frame.Headers: {
        let from = flags & PADDED ? start + 1 : start;
        const to = flags & PADDED ? end - padLength(buf, start, end) : end;
        if (flags & PRIORITY) from += 5;
        if (from > to) throw new Error("HEADERS shorter than its priority fields");
        const part = buf.subarray(from, to);
        if (flags & END_HEADERS) this.headers(id, part, (flags & END_STREAM) !== 0);
        else this.block = { id, parts: [Buffer.from(part)], endStream: (flags & END_STREAM) !== 0 };
        return;
      }
      case Frame.Continuation: {
        if (this.block === null || this.block.id !== id) throw new Error("CONTINUATION without its HEADERS");
        this.block.parts.push(Buffer.from(buf.subarray(start, end)));
        if (flags & END_HEADERS) {
          const { parts, endStream } = this.block;
          this.block = null;
          this.headers(id, Buffer.concat(parts), endStream);
        }
        return;
      }
      case Frame.RstStream:
        return this.end(id, `stream reset by the server (error ${end - start >= 4 ? buf.readUInt32BE(start) : "?"})`);
      case Frame.Settings:
        if (!(flags & ACK)) this.send(frame(Frame.Settings, ACK, 0, Buffer.alloc(0)));
        return;
      case Frame.Ping:
        if (!(flags & ACK)) this.send(frame(Frame.Ping, ACK, 0, Buffer.from(buf.subarray(start, end))));
        return;
      case Frame.GoAway:
        return this.fail(`GOAWAY from the server (error ${end - start >= 8 ? buf.readUInt32BE(start + 4) : "?"})`);
      case Frame.PushPromise:
        throw new Error("PUSH_PROMISE, with push disabled");
      default:
        return; // PRIORITY, WINDOW_UPDATE (this client sends no data), unknown types: ignored
    }
  }

  /** Counts received DATA against both windows and opens them again at half. */
  private credit(id: number, bytes: number): void {
    this.unackedConnection += bytes;
    if (this.unackedConnection >= CONNECTION_WINDOW / 2) {
      this.send(windowUpdate(0, this.unackedConnection));
      this.unackedConnection = 0;
    }
    const stream = this.streams.get(id);
    if (!stream) return;
    stream.unacked += bytes;
    if (stream.unacked >= STREAM_WINDOW / 2) {
      this.send(windowUpdate(id, stream.unacked));
      stream.unacked = 0;
    }
  }

  private headers(id: number, block: Buffer, endStream: boolean): void {
    const status = readStatus(block);
    const stream = this.streams.get(id);
    if (stream && !stream.responded) {
      stream.responded = true;
      stream.handlers.onResponse(status);
    }
    if (endStream) this.end(id, "stream ended");
  }

  private end(id: number, reason: string): void {
    const stream = this.streams.get(id);
    if (!stream) return;
    this.streams.delete(id);
    stream.handlers.onClose(reason);
  }

  private fail(reason: string): void {
    if (this.closed) return;
    this.closed = true;
    this.socket.destroy();
    const open = [...this.streams.values()];
    this.streams.clear();
    for (const s of open) s.handlers.onClose(reason);
    this.onGone();
  }
}

function frame(type: number, flags: number, id: number, payload: Buffer): Buffer {
  const out = Buffer.allocUnsafe(9 + payload.length);
  out[0] = (payload.length >> 16) & 0xff;
  out[1] = (payload.length >> 8) & 0xff;
  out[2] = payload.length & 0xff;
  out[3] = type;
  out[4] = flags;
  out.writeUInt32BE(id, 5);
  payload.copy(out, 9);
  return out;
}

function windowUpdate(id: number, bytes: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(bytes, 0);
  return frame(Frame.WindowUpdate, 0, id, b);
}

/** A padded frame's padding: its content runs from after the pad-length byte to before it. */
function padLength(buf: Buffer, start: number, end: number): number {
  const pad = buf[start]!;
  if (start + 1 + pad > end) throw new Error("padding longer than the frame");
  return pad;
}

// --- HPACK (RFC 7541), as much as this client needs ---

/** An integer with an N-bit prefix, the first byte's other bits given. */
function hpackInt(value: number, prefixBits: number, firstByte: number, out: number[]): void {
  const max = (1 << prefixBits) - 1;
  if (value < max) {
    out.push(firstByte | value);
    return;
  }
  out.push(firstByte | max);
  for (value -= max; value >= 0x80; value = Math.floor(value / 0x80)) out.push((value % 0x80) | 0x80);
  out.push(value);
}

function hpackString(text: string, out: number[]): void {
  const bytes = Buffer.from(text, "latin1");
  hpackInt(bytes.length, 7, 0x00, out); // no Huffman coding
  for (const b of bytes) out.push(b);
}

/** Static table indexes of the names the requests use. */
const NAME_INDEX: Readonly<Record<string, number>> = { ":authority": 1, ":path": 4, accept: 19 };

/** A GET's header block: :method and :scheme indexed, the rest literals not indexed. */
export function requestBlock(authority: string, path: string, headers: ReadonlyArray<readonly [string, string]>, method: "GET" | "POST" = "GET"): Buffer {
  const out: number[] = [method === "GET" ? 0x82 /* :method GET */ : 0x83 /* :method POST */, 0x87 /* :scheme https */];
  for (const [name, value] of [[":authority", authority], [":path", path], ...headers] as Array<readonly [string, string]>) {
    const index = NAME_INDEX[name];
    if (index !== undefined) hpackInt(index, 4, 0x00, out);
    else {
      out.push(0x00);
      hpackString(name.toLowerCase(), out);
    }
    hpackString(value, out);
  }
  return Buffer.from(out);
}

/** :status values of the static table, by index. */
const STATIC_STATUS: Readonly<Record<number, number>> = { 8: 200, 9: 204, 10: 206, 11: 304, 12: 400, 13: 404, 14: 500 };

/**
 * The :status of a response head. With a header table size of 0 the server cannot
 * refer to a dynamic entry, so every field is a static index or a literal; :status
 * comes first (RFC 9113 §8.3), as a static entry or a literal value of digits, which
 * may be Huffman-coded. Returns undefined when the block does not start with one.
 */
export function readStatus(block: Buffer): number | undefined {
  let at = 0;
  // Dynamic table size updates (001xxxxx) may open a block; the size must be 0, as asked.
  while (at < block.length && (block[at]! & 0xe0) === 0x20) {
    const [size, next] = readInt(block, at, 5);
    if (size !== 0) throw new Error(`a dynamic table size of ${size}, over the 0 asked for`);
    at = next;
  }
  if (at >= block.length) return undefined;
  const first = block[at]!;
  if (first & 0x80) {
    const [index] = readInt(block, at, 7);
    if (index > 61) throw new Error(`a dynamic table index (${index}) with no dynamic table`);
    return STATIC_STATUS[index];
  }
  // A literal: incremental indexing (01), or without / never indexed (0000 / 0001).
  const [index, next] = first & 0x40 ? readInt(block, at, 6) : readInt(block, at, 4);
  if (index < 8 || index > 14) return undefined; // not the :status name
  const huffman = (block[next]! & 0x80) !== 0;
  const [length, valueAt] = readInt(block, next, 7);
  const value = huffman ? huffmanDigits(block, valueAt, valueAt + length) : block.toString("latin1", valueAt, valueAt + length);
  return value !== undefined && /^\d{3}$/.test(value) ? Number(value) : undefined;
}

function readInt(buf: Buffer, at: number, prefixBits: number): [value: number, next: number] {
  const max = (1 << prefixBits) - 1;
  let value = buf[at]! & max;
  let i = at + 1;
  if (value < max) return [value, i];
  for (let scale = 1; i < buf.length; i++, scale *= 0x80) {
    value += (buf[i]! & 0x7f) * scale;
    if (!(buf[i]! & 0x80)) return [value, i + 1];
  }
  throw new Error("a truncated HPACK integer");
}

/**
 * A Huffman-coded string of decimal digits (RFC 7541 Appendix B: 0-2 are 5-bit codes
 * 00000-00010, 3-9 are 6-bit codes 011001-011111), padded with ones. Undefined for
 * anything else: a status is digits.
 */
function huffmanDigits(buf: Buffer, start: number, end: number): string | undefined {
  let out = "";
  let bits = 0;
  let have = 0;
  let i = start;
  for (;;) {
    while (have < 6 && i < end) {
      bits = (bits << 8) | buf[i++]!;
      have += 8;
    }
    if (have === 0) return out;
    const top5 = have >= 5 ? (bits >> (have - 5)) & 0x1f : -1;
    if (top5 >= 0 && top5 <= 2) {
      out += String(top5);
      have -= 5;
    } else if (have >= 6 && ((bits >> (have - 6)) & 0x3f) >= 0x19 && ((bits >> (have - 6)) & 0x3f) <= 0x1f) {
      out += String(((bits >> (have - 6)) & 0x3f) - 0x19 + 3);
      have -= 6;
    } else {
      // What is left must be padding: fewer than 8 bits, all ones.
      const rest = bits & ((1 << have) - 1);
      return have < 8 && rest === (1 << have) - 1 ? out : undefined;
    }
    bits &= (1 << have) - 1;
  }
}
