/**
 * Socket.IO 4 on engine.io, in three variants: websocket only (`socketio`), engine.io
 * long polling only (`socketio-polling`), and as it comes (`socketio-upgrade`: polling
 * first, then an upgrade to websocket where the path lets one through). Each message is
 * one event "m" carrying the text envelope, broadcast to the stream's room, so
 * Socket.IO encodes it once per relay.
 *
 * Resume: connection state recovery is on, so a client that reconnects within the
 * window gets the packets it missed from Socket.IO's own session store; a client
 * that asks with `auth.from` (a new session) is served from the relay's replay buffer.
 */
import type { Server as EngineServer } from "engine.io";
import type { Server as IoServer, ServerOptions as IoServerOptions, Socket as ServerSocket } from "socket.io";
import { encodeText, readText, type EnvelopeHeader } from "../core/envelope.js";
import { CursorWaiters, ReplayBuffer } from "../core/replay.js";
import {
  closeReporter,
  topicFrom,
  type ClientConnection,
  type ClientHandlers,
  type ClientOptions,
  type Codec,
  type ServerOptions,
  type Transport,
  type TransportServer,
} from "./transport.js";
import { targetOf } from "./http1.js";
import { LeanSocketIo } from "./socketio-client.js";

export const SOCKETIO_PATH = "/socket.io/";

/** engine.io, socket.io and socket.io-client, loaded by `load()` before the first server or client. */
let libs: { engine: typeof import("engine.io"); io: typeof import("socket.io"); client: typeof import("socket.io-client") } | undefined;
export async function loadSocketIo(): Promise<void> {
  libs ??= { engine: await import("engine.io"), io: await import("socket.io"), client: await import("socket.io-client") };
}
function lib(): NonNullable<typeof libs> {
  if (!libs) throw new Error("socket.io: the transport's load() was not called");
  return libs;
}
/** How long Socket.IO keeps a disconnected session's missed packets (its default: 2 minutes). */
export const RECOVERY_WINDOW_MS = 120_000;

export type Variant = "websocket" | "polling" | "upgrade";
const engineTransports = (variant: Variant): Array<"polling" | "websocket"> => (variant === "upgrade" ? ["polling", "websocket"] : [variant]);

/**
 * How a cluster of relays passes broadcasts (transports/socketio-adapters.ts): the
 * Socket.IO adapter made for the cell's Redis, with what must be closed after it.
 */
export type ClusterAdapter = (redis: { url: string; namespace: string }) => {
  adapter: NonNullable<IoServerOptions["adapter"]>;
  /** Resolves once broadcasts from other relays will reach this one. */
  ready: Promise<void>;
  /**
   * Whether the adapter delivers a broadcast to this relay's own sockets only after its
   * publish returns (socket.io-adapter's ClusterAdapter). Then a socket.emit (recovery
   * routes it through the adapter) and a join must wait in that same queue, or a
   * broadcast still in flight reaches a resumed client ahead of its replay.
   */
  deliversAfterPublish: boolean;
  close(): Promise<void>;
};

const room = (topic: number): string => `t${topic}`;

class SocketIoServer implements TransportServer {
  private readonly engine: EngineServer;
  private readonly io: IoServer;
  private readonly replays: Array<ReplayBuffer<string>>;
  private readonly waiting: Array<CursorWaiters<ServerSocket>>;
  private recoveredPackets = 0;
  private replayedFrames = 0;
  private readonly cluster: ReturnType<ClusterAdapter> | undefined;

  constructor(
    private readonly options: ServerOptions,
    variant: Variant,
    clusterAdapter?: ClusterAdapter,
  ) {
    this.replays = Array.from({ length: options.topics }, () => new ReplayBuffer<string>(options.replayCapacity));
    this.waiting = Array.from({ length: options.topics }, () => new CursorWaiters<ServerSocket>());
    this.engine = new (lib().engine.Server)({ transports: engineTransports(variant), perMessageDeflate: false, httpCompression: false });
    if (clusterAdapter && !options.adapter) throw new Error("a Socket.IO adapter transport needs the adapter's Redis URL");
    this.cluster = clusterAdapter && options.adapter ? clusterAdapter(options.adapter) : undefined;
    this.io = new (lib().io.Server)({
      serveClient: false,
      connectionStateRecovery: { maxDisconnectionDuration: RECOVERY_WINDOW_MS, skipMiddlewares: true },
      ...(this.cluster ? { adapter: this.cluster.adapter } : {}),
    });
    this.io.bind(this.engine);
    // Count what recovery hands back, which Socket.IO does not report.
    const adapter = this.io.of("/").adapter;
    const restore = adapter.restoreSession.bind(adapter);
    adapter.restoreSession = async (pid, offset) => {
      const session = await restore(pid, offset);
      if (session) this.recoveredPackets += session.missedPackets.length;
      return session;
    };
    this.io.on("connection", (socket) => this.onConnection(socket));
  }

  /** Packets recovered by Socket.IO plus frames replayed from the relay's buffer. */
  get replayed(): number {
    return this.recoveredPackets + this.replayedFrames;
  }

  private onConnection(socket: ServerSocket): void {
    this.takeUpstream(socket);
    if (socket.recovered) return; // rooms and missed packets restored by Socket.IO
    const topic = topicFrom(new URL(`http://relay/?topic=${socket.handshake.query.topic ?? "0"}`), this.options.topics);
    if (topic === null) {
      socket.disconnect(true);
      return;
    }
    const from = (socket.handshake.auth as { from?: unknown }).from;
    if (typeof from !== "number" || !Number.isInteger(from) || from < 0) {
      void socket.join(room(topic)); // live from now, as an application would join
      return;
    }
    if (this.waiting[topic]!.holdIfAhead(this.replays[topic]!, socket, from)) {
      // Joins the room when the stream reaches `from`.
      socket.on("disconnect", () => this.waiting[topic]!.delete(socket));
      return;
    }
    const missed = this.replays[topic]!.since(from);
    this.replayedFrames += missed.length;
    for (const text of missed) socket.emit("m", text);
    this.joinAfterReplay(socket, topic);
  }

  /** Upstream (chat): a "u" event with the text envelope, acknowledged once the broker took it when the client asked for an ack. */
  private takeUpstream(socket: ServerSocket): void {
    const upstream = this.options.upstream;
    if (!upstream) return;
    socket.on("u", (text: unknown, ack?: unknown) => {
      let header: EnvelopeHeader | null = null;
      if (typeof text === "string") readText(text, (stream, seq, intendedAt, sentAt) => (header = { stream, seq, intendedAt, sentAt }));
      const answer = typeof ack === "function" ? (ack as (reply?: unknown) => void) : undefined;
      if (!header) return answer?.({ error: "not an rtbench envelope" });
      upstream(header, (text as string).length).then(
        () => answer?.(),
        (err: unknown) => answer?.({ error: err instanceof Error ? err.message : String(err) }),
      );
    });
  }

  /**
   * Joins a resuming socket to the stream's room so that the first live message it
   * gets is the one after its replay: through the adapter's queue where the adapter
   * delivers after publishing, since a broadcast may still be in flight there.
   */
  private joinAfterReplay(socket: ServerSocket, topic: number): void {
    if (this.cluster?.deliversAfterPublish) void this.io.in(socket.id).socketsJoin(room(topic));
    else void socket.join(room(topic));
  }

  broadcast(topic: number, header: EnvelopeHeader, raw: Buffer): void {
    if (topic >= this.options.topics) return;
    const text = encodeText(header, raw.length);
    this.replays[topic]!.push(header.seq, text);
    for (const socket of this.waiting[topic]!.release(header.seq)) this.joinAfterReplay(socket, topic);
    this.io.to(room(topic)).emit("m", text);
  }

  handleRequest(req: Parameters<EngineServer["handleRequest"]>[0], res: Parameters<EngineServer["handleRequest"]>[1]): boolean {
    if (!req.url?.startsWith(SOCKETIO_PATH)) return false;
    this.engine.handleRequest(req, res);
    return true;
  }

  handleUpgrade(...[req, socket, head]: Parameters<EngineServer["handleUpgrade"]>): boolean {
    if (!req.url?.startsWith(SOCKETIO_PATH)) return false;
    this.engine.handleUpgrade(req, socket, head);
    return true;
  }

  connections(): number {
    return this.io.of("/").sockets.size;
  }

  async ready(): Promise<void> {
    await this.cluster?.ready;
  }

  async close(): Promise<void> {
    this.io.disconnectSockets(true);
    this.engine.close();
    if (this.cluster) {
      await this.io.of("/").adapter.close();
      await this.cluster.close();
    }
  }
}

export function createSocketIoServer(options: ServerOptions, variant: Variant, clusterAdapter?: ClusterAdapter): TransportServer {
  return new SocketIoServer(options, variant, clusterAdapter);
}

/**
 * The fleet's client: over websocket the lean one (transports/socketio-client.ts), the
 * same protocol read on the process's shared buffer; over polling, socket.io-client.
 */
export function connector(variant: Variant) {
  return (options: ClientOptions, handlers: ClientHandlers): ClientConnection => {
    if (variant === "websocket") return connectLean(options, handlers);
    const socket = lib().client.io(options.baseUrl, {
      path: SOCKETIO_PATH,
      transports: engineTransports(variant),
      // One engine.io connection per client, as separate browser tabs have; by default
      // socket.io-client would multiplex every client to one URL over one connection.
      forceNew: true,
      // The fleet decides about reconnecting; Socket.IO's own loop would hide a drop.
      reconnection: false,
      // Keep cookies as a browser does (engine.io-client's jar in Node): a load balancer's affinity cookie sends each request back to its relay.
      withCredentials: true,
      // Behind a proxy ending TLS on loopback (its certificate made for the cell).
      rejectUnauthorized: false,
      query: { topic: String(options.topic) },
      auth: options.fromSeq !== undefined ? { from: options.fromSeq } : {},
      ...(options.localAddress ? { localAddress: options.localAddress } : {}),
    });
    const closing = closeReporter(handlers);
    socket.on("connect", () => handlers.onOpen());
    socket.on("m", (text: string) => readText(text, handlers.onMessage));
    socket.on("disconnect", (reason, details) => closing.report(`disconnected (${reason}${httpStatus(details)})`));
    socket.on("connect_error", (err) => closing.report(`${err.message}${httpStatus(err)}`));
    return {
      send(header, size, onAck) {
        const text = encodeText(header, size);
        if (options.upAck) socket.emit("u", text, (reply?: { error?: string }) => onAck?.(reply?.error));
        else socket.emit("u", text);
      },
      carriedBy: () => socket.io.engine?.transport?.name ?? "none",
      close() {
        closing.silence();
        socket.disconnect();
      },
    };
  };
}

/** engine.io-client's transport errors carry the HTTP status in `description` (400: a session the relay does not know). */
function httpStatus(error: unknown): string {
  const status = (error as { description?: unknown } | undefined)?.description;
  return typeof status === "number" ? `: HTTP ${status}` : "";
}

function connectLean(options: ClientOptions, handlers: ClientHandlers): ClientConnection {
  const url = new URL(options.baseUrl);
  const closing = closeReporter(handlers);
  const path = `${SOCKETIO_PATH}?topic=${options.topic}&EIO=4&transport=websocket`;
  const socket = new LeanSocketIo(targetOf(url, 80, options.localAddress), path, options.fromSeq !== undefined ? { from: options.fromSeq } : {}, {
    onOpen: () => handlers.onOpen(),
    onMessage: handlers.onMessage,
    onClose: (reason) => closing.report(reason),
  });
  return {
    send(header, size, onAck) {
      socket.emit(encodeText(header, size), options.upAck ? (onAck ?? (() => {})) : undefined);
    },
    close() {
      closing.silence();
      socket.terminate();
    },
  };
}

/**
 * A message event as it goes on the wire: engine.io "4" (message), Socket.IO "2"
 * (event), the JSON array with the recovery offset, and the reverse on the client.
 */
export const codec: Codec = {
  encode: (header, raw) => `42${JSON.stringify(["m", encodeText(header, raw.length), String(header.seq)])}`,
  decode(frame, onMessage) {
    const text = typeof frame === "string" ? frame : frame.toString("utf8");
    const args = JSON.parse(text.slice(2)) as [string, string];
    readText(args[1], onMessage);
  },
};

export const socketIo: Transport = {
  name: "socketio",
  summary: "Socket.IO 4, websocket transport only, connection state recovery on",
  endpoint: `${SOCKETIO_PATH}?EIO=4&transport=websocket`,
  details: { engineTransport: "websocket", connectionStateRecovery: true },
  codec,
  upstream: "an emit on the same connection, acknowledged by a callback with upAck",
  load: loadSocketIo,
  createServer: (options) => new SocketIoServer(options, "websocket"),
  connect: connector("websocket"),
};

export const socketIoPolling: Transport = {
  name: "socketio-polling",
  summary: "Socket.IO 4, engine.io long polling only, connection state recovery on",
  endpoint: `${SOCKETIO_PATH}?EIO=4&transport=polling`,
  newConnectionPerRequest: true,
  details: { engineTransport: "polling", connectionStateRecovery: true },
  codec,
  upstream: "an emit on the same connection, acknowledged by a callback with upAck",
  load: loadSocketIo,
  createServer: (options) => new SocketIoServer(options, "polling"),
  connect: connector("polling"),
};

export const socketIoUpgrade: Transport = {
  name: "socketio-upgrade",
  summary: "Socket.IO 4 as it comes: engine.io long polling first, then an upgrade to websocket where the path lets it through",
  endpoint: `${SOCKETIO_PATH}?EIO=4&transport=polling`,
  newConnectionPerRequest: true,
  details: { engineTransport: "polling, then websocket", connectionStateRecovery: true },
  codec,
  upstream: "an emit on the same connection, acknowledged by a callback with upAck",
  load: loadSocketIo,
  createServer: (options) => new SocketIoServer(options, "upgrade"),
  connect: connector("upgrade"),
};
