/**
 * The durability scenario: the steady load with the broker restarted mid-window, then a
 * late subscriber reads the broker's history (harness/scenarios/late-subscriber.ts).
 */
import { faultProblem, faults } from "./faults.js";
import { readHistory } from "./late-subscriber.js";
import type { Scenario } from "./scenario.js";

export const durability: Scenario = {
  name: "durability",
  summary: "steady load; the broker server restarts mid-window (on its data; on a cluster broker the workload's node fault strikes instead); then a late subscriber reads the broker's history from the oldest message kept: lost across the restart, and the share of the stream kept",
  fields: [
    { key: "fault", kind: "choice", help: "reconnect scenario: see there; durability scenario: none (the broker restarts) or, on a cluster broker, a node fault: kill-leader, kill-follower, restart-leader, partition-leader", choices: () => [...faults.keys()] },
    { key: "faultDuration", kind: "seconds", min: 0.001, max: 3_600, help: "reconnect scenario, cut, cut-broker, partition-broker and the node faults: how long the path stays cut or the node down" },
    { key: "faultAt", kind: "seconds", min: 0, max: 86_400, help: "reconnect and durability scenarios: when the fault strikes, seconds into the measured window (0: its middle)" },
  ],
  check(w) {
    // "drop", the reconnect scenario's default, stands for none given.
    if (w.fault !== "drop" && !faults.get(w.fault)?.node) {
      const nodeFaults = [...faults.values()].filter((f) => f.node).map((f) => f.name);
      return `field "fault": the durability scenario restarts the broker, or strikes one node of a cluster broker: expected ${nodeFaults.join(", ")}, got "${w.fault}"`;
    }
    return w.relays > 1 ? `field "relays": the durability scenario runs one relay: expected 1, got ${w.relays}` : null;
  },
  // On a cluster the workload may strike one node instead (kill-leader, ...): the late
  // subscriber then reads what the surviving nodes kept.
  fault: (w) => durabilityFault(w.fault),
  pairingProblem: (transport, broker, w, context) => faultProblem(durabilityFault(w.fault), transport, broker, context),
  async afterDrain({ spec, namespace, lastSeq, unacknowledged, hooks }) {
    hooks.phase("reading the broker's history as a late subscriber");
    const durability = await readHistory({
      broker: spec.broker,
      ...(spec.brokerUrl ? { url: spec.brokerUrl } : {}),
      partitions: spec.workload.partitions,
      namespace,
      lastSeq,
      unacknowledged,
    });
    return { durability };
  },
};

/** restart-broker, or the workload's fault when it strikes a cluster's node. */
function durabilityFault(fault: string): string {
  return faults.get(fault)?.node ? fault : "restart-broker";
}
