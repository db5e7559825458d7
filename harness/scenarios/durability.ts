/**
 * The durability scenario: the steady load with the broker restarted mid-window, then a
 * late subscriber reads the broker's history (harness/scenarios/late-subscriber.ts).
 */
import { faultProblem } from "./faults.js";
import { readHistory } from "./late-subscriber.js";
import type { Scenario } from "./scenario.js";

export const durability: Scenario = {
  name: "durability",
  summary: "steady load; the broker server restarts mid-window (on its data); then a late subscriber reads the broker's history from the oldest message kept: lost across the restart, and the share of the stream kept",
  fields: [
    { key: "faultAt", kind: "seconds", min: 0, max: 86_400, help: "reconnect and durability scenarios: when the fault strikes, seconds into the measured window (0: its middle)" },
  ],
  check: (w) => (w.relays > 1 ? `field "relays": the durability scenario runs one relay: expected 1, got ${w.relays}` : null),
  fault: () => "restart-broker",
  pairingProblem: (transport, broker, _w, context) => faultProblem("restart-broker", transport, broker, context),
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
