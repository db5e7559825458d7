/**
 * The ordering scenario: the steady load, with `partitions` (Kafka) and `relays` set,
 * each subscriber counting the messages that arrive after a later one of their stream
 * (every cell counts them; this scenario is where they can happen).
 */
import type { Scenario } from "./scenario.js";

export const ordering: Scenario = {
  name: "ordering",
  summary: "steady load over several partitions (Kafka) and relays: messages that arrive after a later one of their stream, per subscriber",
};
