/**
 * Every scenario rtbench runs. Adding one is one file in this folder plus one line here.
 */
import { backpressure } from "./backpressure.js";
import { chat } from "./chat.js";
import { connections } from "./connections.js";
import { durability } from "./durability.js";
import { ordering } from "./ordering.js";
import { proxy } from "./proxy.js";
import { reconnect } from "./reconnect.js";
import { saturation } from "./saturation.js";
import { scaleOut } from "./scale-out.js";
import type { Scenario } from "./scenario.js";
import { steady } from "./steady.js";

export const scenarios: ReadonlyMap<string, Scenario> = new Map(
  [steady, saturation, backpressure, reconnect, connections, ordering, scaleOut, durability, chat, proxy].map((s) => [s.name, s]),
);

export function getScenario(name: string): Scenario {
  const s = scenarios.get(name);
  if (!s) throw new Error(`unknown scenario "${name}"`);
  return s;
}
