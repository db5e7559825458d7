/** The steady scenario: one cell at a constant open-loop rate. */
import type { Scenario } from "./scenario.js";

export const steady: Scenario = {
  name: "steady",
  summary: "constant open-loop rate: end-to-end latency, throughput, loss",
};
