/**
 * The faults of the reconnect scenario, one entry each: what it does to a running
 * cell, and the pairings it cannot apply to (with the reason a result records).
 * The runner owns the processes; a fault only says which of its levers to pull.
 */
import type { Broker } from "../../brokers/broker.js";
import { netnsProblem } from "../netns.js";
import type { Transport } from "../../transports/transport.js";

/** What a fault can do to a running cell. */
export interface FaultTarget {
  /** Closes every client socket of the relay at once, as a network drop would. */
  dropClients(): Promise<void>;
  /** kill -9 the relay, then start a new one on the same port that refills its buffer from the broker's history. */
  restartRelay(): Promise<void>;
  /** Resets every client connection at the proxy in their path and refuses new ones for `faultDuration`. */
  cutClients(): Promise<void>;
  /** Stops the broker server (SIGTERM, so it may flush what it keeps) and starts it again on the same port and data. */
  restartBroker(): Promise<void>;
  /** Resets the relay's broker connections at the proxy in their path and refuses new ones for `faultDuration`. */
  cutBroker(): Promise<void>;
  /** Drops every packet between the relay (in its own network namespace) and the broker for `faultDuration`. */
  /** Resolves with how long the packets were dropped, in seconds. */
  partitionBroker(): Promise<number>;
  /**
   * A node of the broker's cluster, the leader of the cell's first topic or another:
   * killed (kill -9, left down), killed and started again on its data after
   * `faultDuration`, or cut off from the other nodes for `faultDuration` (its clients
   * still reach it). Resolves with how long the fault was in effect (s), where it lasts.
   */
  nodeFault(action: NodeAction, role: "leader" | "follower"): Promise<number | void>;
}

export type NodeAction = "kill" | "restart" | "partition";

/** What a fault may need of the cell beyond its transport and broker. */
export interface FaultContext {
  /** rtbench started the broker server for this run, so it may stop and restart it. */
  ownsBrokerServer: boolean;
  /** The broker's server is a cluster this run started, so a node fault may strike one of its nodes. */
  cluster?: boolean;
}

export interface Fault {
  readonly name: string;
  readonly summary: string;
  /** The fault lasts until strike() settles, and the cell records how long (`recoveredInS`); a drop is over at once. */
  readonly lasting: boolean;
  /** Who goes through a TcpProxy (harness/tcp-proxy.ts) for the whole cell: the clients to the relay, or the relay to the broker. */
  readonly proxy?: "clients" | "broker";
  /** The relay runs in a network namespace of its own (harness/netns.ts) for the whole cell. */
  readonly netns?: boolean;
  /** It kills the relay and starts another: the killed one's byte counts die with it. */
  readonly restartsRelay?: boolean;
  /** It strikes one node of a broker cluster: the cell records which, and the failover. */
  readonly node?: { action: NodeAction; role: "leader" | "follower" };
  /** Why this fault cannot strike the pairing, or null. */
  problem(transport: Transport, broker: Broker, context: FaultContext): string | null;
  /** Resolves once the fault is over; with how long it was in effect (s), where that is not the time strike() took (a partition's rules take time to put in place). */
  strike(target: FaultTarget): Promise<void | number>;
}

const noRelay = (transport: Transport): string | null =>
  transport.listener === "none" ? `${transport.name} has no relay: its clients subscribe to the broker itself` : null;

/** Why the relay's path to the broker cannot be cut for this pairing, or null. */
const noBrokerPath = (transport: Transport, broker: Broker): string | null =>
  noRelay(transport) ??
  (broker.inProcess
    ? `${broker.name} lives inside the relay process: there is no path to cut`
    : broker.bootstrapOnly
      ? `${broker.name}'s clients connect to the address the broker advertises once they have bootstrapped, not through the path rtbench would cut`
      : null);

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
    restartsRelay: true,
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
    proxy: "clients",
    problem: noRelay,
    strike: (target) => target.cutClients(),
  },
  {
    name: "restart-broker",
    summary: "the broker server is stopped (SIGTERM) and started again on the same port and data",
    lasting: true,
    problem: (_transport, broker, context) =>
      broker.inProcess
        ? `${broker.name} has no server to restart: it lives inside the relay process`
        : context.cluster
          ? `${broker.name} runs on a cluster: a fault strikes one of its nodes (${nodeFaultNames().join(", ")})`
          : context.ownsBrokerServer
          ? null
          : `rtbench restarts only a broker server it started for this run, and ${broker.name}'s came from --broker-url or \`rtbench brokers up\``,
    strike: (target) => target.restartBroker(),
  },
  {
    name: "cut-broker",
    summary: "the path between relay and broker is cut for faultDuration: connections reset, new ones refused; the producer keeps publishing",
    lasting: true,
    proxy: "broker",
    problem: noBrokerPath,
    strike: (target) => target.cutBroker(),
  },
  {
    name: "partition-broker",
    summary: "every packet between relay and broker is dropped for faultDuration (iptables, the relay in a network namespace): connections stay open and stall, then TCP retransmits",
    lasting: true,
    proxy: "broker",
    netns: true,
    problem: (transport, broker) => noBrokerPath(transport, broker) ?? netnsProblem(),
    strike: (target) => target.partitionBroker(),
  },
];

/** Why a node fault cannot strike this broker, or null. */
const noCluster = (_transport: Transport, broker: Broker, context: FaultContext): string | null =>
  !broker.leaderOf
    ? `${broker.name} is not a cluster variant (\`rtbench list\` shows them): a node fault needs several nodes`
    : !context.cluster
      ? `rtbench strikes only a cluster it started for this run, and ${broker.name}'s came from --broker-url`
      : netnsProblem();

/** A fault that strikes one node: a kill leaves it down; a restart or a partition lasts faultDuration. */
const nodeFault = (name: string, summary: string, action: NodeAction, role: "leader" | "follower"): Fault => ({
  name,
  summary,
  lasting: action !== "kill",
  node: { action, role },
  problem: noCluster,
  strike: (target) => target.nodeFault(action, role),
});

const nodeFaults: Fault[] = [
  nodeFault("kill-leader", "kill -9 the cluster node leading the cell's first topic (core NATS: the node the clients are on); it stays down", "kill", "leader"),
  nodeFault("kill-follower", "kill -9 a cluster node that does not lead the cell's first topic; it stays down", "kill", "follower"),
  nodeFault("restart-leader", "kill -9 the leading node, and start it again on its data after faultDuration", "restart", "leader"),
  nodeFault("partition-leader", "cut the leading node off from the other nodes for faultDuration (iptables); its clients still reach it", "partition", "leader"),
];
list.push(...nodeFaults);

function nodeFaultNames(): string[] {
  return nodeFaults.map((f) => f.name);
}

export const faults: ReadonlyMap<string, Fault> = new Map(list.map((f) => [f.name, f]));

export function getFault(name: string): Fault {
  const f = faults.get(name);
  if (!f) throw new Error(`unknown fault "${name}"`);
  return f;
}

/** Why a fault cannot strike a pairing, in the words a result records, or null. */
export function faultProblem(name: string, transport: Transport, broker: Broker, context: FaultContext): string | null {
  const problem = getFault(name).problem(transport, broker, context);
  return problem ? `${transport.name} × ${broker.name}: the ${name} fault cannot apply: ${problem}` : null;
}
