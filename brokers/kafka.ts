/**
 * Kafka with kafkajs: a topic per stream with `partitions` partitions (workload field),
 * one consumer group per subscription (per relay), replay from the earliest offset
 * kept. Two variants: acks=1 (the leader has it) and acks=all (every in-sync replica).
 * Messages carry no key: with more than one partition, message `sequence` of a stream
 * goes to partition (sequence - 1) mod partitions, round the partitions as kafkajs's
 * own round robin would, but in a way a subscriber can tell. A stream's order is then
 * kept per partition only, as the capabilities say, and the fleet can check that.
 *
 * kafkajs does not keep the order of concurrent send() calls, so each topic has one
 * send in flight and what is published meanwhile waits and goes in the next batch,
 * as a producer's linger does. The open-loop producer is never paced by it: a publish
 * returns at once, and its promise settles when its batch is acknowledged.
 */
import { randomUUID } from "node:crypto";
import type { Admin, Consumer, logCreator, logLevel as LogLevel, Message } from "kafkajs";
import { lazy } from "../core/lazy.js";
import { nodeUrls, type Broker, type BrokerConnection, type BrokerOptions } from "./broker.js";
import { libraryLog, noteBrokerError } from "./errors.js";

const STANDARD_URL = "kafka://127.0.0.1:9092";

function brokerList(options: BrokerOptions): string[] {
  return nodeUrls(options.url ?? STANDARD_URL).map((url) => `${url.hostname}:${url.port || 9092}`);
}

const kafkajs = lazy(() => import("kafkajs"));

/** Kafka's retriable answers while a coordinator or partition leader is being elected. */
const RETRIED = [
  "The group coordinator is not available",
  "The coordinator is loading",
  "This server is not the leader for that topic-partition",
  "There is no leader for this topic-partition",
  // Metadata asked for a topic just created, before every broker knows it.
  "This server does not host this topic-partition",
];

/** kafkajs's own log lines go to the run's log, not the terminal; its errors are counted for the cell. */
const kafkaLog = (levels: typeof LogLevel): logCreator => () => ({ level, log }) => {
  const { message, ...rest } = log;
  // Clients creating one topic at once: the losers' CreateTopics answers TOPIC_ALREADY_EXISTS,
  // which kafkajs logs as an error. A creation that truly failed rejects ensureTopic instead.
  const lostCreateRace = message.startsWith("Response CreateTopics");
  // A broker just started answers a new group or topic with one of these for a moment;
  // kafkajs logs each answer as an error and retries, and a retry that gives up rejects
  // the call or crashes the consumer, which is counted then.
  const retried = message.startsWith("Response ") && RETRIED.some((e) => String(rest.error).startsWith(e));
  if (level === levels.ERROR && !lostCreateRace && !retried) noteBrokerError("kafka", `${message} ${JSON.stringify(rest)}`);
  else libraryLog(`kafkajs ${levels[level]}: ${message} ${JSON.stringify(rest)}`);
};

/** Replicas per topic on a cluster, and how many must have a message before acks=all answers. */
const CLUSTER_REPLICAS = 3;
const MIN_INSYNC = 2;
/**
 * A cluster's clients retry at most 2 s apart. With kafkajs's defaults (backoff doubling
 * to 30 s) consumers whose group coordinator died waited 10-11 s more after their retries
 * ran out and resumed 35 s after the kill, a figure of the client's backoff, not of the
 * cluster's failover.
 */
const FAILOVER_RETRY = { initialRetryTime: 200, maxRetryTime: 2_000, retries: 10 };

function kafkaBroker(name: string, acks: 1 | -1, summary: string, server = "kafka"): Broker {
  const replicated = server !== "kafka";
  return {
    name,
    summary,
    capabilities: { durable: true, replay: true, ordering: "per-partition", ackLevels: [acks === 1 ? "leader" : "all"] },
    inProcess: false,
    server,
    // A cluster variant has no standard port to point at: `--broker-url standard` leaves it out.
    ...(replicated ? { urlSchemes: ["kafka:"] } : { standardUrl: STANDARD_URL }),
    bootstrapOnly: true,
    ...(replicated
      ? {
          // Partition 0's leader, by the address its broker advertises.
          leaderOf: async (options: BrokerOptions, topic: string) => {
            const { Kafka, logLevel } = await kafkajs();
            const admin = new Kafka({ clientId: "rtbench-leader", brokers: brokerList(options), logLevel: logLevel.NOTHING }).admin();
            await admin.connect();
            try {
              const meta = await admin.fetchTopicMetadata({ topics: [topic] });
              const leader = meta.topics[0]?.partitions.find((p) => p.partitionId === 0)?.leader;
              const node = (await admin.describeCluster()).brokers.find((b) => b.nodeId === leader);
              if (!node) throw new Error(`kafka: partition 0 of ${topic} has no leader now`);
              return node.host;
            } finally {
              await admin.disconnect();
            }
          },
        }
      : {}),
    async connect(options): Promise<BrokerConnection> {
      const { Kafka, logLevel, Partitioners } = await kafkajs();
      const kafka = new Kafka({
        clientId: "rtbench",
        brokers: brokerList(options),
        logLevel: logLevel.WARN,
        logCreator: kafkaLog(logLevel),
        ...(replicated ? { retry: FAILOVER_RETRY } : {}),
      });
      const partitions = options.partitions ?? 1;
      const admin: Admin = kafka.admin();
      await admin.connect();
      const created = new Map<string, Promise<void>>();
      const ensureTopic = (topic: string): Promise<void> => {
        let p = created.get(topic);
        if (!p) {
          // Look first: the relay made the topic before the producer (its own process) sends,
          // and creating it again makes kafkajs log an error for what is no error.
          p = admin
            .listTopics()
            .then((topics) =>
              topics.includes(topic)
                ? undefined
                : admin.createTopics({
                    topics: [
                      replicated
                        ? { topic, numPartitions: partitions, replicationFactor: CLUSTER_REPLICAS, configEntries: [{ name: "min.insync.replicas", value: String(MIN_INSYNC) }] }
                        : { topic, numPartitions: partitions },
                    ],
                    waitForLeaders: true,
                  }),
            )
            // Another client may have made it first: it failed only if it is not there now.
            // A cluster's node may not know a topic just made yet: leadersElected waits for it.
            .catch(async (err: unknown) => {
              if (!unknownTopic(err) && !(await admin.listTopics()).includes(topic)) throw err;
            })
            .then(() => leadersElected(admin, topic));
          created.set(topic, p);
        }
        return p;
      };
      const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner, allowAutoTopicCreation: false });
      await producer.connect();
      const queues = new Map<string, TopicQueue>();
      const queueFor = (topic: string): TopicQueue => {
        let q = queues.get(topic);
        if (!q) {
          q = new TopicQueue((messages) => ensureTopic(topic).then(() => producer.send({ topic, acks, messages })));
          queues.set(topic, q);
        }
        return q;
      };
      const consumers = new Set<Consumer>();
      return {
        publish(topic, message, sequence) {
          const partition = partitions > 1 && sequence !== undefined ? (sequence - 1) % partitions : undefined;
          return queueFor(topic).push(partition === undefined ? { value: message } : { value: message, partition });
        },
        async subscribe(topic, onMessage, opts) {
          await ensureTopic(topic);
          // The end of each partition now: a new group would otherwise start at whatever
          // the end is when it joins, missing what is published in between.
          const ends = opts?.from === "earliest" ? null : await whileUnknown(topic, () => admin.fetchTopicOffsets(topic));
          // A consumer whose start failed cannot run again: a new one each try.
          const { consumer, joined } = await whileUnknown(topic, async () => {
            const consumer = kafka.consumer({ groupId: `rtbench-${randomUUID()}`, maxWaitTimeInMs: 100, allowAutoTopicCreation: false });
            await consumer.connect();
            try {
              await consumer.subscribe({ topics: [topic], fromBeginning: opts?.from === "earliest" });
              const joined = new Promise<void>((resolve) => consumer.on(consumer.events.GROUP_JOIN, () => resolve()));
              await consumer.run({
                eachMessage: async ({ message }) => {
                  if (message.value) onMessage(message.value);
                },
              });
              return { consumer, joined };
            } catch (err) {
              await consumer.disconnect().catch(() => {});
              throw err;
            }
          });
          consumers.add(consumer);
          await joined;
          for (const end of ends ?? []) consumer.seek({ topic, partition: end.partition, offset: end.offset });
          return {
            async close() {
              consumers.delete(consumer);
              await consumer.disconnect();
            },
          };
        },
        async close() {
          for (const c of consumers) await c.disconnect();
          for (const q of queues.values()) await q.idle();
          await producer.disconnect();
          await admin.disconnect();
        },
      };
    },
  };
}

export const kafkaAcks1 = kafkaBroker("kafka", 1, "Kafka (kafkajs), acks=1, a consumer group per relay, replay from the earliest offset");
export const kafkaAcksAll = kafkaBroker("kafka-acks-all", -1, "Kafka (kafkajs), acks=all, a consumer group per relay, replay from the earliest offset");
export const kafkaR3 = kafkaBroker(
  "kafka-r3",
  -1,
  `Kafka over three KRaft nodes: topics of ${CLUSTER_REPLICAS} replicas, acks=all with min.insync.replicas=${MIN_INSYNC}`,
  "kafka-cluster",
);

/**
 * Waits until every partition of `topic` answers for its offsets. A topic just made
 * by another client (direct clients connect many at once) can list leaders in its
 * metadata while the broker still says "not the leader" for some partitions, and a
 * subscriber asking for the ends then would fail.
 */
async function leadersElected(admin: Admin, topic: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ready = await admin
      .fetchTopicOffsets(topic)
      .then((offsets) => offsets.length > 0)
      .catch(() => false);
    if (ready) return;
    if (Date.now() > deadline) throw new Error(`kafka: topic ${topic} did not answer for every partition's offsets within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/**
 * Retries `step` while a broker says it does not host the topic: on a cluster the node
 * asked may not yet have the metadata of a topic another node just made.
 */
async function whileUnknown<T>(topic: string, step: () => Promise<T>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await step();
    } catch (err) {
      if (!unknownTopic(err) || Date.now() > deadline) throw err;
      libraryLog(`kafka: ${topic} not known to every node yet, retrying`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
}

/** Whether kafkajs's error (or one it wraps, after its own retries) is UNKNOWN_TOPIC_OR_PARTITION. */
function unknownTopic(err: unknown): boolean {
  for (let e = err as { type?: string; cause?: unknown } | undefined; e; e = e.cause as typeof e) {
    if (e.type === "UNKNOWN_TOPIC_OR_PARTITION") return true;
  }
  return false;
}

/** Most messages in one produce request. */
const MAX_BATCH = 1000;

/** One send in flight per topic; publishes made meanwhile go together in the next. */
class TopicQueue {
  private waiting: Array<{ message: Message; resolve(): void; reject(err: Error): void }> = [];
  private sending: Promise<void> | null = null;

  constructor(private readonly send: (messages: Message[]) => Promise<unknown>) {}

  push(message: Message): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.waiting.push({ message, resolve, reject });
      if (!this.sending) this.sending = this.drain();
    });
  }

  private async drain(): Promise<void> {
    while (this.waiting.length > 0) {
      const batch = this.waiting.splice(0, MAX_BATCH);
      try {
        await this.send(batch.map((w) => w.message));
        for (const w of batch) w.resolve();
      } catch (err) {
        for (const w of batch) w.reject(err instanceof Error ? err : new Error(String(err)));
      }
    }
    this.sending = null;
  }

  async idle(): Promise<void> {
    while (this.sending) await this.sending;
  }
}
