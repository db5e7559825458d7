/**
 * WebSocket (RFC 6455) with the `ws` library: one binary frame per message carrying
 * the envelope as-is. Resume: ?from=N asks for messages with seq >= N.
 */
import type { IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import WebSocket, { WebSocketServer } from "ws";
import { readBinary, type EnvelopeHeader } from "../harness/envelope.js";
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

export const WS_PATH = "/ws";

/** One options object for every send: the fan-out loop allocates nothing per connection. */
const BINARY = { binary: true } as const;

class WsServer implements TransportServer {
  private readonly wss = new WebSocketServer({ noServer: true, perMessageDeflate: false });
  private readonly fanout: StreamFanout<WebSocket, Buffer>;

  constructor(private readonly options: ServerOptions) {
    this.fanout = new StreamFanout(options.topics, options.replayCapacity);
  }

  get replayed(): number {
    return this.fanout.replayed;
  }

  broadcast(header: EnvelopeHeader, raw: Buffer): void {
    if (header.stream >= this.options.topics) return;
    // The envelope is the frame payload: no per-connection copy, only the 2-10 byte header.
    for (const ws of this.fanout.publish(header.stream, header.seq, raw)) ws.send(raw, BINARY);
  }

  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): boolean {
    const url = new URL(req.url ?? "/", "http://relay");
    if (url.pathname !== WS_PATH) return false;
    const topic = topicFrom(url, this.options.topics);
    const from = url.searchParams.get("from");
    const fromSeq = from !== null && /^\d+$/.test(from) ? Number(from) : null;
    if (topic === null) {
      socket.end("HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n");
      return true;
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      for (const frame of this.fanout.subscribe(topic, ws, fromSeq)) ws.send(frame, BINARY);
      ws.on("close", () => this.fanout.unsubscribe(topic, ws));
      ws.on("error", () => ws.terminate());
    });
    return true;
  }

  connections(): number {
    return this.fanout.count();
  }

  async close(): Promise<void> {
    for (const ws of this.fanout.all()) ws.terminate();
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
  }
}

function connect(options: ClientOptions, handlers: ClientHandlers): ClientConnection {
  const url = new URL(WS_PATH, options.baseUrl.replace(/^http/, "ws"));
  url.searchParams.set("topic", String(options.topic));
  if (options.fromSeq !== undefined) url.searchParams.set("from", String(options.fromSeq));
  const ws = new WebSocket(url, { perMessageDeflate: false, localAddress: options.localAddress });
  const closing = closeReporter(handlers);
  ws.on("open", () => handlers.onOpen());
  ws.on("message", (data: Buffer, isBinary: boolean) => {
    if (isBinary) readBinary(data, handlers.onMessage);
  });
  ws.on("close", (code) => closing.report(`closed (${code})`));
  ws.on("error", (err) => closing.report(err.message));
  return {
    close() {
      closing.silence();
      ws.terminate();
    },
  };
}

export const ws: Transport = {
  name: "ws",
  summary: "WebSocket with ws, binary frames, ?from= resume",
  endpoint: `${WS_PATH}?topic=0`,
  createServer: (options) => new WsServer(options),
  connect,
};
