/**
 * BullMQ, a job queue on Redis, measured as what it is: publishing adds a job
 * (queue.add), and a subscription is a Worker that takes jobs one at a time. A queue
 * hands each job to one worker, so a relay's worker takes it and the relay fans it out;
 * pairings where several subscribers would share a queue (clients on the broker
 * itself, several relays) are refused in harness/pairing.ts, as `delivery: "queue"`
 * says. Latency runs from the intended add to each client, through the relay.
 *
 * Completion is also observed as an application would, through QueueEvents, and counted
 * on its own: QueueEvents reads the queue's event stream, which Redis trims (10,000
 * entries, a few per job), so a reader that falls behind misses completions. The cell
 * shows both counts (brokerCounts); their difference is what QueueEvents missed.
 */
import type { Job, Queue, QueueEvents, Worker } from "bullmq";
import { lazy } from "../core/lazy.js";
import type { Broker, BrokerConnection, BrokerOptions } from "./broker.js";
import { addBrokerCount, noteBrokerError } from "./errors.js";

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

export const COMPLETED = "bullmq jobs completed";
export const OBSERVED = "bullmq completions QueueEvents reported";
/** How long a closing subscription waits for QueueEvents to stop reporting completions it has not yet read. */
const EVENTS_QUIET_MS = 1_000;

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
    const { Queue: QueueClass, Worker: WorkerClass, QueueEvents: QueueEventsClass } = await bullmqLib();
    const connection = connectionOf(options);
    const queues = new Map<string, Queue<Payload>>();
    const subscriptions = new Set<{ close(): Promise<void> }>();
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
        // From the stream's start: the topic is this cell's own, and "$" would miss what came before its first read.
        const events: QueueEvents = new QueueEventsClass(topic, { connection, lastEventId: "0" });
        events.on("error", (err: Error) => noteBrokerError("bullmq", err));
        let completed = 0;
        let observed = 0;
        let lastObservedAt = Date.now();
        worker.on("completed", () => void completed++);
        events.on("completed", () => {
          observed++;
          lastObservedAt = Date.now();
        });
        await Promise.all([worker.waitUntilReady(), events.waitUntilReady()]);
        const closing = async (): Promise<void> => {
          await worker.close();
          // QueueEvents may lag the worker: wait while it still reports, then count what it never did.
          const since = Date.now();
          while (observed < completed && Date.now() - Math.max(lastObservedAt, since) < EVENTS_QUIET_MS) await new Promise((r) => setTimeout(r, 50));
          await events.close();
          addBrokerCount(COMPLETED, completed);
          addBrokerCount(OBSERVED, observed);
        };
        const sub = { close: closing };
        subscriptions.add(sub);
        return {
          async close() {
            if (!subscriptions.delete(sub)) return;
            await closing();
          },
        };
      },
      async close() {
        for (const sub of [...subscriptions]) {
          subscriptions.delete(sub);
          await sub.close();
        }
        for (const q of queues.values()) await q.close();
      },
    };
  },
};
