/**
 * AMQP 0-9-1 with amqplib against RabbitMQ: a fanout exchange per topic and one
 * exclusive, auto-deleted queue per subscription (per relay). Two variants: plain
 * publishes, and publisher confirms (the broker acknowledges each message).
 */
import { lazy } from "../core/lazy.js";

const amqplib = lazy(async () => (await import("amqplib")).default);
import type { Broker, BrokerConnection, BrokerOptions } from "./broker.js";
import { noteBrokerError } from "./errors.js";

const STANDARD_URL = "amqp://guest:guest@127.0.0.1:5672";

function amqpBroker(name: string, confirms: boolean, summary: string): Broker {
  return {
    name,
    summary,
    // Transient exchanges and exclusive queues: nothing outlives the connection or a restart.
    capabilities: { durable: false, replay: false, ordering: "per-topic", ackLevels: [confirms ? "confirm" : "none"] },
    inProcess: false,
    server: "rabbitmq",
    standardUrl: STANDARD_URL,
    urlSchemes: ["amqp:", "amqps:"],
    async connect(options: BrokerOptions): Promise<BrokerConnection> {
      const conn = await (await amqplib()).connect(options.url ?? STANDARD_URL);
      conn.on("error", (err: Error) => noteBrokerError("amqp", err));
      const pubChannel = confirms ? await conn.createConfirmChannel() : await conn.createChannel();
      const declared = new Set<string>();
      const exchange = async (topic: string): Promise<void> => {
        if (declared.has(topic)) return;
        await pubChannel.assertExchange(topic, "fanout", { durable: false });
        declared.add(topic);
      };
      return {
        publish(topic, message) {
          const send = (): void | Promise<void> => {
            if (!confirms) {
              pubChannel.publish(topic, "", message);
              return;
            }
            return new Promise<void>((resolve, reject) =>
              pubChannel.publish(topic, "", message, {}, (err) => (err ? reject(err instanceof Error ? err : new Error(String(err))) : resolve())),
            );
          };
          return declared.has(topic) ? send() : exchange(topic).then(send);
        },
        async subscribe(topic, onMessage, opts) {
          if (opts?.from === "earliest") throw new Error(`${name} keeps no history: it cannot start from the earliest message`);
          await exchange(topic);
          const ch = await conn.createChannel();
          const { queue } = await ch.assertQueue("", { exclusive: true, autoDelete: true });
          await ch.bindQueue(queue, topic, "");
          const { consumerTag } = await ch.consume(queue, (msg) => msg && onMessage(msg.content), { noAck: true });
          return {
            async close() {
              await ch.cancel(consumerTag);
              await ch.close();
            },
          };
        },
        async close() {
          await conn.close();
        },
      };
    },
  };
}

export const amqpFanout = amqpBroker("amqp", false, "AMQP 0-9-1 (amqplib, RabbitMQ), fanout exchange, an exclusive queue per relay");
export const amqpConfirms = amqpBroker("amqp-confirm", true, "AMQP 0-9-1 (amqplib, RabbitMQ), fanout exchange, publisher confirms");
