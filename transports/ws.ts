/**
 * WebSocket (RFC 6455) with the `ws` library: one binary frame per message carrying
 * the envelope as-is. Resume: ?from=N asks for messages with seq >= N.
 * Three variants: permessage-deflate off (`ws`, the default of most servers) and on
 * (`ws-deflate`), and `ws-preframed`: the frame built once per message and written to
 * every socket, the well-known fix for ws framing each send anew (what users of the
 * library get by default is `ws`). `bufferutil` speeds masking where it installed.
 */
import type { IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import { deflateRawSync, inflateRawSync } from "node:zlib";
import type WebSocket from "ws";
import type { WebSocketServer } from "ws";
import { decodeBinary, encodeBinary, HEADER_BYTES, readBinary, readBinaryAt, type EnvelopeHeader } from "../core/envelope.js";
import { StreamFanout } from "./fanout.js";
import { targetOf } from "./http1.js";
import { LeanWebSocket } from "./ws-client.js";
import {
  closeReporter,
  topicFrom,
  type ClientConnection,
  type ClientHandlers,
  type ClientOptions,
  seqParam,
  type Codec,
  type ServerOptions,
  type Transport,
  type TransportServer,
} from "./transport.js";

export const WS_PATH = "/ws";

/** ws, loaded by `load()` before the first server or client. */
let wsLib: typeof import("ws") | undefined;
async function load(): Promise<void> {
  wsLib ??= await import("ws");
}
function wsModule(): typeof import("ws") {
  if (!wsLib) throw new Error("ws: the transport's load() was not called");
  return wsLib;
}

/** One options object for every send: the fan-out loop allocates nothing per connection. */
const BINARY = { binary: true } as const;

/** A connection and the socket under it (what a pre-framed broadcast writes to). */
interface Subscriber {
  ws: WebSocket;
  socket: Duplex;
}

class WsServer implements TransportServer {
  private readonly wss: WebSocketServer;
  private readonly fanout: StreamFanout<Subscriber, Buffer>;

  constructor(
    private readonly options: ServerOptions,
    deflate: boolean,
    private readonly preframed = false,
  ) {
    this.wss = new (wsModule().WebSocketServer)({ noServer: true, perMessageDeflate: deflate });
    this.fanout = new StreamFanout(options.topics, options.replayCapacity);
  }

  get replayed(): number {
    return this.fanout.replayed;
  }

  broadcast(topic: number, header: EnvelopeHeader, raw: Buffer): void {
    if (topic >= this.options.topics) return;
    const subscribers = this.fanout.publish(topic, header.seq, raw);
    if (this.preframed) {
      // One frame for all; without deflate ws writes each send to the socket at once,
      // so these writes keep their order with the replay's ws.send calls.
      const frame = serverFrame(raw);
      for (const s of subscribers) s.socket.write(frame);
      return;
    }
    // The envelope is the frame payload: no per-connection copy, only the 2-10 byte header.
    for (const s of subscribers) s.ws.send(raw, BINARY);
  }

  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): boolean {
    const url = new URL(req.url ?? "/", "http://relay");
    if (url.pathname !== WS_PATH) return false;
    const topic = topicFrom(url, this.options.topics);
    const fromSeq = seqParam(url.searchParams.get("from"));
    if (topic === null) {
      socket.end("HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n");
      return true;
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      const subscriber: Subscriber = { ws, socket };
      for (const frame of this.fanout.subscribe(topic, subscriber, fromSeq)) ws.send(frame, BINARY);
      ws.on("close", () => this.fanout.unsubscribe(topic, subscriber));
      // Upstream (chat): a binary frame carrying the envelope, on the same socket.
      const upstream = this.options.upstream;
      if (upstream) {
        ws.on("message", (data: Buffer, isBinary: boolean) => {
          if (isBinary && data.length >= HEADER_BYTES) upstream(decodeBinary(data), data.length).catch(() => {});
        });
      }
      ws.on("error", () => ws.terminate());
    });
    return true;
  }

  connections(): number {
    return this.fanout.count();
  }

  async close(): Promise<void> {
    for (const s of this.fanout.all()) s.ws.terminate();
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
  }
}

/**
 * The fleet's client: without deflate the lean client (transports/ws-client.ts), which
 * reads frames in place on the process's shared read buffer; with it, ws's client.
 */
function connector(deflate: boolean) {
  return (options: ClientOptions, handlers: ClientHandlers): ClientConnection => {
    const url = new URL(WS_PATH, options.baseUrl.replace(/^http/, "ws"));
    url.searchParams.set("topic", String(options.topic));
    if (options.fromSeq !== undefined) url.searchParams.set("from", String(options.fromSeq));
    if (!deflate) return connectLean(url, options, handlers);
    const ws = new (wsModule().default)(url, { perMessageDeflate: deflate, localAddress: options.localAddress });
    const closing = closeReporter(handlers);
    ws.on("open", () => handlers.onOpen());
    ws.on("message", (data: Buffer, isBinary: boolean) => {
      if (isBinary) readBinary(data, handlers.onMessage);
    });
    ws.on("close", (code) => closing.report(`closed (${code})`));
    ws.on("error", (err) => closing.report(err.message));
    return {
      send(header, size) {
        if (ws.readyState === ws.OPEN) ws.send(encodeBinary(header, size), BINARY);
      },
      close() {
        closing.silence();
        ws.terminate();
      },
    };
  };
}

function connectLean(url: URL, options: ClientOptions, handlers: ClientHandlers): ClientConnection {
  const closing = closeReporter(handlers);
  const ws = new LeanWebSocket(targetOf(url, 80, options.localAddress), `${url.pathname}${url.search}`, {
    onOpen: () => handlers.onOpen(),
    onMessage: (data, start, end, binary) => {
      if (binary) readBinaryAt(data, start, end, handlers.onMessage);
    },
    onClose: (reason) => closing.report(reason),
  });
  return {
    send(header, size) {
      ws.sendBinary(encodeBinary(header, size));
    },
    close() {
      closing.silence();
      ws.terminate();
    },
  };
}

/** A server's binary frame (FIN, unmasked, uncompressed): the 2-10 byte header, then the payload. */
function serverFrame(payload: Buffer, compressed = false): Buffer {
  const n = payload.length;
  const head = Buffer.allocUnsafe(n < 126 ? 2 : n < 65536 ? 4 : 10);
  head[0] = compressed ? 0xc2 : 0x82; // RSV1 marks a permessage-deflate frame
  if (n < 126) head[1] = n;
  else if (n < 65536) {
    head[1] = 126;
    head.writeUInt16BE(n, 2);
  } else {
    head[1] = 127;
    head.writeBigUInt64BE(BigInt(n), 2);
  }
  return Buffer.concat([head, payload]);
}

function framePayload(buf: Buffer): Buffer {
  const len = buf[1]! & 0x7f;
  return buf.subarray(len < 126 ? 2 : len === 126 ? 4 : 10);
}

const codec: Codec = {
  encode: (_header, raw) => serverFrame(raw),
  decode: (frame, onMessage) => void readBinary(framePayload(frame as Buffer), onMessage),
};

/**
 * Each message deflated alone with a fresh zlib stream: an upper bound on what ws
 * pays per message and connection, since ws keeps one stream per connection.
 */
const deflateCodec: Codec = {
  encode: (_header, raw) => serverFrame(deflateRawSync(raw), true),
  decode: (frame, onMessage) =>
    void readBinary(inflateRawSync(framePayload(frame as Buffer)), onMessage),
};

export const ws: Transport = {
  name: "ws",
  summary: "WebSocket with ws, binary frames, permessage-deflate off, ?from= resume",
  upstream: "a binary frame on the same socket",
  endpoint: `${WS_PATH}?topic=0`,
  details: { perMessageDeflate: false },
  codec,
  load,
  createServer: (options) => new WsServer(options, false),
  connect: connector(false),
};

export const wsDeflate: Transport = {
  name: "ws-deflate",
  summary: "WebSocket with ws, binary frames, permessage-deflate on, ?from= resume",
  upstream: "a binary frame on the same socket",
  endpoint: `${WS_PATH}?topic=0`,
  details: { perMessageDeflate: true },
  codec: deflateCodec,
  load,
  createServer: (options) => new WsServer(options, true),
  connect: connector(true),
};

export const wsPreframed: Transport = {
  name: "ws-preframed",
  summary: "WebSocket with ws for the handshake, each message framed once and written to every socket (permessage-deflate off)",
  upstream: "a binary frame on the same socket",
  endpoint: `${WS_PATH}?topic=0`,
  details: { perMessageDeflate: false, preframed: true },
  codec,
  load,
  createServer: (options) => new WsServer(options, false, true),
  connect: connector(false),
};
