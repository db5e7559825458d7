/**
 * gRPC server streaming over cleartext HTTP/2 (h2c): the relay is a @grpc/grpc-js
 * server, handed each accepted TCP connection, so the bytes on the wire are counted
 * like every other transport's; the fleet speaks gRPC's wire protocol on node:http2. The service, written out by hand instead of loaded from a
 * .proto file at run time:
 *
 *   service Relay {
 *     rpc Subscribe(SubscribeRequest) returns (stream Event);
 *     rpc Publish(stream Event) returns (Empty);   // the chat scenario's upstream
 *   }
 *   message SubscribeRequest { uint32 topic = 1; uint64 from_seq = 2; }
 *   message Event { bytes envelope = 1; }
 *
 * Resume: from_seq > 0 asks for messages with seq >= from_seq from the replay buffer.
 */
import type * as Grpc from "@grpc/grpc-js";
import http2, { type ClientHttp2Session, type IncomingHttpHeaders } from "node:http2";
import net, { type Socket } from "node:net";
import { decodeBinary, encodeBinary, HEADER_BYTES, readBinary, readBinaryAt, type EnvelopeHeader } from "../core/envelope.js";
import { StreamFanout } from "./fanout.js";
import { targetOf } from "./http1.js";
import {
  closeReporter,
  type ClientConnection,
  type ClientHandlers,
  type ClientOptions,
  type Codec,
  type ServerOptions,
  type Transport,
  type TransportServer,
} from "./transport.js";

export const SUBSCRIBE_PATH = "/rtbench.Relay/Subscribe";
export const PUBLISH_PATH = "/rtbench.Relay/Publish";
/** Streams per channel (one HTTP/2 connection) on the client side, as for sse-h2. */
export const GRPC_STREAMS_PER_CHANNEL = 100;

export interface SubscribeRequest {
  topic: number;
  fromSeq: number;
}

// --- protobuf wire format, the two fields of each message ---

function varint(n: number, out: number[]): void {
  while (n >= 0x80) {
    out.push((n % 0x80) | 0x80);
    n = Math.floor(n / 0x80);
  }
  out.push(n);
}

function readVarint(buf: Buffer, at: number): [value: number, next: number] {
  let value = 0;
  let scale = 1;
  for (let i = at; i < buf.length; i++) {
    const b = buf[i]!;
    value += (b & 0x7f) * scale;
    if (b < 0x80) return [value, i + 1];
    scale *= 0x80;
  }
  throw new Error("truncated varint");
}

export function encodeRequest(r: SubscribeRequest): Buffer {
  const out: number[] = [];
  if (r.topic) {
    out.push(0x08);
    varint(r.topic, out);
  }
  if (r.fromSeq) {
    out.push(0x10);
    varint(r.fromSeq, out);
  }
  return Buffer.from(out);
}

export function decodeRequest(buf: Buffer): SubscribeRequest {
  const r: SubscribeRequest = { topic: 0, fromSeq: 0 };
  for (let at = 0; at < buf.length; ) {
    const [tag, next] = readVarint(buf, at);
    if ((tag & 7) !== 0) throw new Error(`SubscribeRequest: unexpected wire type in tag ${tag}`);
    const [value, after] = readVarint(buf, next);
    if (tag >> 3 === 1) r.topic = value;
    else if (tag >> 3 === 2) r.fromSeq = value;
    at = after;
  }
  return r;
}

/** Event { bytes envelope = 1; }: the envelope as-is behind a tag and a length. */
export function encodeEvent(envelope: Buffer): Buffer {
  const head: number[] = [0x0a];
  varint(envelope.length, head);
  return Buffer.concat([Buffer.from(head), envelope]);
}

export function eventEnvelope(event: Buffer): Buffer {
  if (event[0] !== 0x0a) throw new Error("Event: expected field 1 (bytes)");
  const [length, at] = readVarint(event, 1);
  return event.subarray(at, at + length);
}

const identity = (b: Buffer): Buffer => b;

/** @grpc/grpc-js, loaded by `load()` before the first server or client (a process that runs no gRPC does not pay for it). */
let grpc: typeof Grpc;
async function load(): Promise<void> {
  grpc ??= await import("@grpc/grpc-js");
}

const service: Grpc.ServiceDefinition = {
  subscribe: {
    path: SUBSCRIBE_PATH,
    requestStream: false,
    responseStream: true,
    requestSerialize: encodeRequest,
    requestDeserialize: decodeRequest,
    // Events are encoded once per relay in broadcast(); grpc-js only frames them.
    responseSerialize: identity,
    responseDeserialize: identity,
  },
  publish: {
    path: PUBLISH_PATH,
    requestStream: true,
    responseStream: false,
    requestSerialize: identity,
    requestDeserialize: identity,
    responseSerialize: identity,
    responseDeserialize: identity,
  },
};

type Call = Grpc.ServerWritableStream<SubscribeRequest, Buffer>;

class GrpcServer implements TransportServer {
  private readonly server = new grpc.Server();
  private readonly injector: ReturnType<Grpc.Server["createConnectionInjector"]>;
  private readonly fanout: StreamFanout<Call, Buffer>;

  constructor(private readonly options: ServerOptions) {
    this.fanout = new StreamFanout(options.topics, options.replayCapacity);
    this.server.addService(service, {
      subscribe: (call: Call) => this.subscribe(call),
      publish: (call: Grpc.ServerReadableStream<Buffer, Buffer>, callback: Grpc.sendUnaryData<Buffer>) => this.publish(call, callback),
    });
    this.injector = this.server.createConnectionInjector(grpc.ServerCredentials.createInsecure());
  }

  get replayed(): number {
    return this.fanout.replayed;
  }

  private subscribe(call: Call): void {
    const { topic, fromSeq } = call.request;
    if (!Number.isInteger(topic) || topic >= this.options.topics) {
      call.emit("error", { code: grpc.status.INVALID_ARGUMENT, details: `topic must be 0..${this.options.topics - 1}` });
      return;
    }
    // Headers now, so the client knows it is subscribed before the first event.
    call.sendMetadata(new grpc.Metadata());
    for (const event of this.fanout.subscribe(topic, call, fromSeq > 0 ? fromSeq : null)) call.write(event);
    const leave = (): void => this.fanout.unsubscribe(topic, call);
    call.on("cancelled", leave);
    call.on("close", leave);
    call.on("error", leave);
  }

  /** Upstream (chat): each Event of the client's stream is a message; the call ends with the client's. */
  private publish(call: Grpc.ServerReadableStream<Buffer, Buffer>, callback: Grpc.sendUnaryData<Buffer>): void {
    const upstream = this.options.upstream;
    call.on("data", (event: Buffer) => {
      try {
        const envelope = eventEnvelope(event);
        if (upstream && envelope.length >= HEADER_BYTES) upstream(decodeBinary(envelope), envelope.length).catch(() => {});
      } catch {
        // A malformed Event is dropped; the sender's loss shows it.
      }
    });
    call.on("end", () => callback(null, Buffer.alloc(0)));
    call.on("error", () => {});
  }

  broadcast(topic: number, header: EnvelopeHeader, raw: Buffer): void {
    if (topic >= this.options.topics) return;
    const event = encodeEvent(raw);
    for (const call of this.fanout.publish(topic, header.seq, event)) call.write(event);
  }

  handleConnection(socket: Socket): void {
    socket.setNoDelay(true);
    this.injector.injectConnection(socket);
  }

  connections(): number {
    return this.fanout.count();
  }

  async close(): Promise<void> {
    for (const call of this.fanout.all()) call.end();
    this.injector.destroy();
    this.server.forceShutdown();
  }
}

/**
 * The fleet's client: gRPC's wire protocol spoken on node:http2 directly (the same
 * HTTP/2 stack grpc-js uses, without its per-message machinery): a POST with
 * content-type application/grpc, the request as one length-prefixed message, events
 * read off the DATA bytes as they come, the status from the trailers.
 */
interface PooledSession {
  session: ClientHttp2Session;
  streams: number;
}

const sessions = new Map<string, PooledSession[]>();

function sessionFor(baseUrl: string, localAddress: string | undefined): PooledSession {
  const key = `${baseUrl}|${localAddress ?? ""}`;
  const pool = sessions.get(key) ?? [];
  sessions.set(key, pool);
  let entry = pool.find((p) => p.streams < GRPC_STREAMS_PER_CHANNEL && !p.session.closed && !p.session.destroyed);
  if (!entry) {
    const url = new URL(baseUrl);
    const session = http2.connect(`http://${url.host}`, {
      settings: { initialWindowSize: 1 << 20 },
      createConnection: () => net.connect(targetOf(url, 80, localAddress)).setNoDelay(true),
    });
    session.on("error", () => {});
    const fresh: PooledSession = { session, streams: 0 };
    session.on("close", () => pool.splice(pool.indexOf(fresh) >>> 0, 1));
    pool.push(fresh);
    entry = fresh;
  }
  entry.streams++;
  return entry;
}

/** gRPC status codes by number, as the spec names them. */
const STATUS_NAMES = [
  "OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED",
  "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED",
];

function statusError(headers: IncomingHttpHeaders): string | undefined {
  const raw = headers["grpc-status"];
  if (raw === undefined || raw === "0") return undefined;
  const code = Number(raw);
  const message = headers["grpc-message"];
  return `gRPC ${STATUS_NAMES[code] ?? raw}: ${typeof message === "string" ? decodeURIComponent(message) : ""}`;
}

/** One request message behind gRPC's 5-byte prefix (uncompressed, its length). */
function lengthPrefixed(message: Buffer): Buffer {
  const framed = Buffer.allocUnsafe(message.length + 5);
  framed[0] = 0;
  framed.writeUInt32BE(message.length, 1);
  message.copy(framed, 5);
  return framed;
}

/** Reads length-prefixed messages off DATA chunks: in place when whole in one chunk, copied together when not. */
class MessageReader {
  private pending: Buffer | null = null;

  constructor(private readonly onMessage: (buf: Buffer, start: number, end: number) => void) {}

  feed(chunk: Buffer): void {
    const buf = this.pending === null ? chunk : Buffer.concat([this.pending, chunk]);
    this.pending = null;
    let at = 0;
    while (buf.length - at >= 5) {
      if (buf[at] !== 0) throw new Error("a compressed gRPC message, which was not asked for");
      const length = buf.readUInt32BE(at + 1);
      if (buf.length - at - 5 < length) break;
      this.onMessage(buf, at + 5, at + 5 + length);
      at += 5 + length;
    }
    // A copy of a partial message, so nothing holds on to the chunk's memory.
    if (at < buf.length) this.pending = Buffer.from(buf.subarray(at));
  }
}

/** Event { bytes envelope = 1; } read off buf[start, end). */
function readEvent(buf: Buffer, start: number, end: number, onMessage: ClientHandlers["onMessage"]): void {
  if (buf[start] !== 0x0a) throw new Error("Event: expected field 1 (bytes)");
  // The length's varint read here, not by readVarint: no tuple per delivery.
  let length = 0;
  let scale = 1;
  let at = start + 1;
  for (; at < end; scale *= 0x80) {
    const b = buf[at++]!;
    length += (b & 0x7f) * scale;
    if (b < 0x80) break;
  }
  if (buf[at - 1]! >= 0x80) throw new Error("Event: truncated length");
  if (at + length > end) throw new Error("Event: envelope longer than the message");
  readBinaryAt(buf, at, at + length, onMessage);
}

function connect(options: ClientOptions, handlers: ClientHandlers): ClientConnection {
  const entry = sessionFor(options.baseUrl, options.localAddress);
  const closing = closeReporter(handlers);
  let released = false;
  const release = (): void => {
    if (released) return;
    released = true;
    // The session's last stream closes it, so a finished fleet leaves no socket open.
    if (--entry.streams === 0) entry.session.close();
  };
  const stream = entry.session.request({ ":method": "POST", ":path": SUBSCRIBE_PATH, "content-type": "application/grpc", te: "trailers" });
  stream.end(lengthPrefixed(encodeRequest({ topic: options.topic, fromSeq: options.fromSeq ?? 0 })));
  const reader = new MessageReader((buf, start, end) => readEvent(buf, start, end, handlers.onMessage));
  const fail = (reason: string): void => {
    closing.report(reason);
    stream.close(http2.constants.NGHTTP2_CANCEL);
  };
  stream.on("response", (headers) => {
    if (headers[":status"] !== 200) return fail(`HTTP ${headers[":status"]}`);
    // A trailers-only response: the call failed before it began.
    const error = statusError(headers);
    if (error) return fail(error);
    handlers.onOpen();
  });
  stream.on("data", (chunk: Buffer) => {
    try {
      reader.feed(chunk);
    } catch (err) {
      fail(err instanceof Error ? err.message : String(err));
    }
  });
  stream.on("trailers", (trailers) => {
    const error = statusError(trailers);
    if (error) closing.report(error);
  });
  stream.on("end", () => closing.report("stream ended"));
  stream.on("error", (err) => closing.report(err.message));
  stream.on("close", () => {
    release();
    closing.report("closed");
  });
  // Upstream (chat): one client-streaming Publish call on the same channel, opened on the first send.
  let publishing: http2.ClientHttp2Stream | undefined;
  return {
    send(header, size) {
      if (!publishing) {
        publishing = entry.session.request({ ":method": "POST", ":path": PUBLISH_PATH, "content-type": "application/grpc", te: "trailers" });
        publishing.on("error", () => {});
      }
      publishing.write(lengthPrefixed(encodeEvent(encodeBinary(header, size))));
    },
    close() {
      closing.silence();
      publishing?.close(http2.constants.NGHTTP2_CANCEL);
      stream.close(http2.constants.NGHTTP2_CANCEL);
      release();
    },
  };
}

/** The event as grpc-js frames it: a 5-byte gRPC prefix (compressed flag, length), then the protobuf. */
const codec: Codec = {
  encode(_header, raw) {
    const event = encodeEvent(raw);
    const framed = Buffer.allocUnsafe(event.length + 5);
    framed.writeUInt8(0, 0);
    framed.writeUInt32BE(event.length, 1);
    event.copy(framed, 5);
    return framed;
  },
  decode: (frame, onMessage) => void readBinary(eventEnvelope((frame as Buffer).subarray(5)), onMessage),
};

export const grpcStream: Transport = {
  name: "grpc",
  summary: `gRPC server streaming (@grpc/grpc-js server, h2c), up to ${GRPC_STREAMS_PER_CHANNEL} streams per channel, from_seq resume`,
  endpoint: SUBSCRIBE_PATH,
  listener: "tcp",
  details: { http: "2", tls: false, streamsPerChannel: GRPC_STREAMS_PER_CHANNEL },
  codec,
  upstream: "a client-streaming call (Publish) on the same channel, one Event per message",
  load,
  createServer: (options) => new GrpcServer(options),
  connect,
};
