/**
 * The transport interface: one file per transport behind it, as engine.io does.
 * A transport has a server side, mounted by the relay on its HTTP server, and a lean
 * client side that the fleet opens thousands of times per process.
 */
import type { Broker } from "../brokers/broker.js";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { IncomingHttpHeaders, ServerHttp2Stream } from "node:http2";
import type { Socket } from "node:net";
import type { Duplex } from "node:stream";
import type { EnvelopeHeader } from "../core/envelope.js";

export interface ServerOptions {
  /** Number of streams (topics); clients pick one with ?topic=N. */
  topics: number;
  /** Frames kept per stream for resume. */
  replayCapacity: number;
  /** Keep-alive interval for transports that send heartbeats. */
  heartbeatMs: number;
  /** Reconnect delay the server advises (SSE `retry:`). */
  retryMs: number;
  /**
   * Transports with `adapterBroker`: the Redis server their relays pass broadcasts
   * through, and the cell's namespace (so cells never hear each other).
   */
  adapter?: { url: string; namespace: string };
  /**
   * The chat scenario: where a message a client sent upstream goes (the relay publishes
   * it to the broker). `size` is its body's length; resolves once the broker took it.
   */
  upstream?: Upstream;
  /** SSE: leave out `X-Accel-Buffering: no`, as an application that never read the proxy advice does (the nginx-default proxy). */
  withoutAccelHeader?: boolean;
}

/** A client's upstream message, decoded by the transport, handed to the relay. */
export type Upstream = (header: EnvelopeHeader, size: number) => Promise<void>;

/**
 * What the relay listens with: plain HTTP/1.1 (requests and upgrades), HTTP/2 over
 * TLS with a certificate made at start-up, raw TCP handed to the transport (gRPC), or
 * nothing at all (`direct`: clients go to the broker).
 */
export type Listener = "http" | "h2-tls" | "tcp" | "none";

export interface TransportServer {
  /** Called once per message per relay: serialize once here, then fan out to the topic's clients. */
  broadcast(topic: number, header: EnvelopeHeader, raw: Buffer): void;
  /** Returns true when the request belonged to this transport. */
  handleRequest?(req: IncomingMessage, res: ServerResponse): boolean;
  /** Returns true when the upgrade belonged to this transport. */
  handleUpgrade?(req: IncomingMessage, socket: Duplex, head: Buffer): boolean;
  /** HTTP/2 listener: returns true when the stream belonged to this transport. */
  handleStream?(stream: ServerHttp2Stream, headers: IncomingHttpHeaders): boolean;
  /** TCP listener: every accepted connection. */
  handleConnection?(socket: Socket): void;
  /** Resolves once the server can take clients and broadcasts (an adapter has subscribed). */
  ready?(): Promise<void>;
  /** Open client connections right now. */
  connections(): number;
  /** Frames sent from the replay buffer to resuming clients. */
  readonly replayed: number;
  /** Requests that asked to resume where the client left off, where the protocol has a header for it (SSE's Last-Event-ID). */
  readonly resumeRequests?: number;
  close(): Promise<void>;
}

export interface ClientOptions {
  /** Relay base URL, e.g. http://127.0.0.1:8080 */
  baseUrl: string;
  topic: number;
  /** Resume: ask for messages with seq >= fromSeq. */
  fromSeq?: number;
  /** Source address, to spread connections over 127.0.0.x. */
  localAddress?: string;
  /** Short polling: time between polls. */
  pollIntervalMs?: number;
  /** `direct`: the broker each client subscribes to itself. */
  broker?: ResolvedDirectBroker;
  /** The chat scenario: ask for an acknowledgement of each upstream message where it is optional (a Socket.IO emit's callback). */
  upAck?: boolean;
}

/** For `direct` clients: which broker, where, and the cell's topic namespace on it (a plan: names only, so it can travel). */
export interface DirectBroker {
  name: string;
  namespace: string;
  url?: string;
  partitions?: number;
}

/** A `direct` plan resolved where the client runs: the broker's driver itself, so the transport looks nothing up. */
export interface ResolvedDirectBroker extends DirectBroker {
  driver: Broker;
}

/** Hot path: fields are passed flat so a delivery allocates nothing of ours. */
export interface ClientHandlers {
  /** `at`: when it happened (monotonic ns) where the client stamped it itself (a browser page); else now. */
  onOpen(at?: number): void;
  onMessage(stream: number, seq: number, intendedAt: number, sentAt: number, at?: number): void;
  onClose(reason: string, at?: number): void;
}

export interface ClientConnection {
  /**
   * The chat scenario: sends one message upstream, `size` bytes of body, the way the
   * transport's applications do (see Transport.upstream). `onAck` is called once, when
   * the transport's own answer to it arrives (an HTTP response, a Socket.IO ack), with
   * an error when the send failed; never for a transport with no answer (a WebSocket frame).
   */
  send?(header: EnvelopeHeader, size: number, onAck?: (error?: string) => void): void;
  /** The transport underneath that carries it now, where the client picks one (Socket.IO: polling or websocket). */
  carriedBy?(): string;
  /**
   * Present where the client reconnects by itself (a browser's EventSource, Socket.IO's
   * own loop): the fleet never reopens it, and waits for it while this says true.
   */
  reconnecting?(): boolean;
  close(): void;
}

/** One message's encode (server) and decode (client) as the transport does them, for `npm run bench:codec`. */
export interface Codec {
  encode(header: EnvelopeHeader, raw: Buffer): Buffer | string;
  decode(frame: Buffer | string, onMessage: ClientHandlers["onMessage"]): void;
}

export interface Transport {
  readonly name: string;
  readonly summary: string;
  /** Where a person points a client at a relay, e.g. "/sse?topic=0". */
  readonly endpoint: string;
  /** Defaults to "http". */
  readonly listener?: Listener;
  /**
   * The Node client opens a new TCP connection per request (engine.io's polling), so
   * nothing per connection (the backpressure throttle) can stand for the client.
   */
  readonly newConnectionPerRequest?: boolean;
  /** Its client polls every `pollIntervalMs` (ClientOptions), which the workload's pollInterval sets and the cell records. */
  readonly polls?: boolean;
  /**
   * Relays of this transport pass broadcasts to each other through this broker's
   * server (a Socket.IO adapter over Redis): with several relays only the first
   * subscribes to the cell's broker, and the adapter carries each message to the rest.
   */
  readonly adapterBroker?: string;
  /** Facts of this variant that every cell records (compression, streams per session, ...). */
  readonly details?: Readonly<Record<string, string | number | boolean>>;
  readonly codec: Codec;
  /** How its clients send upstream (the chat scenario), e.g. "a frame on the same socket"; absent: they cannot. */
  readonly upstream?: string;
  /** Loads the library its server and client need; called once per process before either (absent: nothing to load). */
  load?(): Promise<void>;
  createServer(options: ServerOptions): TransportServer;
  connect(options: ClientOptions, handlers: ClientHandlers): ClientConnection;
}

/** The relay's base URL for a transport: https for the TLS listener. */
export function baseUrlFor(transport: Transport, host: string, port: number): string {
  const h = host.includes(":") ? `[${host}]` : host;
  return `${transport.listener === "h2-tls" ? "https" : "http"}://${h}:${port}`;
}

/** Reads a non-negative integer query or header value; null when absent or malformed. */
export function seqParam(value: string | string[] | null | undefined): number | null {
  return typeof value === "string" && /^\d+$/.test(value) ? Number(value) : null;
}

/**
 * Reports a client's close to its handlers at most once, and not at all after the
 * fleet closed it on purpose (every error path of a socket tends to fire twice).
 */
export function closeReporter(handlers: ClientHandlers): { report(reason: string): void; silence(): void } {
  let done = false;
  return {
    report(reason) {
      if (done) return;
      done = true;
      handlers.onClose(reason);
    },
    silence() {
      done = true;
    },
  };
}

/** Reads ?topic= and checks it against the relay's topic count. */
export function topicFrom(url: URL, topics: number): number | null {
  const raw = url.searchParams.get("topic") ?? "0";
  const topic = Number(raw);
  return Number.isInteger(topic) && topic >= 0 && topic < topics ? topic : null;
}
