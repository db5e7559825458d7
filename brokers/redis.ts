/**
 * Redis, with ioredis, two ways: Pub/Sub (fire and forget: a subscriber that is not
 * connected misses what is published) and Streams (XADD with an approximate MAXLEN;
 * XREAD BLOCK from an id, so a subscriber can start from the oldest entry kept).
 */
import type { Redis } from "ioredis";
import { lazy } from "../core/lazy.js";

const ioredis = lazy(() => import("ioredis"));
import { nodeUrls, type Broker, type BrokerConnection, type BrokerOptions } from "./broker.js";
import { noteBrokerError } from "./errors.js";

/** Entries kept per stream (approximately: MAXLEN ~ trims whole nodes). */
export const STREAM_MAXLEN = 100_000;
/** Most entries one XREAD returns; a subscriber behind catches up in batches. */
const READ_COUNT = 1000;

const STANDARD_URL = "redis://127.0.0.1:6379";

async function client(options: BrokerOptions, name: string, cluster = false): Promise<Redis> {
  const { Cluster, Redis } = await ioredis();
  if (cluster) {
    // A Redis Cluster: ioredis routes each key to its slot's primary and follows the
    // cluster through a failover (MOVED, CLUSTERDOWN, a refreshed slot map). Its API is
    // Redis's for every command the adapters use.
    const c = new Cluster(
      nodeUrls(options.url ?? STANDARD_URL).map((u) => ({ host: u.hostname, port: Number(u.port || 6379) })),
      {
        enableOfflineQueue: true,
        lazyConnect: true,
        redisOptions: { connectionName: name, maxRetriesPerRequest: 1, ...(name === "rtbench-pub" ? { autoResendUnfulfilledCommands: false } : {}) },
      },
    );
    c.on("error", (err: Error) => noteBrokerError("redis", err));
    c.on("node error", (err: Error) => noteBrokerError("redis", err));
    return c as unknown as Redis;
  }
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

/** The primary that serves `key`'s slot now, by its address: a Redis Cluster's leader for that key. */
async function slotPrimary(options: BrokerOptions, key: string): Promise<string> {
  const c = await client(options, "rtbench-leader", true);
  try {
    await c.connect();
    const slot = (await c.cluster("KEYSLOT", key)) as number;
    const ranges = (await c.cluster("SLOTS")) as unknown as Array<[number, number, [string, number]]>;
    const range = ranges.find(([from, to]) => from <= slot && slot <= to);
    if (!range) throw new Error(`redis: no primary serves slot ${slot} now`);
    return range[2][0];
  } finally {
    c.disconnect();
  }
}

function pubSub(name: string, server: string, cluster: boolean, summary: string): Broker {
  return {
  name,
  summary,
  capabilities: { durable: false, replay: false, ordering: "per-topic", ackLevels: ["none"] },
  inProcess: false,
  server,
  // A cluster variant has no standard port to point at: `--broker-url standard` leaves it out.
  ...(cluster ? {} : { standardUrl: STANDARD_URL }),
  urlSchemes: ["redis:", "rediss:"],
  ...(cluster ? { leaderOf: slotPrimary } : {}),
  async connect(options): Promise<BrokerConnection> {
    const pub = await client(options, "rtbench-pub", cluster);
    await pub.connect();
    const subscribers: Redis[] = [];
    return {
      publish(topic, message) {
        return pub.publish(topic, message).then(() => undefined);
      },
      async subscribe(topic, onMessage, opts) {
        if (opts?.from === "earliest") throw new Error("redis-pubsub keeps no history: it cannot start from the earliest message");
        // A connection in subscriber mode can run no other command: one per subscription.
        const sub = await client(options, "rtbench-sub", cluster);
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
}

export const redisPubSub = pubSub("redis-pubsub", "redis", false, "Redis Pub/Sub (ioredis): fire and forget, nothing kept");
export const redisClusterPubSub = pubSub(
  "redis-cluster-pubsub",
  "redis-cluster",
  true,
  "Redis Pub/Sub through a Redis Cluster (ioredis Cluster): PUBLISH reaches every node over the cluster bus; its leader is the primary of the topic's slot",
);

function streams(name: string, server: string, cluster: boolean, summary: string): Broker {
  return {
  name,
  summary,
  capabilities: { durable: true, replay: true, ordering: "per-topic", ackLevels: ["leader"] },
  inProcess: false,
  server,
  // A cluster variant has no standard port to point at: `--broker-url standard` leaves it out.
  ...(cluster ? {} : { standardUrl: STANDARD_URL }),
  urlSchemes: ["redis:", "rediss:"],
  ...(cluster ? { leaderOf: slotPrimary } : {}),
  async connect(options): Promise<BrokerConnection> {
    const pub = await client(options, "rtbench-pub", cluster);
    await pub.connect();
    const readers: Array<{ stop(): void }> = [];
    return {
      publish(topic, message) {
        return pub.xadd(topic, "MAXLEN", "~", STREAM_MAXLEN, "*", "m", message).then(() => undefined);
      },
      async subscribe(topic, onMessage, opts) {
        // XREAD BLOCK holds its connection: one per subscription.
        const reader = await client(options, "rtbench-sub", cluster);
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
}

export const redisStreams = streams("redis-streams", "redis", false, `Redis Streams (ioredis): XADD MAXLEN ~ ${STREAM_MAXLEN}, XREAD BLOCK from an id`);
export const redisClusterStreams = streams(
  "redis-cluster-streams",
  "redis-cluster",
  true,
  "Redis Streams on a Redis Cluster: each stream on its slot's primary, copied asynchronously to its replica, which takes over when the primary fails",
);
