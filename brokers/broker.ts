/**
 * The broker interface, after the OpenMessaging Benchmark's driver API: connect,
 * publish, subscribe, close. One file per broker behind it.
 */
export interface BrokerCapabilities {
  /** Messages survive a broker restart. */
  durable: boolean;
  /** A subscriber can start from an earlier offset or sequence. */
  replay: boolean;
  /** The scope within which order is kept. */
  ordering: "none" | "per-topic" | "per-partition" | "global";
  /** Acknowledgement levels the adapter can publish with. */
  ackLevels: readonly string[];
}

export interface Subscription {
  close(): Promise<void>;
}

export interface BrokerConnection {
  /**
   * Publishes without waiting for the broker where the protocol allows, so an
   * open-loop producer is never paced by acknowledgements. A promise is returned
   * where the adapter must surface asynchronous failure.
   */
  publish(topic: string, message: Buffer): void | Promise<void>;
  subscribe(topic: string, onMessage: (message: Buffer) => void): Promise<Subscription>;
  close(): Promise<void>;
}

export interface BrokerOptions {
  /** External broker address; adapters that run in-process ignore it. */
  url?: string;
}

export interface Broker {
  readonly name: string;
  readonly summary: string;
  readonly capabilities: BrokerCapabilities;
  /** In-process brokers put the producer and the relay in one process. */
  readonly inProcess: boolean;
  connect(options: BrokerOptions): Promise<BrokerConnection>;
}

/** Topic names on the broker for stream index i. */
export function topicName(stream: number): string {
  return `rtbench.t${stream}`;
}
