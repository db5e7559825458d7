/**
 * The reconnect scenario: the steady load, and at `faultAt` the workload's `fault`
 * strikes (harness/scenarios/faults.ts); clients reconnect by the policy and resume.
 */
import { faultProblem, faults } from "./faults.js";
import type { Scenario } from "./scenario.js";

export const reconnect: Scenario = {
  name: "reconnect",
  summary: "steady load; mid-window a fault (the relay drops every connection, is killed and restarted, or is cut off from its clients or from the broker; the broker restarts); clients reconnect by the policy and resume: time to reconnect, lost, duplicated, replayed",
  fields: [
    { key: "fault", kind: "choice", help: "reconnect scenario: drop (the relay closes every connection), kill-relay (kill -9, restart), cut (the clients' path, for faultDuration), restart-broker, cut-broker (the relay's path to the broker reset, for faultDuration) or partition-broker (its packets dropped, for faultDuration; root); on a cluster broker: kill-leader, kill-follower (kill -9, left down), restart-leader (back after faultDuration) or partition-leader (cut off from the other nodes for faultDuration; root)", choices: () => [...faults.keys()] },
    { key: "faultDuration", kind: "seconds", min: 0.001, max: 3_600, help: "reconnect scenario, cut, cut-broker, partition-broker and the node faults: how long the path stays cut or the node down" },
    { key: "faultAt", kind: "seconds", min: 0, max: 86_400, help: "reconnect and durability scenarios: when the fault strikes, seconds into the measured window (0: its middle)" },
  ],
  check(w) {
    // Browser clients reconnect as the browser does (or not at all: a WebSocket), never by our policy.
    if (w.reconnect === "none" && w.clientKind !== "browser") return `field "reconnect": the reconnect scenario needs clients that reconnect: expected fixed or backoff, got "none"`;
    return w.relays > 1 ? `field "relays": the reconnect scenario runs one relay: expected 1, got ${w.relays}` : null;
  },
  fault: (w) => w.fault,
  pairingProblem: (transport, broker, w, context) => faultProblem(w.fault, transport, broker, context),
};
