/**
 * The faults of the reconnect scenario, one entry each: what it does to a running
 * cell, and the pairings it cannot apply to (with the reason a result records).
 * The runner owns the processes; a fault only says which of its levers to pull.
 */
import type { Broker } from "../../brokers/broker.js";
import type { Transport } from "../../transports/transport.js";

/** What a fault can do to a running cell. */
export interface FaultTarget {
  /** Closes every client socket of the relay at once, as a network drop would. */
  dropClients(): Promise<void>;
  /** kill -9 the relay, then start a new one on the same port that refills its buffer from the broker's history. */
  restartRelay(): Promise<void>;
  /** Resets every client connection at the proxy in their path and refuses new ones for `faultDuration`. */
  cutClients(): Promise<void>;
}

export interface Fault {
  readonly name: string;
  readonly summary: string;
  /** The fault lasts until strike() settles, and the cell records how long (`recoveredInS`); a drop is over at once. */
  readonly lasting: boolean;
  /** Clients reach the relay through a TcpProxy (harness/tcp-proxy.ts) for the whole cell. */
  readonly viaProxy?: boolean;
  /** Why this fault cannot strike the pairing, or null. */
  problem(transport: Transport, broker: Broker): string | null;
  strike(target: FaultTarget): Promise<void>;
}

const noRelay = (transport: Transport): string | null =>
  transport.listener === "none" ? `${transport.name} has no relay: its clients subscribe to the broker itself` : null;

const list: Fault[] = [
  {
    name: "drop",
    summary: "the relay closes every client connection at once",
    lasting: false,
    problem: noRelay,
    strike: (target) => target.dropClients(),
  },
  {
    name: "kill-relay",
    summary: "kill -9 the relay and restart it on the same port; a broker with history refills its replay buffer",
    lasting: true,
    problem: (transport, broker) =>
      noRelay(transport) ??
      (broker.inProcess ? `${broker.name} lives inside the relay process: killing the relay ends the stream itself` : null),
    strike: (target) => target.restartRelay(),
  },
  {
    name: "cut",
    summary: "the path between clients and relay is cut for faultDuration: connections reset, new ones refused",
    lasting: true,
    viaProxy: true,
    problem: noRelay,
    strike: (target) => target.cutClients(),
  },
];

export const faults: ReadonlyMap<string, Fault> = new Map(list.map((f) => [f.name, f]));

export function getFault(name: string): Fault {
  const f = faults.get(name);
  if (!f) throw new Error(`unknown fault "${name}"`);
  return f;
}
