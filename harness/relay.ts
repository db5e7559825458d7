/**
 * The relay: subscribes to the broker and fans each message out through one
 * transport. Used in the foreground by `rtbench serve` and in a child process by
 * `rtbench run`.
 */
import http from "node:http";
import http2 from "node:http2";
import net, { type AddressInfo, type Socket } from "node:net";
import { topicName, type BrokerConnection, type Subscription } from "../brokers/broker.js";
import { baseUrlFor, type Transport, type TransportServer } from "../transports/transport.js";
import { nowNs } from "../core/clock.js";
import { decodeBinary, encodeBinary, type EnvelopeHeader } from "../core/envelope.js";
import { createHistogram } from "../core/histogram.js";
import type { RelayPlan } from "./ipc.js";
import { WireCounter } from "./wire.js";
import { throwAwayCertificate } from "./certificate.js";
import { getBroker, getTransport } from "./registry.js";
import { redactSecrets } from "../results/redact.js";

export interface RunningRelay {
  readonly port: number;
  /** Where clients connect: http://host:port, or https:// for HTTP/2 over TLS. */
  readonly baseUrl: string;
  /** Closes every client socket at once, as a network drop would; returns how many. */
  dropClients(): number;
  /** Bytes read and written on every client socket so far, framing, headers and TLS included; null without a listener. */
  wireBytes(): number | null;
  /** The same, apart: read from clients (up) and written to them (down). */
  wireBytesBy(): { up: number; down: number } | null;
  /** Bytes written to client sockets that the kernel has not taken yet: what slow readers leave queued in the relay. */
  sendQueueBytes(): number;
  readonly server: TransportServer;
  readonly broker: BrokerConnection;
  /** The chat scenario: what clients sent upstream through this relay. */
  readonly upstream: UpstreamCounter | undefined;
  close(): Promise<void>;
}

export type RelaySettings = Pick<
  RelayPlan,
  "transport" | "broker" | "brokerUrl" | "namespace" | "partitions" | "topics" | "replayCapacity" | "heartbeatMs" | "retryMs" | "port" | "host" | "history"
> &
  Partial<Pick<RelayPlan, "subscribe" | "adapterUrl" | "upstream" | "withoutAccelHeader">>;

export async function startRelay(plan: RelaySettings): Promise<RunningRelay> {
  const transport = getTransport(plan.transport);
  await transport.load?.();
  const broker = await connectBroker(plan);
  const upstream = plan.upstream ? new UpstreamCounter(broker, plan.namespace, plan.topics) : undefined;
  const server = transport.createServer({
    topics: plan.topics,
    replayCapacity: plan.replayCapacity,
    heartbeatMs: plan.heartbeatMs,
    retryMs: plan.retryMs,
    ...(plan.adapterUrl ? { adapter: { url: plan.adapterUrl, namespace: plan.namespace } } : {}),
    ...(upstream ? { upstream: upstream.take } : {}),
    ...(plan.withoutAccelHeader ? { withoutAccelHeader: true } : {}),
  });
  await server.ready?.();

  const listener = await createListener(transport, server, plan.broker);
  // Test-only: a relay that refuses sockets past a known count (the connections ramp's known answer).
  if (listener && relayMaxConnections() > 0) listener.maxConnections = relayMaxConnections();
  const wire = new WireCounter();
  listener?.on("connection", (socket: Socket) => wire.track(socket));
  await new Promise<void>((resolve, reject) => {
    if (!listener) return resolve();
    listener.once("error", reject);
    // Thousands of clients connect at once; the default backlog of 511 drops SYNs.
    listener.listen({ port: plan.port, host: plan.host, backlog: 65535 }, resolve);
  });
  const port = listener ? (listener.address() as AddressInfo).port : 0;

  const burnNs = relayBurnUs() * 1000;
  const onMessage = (topic: number) =>
    burnNs > 0
      ? (raw: Buffer): void => {
          // Test-only slowdown (calibrates the regression gate): spin before fanning out.
          const until = nowNs() + burnNs;
          while (nowNs() < until) {
            /* burn */
          }
          server.broadcast(topic, decodeBinary(raw), raw);
        }
      : (raw: Buffer): void => server.broadcast(topic, decodeBinary(raw), raw);
  const subscriptions: Subscription[] = [];
  // With no listener (direct) the clients subscribe to the broker themselves; a relay
  // told not to subscribe gets its broadcasts from another relay through an adapter.
  // A restarted relay refills its replay buffer from the broker's history, where it keeps one.
  const from = plan.history && getBroker(plan.broker).capabilities.replay ? "earliest" : "latest";
  if (listener && plan.subscribe !== false) for (let t = 0; t < plan.topics; t++) subscriptions.push(await broker.subscribe(topicName(plan.namespace, t), onMessage(t), { from }));

  return {
    port,
    baseUrl: listener ? baseUrlFor(transport, plan.host, port) : `broker:${plan.broker}`,
    wireBytes: () => (listener ? wire.total() : null),
    // The relay reads what clients send up and writes what it fans out.
    wireBytesBy: () => (listener ? ((b) => ({ up: b.read, down: b.written }))(wire.bytes()) : null),
    upstream,
    dropClients: () => wire.destroyAll(),
    sendQueueBytes: () => wire.queued(),
    server,
    broker,
    async close() {
      for (const s of subscriptions) await s.close();
      await server.close();
      wire.destroyAll();
      if (listener) await new Promise<void>((resolve) => listener.close(() => resolve()));
      await broker.close();
    },
  };
}

/** The broker connection, or an error that says which broker and where (its password redacted). */
export async function connectBroker(plan: Pick<RelayPlan, "broker" | "brokerUrl" | "partitions">): Promise<BrokerConnection> {
  try {
    return await getBroker(plan.broker).connect({
      ...(plan.brokerUrl ? { url: plan.brokerUrl } : {}),
      ...(plan.partitions ? { partitions: plan.partitions } : {}),
    });
  } catch (err) {
    const where = plan.brokerUrl ?? getBroker(plan.broker).standardUrl ?? "";
    throw new Error(`cannot connect to ${plan.broker}${where ? ` at ${redactSecrets(where)}` : ""}: ${(err as Error).message}`);
  }
}

function notFound(transport: Transport, broker: string): string {
  return `rtbench relay (${transport.name} × ${broker}). Try ${transport.endpoint}\n`;
}

/** The server the transport asks for, with its routes wired to the transport's handlers. */
async function createListener(transport: Transport, server: TransportServer, broker: string): Promise<net.Server | null> {
  switch (transport.listener ?? "http") {
    case "http": {
      const s = http.createServer({ noDelay: true }, (req, res) => {
        if (server.handleRequest?.(req, res)) return;
        res.writeHead(404, { "Content-Type": "text/plain; charset=utf-8" }).end(notFound(transport, broker));
      });
      s.on("upgrade", (req, socket, head) => {
        if (!server.handleUpgrade?.(req, socket, head)) socket.end("HTTP/1.1 404 Not Found\r\nConnection: close\r\n\r\n");
      });
      return s;
    }
    case "h2-tls": {
      const pem = await throwAwayCertificate("rtbench relay");
      const s = http2.createSecureServer({ key: pem.key, cert: pem.cert, allowHTTP1: false });
      s.on("stream", (stream, headers) => {
        if (server.handleStream?.(stream, headers)) return;
        stream.respond({ ":status": 404, "content-type": "text/plain; charset=utf-8" });
        stream.end(notFound(transport, broker));
      });
      // A session error (a client gone mid-write) must not take the relay down.
      s.on("sessionError", () => {});
      return s;
    }
    case "tcp":
      return net.createServer({ noDelay: true }, (socket) => server.handleConnection!(socket));
    case "none":
      return null;
  }
}

/** CPU burned per message before fan-out, from RTBENCH_TEST_RELAY_BURN_US: for calibrating the gate only. */
export function relayBurnUs(): number {
  const n = Number(process.env.RTBENCH_TEST_RELAY_BURN_US ?? 0);
  return Number.isFinite(n) && n > 0 ? n : 0;
}

/** Most client sockets a relay accepts, from RTBENCH_TEST_RELAY_MAX_CONNECTIONS: for testing the connections ramp only. */
export function relayMaxConnections(): number {
  const n = Number(process.env.RTBENCH_TEST_RELAY_MAX_CONNECTIONS ?? 0);
  return Number.isInteger(n) && n > 0 ? n : 0;
}

/**
 * The chat scenario's upstream at the relay: each message a client sent is timed from
 * its intended send time to its arrival here (upstream latency), then published to the
 * broker on its room's topic. The relay's own work on it (decode, encode, the publish
 * call) is timed too, for its CPU per upstream message beside the fan-out's.
 */
export class UpstreamCounter {
  readonly latency = createHistogram();
  received = 0;
  publishErrors = 0;
  clockAnomalies = 0;
  /** Nanoseconds spent in the upstream handler itself, synchronously. */
  handlerNs = 0;
  /** Messages intended before this are warm-up: counted, not timed. */
  measureFrom = Number.POSITIVE_INFINITY;

  constructor(
    private readonly broker: BrokerConnection,
    private readonly namespace: string,
    private readonly topics: number,
  ) {}

  /** Sender c is in room c mod topics (clients go round-robin over topics). */
  readonly take = (header: EnvelopeHeader, size: number): Promise<void> => {
    const at = nowNs();
    this.received++;
    if (header.intendedAt >= this.measureFrom) {
      const us = Math.round((at - header.intendedAt) / 1000);
      if (us >= 0) this.latency.recordValue(us);
      else this.clockAnomalies++;
    }
    let published: void | Promise<void>;
    try {
      published = this.broker.publish(topicName(this.namespace, header.stream % this.topics), encodeBinary(header, size), header.seq);
    } catch (err) {
      published = Promise.reject(err);
    }
    this.handlerNs += nowNs() - at;
    return Promise.resolve(published).catch((err: unknown) => {
      this.publishErrors++;
      throw err;
    });
  };
}
