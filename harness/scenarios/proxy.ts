/**
 * The proxy scenario: the steady workload with a real proxy between the clients and the
 * relays (harness/proxies/: nginx as installed, with the seeds' advice, a strict proxy
 * that passes no Upgrade, HAProxy balancing with and without affinity). What the proxy
 * does shows in the usual figures: buffering as latency, a refused upgrade or a lost
 * session as connections that failed, with their reasons; its CPU and RSS beside them.
 */
import { getProxyKind, proxyKinds } from "../proxies/index.js";
import { proxyUnavailable } from "../proxies/proxy.js";
import type { Scenario } from "./scenario.js";

export const proxy: Scenario = {
  name: "proxy",
  summary: "steady load through a real proxy (nginx, HAProxy) in the clients' path: latency and loss as always, connections the proxy broke and why, the proxy's CPU and RSS",
  fields: [
    { key: "proxy", kind: "choice", choices: () => [...proxyKinds.keys()], help: `proxy scenario: the proxy in the clients' path (${[...proxyKinds.keys()].join(", ")}; nginx-tuned)` },
  ],
  proxy: (w) => w.proxy,
  check(w) {
    const kind = getProxyKind(w.proxy);
    if (w.relays < kind.minRelays) return `field "relays": ${kind.name} balances over several relays: expected ${kind.minRelays} or more, got ${w.relays}`;
    if (w.reconnect !== "none") return `field "reconnect": the proxy scenario counts what the proxy breaks, so clients do not reconnect: expected none, got ${w.reconnect}`;
    return null;
  },
  pairingProblem(transport, broker, w) {
    const missing = proxyUnavailable(getProxyKind(w.proxy));
    if (missing) return missing;
    const kind = getProxyKind(w.proxy);
    if (kind.relayTransport) {
      if (kind.relayTransport(transport.name) === null) return `${transport.name} × ${broker.name}: ${kind.name} carries no ${transport.name} (${kind.summary})`;
    } else if ((transport.listener ?? "http") !== "http") {
      // nginx and HAProxy speak HTTP/1.1 to their upstreams here: an h2-only or raw-TCP relay has nothing for them to pass.
      return `${transport.name} × ${broker.name}: its relay does not speak HTTP/1.1, which ${w.proxy} passes on`;
    }
    if (w.relays > 1 && broker.inProcess) return `${transport.name} × ${broker.name}: several relays behind ${w.proxy} need a broker they share, and ${broker.name} lives inside one relay`;
    return null;
  },
};
