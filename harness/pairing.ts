/**
 * Why a transport × broker pairing cannot be measured in a workload's scenario, or
 * null: the scenario's own reasons first, then what no scenario can change.
 */
import type { Workload } from "../results/schema.js";
import { getBroker, getTransport } from "./registry.js";
import type { FaultContext } from "./scenarios/faults.js";
import { getScenario } from "./scenarios/index.js";
import type { Scenario } from "./scenarios/scenario.js";
import { relaysOf } from "./runner.js";
import { BROWSER_CLIENTS } from "./browser/page.js";
import { chromiumPath } from "./browser/tabs.js";
import { existsSync } from "node:fs";

export function pairingProblem(
  transport: string,
  broker: string,
  workload: Pick<Workload, "scenario" | "fault"> & Partial<Workload> = { scenario: "steady", fault: "drop" },
  context: FaultContext = { ownsBrokerServer: false },
): string | null {
  const t = getTransport(transport);
  const b = getBroker(broker);
  const own = getScenario(workload.scenario).pairingProblem?.(t, b, workload as Workload, context);
  if (own) return own;
  if (relaysOf(t, { relays: workload.relays ?? 1 }) > 1 && b.inProcess && !t.adapterBroker) {
    return `${transport} × ${broker}: several relays cannot apply: an in-process broker lives inside one relay process, and ${transport}'s other relays would have nothing to subscribe to`;
  }
  if (b.capabilities.delivery === "queue") {
    if (t.listener === "none") return `direct × ${broker}: ${broker} is a queue that hands each job to one worker, so clients subscribing to it themselves would each get a share, not every message`;
    if (relaysOf(t, { relays: workload.relays ?? 1 }) > 1 && !t.adapterBroker) {
      return `${transport} × ${broker}: several relays cannot apply: ${broker} hands each job to one worker, so each relay would fan out a share of the messages`;
    }
  }
  if (workload.clientKind === "browser") {
    const browserProblem = browserClientProblem(transport, getScenario(workload.scenario));
    if (browserProblem) return browserProblem;
    // A tab's connections share its page's origin, which is one relay's.
    if ((workload.connectionsPerTab ?? 1) > 1 && relaysOf(t, { relays: workload.relays ?? 1 }) > 1) {
      return `${transport} with browser clients: a tab's ${workload.connectionsPerTab} connections go to its page's origin, one relay, so connectionsPerTab above 1 needs relays: 1`;
    }
  }
  if (t.listener === "none" && b.inProcess) {
    return `direct × ${broker}: an in-process broker lives inside the relay process, so clients cannot subscribe to it directly`;
  }
  return null;
}

/** Why a cell's clients cannot be browser tabs: no page client for the transport, or no Chromium here. */
function browserClientProblem(transport: string, scenario: Scenario): string | null {
  if (scenario.upstream) return `browser clients: the page only receives; the ${scenario.name} scenario's clients send upstream`;
  if (scenario.slowClients) return `browser clients: the ${scenario.name} scenario reads through a throttle at another origin, which the page's origin does not reach`;
  if (!BROWSER_CLIENTS[transport]) {
    return `${transport} with browser clients: a web page has no client for it (browser clients exist for ${Object.keys(BROWSER_CLIENTS).join(", ")})`;
  }
  if (!existsSync(chromiumPath())) return `browser clients: no Chromium at ${chromiumPath()} (install Debian's chromium, or set CHROMIUM_PATH)`;
  return null;
}
