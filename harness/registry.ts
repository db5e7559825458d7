/**
 * Every transport, broker and scenario rtbench knows. Adding one is one file plus
 * one line here.
 */
import type { Broker } from "../brokers/broker.js";
import { inproc } from "../brokers/inproc.js";
import { grpcStream } from "../transports/grpc.js";
import { longPolling, shortPolling } from "../transports/polling.js";
import { socketIo, socketIoPolling } from "../transports/socketio.js";
import { sse, sseH2 } from "../transports/sse.js";
import type { Transport } from "../transports/transport.js";
import { ws, wsDeflate } from "../transports/ws.js";

export const transports: ReadonlyMap<string, Transport> = new Map(
  [sse, sseH2, ws, wsDeflate, socketIo, socketIoPolling, longPolling, shortPolling, grpcStream].map((t) => [t.name, t]),
);

export const brokers: ReadonlyMap<string, Broker> = new Map([[inproc.name, inproc]]);

export const scenarios: ReadonlyMap<string, string> = new Map([
  ["steady", "constant open-loop rate: end-to-end latency, throughput, loss"],
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
