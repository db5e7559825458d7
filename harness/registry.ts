/**
 * Every transport, broker and scenario rtbench knows. Adding one is one file plus
 * one line here.
 */
import type { Broker } from "../brokers/broker.js";
import { amqpConfirms, amqpFanout } from "../brokers/amqp.js";
import { inproc } from "../brokers/inproc.js";
import { kafkaAcks1, kafkaAcksAll } from "../brokers/kafka.js";
import { mqttOverWs, mqttQos0, mqttQos1, mqttQos2 } from "../brokers/mqtt.js";
import { nats, natsJetStream } from "../brokers/nats.js";
import { pgOutbox } from "../brokers/pg-outbox.js";
import { redisPubSub, redisStreams } from "../brokers/redis.js";
import { direct } from "../transports/direct.js";
import { grpcStream } from "../transports/grpc.js";
import { longPolling, shortPolling } from "../transports/polling.js";
import { socketIo, socketIoPolling } from "../transports/socketio.js";
import { socketIoRedis, socketIoRedisStreams } from "../transports/socketio-adapters.js";
import { sse, sseH2 } from "../transports/sse.js";
import type { Transport } from "../transports/transport.js";
import { ws, wsDeflate } from "../transports/ws.js";

export const transports: ReadonlyMap<string, Transport> = new Map(
  [sse, sseH2, ws, wsDeflate, socketIo, socketIoPolling, socketIoRedis, socketIoRedisStreams, longPolling, shortPolling, grpcStream, direct].map((t) => [t.name, t]),
);

export const brokers: ReadonlyMap<string, Broker> = new Map(
  [
    inproc,
    redisPubSub,
    redisStreams,
    nats,
    natsJetStream,
    kafkaAcks1,
    kafkaAcksAll,
    mqttQos0,
    mqttQos1,
    mqttQos2,
    mqttOverWs,
    amqpFanout,
    amqpConfirms,
    pgOutbox,
  ].map((b) => [b.name, b]),
);

export const scenarios: ReadonlyMap<string, string> = new Map([
  ["steady", "constant open-loop rate: end-to-end latency, throughput, loss"],
  ["saturation", "the steady load stepped up (×rateStep, each step its own warm-up) until delivery lags or p99 passes sloP99: the highest sustained rate and latency against rate"],
  ["backpressure", "steady load while a share of the clients (slowClients) read at slowReadRate: relay send queue and memory growth, drops or disconnects, the fast clients' latency"],
  ["reconnect", "steady load; mid-window a fault (the relay drops every connection, is killed and restarted, or is cut off from its clients or from the broker; the broker restarts); clients reconnect by the policy and resume: time to reconnect, lost, duplicated, replayed"],
  ["connections", "a low rate to 1-2-5 steps of connections (rampFrom up to clients, over fleet processes, source addresses and relays as the limits need) until a step fails: connect time, time to first event, relay memory per connection after a forced GC, relay CPU"],
  ["ordering", "steady load over several partitions (Kafka) and relays: messages that arrive after a later one of their stream, per subscriber"],
  ["scale-out", "the same load served by 1, 2, 4, ... relay processes (up to relays) sharing the broker: throughput, latency, relay memory and CPU per delivery against the relay count"],
  ["durability", "steady load; the broker server restarts mid-window (on its data); then a late subscriber reads the broker's history from the oldest message kept: lost across the restart, and the share of the stream kept"],
]);

export function getTransport(name: string): Transport {
  const t = transports.get(name);
  if (!t) throw new Error(`unknown transport "${name}"`);
  return t;
}

export function getBroker(name: string): Broker {
  const b = brokers.get(name);
  if (!b) throw new Error(`unknown broker "${name}"`);
  return b;
}
