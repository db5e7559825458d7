/**
 * NATS core (at most once: nothing kept) and JetStream (a file-backed stream, ordered
 * consumers that can start from the first message kept), with @nats-io/transport-node
 * and @nats-io/jetstream, the maintained successors of the `nats` package.
 */
import type { ConsumerMessages } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { randomUUID } from "node:crypto";
import { lazy } from "../core/lazy.js";

const natsjs = lazy(() => import("@nats-io/transport-node"));
const jetstreamjs = lazy(() => import("@nats-io/jetstream"));
import { noteBrokerError } from "./errors.js";
import { nodeUrls, type Broker, type BrokerConnection, type BrokerOptions } from "./broker.js";

/** One JetStream stream holds every rtbench topic. */
export const JS_STREAM = "RTBENCH";
/** Messages kept in the stream (the oldest go first). */
export const JS_MAX_MSGS = 1_000_000;

const STANDARD_URL = "nats://127.0.0.1:4222";

async function open(options: BrokerOptions, name: string): Promise<NatsConnection> {
  // A cluster's nodes in the order given: every client connects to the first it can, so a
  // node fault knows which node they are on (nats.js shuffles them by default).
  const servers = nodeUrls(options.url ?? STANDARD_URL).map((url) => `${url.hostname}:${url.port || 4222}`);
  const nc = await (await natsjs()).connect({ servers, name, pingInterval: 10_000, maxReconnectAttempts: -1, noRandomize: true });
  // A lost server, and every error the client sees, is counted for the cell.
  void (async () => {
    for await (const s of nc.status()) {
      if (s.type === "disconnect" || s.type === "error") noteBrokerError("nats", `${s.type}${"error" in s && s.error ? `: ${String(s.error)}` : ""}`);
    }
  })().catch(() => {});
  return nc;
}

function natsCore(name: string, server: string, summary: string): Broker {
  return {
  name,
  summary,
  capabilities: { durable: false, replay: false, ordering: "per-topic", ackLevels: ["none"] },
  inProcess: false,
  server,
  // A cluster variant has no standard port to point at: `--broker-url standard` leaves it out.
  ...(server === "nats" ? { standardUrl: STANDARD_URL } : { urlSchemes: ["nats:"] }),
  // No leader in core NATS: on a cluster, the node its clients are on, the first listed that runs.
  ...(server === "nats"
    ? {}
    : {
        leaderOf: async (options: BrokerOptions) => {
          const nc = await open(options, "rtbench-leader");
          try {
            return nc.getServer().split(":")[0]!;
          } finally {
            await nc.close();
          }
        },
      }),
  async connect(options): Promise<BrokerConnection> {
    const nc = await open(options, "rtbench");
    return {
      publish(topic, message) {
        nc.publish(topic, message);
      },
      // PING after the PUBs: the server answers PONG once it has processed them, in order.
      roundTrip: () => nc.flush(),
      async subscribe(topic, onMessage, opts) {
        if (opts?.from === "earliest") throw new Error("nats core keeps no history: it cannot start from the earliest message");
        const sub = nc.subscribe(topic, {
          callback: (err, msg) => {
            if (!err) onMessage(Buffer.from(msg.data.buffer, msg.data.byteOffset, msg.data.byteLength));
          },
        });
        // The server has the subscription once a round trip has gone by.
        await nc.flush();
        return {
          async close() {
            sub.unsubscribe();
          },
        };
      },
      async close() {
        await nc.drain();
      },
    };
  },
  };
}

export const nats = natsCore("nats", "nats", "NATS core publish/subscribe: at most once, nothing kept");
export const natsCluster = natsCore("nats-cluster", "nats-cluster", "NATS core over three nodes joined by routes: clients on the first node, failing over to the others");

function jetStream(name: string, server: string, replicas: number, summary: string): Broker {
  return {
  name,
  summary,
  capabilities: { durable: true, replay: true, ordering: "per-topic", ackLevels: ["stream"] },
  inProcess: false,
  server,
  // A cluster variant has no standard port to point at: `--broker-url standard` leaves it out.
  ...(server === "nats" ? { standardUrl: STANDARD_URL } : { urlSchemes: ["nats:"] }),
  ...(replicas > 1
    ? {
        // The stream's leader, by server name: the cluster names its nodes n0, n1, ... in the URL's order.
        leaderOf: async (options: BrokerOptions) => {
          const nc = await open(options, "rtbench-leader");
          try {
            const { jetstreamManager } = await jetstreamjs();
            const leader = (await (await jetstreamManager(nc)).streams.info(JS_STREAM)).cluster?.leader ?? "";
            const node = nodeUrls(options.url!)[Number(leader.replace(/^n/, ""))];
            if (!node) throw new Error(`jetstream: the stream ${JS_STREAM} has no leader now (${leader || "none"})`);
            return node.hostname;
          } finally {
            await nc.close();
          }
        },
      }
    : {}),
  async connect(options): Promise<BrokerConnection> {
    const nc = await open(options, "rtbench");
    const { AckPolicy, DeliverPolicy, jetstream, jetstreamManager, StorageType } = await jetstreamjs();
    // A cluster answers its API after a round of consensus: on two busy cores that took more than the 5 s default.
    const jsm = await jetstreamManager(nc, replicas > 1 ? { timeout: 15_000 } : {});
    const config = { name: JS_STREAM, subjects: ["rtbench.>"], storage: StorageType.File, max_msgs: JS_MAX_MSGS, num_replicas: replicas };
    try {
      await jsm.streams.info(JS_STREAM);
    } catch {
      await jsm.streams.add(config);
    }
    const js = jetstream(nc);
    const consuming = new Set<ConsumerMessages>();
    return {
      publish(topic, message) {
        // Not awaited by the producer (open loop); a failed ack is counted as a publish error.
        return js.publish(topic, message).then(() => undefined);
      },
      async subscribe(topic, onMessage, opts) {
        // "New" would count from whenever the server creates the consumer; starting after
        // the stream's last sequence now misses nothing published after subscribe resolves.
        const start =
          opts?.from === "earliest"
            ? { deliver_policy: DeliverPolicy.All }
            : { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: (await jsm.streams.info(JS_STREAM)).state.last_seq + 1 };
        // An ordered consumer is one replica on one node: when that node dies its info
        // requests time out forever and it never recreates itself (measured: no subscriber
        // resumed in 28 s). On a cluster each subscriber gets a consumer of as many replicas
        // as the stream, whose leadership moves like the stream's. It acknowledges each
        // message: with AckNone a message the old consumer leader had sent when it died
        // counts as delivered and is skipped (1 per subscriber lost, measured).
        const replicated = replicas > 1 ? `rtbench-${randomUUID()}` : undefined;
        if (replicated) {
          await jsm.consumers.add(JS_STREAM, {
            durable_name: replicated,
            filter_subject: topic,
            ack_policy: AckPolicy.Explicit,
            // Sent and not acknowledged within 5 s (lost with a node): sent again.
            ack_wait: 5_000 * 1_000_000,
            num_replicas: replicas,
            // Gone a minute after its relay, should the relay die without deleting it.
            inactive_threshold: 60_000 * 1_000_000,
            ...start,
          });
        }
        const consumer = replicated ? await js.consumers.get(JS_STREAM, replicated) : await js.consumers.get(JS_STREAM, { filter_subjects: topic, ...start });
        const messages = await consumer.consume({
          callback: (m) => {
            onMessage(Buffer.from(m.data.buffer, m.data.byteOffset, m.data.byteLength));
            if (replicated) m.ack();
          },
          // Small pulls, refilled often: with 10,000 a pull outlived its 5 s expiry at a few
          // hundred msg/s, and consumers stalled for two missed heartbeats (p99 ~5 s).
          max_messages: 1_000,
          // Pulls expire after 5 s, heartbeats every 2.5 s: after a server restart the
          // ordered consumer misses two and recreates itself from its last sequence within
          // seconds. With the default 30 s it stalls for up to a minute.
          expires: 5_000,
        });
        consuming.add(messages);
        return {
          async close() {
            consuming.delete(messages);
            await messages.close();
            if (replicated) await jsm.consumers.delete(JS_STREAM, replicated).catch(() => {});
          },
        };
      },
      async close() {
        for (const m of consuming) await m.close();
        await nc.drain();
      },
    };
  },
  };
}

export const natsJetStream = jetStream("jetstream", "nats", 1, "NATS JetStream: file storage, ordered consumers, replay from the first message kept");
export const jetStreamR3 = jetStream("jetstream-r3", "nats-cluster", 3, "NATS JetStream over three nodes, a stream of 3 replicas: acknowledged once a majority has it");
