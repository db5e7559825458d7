/**
 * `direct`: no relay in the path. Each client subscribes to the broker itself, as a
 * backend consumer would, so SSE can be set beside Kafka, NATS, MQTT and Redis as the
 * seed tables set them. The relay process still runs the producer; it listens for
 * nothing and subscribes to nothing. In the chat scenario each client also publishes.
 */
import { topicName, type BrokerConnection } from "../brokers/broker.js";
import { encodeBinary, readBinary } from "../core/envelope.js";
import { closeReporter, type ClientConnection, type Codec, type Transport, type TransportServer } from "./transport.js";

class NoServer implements TransportServer {
  readonly replayed = 0;
  broadcast(): void {}
  connections(): number {
    return 0;
  }
  async close(): Promise<void> {}
}

const codec: Codec = {
  // The broker carries the envelope as-is: no framing of rtbench's own.
  encode: (_header, raw) => raw,
  decode: (frame, onMessage) => void readBinary(frame as Buffer, onMessage),
};

export const direct: Transport = {
  name: "direct",
  summary: "no relay: each client is a consumer of the broker itself (one broker connection per client)",
  endpoint: "(the broker)",
  listener: "none",
  codec,
  upstream: "a publish to the broker by the client itself",
  createServer: () => new NoServer(),
  connect(options, handlers): ClientConnection {
    if (!options.broker) throw new Error("direct needs the broker to subscribe to");
    const closing = closeReporter(handlers);
    let conn: BrokerConnection | undefined;
    let closed = false;
    const { driver, namespace, url, partitions } = options.broker;
    driver
      .connect({ ...(url ? { url } : {}), ...(partitions ? { partitions } : {}) })
      .then(async (c) => {
        conn = c;
        if (closed) return void c.close();
        await c.subscribe(topicName(namespace, options.topic), (message) => readBinary(message, handlers.onMessage));
        handlers.onOpen();
      })
      .catch((err: unknown) => closing.report(err instanceof Error ? err.message : String(err)));
    const topic = topicName(namespace, options.topic);
    return {
      // Upstream (chat): the client publishes to the broker itself; the broker's answer (its acknowledgement, else a round trip) is the ack.
      send(header, size, onAck) {
        if (!conn || closed) return onAck?.("not connected");
        let acked: void | Promise<void>;
        try {
          acked = conn.publish(topic, encodeBinary(header, size), header.seq);
        } catch (err) {
          return onAck?.(err instanceof Error ? err.message : String(err));
        }
        // A publish with no answer of its own is timed to a round trip behind it.
        if (!acked && onAck && conn.roundTrip) acked = conn.roundTrip();
        if (acked) acked.then(() => onAck?.(), (err: unknown) => onAck?.(err instanceof Error ? err.message : String(err)));
      },
      close() {
        closing.silence();
        closed = true;
        void conn?.close().catch(() => {});
      },
    };
  },
};
