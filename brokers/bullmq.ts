/**
 * BullMQ, a job queue on Redis, measured as what it is: publishing adds a job
 * (queue.add), and a subscription is a Worker that takes jobs one at a time. A queue
 * hands each job to one worker, so a relay's worker takes it and the relay fans it out;
 * pairings where several subscribers would share a queue (clients on the broker
 * itself, several relays) are refused in harness/pairing.ts, as `delivery: "queue"`
 * says. Latency runs from the intended add to each client, through the relay.
 */
import type { Job, Queue, Worker } from "bullmq";
import { lazy } from "../core/lazy.js";
import type { Broker, BrokerConnection, BrokerOptions } from "./broker.js";
import { noteBrokerError } from "./errors.js";

const bullmqLib = lazy(() => import("bullmq"));
const STANDARD_URL = "redis://127.0.0.1:6379";

/** ioredis options from a redis:// URL; a Worker's blocking connection needs maxRetriesPerRequest null. */
function connectionOf(options: BrokerOptions): { host: string; port: number; password?: string; username?: string; maxRetriesPerRequest: null } {
  const url = new URL(options.url ?? STANDARD_URL);
  return {
    host: url.hostname,
    port: Number(url.port || 6379),
    ...(url.password ? { password: decodeURIComponent(url.password) } : {}),
    ...(url.username ? { username: decodeURIComponent(url.username) } : {}),
    maxRetriesPerRequest: null,
  };
}

/** A job's payload: the message's bytes as a latin1 string, which JSON carries byte for byte. */
interface Payload {
  m: string;
}

export const bullmq: Broker = {
  name: "bullmq",
  summary: "BullMQ job queue on Redis: queue.add per message, one worker (the relay's) takes each job",
  // Jobs live in Redis: they survive a restart only as far as the Redis server persists them.
  capabilities: { durable: true, replay: false, ordering: "per-topic", ackLevels: ["redis"], delivery: "queue" },
  inProcess: false,
  server: "redis",
  standardUrl: STANDARD_URL,
  urlSchemes: ["redis:", "rediss:"],
  async connect(options): Promise<BrokerConnection> {
    const { Queue: QueueClass, Worker: WorkerClass } = await bullmqLib();
    const connection = connectionOf(options);
    const queues = new Map<string, Queue<Payload>>();
    const workers = new Set<Worker<Payload>>();
    const queueFor = (topic: string): Queue<Payload> => {
      let q = queues.get(topic);
      if (!q) {
        q = new QueueClass<Payload>(topic, { connection });
        q.on("error", (err: Error) => noteBrokerError("bullmq", err));
        queues.set(topic, q);
      }
      return q;
    };
    return {
      publish(topic, message) {
        // Completed and failed jobs are removed, as a queue in production is run: Redis keeps what is waiting.
        return queueFor(topic)
          .add("m", { m: message.toString("latin1") }, { removeOnComplete: true, removeOnFail: true })
          .then(() => undefined);
      },
      async subscribe(topic, onMessage, opts) {
        if (opts?.from === "earliest") throw new Error("bullmq keeps no history: a job goes to one worker and is gone, so it cannot start from the earliest message");
        const worker = new WorkerClass<Payload>(
          topic,
          async (job: Job<Payload>) => {
            onMessage(Buffer.from(job.data.m, "latin1"));
          },
          { connection, concurrency: 1 },
        );
        worker.on("error", (err: Error) => noteBrokerError("bullmq", err));
        await worker.waitUntilReady();
        workers.add(worker);
        return {
          async close() {
            workers.delete(worker);
            await worker.close();
          },
        };
      },
      async close() {
        for (const w of [...workers]) await w.close();
        for (const q of queues.values()) await q.close();
      },
    };
  },
};
