/**
 * Every transport and broker rtbench knows. Adding one is one file plus one line
 * here (a scenario: one file plus one line in harness/scenarios/index.ts).
 */
import type { Broker } from "../brokers/broker.js";
import { amqpConfirms, amqpFanout } from "../brokers/amqp.js";
import { amqpQuorum } from "../brokers/amqp-quorum.js";
import { inproc } from "../brokers/inproc.js";
import { kafkaAcks1, kafkaAcksAll, kafkaR3 } from "../brokers/kafka.js";
import { mqttOverWs, mqttQos0, mqttQos1, mqttQos2 } from "../brokers/mqtt.js";
import { jetStreamR3, nats, natsCluster, natsJetStream } from "../brokers/nats.js";
import { pgOutbox } from "../brokers/pg-outbox.js";
import { bullmq } from "../brokers/bullmq.js";
import { redisClusterPubSub, redisClusterStreams, redisPubSub, redisStreams } from "../brokers/redis.js";
import { direct } from "../transports/direct.js";
import { grpcStream } from "../transports/grpc.js";
import { longPolling, shortPolling } from "../transports/polling.js";
import { socketIo, socketIoPolling, socketIoUpgrade } from "../transports/socketio.js";
import { socketIoRedis, socketIoRedisStreams } from "../transports/socketio-adapters.js";
import { sse, sseH2 } from "../transports/sse.js";
import type { Transport } from "../transports/transport.js";
import { ws, wsDeflate, wsPreframed } from "../transports/ws.js";

export const transports: ReadonlyMap<string, Transport> = new Map(
  [sse, sseH2, ws, wsDeflate, wsPreframed, socketIo, socketIoPolling, socketIoUpgrade, socketIoRedis, socketIoRedisStreams, longPolling, shortPolling, grpcStream, direct].map((t) => [t.name, t]),
);

export const brokers: ReadonlyMap<string, Broker> = new Map(
  [
    inproc,
    redisPubSub,
    redisStreams,
    bullmq,
    nats,
    natsJetStream,
    natsCluster,
    jetStreamR3,
    redisClusterPubSub,
    redisClusterStreams,
    kafkaR3,
    kafkaAcks1,
    kafkaAcksAll,
    mqttQos0,
    mqttQos1,
    mqttQos2,
    mqttOverWs,
    amqpFanout,
    amqpConfirms,
    amqpQuorum,
    pgOutbox,
  ].map((b) => [b.name, b]),
);


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
