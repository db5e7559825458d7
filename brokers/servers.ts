/**
 * Broker servers that rtbench starts itself: each on private ports in a folder of its
 * own, from the binaries installed on the machine (Kafka from Maven Central's jars),
 * so a run or a fault scenario can kill and restart it without touching anything
 * else. Several adapters may share one server (redis-pubsub and redis-streams).
 */
import { execFileSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import net from "node:net";
import { homedir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export interface ServerSpec {
  readonly name: string;
  /** Why it cannot start here, with how to fix that; null when it can. */
  unavailable(): string | null;
  version(): string;
  /**
   * Starts it in `dir` and resolves once it accepts clients. Given the port of an
   * earlier start in the same dir, it restarts on its data (a broker restart).
   */
  start(dir: string, port?: number): Promise<Launched>;
}

export interface Launched {
  name: string;
  pid: number;
  port: number;
  url: string;
  version: string;
  dir: string;
  /** Where it listens when not on loopback: a cluster node's address on its cluster's network. */
  host?: string;
  /** When the process started (clock ticks since boot) and its program: with the pid, what tells it from a later process on the same pid. */
  startTicks?: number;
  command?: string;
}

/** A free TCP port on loopback, as the kernel hands one out. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

export function which(binary: string, extraDirs: string[] = []): string | null {
  for (const dir of [...(process.env.PATH ?? "").split(":"), "/usr/sbin", "/usr/local/sbin", ...extraDirs]) {
    if (dir && existsSync(join(dir, binary))) return join(dir, binary);
  }
  return null;
}

function firstLine(cmd: string, args: string[]): string {
  try {
    return execFileSync(cmd, args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], timeout: 10_000 }).split("\n")[0]!.trim();
  } catch (err) {
    return ((err as { stdout?: string }).stdout ?? "").split("\n")[0]!.trim() || "unknown";
  }
}

/**
 * Runs a server detached (it outlives `rtbench brokers up`), its output in dir/server.log.
 * Servers that refuse root (PostgreSQL) run as their own system user.
 */
export function launch(command: string, args: string[], dir: string, env: Record<string, string> = {}, user?: string): number {
  const log = openSync(join(dir, "server.log"), "a");
  const asUser = user && process.getuid?.() === 0;
  const child = spawn(
    asUser ? "setpriv" : command,
    asUser ? [`--reuid=${user}`, `--regid=${user}`, "--init-groups", command, ...args] : args,
    { cwd: dir, detached: true, stdio: ["ignore", log, log], env: { ...process.env, ...env } },
  );
  child.unref();
  if (child.pid === undefined) throw new Error(`could not start ${command}`);
  return child.pid;
}

/** Whether host:port accepts a TCP connection now. */
export function listening(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, host);
    s.once("connect", () => (s.destroy(), resolve(true)));
    s.once("error", () => resolve(false));
  });
}

/** Waits until the port accepts a TCP connection, the process is gone, or time runs out. */
export async function waitForPort(port: number, pid: number, timeoutMs: number, what: string, dir: string, host = "127.0.0.1"): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!alive(pid)) throw new Error(`${what} exited while starting; its log: ${join(dir, "server.log")}\n${tail(join(dir, "server.log"))}`);
    if (await listening(host, port)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${what} did not accept connections on port ${port} within ${timeoutMs / 1000} s; its log: ${join(dir, "server.log")}`);
}

function tail(file: string): string {
  try {
    return readFileSync(file, "utf8").trim().split("\n").slice(-5).join("\n");
  } catch {
    return "";
  }
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    // A zombie (exited, not yet reaped by its parent) still answers signal 0.
    return !/^\d+ \([^)]*\) Z/.test(readFileSync(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return false;
  }
}

const redis: ServerSpec = {
  name: "redis",
  unavailable: () => (which("redis-server") ? null : "redis-server is not installed (apt-get install redis-server)"),
  version: () => /v=(\S+)/.exec(firstLine("redis-server", ["--version"]))?.[1] ?? "unknown",
  async start(dir, given) {
    const port = given ?? (await freePort());
    // Append-only file on: a Redis Stream then survives a restart, as the adapters declare.
    const pid = launch("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--dir", dir, "--appendonly", "yes", "--save", ""], dir);
    await waitForPort(port, pid, 10_000, "redis-server", dir);
    return { name: "redis", pid, port, url: `redis://127.0.0.1:${port}`, version: this.version(), dir };
  },
};

const nats: ServerSpec = {
  name: "nats",
  unavailable: () => (which("nats-server") ? null : "nats-server is not installed (apt-get install nats-server)"),
  version: () => firstLine("nats-server", ["--version"]).replace(/^nats-server: v?/, ""),
  async start(dir, given) {
    const port = given ?? (await freePort());
    // JetStream on, with file storage in the server's folder.
    const pid = launch("nats-server", ["-a", "127.0.0.1", "-p", String(port), "-js", "-sd", join(dir, "jetstream")], dir);
    await waitForPort(port, pid, 10_000, "nats-server", dir);
    return { name: "nats", pid, port, url: `nats://127.0.0.1:${port}`, version: this.version(), dir };
  },
};

const mosquitto: ServerSpec = {
  name: "mosquitto",
  unavailable: () => (which("mosquitto") ? null : "mosquitto is not installed (apt-get install mosquitto)"),
  version: () => firstLine("mosquitto", ["-h"]).replace(/^mosquitto version /, ""),
  async start(dir, given) {
    const port = given ?? (await freePort());
    const conf = join(dir, "mosquitto.conf");
    // Persistent sessions and QoS 1/2 queues are kept in memory (persistence off): a
    // restart loses them, which is Mosquitto's default too.
    writeFileSync(conf, `listener ${port} 127.0.0.1\nallow_anonymous true\nmax_queued_messages 100000\nmax_inflight_messages 1000\n`);
    const pid = launch("mosquitto", ["-c", conf], dir);
    await waitForPort(port, pid, 10_000, "mosquitto", dir);
    return { name: "mosquitto", pid, port, url: `mqtt://127.0.0.1:${port}`, version: this.version(), dir };
  },
};

/**
 * Mosquitto with a websockets listener, for MQTT over WebSocket. Mosquitto 2.0 will
 * not start with a websockets listener alone ("Unable to start any listening
 * sockets", eclipse-mosquitto/mosquitto#2284), so a plain listener on a second
 * private port sits beside it, unused.
 */
const mosquittoWs: ServerSpec = {
  name: "mosquitto-ws",
  unavailable: mosquitto.unavailable,
  version: mosquitto.version,
  async start(dir, given) {
    const port = given ?? (await freePort());
    const conf = join(dir, "mosquitto.conf");
    const plain = await freePort();
    writeFileSync(conf, `listener ${plain} 127.0.0.1\nlistener ${port} 127.0.0.1\nprotocol websockets\nsocket_domain ipv4\nallow_anonymous true\n`);
    const pid = launch("mosquitto", ["-c", conf], dir);
    await waitForPort(port, pid, 10_000, "mosquitto (websockets listener)", dir);
    return { name: "mosquitto-ws", pid, port, url: `ws://127.0.0.1:${port}`, version: this.version(), dir };
  },
};

const RABBIT_BIN = "/usr/lib/rabbitmq/bin/rabbitmq-server";
/** The rabbitmq-server script that runs a node of its own (Debian's /usr/sbin one runs the system's), or null. */
export function rabbitBin(): string | null {
  return existsSync(RABBIT_BIN) ? RABBIT_BIN : which("rabbitmq-server");
}
/** A RabbitMQ node's files, all in `dir`: its data, logs, plugins list, rabbitmq.conf and pid file. */
export function rabbitFiles(dir: string): Record<string, string> {
  return {
    RABBITMQ_BASE: dir,
    RABBITMQ_MNESIA_BASE: join(dir, "mnesia"),
    RABBITMQ_LOG_BASE: join(dir, "log"),
    RABBITMQ_ENABLED_PLUGINS_FILE: join(dir, "enabled_plugins"),
    RABBITMQ_CONFIG_FILE: join(dir, "rabbitmq"),
    RABBITMQ_PID_FILE: join(dir, "rabbitmq.pid"),
  };
}
const rabbitmq: ServerSpec = {
  name: "rabbitmq",
  unavailable: () => (rabbitBin() ? null : "rabbitmq-server is not installed (apt-get install rabbitmq-server)"),
  version: () => {
    try {
      const dir = readdirSync("/usr/lib/rabbitmq/lib").find((d) => d.startsWith("rabbitmq_server-"));
      return dir?.replace("rabbitmq_server-", "") ?? "unknown";
    } catch {
      return "unknown";
    }
  },
  async start(dir, given) {
    const port = given ?? (await freePort());
    const distPort = await freePort();
    // A node of its own: its own name, ports, data and cookie, and no plugins (the
    // management plugin would want a fixed port of its own).
    const cookie = join(dir, ".erlang.cookie");
    if (!existsSync(cookie)) writeFileSync(cookie, `rtbench${port}${Date.now()}`, { mode: 0o400 });
    writeFileSync(join(dir, "enabled_plugins"), "[].\n");
    const pid = launch(rabbitBin()!, [], dir, {
      HOME: dir,
      RABBITMQ_NODENAME: `rtbench${port}@localhost`,
      RABBITMQ_NODE_IP_ADDRESS: "127.0.0.1",
      // Erlang's distribution listener and an epmd this node starts bind loopback too, like every server rtbench starts.
      RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS: "-kernel inet_dist_use_interface {127,0,0,1}",
      ERL_EPMD_ADDRESS: "127.0.0.1",
      RABBITMQ_NODE_PORT: String(port),
      RABBITMQ_DIST_PORT: String(distPort),
      ...rabbitFiles(dir),
    });
    await waitForPort(port, pid, 60_000, "rabbitmq-server", dir);
    return { name: "rabbitmq", pid, port, url: `amqp://guest:guest@127.0.0.1:${port}`, version: this.version(), dir };
  },
};

function postgresBin(): string | null {
  try {
    const versions = readdirSync("/usr/lib/postgresql").sort((a, b) => Number(b) - Number(a));
    for (const v of versions) if (existsSync(`/usr/lib/postgresql/${v}/bin/postgres`)) return `/usr/lib/postgresql/${v}/bin`;
  } catch {
    /* not a Debian layout */
  }
  const initdb = which("initdb");
  return initdb ? initdb.replace(/\/initdb$/, "") : null;
}

const postgres: ServerSpec = {
  name: "postgres",
  unavailable: () => (postgresBin() ? null : "PostgreSQL is not installed (apt-get install postgresql)"),
  version: () => firstLine(join(postgresBin()!, "postgres"), ["--version"]).replace(/^postgres \(PostgreSQL\) /, ""),
  async start(dir, given) {
    const bin = postgresBin()!;
    const port = given ?? (await freePort());
    const data = join(dir, "data");
    // PostgreSQL refuses to run as root: the cluster belongs to the postgres user.
    const user = process.getuid?.() === 0 ? "postgres" : undefined;
    if (user) {
      execFileSync("chown", [user, dir]);
      // A temp parent is private to root (0700): let the postgres user pass through it.
      chmodSync(dirname(dir), statSync(dirname(dir)).mode | 0o001);
    }
    const asUser = (cmd: string, args: string[]): void => {
      execFileSync(user ? "setpriv" : cmd, user ? [`--reuid=${user}`, `--regid=${user}`, "--init-groups", cmd, ...args] : args, { stdio: "ignore", cwd: dir });
    };
    if (!existsSync(data)) asUser(join(bin, "initdb"), ["-D", data, "-A", "trust", "-U", "postgres", "--no-sync"]);
    const pid = launch(join(bin, "postgres"), ["-D", data, "-p", String(port), "-k", dir, "-c", "listen_addresses=127.0.0.1"], dir, {}, user);
    await waitForPort(port, pid, 30_000, "postgres", dir);
    return { name: "postgres", pid, port, url: `postgres://postgres@127.0.0.1:${port}/postgres`, version: this.version(), dir };
  },
};

export const KAFKA_VERSION = "3.9.1";
const KAFKA_POM = fileURLToPath(new URL("../../brokers/kafka.pom.xml", import.meta.url));

/** Where Kafka's jars are kept between runs (RTBENCH_KAFKA_LIBS overrides). */
export function kafkaLibs(): string {
  return process.env.RTBENCH_KAFKA_LIBS ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), ".cache"), "rtbench", `kafka-${KAFKA_VERSION}`);
}

/** Writes a WARN-level log4j configuration into dir; returns the JVM argument that reads it. */
export function kafkaLog4j(dir: string): string {
  writeFileSync(
    join(dir, "log4j.properties"),
    "log4j.rootLogger=WARN, stdout\nlog4j.appender.stdout=org.apache.log4j.ConsoleAppender\n" +
      "log4j.appender.stdout.layout=org.apache.log4j.PatternLayout\nlog4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n\n",
  );
  return `-Dlog4j.configuration=file:${join(dir, "log4j.properties")}`;
}

/**
 * A KRaft cluster id: 16 random bytes in URL-safe base64, as kafka-storage.sh random-uuid
 * prints. One that starts with "-" would be read as an option by StorageTool (1 start in 64 failed so).
 */
export function newKafkaClusterId(): string {
  let id = randomBytes(16).toString("base64url");
  while (id.startsWith("-")) id = randomBytes(16).toString("base64url");
  return id;
}

/** Formats a new node's log directories (StorageTool) for the cluster id. */
export function formatKafkaStorage(props: string, clusterId: string, log4j: string, cwd: string): void {
  execFileSync("java", [log4j, "-cp", `${kafkaLibs()}/*`, "kafka.tools.StorageTool", "format", "-t", clusterId, "-c", props], { stdio: ["ignore", "ignore", "pipe"], cwd });
}

function kafkaJarsPresent(): boolean {
  try {
    return readdirSync(kafkaLibs()).some((f) => f.startsWith("kafka_2.13-"));
  } catch {
    return false;
  }
}

/** Fetches Kafka's jars from Maven Central once (about 46 MB). */
export function fetchKafka(log: (line: string) => void = () => {}): void {
  if (kafkaJarsPresent()) return;
  log(`fetching Kafka ${KAFKA_VERSION} jars from Maven Central into ${kafkaLibs()} (once)`);
  mkdirSync(kafkaLibs(), { recursive: true });
  execFileSync("mvn", ["-q", "-B", "-f", KAFKA_POM, "dependency:copy-dependencies", `-DoutputDirectory=${kafkaLibs()}`], { stdio: ["ignore", "ignore", "inherit"] });
}

const kafka: ServerSpec = {
  name: "kafka",
  unavailable: () => {
    if (!which("java")) return "java is not installed (apt-get install default-jre-headless)";
    if (!kafkaJarsPresent() && !which("mvn")) return `Kafka's jars are not in ${kafkaLibs()} and mvn is not installed to fetch them (apt-get install maven)`;
    return null;
  },
  version: () => KAFKA_VERSION,
  async start(dir, given) {
    fetchKafka((line) => process.stderr.write(`rtbench: ${line}\n`));
    const port = given ?? (await freePort());
    const props = join(dir, "server.properties");
    const restart = given !== undefined && existsSync(props);
    const controller = restart ? Number(/CONTROLLER:\/\/127\.0\.0\.1:(\d+)/.exec(readFileSync(props, "utf8"))![1]) : await freePort();
    writeFileSync(
      props,
      [
        "process.roles=broker,controller",
        "node.id=1",
        `controller.quorum.voters=1@127.0.0.1:${controller}`,
        `listeners=PLAINTEXT://127.0.0.1:${port},CONTROLLER://127.0.0.1:${controller}`,
        `advertised.listeners=PLAINTEXT://127.0.0.1:${port}`,
        "controller.listener.names=CONTROLLER",
        "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
        `log.dirs=${join(dir, "data")}`,
        "num.partitions=1",
        "offsets.topic.replication.factor=1",
        "transaction.state.log.replication.factor=1",
        "transaction.state.log.min.isr=1",
        "group.initial.rebalance.delay.ms=0",
        "",
      ].join("\n"),
    );
    const cp = `${kafkaLibs()}/*`;
    const log4j = kafkaLog4j(dir);
    if (!restart) formatKafkaStorage(props, newKafkaClusterId(), log4j, dir);
    // A modest heap: the machine also runs the relay, the fleet and other brokers.
    const pid = launch("java", ["-Xms256m", "-Xmx768m", log4j, "-cp", cp, "kafka.Kafka", props], dir);
    await waitForPort(port, pid, 60_000, "kafka", dir);
    return { name: "kafka", pid, port, url: `kafka://127.0.0.1:${port}`, version: KAFKA_VERSION, dir };
  },
};

export const servers: ReadonlyMap<string, ServerSpec> = new Map([redis, nats, mosquitto, mosquittoWs, rabbitmq, postgres, kafka].map((s) => [s.name, s]));
