/**
 * In-process broker: a Node EventEmitter, as the seed 001 SSE service fans out.
 * Nothing leaves the process, nothing is kept, delivery is synchronous.
 */
import { EventEmitter } from "node:events";
import type { Broker, BrokerConnection } from "./broker.js";

export const inproc: Broker = {
  name: "inproc",
  summary: "in-process EventEmitter (no network, no persistence)",
  capabilities: { durable: false, replay: false, ordering: "per-topic", ackLevels: ["none"] },
  inProcess: true,
  async connect(): Promise<BrokerConnection> {
    const emitter = new EventEmitter();
    emitter.setMaxListeners(0);
    return {
      publish(topic, message) {
        emitter.emit(topic, message);
      },
      async subscribe(topic, onMessage, opts) {
        if (opts?.from === "earliest") throw new Error("inproc keeps no history: it cannot start from the earliest message");
        emitter.on(topic, onMessage);
        return {
          async close() {
            emitter.off(topic, onMessage);
          },
        };
      },
      async close() {
        emitter.removeAllListeners();
      },
    };
  },
};
