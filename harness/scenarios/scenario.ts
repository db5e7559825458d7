/**
 * What a scenario is: one file under harness/scenarios/ exporting a `Scenario`, and one
 * line in harness/scenarios/index.ts. The coordinator and the runner read what a cell
 * needs from it (a fault, slow readers, a step after the drain) and never test a
 * scenario's name.
 */
import type { Broker } from "../../brokers/broker.js";
import type { CellResult, Workload } from "../../results/schema.js";
import type { Transport } from "../../transports/transport.js";
import type { FieldSpec } from "../fields.js";
import type { FaultContext } from "./faults.js";
import type { ClusterLevers } from "../broker-servers.js";
import type { Workers } from "../workers.js";

export interface CellHooks {
  phase(text: string): void;
  progress(delivered: number, expected: number): void;
}

/** One cell to run: a transport × broker × repetition of a workload, its scenario resolved. */
export interface CellSpec {
  transport: string;
  broker: string;
  repetition: number;
  workload: Workload;
  scenario: Scenario;
  brokerUrl?: string;
  /** Transports with `adapterBroker`: the Redis server their relays pass broadcasts through. */
  adapterUrl?: string;
  /** The broker server's process, when rtbench started it: its RSS is sampled during the cell. */
  brokerServer?: {
    pid(): number;
    /** Present when this run owns the server, so the restart-broker fault may restart it. */
    restart?(): Promise<void>;
    /** A cluster this run started: the node faults' levers. */
    cluster?: ClusterLevers;
  };
  /** `rtbench run --workers`: the workers its fleets run on (absent: this machine). */
  workers?: Workers;
}

/** What a scenario adds to a cell once its clients have drained, read by the runner. */
export interface AfterDrain {
  spec: CellSpec;
  /** The cell's topic namespace on the broker. */
  namespace: string;
  lastSeq: readonly number[];
  /** Per stream, the sequences the broker never acknowledged. */
  unacknowledged: readonly number[][];
  hooks: CellHooks;
}

export interface Scenario {
  readonly name: string;
  readonly summary: string;
  /** Workload fields only this scenario reads (validated by the same field table as the rest). */
  readonly fields?: readonly FieldSpec[];
  /** A workload this scenario cannot run, in one line naming the field; checked before anything starts. `note` prints a line first (a preflight). */
  check?(w: Workload, note: (line: string) => void): string | null;
  /** Why this scenario cannot apply to a transport × broker pairing, or null. */
  pairingProblem?(transport: Transport, broker: Broker, w: Workload, context: FaultContext): string | null;
  /** The proxy (harness/proxies/) between the clients and the relays for the whole cell, if any. */
  proxy?(w: Workload): string | undefined;
  /** The fault (harness/scenarios/faults.ts) a cell strikes mid-window, if any. */
  fault?(w: Workload): string | undefined;
  /**
   * The clients are the producers (chat): each sends upstream on the workload's schedule
   * (rate across all clients), the relay publishes what it takes, and every member of a
   * room (a topic) gets the others' messages. No producer process runs.
   */
  readonly upstream?: boolean;
  /** The workload a cell of it runs, derived from the scenario's own fields (chat: rooms and total rate); applying it twice changes nothing. */
  cellWorkload?(w: Workload): Workload;
  /** A share of the clients (the workload's slowClients) reads through a throttle. */
  readonly slowClients?: boolean;
  /** A step after the drain, whose fields join the cell (durability: what a late subscriber gets back). */
  afterDrain?(context: AfterDrain): Promise<Partial<CellResult>>;
  /** Each step sizes its own fleets and relays for its connection count (the connections ramp), so the one-cell connection check does not apply. */
  readonly sizesItsOwnSteps?: boolean;
  /** Cells of its loop, at most, for the run's progress line (absent: one). */
  estimatedSteps?(w: Workload): number;
  /** How it runs: a loop of cells (a sweep, a ramp, steps of relays); absent, one steady cell. */
  run?(spec: CellSpec, hooks: CellHooks): Promise<CellResult>;
}
