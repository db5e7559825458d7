/**
 * Redis, with ioredis, two ways: Pub/Sub (fire and forget: a subscriber that is not
 * connected misses what is published) and Streams (XADD with an approximate MAXLEN;
 * XREAD BLOCK from an id, so a subscriber can start from the oldest entry kept).
 */
import type { Redis } from "ioredis";
import { lazy } from "../core/lazy.js";

const ioredis = lazy(() => import("ioredis"));
import type { Broker, BrokerConnection, BrokerOptions } from "./broker.js";
import { noteBrokerError } from "./errors.js";

/** Entries kept per stream (approximately: MAXLEN ~ trims whole nodes). */
export const STREAM_MAXLEN = 100_000;
/** Most entries one XREAD returns; a subscriber behind catches up in batches. */
const READ_COUNT = 1000;

const STANDARD_URL = "redis://127.0.0.1:6379";

async function client(options: BrokerOptions, name: string): Promise<Redis> {
  const { Redis } = await ioredis();
  // While the server is away (a restart, a cut) a command waits in the offline queue
  // and fails after one reconnect attempt more; ioredis resubscribes by itself. The
  // publisher's command already sent when the connection broke fails rather than being
  // sent again: the server may have applied it, and a resent XADD or PUBLISH is a second
  // message (a duplicate at every client). It counts as unacknowledged.
  const c = new Redis(options.url ?? STANDARD_URL, {
    connectionName: name,
    enableOfflineQueue: true,
    maxRetriesPerRequest: 1,
    lazyConnect: true,
    ...(name === "rtbench-pub" ? { autoResendUnfulfilledCommands: false } : {}),
  });
  // Without a listener ioredis prints "[ioredis] Unhandled error event" with a stack for every failed reconnect.
  c.on("error", (err: Error) => noteBrokerError("redis", err));
  return c;
}

export const redisPubSub: Broker = {
  name: "redis-pubsub",
  summary: "Redis Pub/Sub (ioredis): fire and forget, nothing kept",
  capabilities: { durable: false, replay: false, ordering: "per-topic", ackLevels: ["none"] },
  inProcess: false,
  server: "redis",
  standardUrl: STANDARD_URL,
  urlSchemes: ["redis:", "rediss:"],
  async connect(options): Promise<BrokerConnection> {
    const pub = await client(options, "rtbench-pub");
    await pub.connect();
    const subscribers: Redis[] = [];
    return {
      publish(topic, message) {
        return pub.publish(topic, message).then(() => undefined);
      },
      async subscribe(topic, onMessage, opts) {
        if (opts?.from === "earliest") throw new Error("redis-pubsub keeps no history: it cannot start from the earliest message");
        // A connection in subscriber mode can run no other command: one per subscription.
        const sub = await client(options, "rtbench-sub");
        await sub.connect();
        subscribers.push(sub);
        sub.on("messageBuffer", (channel: Buffer, message: Buffer) => {
          if (channel.toString() === topic) onMessage(message);
        });
        await sub.subscribe(topic);
        return {
          async close() {
            subscribers.splice(subscribers.indexOf(sub) >>> 0, 1);
            sub.disconnect();
          },
        };
      },
      async close() {
        for (const s of subscribers) s.disconnect();
        await pub.quit();
      },
    };
  },
};

export const redisStreams: Broker = {
  name: "redis-streams",
  summary: `Redis Streams (ioredis): XADD MAXLEN ~ ${STREAM_MAXLEN}, XREAD BLOCK from an id`,
  capabilities: { durable: true, replay: true, ordering: "per-topic", ackLevels: ["leader"] },
  inProcess: false,
  server: "redis",
  standardUrl: STANDARD_URL,
  urlSchemes: ["redis:", "rediss:"],
  async connect(options): Promise<BrokerConnection> {
    const pub = await client(options, "rtbench-pub");
    await pub.connect();
    const readers: Array<{ stop(): void }> = [];
    return {
      publish(topic, message) {
        return pub.xadd(topic, "MAXLEN", "~", STREAM_MAXLEN, "*", "m", message).then(() => undefined);
      },
      async subscribe(topic, onMessage, opts) {
        // XREAD BLOCK holds its connection: one per subscription.
        const reader = await client(options, "rtbench-sub");
        await reader.connect();
        let stopped = false;
        // The id to read after: the stream's last entry now (so nothing published after
        // subscribe resolves is missed, unlike "$" on each call), or 0 for everything kept.
        let lastId = "0";
        if (opts?.from !== "earliest") {
          const last = (await reader.xrevrange(topic, "+", "-", "COUNT", 1)) as Array<[string, string[]]>;
          lastId = last[0]?.[0] ?? "0";
        }
        const loop = async (): Promise<void> => {
          while (!stopped) {
            // A read that fails while the server is away is tried again from the same id,
            // so a restart or a cut of the path loses nothing the stream kept.
            const res = (await reader.xreadBuffer("COUNT", READ_COUNT, "BLOCK", 1000, "STREAMS", topic, lastId).catch(async () => {
              if (!stopped) await new Promise((resolve) => setTimeout(resolve, 100));
              return null;
            })) as Array<[Buffer, Array<[Buffer, Buffer[]]>]> | null;
            if (!res) continue;
            for (const [id, fields] of res[0]![1]) {
              lastId = id.toString();
              if (fields[1]) onMessage(fields[1]);
            }
          }
        };
        const running = loop().catch((err: unknown) => {
          process.emitWarning(`redis-streams reader for ${topic} stopped: ${(err as Error).message}`);
        });
        const handle = {
          stop() {
            stopped = true;
            reader.disconnect();
          },
        };
        readers.push(handle);
        return {
          async close() {
            handle.stop();
            await running;
          },
        };
      },
      async close() {
        for (const r of readers) r.stop();
        await pub.quit();
      },
    };
  },
};
