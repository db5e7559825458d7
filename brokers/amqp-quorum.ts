/**
 * AMQP 0-9-1 with amqplib against a RabbitMQ cluster: a durable fanout exchange per
 * topic, and per subscription a quorum queue of three replicas consumed with
 * acknowledgements; publisher confirms, so a publish is acknowledged once a majority of
 * the queues' replicas hold it. amqplib does not reconnect by itself: this adapter does,
 * to the first node of the URL that answers, and consumes its queues there again.
 */
import { randomUUID } from "node:crypto";
import type { Channel, ChannelModel, ConfirmChannel } from "amqplib";
import { lazy } from "../core/lazy.js";
import { nodeUrls, type Broker, type BrokerConnection, type BrokerOptions } from "./broker.js";
import { noteBrokerError } from "./errors.js";

const amqplib = lazy(async () => (await import("amqplib")).default);

/** How long a lost connection waits before trying the nodes again. */
const RETRY_MS = 500;
/** A subscription's queue goes this long after its last consumer left. */
const QUEUE_EXPIRES_MS = 60_000;
const PREFETCH = 1_000;

interface Subscription {
  readonly queue: string;
  readonly onMessage: (message: Buffer) => void;
  channel?: Channel;
  tag?: string;
  closed: boolean;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** One connection to the cluster, made again on another node when its node goes. */
class Session {
  private conn?: ChannelModel;
  private pub?: ConfirmChannel;
  private closing = false;
  private reconnecting = false;
  private readonly subs = new Set<Subscription>();
  private readonly exchanges = new Set<string>();

  constructor(private readonly urls: readonly URL[]) {}

  /** Connects to the first node that answers, with a publishing channel and every subscription's consumer. */
  async open(): Promise<void> {
    let conn: ChannelModel | undefined;
    let last: unknown;
    for (const url of this.urls) {
      try {
        // Heartbeats every 5 s: a node that stops answering is left within seconds.
        conn = await (await amqplib()).connect(`${url.href}${url.search ? "&" : "?"}heartbeat=5`, { timeout: 5_000 });
        break;
      } catch (err) {
        last = err;
      }
    }
    if (!conn) throw last instanceof Error ? last : new Error(String(last));
    try {
      conn.on("error", (err: Error) => noteBrokerError("amqp", err));
      const pub = await this.publishChannel(conn);
      for (const s of this.subs) await this.consume(conn, s);
      this.conn = conn;
      this.pub = pub;
    } catch (err) {
      await conn.close().catch(() => {});
      throw err;
    }
    conn.on("close", () => {
      if (this.conn !== conn) return;
      this.conn = undefined;
      this.pub = undefined;
      if (!this.closing) void this.reconnect();
    });
  }

  private async reconnect(): Promise<void> {
    if (this.reconnecting) return;
    this.reconnecting = true;
    noteBrokerError("amqp", "connection lost: connecting to the cluster again");
    try {
      while (!this.closing) {
        try {
          await this.open();
          return;
        } catch (err) {
          noteBrokerError("amqp", err);
          await sleep(RETRY_MS);
        }
      }
    } finally {
      this.reconnecting = false;
    }
  }

  private async publishChannel(conn: ChannelModel): Promise<ConfirmChannel> {
    const ch = await conn.createConfirmChannel();
    ch.on("error", (err: Error) => noteBrokerError("amqp", err));
    ch.on("close", () => this.replacePublishChannel(conn, ch));
    return ch;
  }

  /**
   * A new publishing channel in place of `ch`. RabbitMQ 3.10 nacks every later publish on
   * a channel that published to a quorum queue whose leader was not yet known after a
   * failover (measured: nacked for 270 s, while a new channel's publishes were confirmed
   * within 0.5 s).
   */
  private replacePublishChannel(conn: ChannelModel, ch: ConfirmChannel): void {
    if (this.pub !== ch || this.conn !== conn) return;
    this.pub = undefined;
    ch.close().catch(() => {});
    this.publishChannel(conn).then(
      (next) => {
        if (this.conn === conn) this.pub = next;
        else next.close().catch(() => {});
      },
      // The connection is going too: its close handler connects again.
      (err) => noteBrokerError("amqp", err),
    );
  }

  private async consume(conn: ChannelModel, s: Subscription): Promise<void> {
    const ch = await conn.createChannel();
    ch.on("error", (err: Error) => noteBrokerError("amqp", err));
    await ch.prefetch(PREFETCH);
    const { consumerTag } = await ch.consume(s.queue, (msg) => {
      // null: the server cancelled the consumer (its queue went away); start over on the connection.
      if (!msg) return void conn.close().catch(() => {});
      s.onMessage(msg.content);
      try {
        ch.ack(msg);
      } catch {
        /* the channel closed: the message comes again on the next one */
      }
    });
    s.channel = ch;
    s.tag = consumerTag;
    // A consumer's channel lost while its connection lives: start over on a new connection.
    ch.on("close", () => {
      if (!s.closed && this.conn === conn) conn.close().catch(() => {});
    });
  }

  private async exchange(ch: Channel, topic: string): Promise<void> {
    if (this.exchanges.has(topic)) return;
    await ch.assertExchange(topic, "fanout", { durable: true });
    this.exchanges.add(topic);
  }

  publish(topic: string, message: Buffer): Promise<void> {
    const ch = this.pub;
    if (!ch) return Promise.reject(new Error("amqp: no node of the cluster connected"));
    const conn = this.conn!;
    return this.exchange(ch, topic).then(
      () =>
        new Promise<void>((resolve, reject) => {
          try {
            ch.publish(topic, "", message, { persistent: true }, (err) => {
              if (!err) return resolve();
              this.replacePublishChannel(conn, ch);
              reject(err instanceof Error ? err : new Error(String(err)));
            });
          } catch (err) {
            reject(err as Error);
          }
        }),
    );
  }

  async subscribe(topic: string, onMessage: (message: Buffer) => void): Promise<Subscription> {
    const conn = this.conn;
    if (!conn) throw new Error("amqp: no node of the cluster connected");
    const setup = await conn.createChannel();
    setup.on("error", (err: Error) => noteBrokerError("amqp", err));
    const s: Subscription = { queue: `rtbench-${randomUUID()}`, onMessage, closed: false };
    try {
      await this.exchange(setup, topic);
      // Its leader on the node this client is connected to (the first of the URL's).
      await setup.assertQueue(s.queue, {
        durable: true,
        arguments: { "x-queue-type": "quorum", "x-queue-leader-locator": "client-local", "x-expires": QUEUE_EXPIRES_MS },
      });
      await setup.bindQueue(s.queue, topic, "");
    } finally {
      await setup.close().catch(() => {});
    }
    await this.consume(conn, s);
    this.subs.add(s);
    return s;
  }

  async unsubscribe(s: Subscription): Promise<void> {
    s.closed = true;
    this.subs.delete(s);
    const ch = s.channel;
    if (!ch) return;
    await ch.cancel(s.tag!).catch(() => {});
    // The queue is not deleted: it expires by itself (QUEUE_EXPIRES_MS). Deleting a quorum
    // queue waits for each of its members, and with one node down that took 5 s a queue,
    // closing the connection after them 45 s for ten (measured).
    await ch.close().catch(() => {});
  }

  async close(): Promise<void> {
    this.closing = true;
    await Promise.all([...this.subs].map((s) => this.unsubscribe(s)));
    await this.conn?.close().catch(() => {});
  }
}

/** The management plugin's HTTP API, on each node: where a client learns which node leads a queue. */
export const RABBIT_MANAGEMENT_PORT = 15672;

/** Basic-auth GET of the management API on the first node that answers, as the URL's user. */
export async function rabbitManagement<T>(urls: readonly URL[], path: string): Promise<T> {
  let last: unknown;
  for (const url of urls) {
    try {
      const auth = Buffer.from(`${decodeURIComponent(url.username || "guest")}:${decodeURIComponent(url.password || "guest")}`).toString("base64");
      const r = await fetch(`http://${url.hostname}:${RABBIT_MANAGEMENT_PORT}/api${path}`, { headers: { authorization: `Basic ${auth}` }, signal: AbortSignal.timeout(3_000) });
      if (!r.ok) throw new Error(`${path}: HTTP ${r.status}`);
      return (await r.json()) as T;
    } catch (err) {
      last = err;
    }
  }
  throw last instanceof Error ? last : new Error(String(last));
}

export const amqpQuorum: Broker = {
  name: "amqp-quorum",
  summary: "AMQP 0-9-1 (amqplib) over three RabbitMQ nodes: a quorum queue of 3 replicas per relay, publisher confirms",
  capabilities: { durable: true, replay: false, ordering: "per-topic", ackLevels: ["confirm"] },
  inProcess: false,
  server: "rabbitmq-cluster",
  urlSchemes: ["amqp:"],
  /** The leader of the first queue bound to the topic's exchange, as the management API names it (rabbit@<address>). */
  async leaderOf(options: BrokerOptions, topic: string): Promise<string> {
    const urls = nodeUrls(options.url!);
    const bindings = await rabbitManagement<{ destination: string; destination_type: string }[]>(urls, `/exchanges/%2F/${encodeURIComponent(topic)}/bindings/source`);
    const queue = bindings.find((b) => b.destination_type === "queue")?.destination;
    if (!queue) throw new Error(`amqp: no queue is bound to ${topic}`);
    const { leader } = await rabbitManagement<{ leader?: string }>(urls, `/queues/%2F/${encodeURIComponent(queue)}`);
    if (!leader) throw new Error(`amqp: the queue ${queue} has no leader now`);
    return leader.split("@")[1]!;
  },
  async connect(options): Promise<BrokerConnection> {
    const session = new Session(nodeUrls(options.url!));
    await session.open();
    return {
      publish: (topic, message) => session.publish(topic, message),
      async subscribe(topic, onMessage, opts) {
        if (opts?.from === "earliest") throw new Error("amqp-quorum: a new queue holds no history: it cannot start from the earliest message");
        const s = await session.subscribe(topic, onMessage);
        return { close: () => session.unsubscribe(s) };
      },
      close: () => session.close(),
    };
  },
};
