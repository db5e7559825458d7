/**
 * gRPC server streaming with @grpc/grpc-js over cleartext HTTP/2 (h2c). The relay hands
 * each accepted TCP connection to grpc-js, so the bytes on the wire are counted like
 * every other transport's. The service, written out by hand instead of loaded from a
 * .proto file at run time:
 *
 *   service Relay { rpc Subscribe(SubscribeRequest) returns (stream Event); }
 *   message SubscribeRequest { uint32 topic = 1; uint64 from_seq = 2; }
 *   message Event { bytes envelope = 1; }
 *
 * Resume: from_seq > 0 asks for messages with seq >= from_seq from the replay buffer.
 */
import type * as Grpc from "@grpc/grpc-js";
import type { Socket } from "node:net";
import { readBinary, type EnvelopeHeader } from "../core/envelope.js";
import { StreamFanout } from "./fanout.js";
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
};

type Call = Grpc.ServerWritableStream<SubscribeRequest, Buffer>;

class GrpcServer implements TransportServer {
  private readonly server = new grpc.Server();
  private readonly injector: ReturnType<Grpc.Server["createConnectionInjector"]>;
  private readonly fanout: StreamFanout<Call, Buffer>;

  constructor(private readonly options: ServerOptions) {
    this.fanout = new StreamFanout(options.topics, options.replayCapacity);
    this.server.addService(service, { subscribe: (call: Call) => this.subscribe(call) });
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

  broadcast(header: EnvelopeHeader, raw: Buffer): void {
    if (header.stream >= this.options.topics) return;
    const event = encodeEvent(raw);
    for (const call of this.fanout.publish(header.stream, header.seq, event)) call.write(event);
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

interface PooledChannel {
  client: Grpc.Client;
  streams: number;
}

const channels = new Map<string, PooledChannel[]>();

function channelFor(baseUrl: string): PooledChannel {
  const target = new URL(baseUrl).host;
  const pool = channels.get(target) ?? [];
  channels.set(target, pool);
  let entry = pool.find((c) => c.streams < GRPC_STREAMS_PER_CHANNEL);
  if (!entry) {
    // A channel of its own per entry: grpc-js otherwise shares one connection per target.
    const client = new grpc.Client(target, grpc.credentials.createInsecure(), { "grpc.use_local_subchannel_pool": 1 });
    entry = { client, streams: 0 };
    pool.push(entry);
  }
  entry.streams++;
  return entry;
}

function connect(options: ClientOptions, handlers: ClientHandlers): ClientConnection {
  const entry = channelFor(options.baseUrl);
  const closing = closeReporter(handlers);
  let released = false;
  const release = (): void => {
    if (released) return;
    released = true;
    if (--entry.streams > 0) return;
    // The channel's last stream closes it, so a finished fleet leaves no socket open.
    const pool = channels.get(new URL(options.baseUrl).host);
    pool?.splice(pool.indexOf(entry) >>> 0, 1);
    entry.client.close();
  };
  const call = entry.client.makeServerStreamRequest(
    SUBSCRIBE_PATH,
    encodeRequest,
    identity,
    { topic: options.topic, fromSeq: options.fromSeq ?? 0 },
  );
  call.on("metadata", () => handlers.onOpen());
  call.on("data", (event: Buffer) => readBinary(eventEnvelope(event), handlers.onMessage));
  call.on("error", (err: Grpc.ServiceError) => closing.report(`gRPC ${grpc.status[err.code] ?? err.code}: ${err.details}`));
  call.on("end", () => closing.report("stream ended"));
  call.on("close", release);
  return {
    close() {
      closing.silence();
      call.cancel();
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
  summary: `gRPC server streaming (@grpc/grpc-js, h2c), up to ${GRPC_STREAMS_PER_CHANNEL} streams per channel, from_seq resume`,
  endpoint: SUBSCRIBE_PATH,
  listener: "tcp",
  details: { http: "2", tls: false, streamsPerChannel: GRPC_STREAMS_PER_CHANNEL },
  codec,
  load,
  createServer: (options) => new GrpcServer(options),
  connect,
};
