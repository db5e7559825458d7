/**
 * The backpressure scenario: the steady load while a share of the clients reads through
 * a throttling TCP proxy (harness/tcp-proxy.ts), so what they cannot read waits in the
 * kernel and then in the relay.
 */
import type { Scenario } from "./scenario.js";

export const backpressure: Scenario = {
  name: "backpressure",
  summary: "steady load while a share of the clients (slowClients) read at slowReadRate: relay send queue and memory growth, drops or disconnects, the fast clients' latency",
  fields: [
    { key: "slowClients", kind: "number", min: Number.MIN_VALUE, max: 1, help: "backpressure scenario: share of clients that read slowly (0.1)" },
    { key: "slowReadRate", kind: "int", min: 1, max: 1e9, help: "backpressure scenario: bytes per second a slow client reads (16384)" },
  ],
  check: (w) => (w.relays > 1 ? `field "relays": the backpressure scenario runs one relay: expected 1, got ${w.relays}` : null),
  pairingProblem(transport, broker) {
    if (transport.listener === "none") {
      return `${transport.name} × ${broker.name}: the backpressure scenario slows clients of a relay, and ${transport.name} has none (a slow broker consumer is another measurement)`;
    }
    if (transport.newConnectionPerRequest) {
      return `${transport.name} × ${broker.name}: its client opens a new TCP connection for each request, and the backpressure scenario's throttle slows a connection, not a client`;
    }
    return null;
  },
  slowClients: true,
};
