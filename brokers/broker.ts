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
  /**
   * "queue": each message goes to one of the subscribers (a job queue's workers), so
   * a topic has one subscriber or its messages are split; absent: every subscriber gets each.
   */
  delivery?: "fan-out" | "queue";
}

export interface Subscription {
  close(): Promise<void>;
}

export interface SubscribeOptions {
  /**
   * Where a subscription starts: with the next message published (the default), or
   * with the oldest the broker kept (a late subscriber asking for history). Only
   * adapters whose capabilities say `replay` accept "earliest".
   */
  from?: "latest" | "earliest";
}

export interface BrokerConnection {
  /**
   * Publishes without waiting for the broker where the protocol allows, so an
   * open-loop producer is never paced by acknowledgements. A promise is returned
   * where the adapter must surface asynchronous failure. `sequence` is the message's
   * place in its stream (from 1): a partitioned broker puts it in partition
   * (sequence - 1) mod partitions, so a subscriber can tell each message's partition.
   */
  publish(topic: string, message: Buffer, sequence?: number): void | Promise<void>;
  /**
   * Where publish gives no answer (core NATS): resolves once the broker has answered a
   * round trip sent after every earlier publish, so it has taken them.
   */
  roundTrip?(): Promise<void>;
  /** Resolves once the broker will deliver every later publish to this subscription. */
  subscribe(topic: string, onMessage: (message: Buffer) => void, options?: SubscribeOptions): Promise<Subscription>;
  close(): Promise<void>;
}

export interface BrokerOptions {
  /** Broker address; adapters that run in-process ignore it. */
  url?: string;
  /** Partitions per topic where the broker has them (Kafka). */
  partitions?: number;
}

export interface Broker {
  readonly name: string;
  readonly summary: string;
  readonly capabilities: BrokerCapabilities;
  /** In-process brokers put the producer and the relay in one process. */
  readonly inProcess: boolean;
  /** The server it talks to, from brokers/servers.ts (adapters may share one); none for in-process ones. */
  readonly server?: string;
  /** Its server on the standard port of this machine (`--broker-url standard`, docker-compose.yml). */
  readonly standardUrl?: string;
  /** URL schemes it accepts (`redis:`); absent: its standard URL's alone. */
  readonly urlSchemes?: readonly string[];
  /** Its URL only bootstraps: clients then connect to the addresses the server advertises (Kafka), so a proxy in the URL is bypassed. */
  readonly bootstrapOnly?: boolean;
  connect(options: BrokerOptions): Promise<BrokerConnection>;
  /**
   * A cluster variant: the address (host) of the node that leads `topic` now (its
   * stream's, partition 0's or slot's leader; for a broker without leaders, the node
   * its clients connect to first), for the node faults.
   */
  leaderOf?(options: BrokerOptions, topic: string): Promise<string>;
}

/** A URL that may list several nodes, comma-separated (a cluster's): each node's. */
export function nodeUrls(url: string): URL[] {
  return url.split(",").map((u) => new URL(u.trim()));
}

/**
 * Topic name on the broker for stream index i. Each cell publishes under its own
 * namespace, so history a broker kept from an earlier cell (Streams, JetStream, Kafka)
 * is never replayed into this one.
 */
export function topicName(namespace: string, stream: number): string {
  return `rtbench.${namespace}.t${stream}`;
}

/** A namespace no earlier cell used: base-36 time and randomness, safe in every broker's topic syntax. */
export function freshNamespace(): string {
  return `c${Date.now().toString(36)}${Math.floor(Math.random() * 36 ** 4).toString(36)}`;
}

/** The URL schemes a broker accepts, for checking `--broker-url` before anything starts. */
export function urlSchemesOf(broker: Pick<Broker, "urlSchemes" | "standardUrl">): readonly string[] {
  return broker.urlSchemes ?? (broker.standardUrl ? [new URL(broker.standardUrl).protocol] : []);
}
