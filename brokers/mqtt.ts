/**
 * MQTT 3.1.1 with mqtt.js against Mosquitto: QoS 0 with a clean session, QoS 1 and
 * QoS 2 with persistent sessions (clean=false and a fixed client id, so the broker
 * queues for a subscriber that drops), and QoS 0 over WebSocket, the way a browser
 * reaches MQTT (Mosquitto's websockets listener).
 */
import { randomUUID } from "node:crypto";
import type { MqttClient } from "mqtt";
import { lazy } from "../core/lazy.js";

const mqttjs = lazy(async () => (await import("mqtt")).default);
import type { Broker, BrokerConnection, BrokerOptions } from "./broker.js";
import { noteBrokerError } from "./errors.js";

type QoS = 0 | 1 | 2;

async function open(url: string, clientId: string, clean: boolean): Promise<MqttClient> {
  // Reconnects are the fleet's or a scenario's business, not the library's.
  const c = await (await mqttjs()).connectAsync(url, { clientId, clean, protocolVersion: 4, reconnectPeriod: 0, connectTimeout: 10_000 });
  c.on("error", (err) => noteBrokerError("mqtt", err));
  c.on("offline", () => noteBrokerError("mqtt", "connection to the broker lost"));
  return c;
}

function mqttBroker(name: string, qos: QoS, persistent: boolean, scheme: "mqtt" | "ws", summary: string): Broker {
  const defaultUrl = scheme === "ws" ? "ws://127.0.0.1:9001" : "mqtt://127.0.0.1:1883";
  return {
    name,
    summary,
    // Mosquitto as rtbench starts it keeps sessions in memory: a restart loses them.
    capabilities: { durable: false, replay: false, ordering: "per-topic", ackLevels: [`qos${qos}`] },
    inProcess: false,
    server: scheme === "ws" ? "mosquitto-ws" : "mosquitto",
    standardUrl: defaultUrl,
    urlSchemes: scheme === "ws" ? ["ws:", "wss:"] : ["mqtt:", "mqtts:"],
    async connect(options: BrokerOptions): Promise<BrokerConnection> {
      const url = options.url ?? defaultUrl;
      const pub = await open(url, `rtbench-pub-${randomUUID()}`, true);
      const subs = new Set<MqttClient>();
      return {
        publish(topic, message) {
          if (qos === 0) {
            pub.publish(topic, message, { qos });
            return;
          }
          return pub.publishAsync(topic, message, { qos }).then(() => undefined);
        },
        async subscribe(topic, onMessage, opts) {
          if (opts?.from === "earliest") throw new Error(`${name} keeps no history: it cannot start from the earliest message`);
          const sub = await open(url, `rtbench-sub-${randomUUID()}`, !persistent);
          subs.add(sub);
          sub.on("message", (t, payload) => {
            if (t === topic) onMessage(payload);
          });
          await sub.subscribeAsync(topic, { qos });
          return {
            async close() {
              subs.delete(sub);
              await sub.endAsync(true);
            },
          };
        },
        async close() {
          for (const s of subs) await s.endAsync(true);
          await pub.endAsync();
        },
      };
    },
  };
}

export const mqttQos0 = mqttBroker("mqtt-qos0", 0, false, "mqtt", "MQTT 3.1.1 (mqtt.js, Mosquitto), QoS 0, clean session");
export const mqttQos1 = mqttBroker("mqtt-qos1", 1, true, "mqtt", "MQTT 3.1.1 (mqtt.js, Mosquitto), QoS 1, persistent session");
export const mqttQos2 = mqttBroker("mqtt-qos2", 2, true, "mqtt", "MQTT 3.1.1 (mqtt.js, Mosquitto), QoS 2, persistent session");
export const mqttOverWs = mqttBroker("mqtt-ws", 0, false, "ws", "MQTT 3.1.1 over WebSocket to Mosquitto's websockets listener, QoS 0");
