/**
 * NATS core (at most once: nothing kept) and JetStream (a file-backed stream, ordered
 * consumers that can start from the first message kept), with @nats-io/transport-node
 * and @nats-io/jetstream, the maintained successors of the `nats` package.
 */
import type { ConsumerMessages } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { lazy } from "../core/lazy.js";

const natsjs = lazy(() => import("@nats-io/transport-node"));
const jetstreamjs = lazy(() => import("@nats-io/jetstream"));
import { noteBrokerError } from "./errors.js";
import type { Broker, BrokerConnection, BrokerOptions } from "./broker.js";

/** One JetStream stream holds every rtbench topic. */
export const JS_STREAM = "RTBENCH";
/** Messages kept in the stream (the oldest go first). */
export const JS_MAX_MSGS = 1_000_000;

const STANDARD_URL = "nats://127.0.0.1:4222";

async function open(options: BrokerOptions, name: string): Promise<NatsConnection> {
  const url = new URL(options.url ?? STANDARD_URL);
  // A relay's subscription must not be cut off as a slow consumer during a burst.
  const nc = await (await natsjs()).connect({ servers: `${url.hostname}:${url.port || 4222}`, name, pingInterval: 10_000, maxReconnectAttempts: -1 });
  // A lost server, and every error the client sees, is counted for the cell.
  void (async () => {
    for await (const s of nc.status()) {
      if (s.type === "disconnect" || s.type === "error") noteBrokerError("nats", `${s.type}${"error" in s && s.error ? `: ${String(s.error)}` : ""}`);
    }
  })().catch(() => {});
  return nc;
}

export const nats: Broker = {
  name: "nats",
  summary: "NATS core publish/subscribe: at most once, nothing kept",
  capabilities: { durable: false, replay: false, ordering: "per-topic", ackLevels: ["none"] },
  inProcess: false,
  server: "nats",
  standardUrl: STANDARD_URL,
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

export const natsJetStream: Broker = {
  name: "jetstream",
  summary: "NATS JetStream: file storage, ordered consumers, replay from the first message kept",
  capabilities: { durable: true, replay: true, ordering: "per-topic", ackLevels: ["stream"] },
  inProcess: false,
  server: "nats",
  standardUrl: STANDARD_URL,
  async connect(options): Promise<BrokerConnection> {
    const nc = await open(options, "rtbench");
    const { DeliverPolicy, jetstream, jetstreamManager, StorageType } = await jetstreamjs();
    const jsm = await jetstreamManager(nc);
    const config = { name: JS_STREAM, subjects: ["rtbench.>"], storage: StorageType.File, max_msgs: JS_MAX_MSGS };
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
        const consumer = await js.consumers.get(JS_STREAM, { filter_subjects: topic, ...start });
        const messages = await consumer.consume({
          callback: (m) => onMessage(Buffer.from(m.data.buffer, m.data.byteOffset, m.data.byteLength)),
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
