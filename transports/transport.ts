/**
 * The transport interface: one file per transport behind it, as engine.io does.
 * A transport has a server side, mounted by the relay on its HTTP server, and a lean
 * client side that the fleet opens thousands of times per process.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Duplex } from "node:stream";
import type { EnvelopeHeader } from "../harness/envelope.js";

export interface ServerOptions {
  /** Number of streams (topics); clients pick one with ?topic=N. */
  topics: number;
  /** Frames kept per stream for resume. */
  replayCapacity: number;
  /** Keep-alive interval for transports that send heartbeats. */
  heartbeatMs: number;
  /** Reconnect delay the server advises (SSE `retry:`). */
  retryMs: number;
}

export interface TransportServer {
  /** Called once per message per relay: serialize once here, then fan out. */
  broadcast(header: EnvelopeHeader, raw: Buffer): void;
  /** Returns true when the request belonged to this transport. */
  handleRequest?(req: IncomingMessage, res: ServerResponse): boolean;
  /** Returns true when the upgrade belonged to this transport. */
  handleUpgrade?(req: IncomingMessage, socket: Duplex, head: Buffer): boolean;
  /** Open client connections right now. */
  connections(): number;
  /** Frames sent from the replay buffer to resuming clients. */
  readonly replayed: number;
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
}

/** Hot path: fields are passed flat so a delivery allocates nothing of ours. */
export interface ClientHandlers {
  onOpen(): void;
  onMessage(stream: number, seq: number, intendedAt: number, sentAt: number): void;
  onClose(reason: string): void;
}

export interface ClientConnection {
  close(): void;
}

export interface Transport {
  readonly name: string;
  readonly summary: string;
  /** Where a person points a client at a relay, e.g. "/sse?topic=0". */
  readonly endpoint: string;
  createServer(options: ServerOptions): TransportServer;
  connect(options: ClientOptions, handlers: ClientHandlers): ClientConnection;
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
