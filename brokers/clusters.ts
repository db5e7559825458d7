/**
 * Broker clusters that rtbench starts itself, from the same binaries and jars as the
 * single servers (brokers/servers.ts): each node a host of its own on a ClusterNet
 * (brokers/cluster-net.ts), with its own data folder, on the broker's standard ports
 * (each namespace has its own). A cluster's URL lists every node's address, comma-
 * separated; the adapters of its broker variants read it so. Every node can be killed,
 * restarted on its data, or cut off from the others by a fault.
 */
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import type { ClusterNet } from "./cluster-net.js";
import { clusterNetProblem } from "./cluster-net.js";
import { RABBIT_MANAGEMENT_PORT, rabbitManagement } from "./amqp-quorum.js";
import { fetchKafka, formatKafkaStorage, KAFKA_VERSION, kafkaLibs, kafkaLog4j, launch, listening, newKafkaClusterId, rabbitBin, rabbitFiles, servers, waitForPort, which, type Launched } from "./servers.js";

const run = promisify(execFile);

export interface ClusterSpec {
  readonly name: string;
  /** Nodes it runs (a Redis Cluster's primaries and their replicas). */
  readonly nodes: number;
  readonly summary: string;
  /** Why it cannot start here, with how to fix that; null when it can. */
  unavailable(): string | null;
  version(): string;
  /** Starts node k in `dir` (its data kept there), in its namespace on `net`, and resolves once it listens. */
  startNode(k: number, dir: string, net: ClusterNet): Promise<Launched>;
  /** Joins the started nodes into one cluster and resolves once it serves clients (absent: they join by themselves). */
  form?(nodes: Launched[], net: ClusterNet): Promise<void>;
  /** Memory the cluster needs, for the preflight. */
  readonly memoryBytes: number;
}

const MiB = 1024 * 1024;

function nodeDir(dir: string, k: number): string {
  const d = join(dir, `node${k}`);
  mkdirSync(d, { recursive: true });
  return d;
}

/** Runs `command` in node k's namespace, detached, its output in the node's server.log. */
function launchIn(net: ClusterNet, k: number, command: string, args: string[], dir: string, env: Record<string, string> = {}): number {
  const [ip, ...rest] = net.exec(k);
  return launch(ip!, [...rest, command, ...args], dir, env);
}

async function until(what: string, timeoutMs: number, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`${what} within ${timeoutMs / 1000} s`);
}

const NATS_PORT = 4222;
const natsCluster: ClusterSpec = {
  name: "nats-cluster",
  nodes: 3,
  summary: "three nats-server nodes joined by routes, JetStream clustered",
  memoryBytes: 3 * 100 * MiB,
  // The single server's binary and version.
  unavailable: () => servers.get("nats")!.unavailable() ?? clusterNetProblem(),
  version: () => servers.get("nats")!.version(),
  async startNode(k, dir, net) {
    const d = nodeDir(dir, k);
    const ip = net.ip(k);
    const routes = Array.from({ length: net.nodes }, (_, o) => `nats://${net.ip(o)}:6222`).join(",");
    // Server names n0..n2: JetStream reports a stream's leader by name (brokers/nats.ts reads the index from it).
    const pid = launchIn(net, k, "nats-server", ["-a", ip, "-p", String(NATS_PORT), "-n", `n${k}`, "-js", "-sd", join(d, "jetstream"), "--cluster_name", "rtbench", "--cluster", `nats://${ip}:6222`, "--routes", routes], d);
    await waitForPort(NATS_PORT, pid, 15_000, `nats-server node ${k}`, d, ip);
    return { name: `nats-cluster/${k}`, pid, port: NATS_PORT, host: ip, url: `nats://${ip}:${NATS_PORT}`, version: this.version(), dir: d };
  },
  async form(nodes) {
    // JetStream answers once its meta group has a leader: ask each node's monitoring-free way, a client request.
    const { connect } = await import("@nats-io/transport-node");
    const nc = await connect({ servers: nodes.map((n) => `${n.host}:${n.port}`) });
    try {
      await until("the NATS cluster's JetStream did not elect a meta leader", 30_000, async () => {
        const r = await nc.request("$JS.API.INFO", undefined, { timeout: 1000 });
        return !(JSON.parse(new TextDecoder().decode(r.data)) as { error?: unknown }).error;
      });
    } finally {
      await nc.close();
    }
  },
};

const REDIS_PORT = 6379;
/** How long a Redis Cluster waits for a silent primary before its replica takes over. */
export const REDIS_NODE_TIMEOUT_MS = 2000;
const redisCluster: ClusterSpec = {
  name: "redis-cluster",
  nodes: 6,
  summary: "a Redis Cluster of three primaries, each with a replica",
  memoryBytes: 6 * 20 * MiB,
  unavailable: () =>
    servers.get("redis")!.unavailable() ?? (which("redis-cli") ? null : "redis-cli is not installed (apt-get install redis-tools)") ?? clusterNetProblem(),
  version: () => servers.get("redis")!.version(),
  async startNode(k, dir, net) {
    const d = nodeDir(dir, k);
    const ip = net.ip(k);
    // Protected mode refuses clients off loopback; the node's address is on a bridge only this machine reaches.
    const args = ["--bind", ip, "--protected-mode", "no", "--port", String(REDIS_PORT), "--dir", d, "--appendonly", "yes", "--save", ""];
    args.push("--cluster-enabled", "yes", "--cluster-config-file", join(d, "nodes.conf"), "--cluster-node-timeout", String(REDIS_NODE_TIMEOUT_MS));
    const pid = launchIn(net, k, "redis-server", args, d);
    await waitForPort(REDIS_PORT, pid, 10_000, `redis-server node ${k}`, d, ip);
    return { name: `redis-cluster/${k}`, pid, port: REDIS_PORT, host: ip, url: `redis://${ip}:${REDIS_PORT}`, version: this.version(), dir: d };
  },
  async form(nodes) {
    // A restarted node finds its cluster in nodes.conf; only a new one is created.
    const addresses = nodes.map((n) => `${n.host}:${n.port}`);
    const info = (a: string) => run("redis-cli", ["-h", a.split(":")[0]!, "-p", a.split(":")[1]!, "cluster", "info"]).then((r) => r.stdout);
    if ((await info(addresses[0]!)).includes("cluster_known_nodes:1\r")) {
      await run("redis-cli", ["--cluster", "create", ...addresses, "--cluster-replicas", "1", "--cluster-yes"]);
    }
    await until("the Redis Cluster did not reach cluster_state:ok on every node", 30_000, async () => {
      const all = await Promise.all(addresses.map(info));
      return all.every((s) => s.includes("cluster_state:ok") && s.includes(`cluster_known_nodes:${nodes.length}`));
    });
  },
};

const KAFKA_PORT = 9092;
const KAFKA_CONTROLLER_PORT = 9093;
const kafkaCluster: ClusterSpec = {
  name: "kafka-cluster",
  nodes: 3,
  summary: "three Kafka KRaft nodes (broker and controller each), replication factor 3, min.insync.replicas 2",
  memoryBytes: 3 * 700 * MiB,
  unavailable: () => servers.get("kafka")!.unavailable() ?? clusterNetProblem(),
  version: () => KAFKA_VERSION,
  async startNode(k, dir, net) {
    fetchKafka((line) => process.stderr.write(`rtbench: ${line}\n`));
    const d = nodeDir(dir, k);
    const ip = net.ip(k);
    const props = join(d, "server.properties");
    const restart = existsSync(props);
    const voters = Array.from({ length: net.nodes }, (_, o) => `${o + 1}@${net.ip(o)}:${KAFKA_CONTROLLER_PORT}`).join(",");
    writeFileSync(
      props,
      [
        "process.roles=broker,controller",
        `node.id=${k + 1}`,
        `controller.quorum.voters=${voters}`,
        `listeners=PLAINTEXT://${ip}:${KAFKA_PORT},CONTROLLER://${ip}:${KAFKA_CONTROLLER_PORT}`,
        `advertised.listeners=PLAINTEXT://${ip}:${KAFKA_PORT}`,
        "controller.listener.names=CONTROLLER",
        "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
        `log.dirs=${join(d, "data")}`,
        "num.partitions=1",
        `default.replication.factor=${net.nodes}`,
        "min.insync.replicas=2",
        `offsets.topic.replication.factor=${net.nodes}`,
        `transaction.state.log.replication.factor=${net.nodes}`,
        "transaction.state.log.min.isr=2",
        "group.initial.rebalance.delay.ms=0",
        // A replica silent this long leaves the ISR (the default is 30 s).
        "replica.lag.time.max.ms=5000",
        "",
      ].join("\n"),
    );
    const cp = `${kafkaLibs()}/*`;
    const log4j = kafkaLog4j(d);
    if (!restart) formatKafkaStorage(props, kafkaClusterId(dir), log4j, d);
    // Three JVMs beside the relays and the fleet: a small heap each.
    const pid = launchIn(net, k, "java", ["-Xms256m", "-Xmx512m", log4j, "-cp", cp, "kafka.Kafka", props], d);
    await waitForPort(KAFKA_PORT, pid, 90_000, `kafka node ${k}`, d, ip);
    return { name: `kafka-cluster/${k}`, pid, port: KAFKA_PORT, host: ip, url: `kafka://${ip}:${KAFKA_PORT}`, version: KAFKA_VERSION, dir: d };
  },
  async form(nodes) {
    const { Kafka, logLevel } = await import("kafkajs");
    const admin = new Kafka({ clientId: "rtbench-form", brokers: nodes.map((n) => `${n.host}:${n.port}`), logLevel: logLevel.NOTHING }).admin();
    await admin.connect();
    try {
      await until("the Kafka cluster did not list all its brokers", 90_000, async () => (await admin.describeCluster()).brokers.length === nodes.length);
    } finally {
      await admin.disconnect();
    }
  },
};

/** One cluster id for every node of a Kafka cluster, kept in its folder. */
function kafkaClusterId(dir: string): string {
  const file = join(dir, "cluster.id");
  if (!existsSync(file)) writeFileSync(file, newKafkaClusterId());
  return readFileSync(file, "utf8").trim();
}

const AMQP_PORT = 5672;

/** Seconds of silence before a node counts another as gone (Erlang's net_ticktime; the default is 60). */
const RABBIT_NET_TICKTIME_S = 10;
const rabbitCluster: ClusterSpec = {
  name: "rabbitmq-cluster",
  nodes: 3,
  summary: "three RabbitMQ nodes in one cluster (pause_minority), quorum queues of three replicas",
  memoryBytes: 3 * 250 * MiB,
  unavailable: () => servers.get("rabbitmq")!.unavailable() ?? clusterNetProblem(),
  version: () => servers.get("rabbitmq")!.version(),
  async startNode(k, dir, net) {
    const d = nodeDir(dir, k);
    const ip = net.ip(k);
    // Long names by address: each node's name resolves without a hosts file in its namespace.
    const names = Array.from({ length: net.nodes }, (_, o) => `rabbit@${net.ip(o)}`);
    // The same cookie on every node of this cluster, made for it: nodes without it cannot join.
    const cookieFile = join(dir, "cookie");
    if (!existsSync(cookieFile)) writeFileSync(cookieFile, randomBytes(18).toString("hex"), { mode: 0o600 });
    const cookie = join(d, ".erlang.cookie");
    if (!existsSync(cookie)) writeFileSync(cookie, readFileSync(cookieFile), { mode: 0o400 });
    writeFileSync(join(d, "enabled_plugins"), "[rabbitmq_management].\n");
    // Debian's rabbitmq-env.conf pins the system node to loopback: an empty one instead.
    writeFileSync(join(d, "rabbitmq-env.conf"), "");
    writeFileSync(
      join(d, "rabbitmq.conf"),
      [
        // The relays and producers reach the nodes over the cluster's bridge, not loopback.
        "loopback_users = none",
        // A node cut off from the majority stops serving (closes its clients' connections) until it is back.
        "cluster_partition_handling = pause_minority",
        `net_ticktime = ${RABBIT_NET_TICKTIME_S}`,
        // Node 0 forms the cluster; the others find it in this list and join it.
        "cluster_formation.peer_discovery_backend = classic_config",
        ...names.map((n, o) => `cluster_formation.classic_config.nodes.${o + 1} = ${n}`),
        `management.tcp.ip = ${ip}`,
        `management.tcp.port = ${RABBIT_MANAGEMENT_PORT}`,
        "management.rates_mode = none",
        "",
      ].join("\n"),
    );
    // A new cluster: node 0 forms it, and the others start once it listens and join it.
    // Started all at once, two nodes that find no peer up yet can each form a cluster of their own.
    if (k > 0 && !existsSync(join(d, "mnesia"))) {
      await until(`rabbitmq node 0, which node ${k} joins, did not accept connections`, 90_000, () => listening(net.ip(0), AMQP_PORT));
    }
    const pid = launchIn(net, k, rabbitBin()!, [], d, {
      HOME: d,
      RABBITMQ_NODENAME: names[k]!,
      RABBITMQ_USE_LONGNAME: "true",
      RABBITMQ_CONF_ENV_FILE: join(d, "rabbitmq-env.conf"),
      RABBITMQ_NODE_IP_ADDRESS: ip,
      RABBITMQ_NODE_PORT: String(AMQP_PORT),
      RABBITMQ_DIST_PORT: "25672",
      RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS: `-kernel inet_dist_use_interface {${ip.replaceAll(".", ",")}}`,
      // The namespace's own epmd: the node registers over its loopback, the others ask at its address.
      ERL_EPMD_ADDRESS: `127.0.0.1,${ip}`,
      ...rabbitFiles(d),
    });
    await waitForPort(AMQP_PORT, pid, 90_000, `rabbitmq node ${k}`, d, ip);
    return { name: `rabbitmq-cluster/${k}`, pid, port: AMQP_PORT, host: ip, url: `amqp://guest:guest@${ip}:${AMQP_PORT}`, version: this.version(), dir: d };
  },
  async form(nodes) {
    // Every node lists all of them running, as its management API reports.
    const running = async (n: Launched): Promise<number> => (await rabbitManagement<{ running: boolean }[]>([new URL(n.url)], "/nodes")).filter((x) => x.running).length;
    await until("the RabbitMQ cluster did not list all its nodes running", 60_000, async () => (await Promise.all(nodes.map(running))).every((c) => c === nodes.length));
  },
};

export const clusters: ReadonlyMap<string, ClusterSpec> = new Map([natsCluster, redisCluster, kafkaCluster, rabbitCluster].map((c) => [c.name, c]));

/** The comma-separated URL a cluster's clients get: every node's. */
export function clusterUrl(nodes: readonly Launched[]): string {
  return nodes.map((n) => n.url).join(",");
}

