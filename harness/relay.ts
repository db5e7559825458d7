/**
 * The relay: subscribes to the broker and fans each message out through one
 * transport. Used in the foreground by `rtbench serve` and in a child process by
 * `rtbench run`.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import { topicName, type BrokerConnection, type Subscription } from "../brokers/broker.js";
import type { TransportServer } from "../transports/transport.js";
import { nowNs } from "./clock.js";
import { decodeBinary } from "./envelope.js";
import type { RelayPlan } from "./ipc.js";
import { getBroker, getTransport } from "./registry.js";

export interface RunningRelay {
  readonly port: number;
  readonly server: TransportServer;
  readonly broker: BrokerConnection;
  close(): Promise<void>;
}

export type RelaySettings = Pick<
  RelayPlan,
  "transport" | "broker" | "brokerUrl" | "topics" | "replayCapacity" | "heartbeatMs" | "retryMs" | "port" | "host"
>;

export async function startRelay(plan: RelaySettings): Promise<RunningRelay> {
  const transport = getTransport(plan.transport);
  const broker = await getBroker(plan.broker).connect(plan.brokerUrl ? { url: plan.brokerUrl } : {});
  const server = transport.createServer({
    topics: plan.topics,
    replayCapacity: plan.replayCapacity,
    heartbeatMs: plan.heartbeatMs,
    retryMs: plan.retryMs,
  });

  const httpServer = http.createServer({ noDelay: true }, (req, res) => {
    if (server.handleRequest?.(req, res)) return;
    res.writeHead(404, { "Content-Type": "text/plain; charset=utf-8" });
    res.end(`rtbench relay (${transport.name} × ${plan.broker}). Try ${transport.endpoint}\n`);
  });
  httpServer.on("upgrade", (req, socket, head) => {
    if (!server.handleUpgrade?.(req, socket, head)) socket.end("HTTP/1.1 404 Not Found\r\nConnection: close\r\n\r\n");
  });
  await new Promise<void>((resolve, reject) => {
    httpServer.once("error", reject);
    // Thousands of clients connect at once; the default backlog of 511 drops SYNs.
    httpServer.listen({ port: plan.port, host: plan.host, backlog: 65535 }, resolve);
  });

  const burnNs = relayBurnUs() * 1000;
  const onMessage =
    burnNs > 0
      ? (raw: Buffer): void => {
          // Test-only slowdown (calibrates the regression gate): spin before fanning out.
          const until = nowNs() + burnNs;
          while (nowNs() < until) {
            /* burn */
          }
          server.broadcast(decodeBinary(raw), raw);
        }
      : (raw: Buffer): void => server.broadcast(decodeBinary(raw), raw);
  const subscriptions: Subscription[] = [];
  for (let t = 0; t < plan.topics; t++) subscriptions.push(await broker.subscribe(topicName(t), onMessage));

  return {
    port: (httpServer.address() as AddressInfo).port,
    server,
    broker,
    async close() {
      for (const s of subscriptions) await s.close();
      await server.close();
      httpServer.closeAllConnections();
      await new Promise<void>((resolve) => httpServer.close(() => resolve()));
      await broker.close();
    },
  };
}

/** CPU burned per message before fan-out, from RTBENCH_TEST_RELAY_BURN_US: for calibrating the gate only. */
export function relayBurnUs(): number {
  const n = Number(process.env.RTBENCH_TEST_RELAY_BURN_US ?? 0);
  return Number.isFinite(n) && n > 0 ? n : 0;
}
