/**
 * Which broker server each cell talks to, and its lifetime: a URL the user gave
 * (--broker-url), one left running by `rtbench brokers up`, or one this run starts on
 * private ports in a temp dir and stops when it ends. A server that cannot be had
 * makes its brokers "unavailable" with the reason, and the other cells still run.
 */
import { chmodSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { alive, servers, type Launched } from "../brokers/servers.js";
import { ClusterNet, reapStaleClusterNets, removeClusterNetsNow } from "../brokers/cluster-net.js";
import { clusters, clusterUrl } from "../brokers/clusters.js";
import { getBroker } from "./registry.js";

export interface Endpoint {
  url?: string;
  version: string;
  /** Present when rtbench started the server: its RSS is sampled. */
  pid?: number;
}

export interface OwnedServer {
  pid(): number;
  /** Absent for a cluster: its faults strike one node (`cluster`). */
  restart?(): Promise<void>;
  cluster?: ClusterLevers;
}

/** What a node fault can do to a cluster this run started. */
export interface ClusterLevers {
  readonly nodes: number;
  /** Every node's process that runs now, for the cell's memory samples. */
  pids(): number[];
  /** The node listening at host (a leader's address as its broker's client reports it), or -1. */
  nodeAt(host: string): number;
  kill(node: number): Promise<void>;
  restart(node: number): Promise<void>;
  /** Cuts the node off from the others for ms (its clients still reach it); resolves with how long, in seconds. */
  partition(node: number, ms: number): Promise<number>;
  /** Starts again every node a fault left down, on its data, and resolves once the cluster serves: the next cell gets all its nodes. */
  heal(): Promise<void>;
}

/** A cluster this process started: its network and nodes. */
export interface RunningCluster {
  name: string;
  net: ClusterNet;
  nodes: Launched[];
  dir: string;
  url: string;
  version: string;
}

/** Starts a cluster's nodes in a fresh folder under `parent`, each a host of its own, and joins them. */
export async function startCluster(name: string, parent: string, onNode: (node: Launched) => void = () => {}): Promise<RunningCluster> {
  const spec = clusters.get(name);
  if (!spec) throw new Error(`unknown broker cluster "${name}"`);
  const why = spec.unavailable();
  if (why) throw new Error(why);
  // Three JVMs (Kafka) are no small thing: refuse before starting rather than swap.
  const available = availableMemoryBytes();
  if (available !== null && available < spec.memoryBytes) {
    throw new Error(`${name} needs about ${Math.round(spec.memoryBytes / 2 ** 20)} MiB of memory for its ${spec.nodes} nodes; ${Math.round(available / 2 ** 20)} MiB is available`);
  }
  const dir = join(parent, name);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  reapStaleClusterNets();
  const net = await ClusterNet.create(spec.nodes);
  const nodes: Launched[] = [];
  try {
    const started = await Promise.allSettled(
      Array.from({ length: spec.nodes }, async (_, k) => {
        const node = identified(await spec.startNode(k, dir, net));
        nodes[k] = node;
        onNode(node);
      }),
    );
    const failed = started.find((s) => s.status === "rejected");
    if (failed) throw (failed as PromiseRejectedResult).reason;
    await spec.form?.(nodes, net);
  } catch (err) {
    await Promise.all(nodes.filter(Boolean).map((n) => stopServer(n, 5_000)));
    net.removeNow();
    throw err;
  }
  return { name, net, nodes, dir, url: clusterUrl(nodes), version: spec.version() };
}

/** MemAvailable from /proc/meminfo, in bytes; null where there is none. */
function availableMemoryBytes(): number | null {
  try {
    const kb = /^MemAvailable:\s+(\d+) kB/m.exec(readFileSync("/proc/meminfo", "utf8"))?.[1];
    return kb === undefined ? null : Number(kb) * 1024;
  } catch {
    return null;
  }
}

/**
 * Kills a cluster's nodes outright: its data is the run's scratch, and a graceful stop
 * buys nothing but waiting (seconds for a Kafka cluster that has lost its leader).
 */
export async function stopCluster(c: RunningCluster): Promise<void> {
  await Promise.all(c.nodes.map((n) => killServer(n)));
  c.net.removeNow();
}

/** A running cluster's levers; each node fault keeps `c.nodes` current (a restarted node has a new pid). */
function leversOf(c: RunningCluster, changed: () => void): ClusterLevers {
  const spec = clusters.get(c.name)!;
  const startAgain = async (k: number): Promise<void> => {
    c.nodes[k] = identified(await spec.startNode(k, c.dir, c.net));
  };
  return {
    nodes: c.nodes.length,
    pids: () => c.nodes.filter((n) => alive(n.pid)).map((n) => n.pid),
    nodeAt: (host) => c.nodes.findIndex((n) => n.host === host.replace(/:\d+$/, "")),
    kill: (k) => killServer(c.nodes[k]!),
    async restart(k) {
      await stopServer(c.nodes[k]!, 5_000);
      await startAgain(k);
      changed();
    },
    partition: (k, ms) => c.net.partition(k, ms),
    async heal() {
      const down = c.nodes.flatMap((n, k) => (alive(n.pid) ? [] : [k]));
      for (const k of down) await startAgain(k);
      if (down.length > 0) changed();
      await spec.form?.(c.nodes, c.net);
    },
  };
}

export type Resolved = { ok: true; endpoint: Endpoint } | { ok: false; reason: string };

/** Where `rtbench brokers up` keeps its servers and their state (RTBENCH_BROKERS_DIR overrides). */
export function upDir(): string {
  return process.env.RTBENCH_BROKERS_DIR ?? join(tmpdir(), "rtbench-brokers");
}

function stateFile(): string {
  return join(upDir(), "state.json");
}

/** A folder or file rtbench trusts must be no link, be ours, and be writable by nobody else. */
export class UnsafeStateError extends Error {}

/** Why `path` may not be trusted, or null. Another user's, or one others may write, could name any pid to kill. */
function untrusted(path: string, kind: "folder" | "file"): string | null {
  const st = lstatSync(path);
  if (st.isSymbolicLink()) return `${path} is a symbolic link`;
  if (kind === "folder" ? !st.isDirectory() : !st.isFile()) return `${path} is not a ${kind}`;
  const uid = process.getuid?.();
  if (uid !== undefined && st.uid !== uid) return `${path} belongs to uid ${st.uid}, not to this user (uid ${uid})`;
  if ((st.mode & 0o022) !== 0) return `${path} may be written by other users (mode ${(st.mode & 0o777).toString(8)})`;
  return null;
}

/** The `brokers up` folder: made private (0700) if new or ours, refused if it is anyone else's. */
function privateUpDir(): string {
  const dir = upDir();
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const st = lstatSync(dir);
  // One of ours that others may write (made by an older rtbench): take their write bits away.
  if (!st.isSymbolicLink() && st.isDirectory() && st.uid === process.getuid?.() && (st.mode & 0o022) !== 0) chmodSync(dir, st.mode & 0o755);
  const problem = untrusted(dir, "folder");
  if (problem) throw new UnsafeStateError(`${problem}: rtbench keeps the servers it leaves running there and will not trust it (remove it, or set RTBENCH_BROKERS_DIR to a folder of your own)`);
  return dir;
}

/** Servers `brokers up` left running: only from a state file only this user could write, and only those still the process it started. */
export function readUpState(): Launched[] {
  if (!existsSync(stateFile())) return [];
  privateUpDir();
  const problem = untrusted(stateFile(), "file");
  if (problem) throw new UnsafeStateError(`${problem}: rtbench will not trust it (remove it)`);
  try {
    return (JSON.parse(readFileSync(stateFile(), "utf8")) as Launched[]).filter((l) => isServerWeStarted(l));
  } catch {
    return [];
  }
}

function writeUpState(list: Launched[]): void {
  privateUpDir();
  writeFileSync(stateFile(), `${JSON.stringify(list, null, 2)}\n`, { mode: 0o600 });
}

/** Field 22 of /proc/PID/stat: when the process started, in clock ticks since boot; null if it is gone. */
export function processStartTicks(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // The command name (field 2) may hold spaces and parentheses: count from its closing one.
    return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19]);
  } catch {
    return null;
  }
}

/** The program a process runs (the basename of its argv[0]), or null if it is gone. */
export function processCommand(pid: number): string | null {
  try {
    const argv0 = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0")[0] ?? "";
    return argv0.replace(/^.*\//, "");
  } catch {
    return null;
  }
}

/**
 * Whether `l.pid` is still the server rtbench started: alive, with the start time and
 * program recorded when it was launched. A pid reused by another process, or a record
 * that never came from a launch, is not ours to signal.
 */
export function isServerWeStarted(l: Pick<Launched, "pid" | "startTicks" | "command">): boolean {
  if (!Number.isInteger(l.pid) || l.pid <= 1 || !alive(l.pid)) return false;
  if (l.startTicks === undefined || processStartTicks(l.pid) !== l.startTicks) return false;
  return l.command === undefined || processCommand(l.pid) === l.command;
}

/** A launched server with what identifies its process, so it is never confused with a later one on the same pid. */
function identified(l: Launched): Launched {
  return { ...l, startTicks: processStartTicks(l.pid) ?? undefined, command: processCommand(l.pid) ?? undefined };
}

/** Stops a server: SIGTERM to its process group, then SIGKILL if it lingers. */
export async function stopServer(l: Launched, graceMs = 20_000): Promise<void> {
  if (l.startTicks !== undefined && !isServerWeStarted(l)) return;
  const signal = (sig: NodeJS.Signals): void => {
    try {
      process.kill(-l.pid, sig);
    } catch {
      try {
        process.kill(l.pid, sig);
      } catch {
        /* already gone */
      }
    }
  };
  signal("SIGTERM");
  // A stopped server (SIGSTOP, a debugger) acts on SIGTERM only once it runs again.
  signal("SIGCONT");
  const deadline = Date.now() + graceMs;
  while (alive(l.pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  if (alive(l.pid)) signal("SIGKILL");
}

/** Starts one server in a fresh folder under `parent`. */
export async function startServer(name: string, parent: string): Promise<Launched> {
  const spec = servers.get(name);
  if (!spec) throw new Error(`unknown broker server "${name}"`);
  const why = spec.unavailable();
  if (why) throw new Error(why);
  const dir = join(parent, name);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  return identified(await spec.start(dir));
}

/** Kills a server's process group at once (SIGKILL) and resolves once it is gone. */
async function killServer(l: Launched): Promise<void> {
  if (!isServerWeStarted(l)) return;
  killGroup(l.pid);
  while (alive(l.pid)) await new Promise((r) => setTimeout(r, 20));
}

/** Stops a server and starts it again on the same port and data: a broker restart. */
export async function restartServer(l: Launched): Promise<Launched> {
  await stopServer(l);
  return identified(await servers.get(l.name)!.start(l.dir, l.port));
}

const RUN_DIR_PREFIX = "rtbench-run-brokers-";

/**
 * Servers of runs that died without stopping them (SIGKILL, a crash): each run folder
 * names its owner's pid and its servers, so the next run stops them.
 */
export function reapStaleRuns(): number {
  let reaped = 0;
  reapStaleClusterNets();
  for (const entry of readdirSync(tmpdir()).filter((e) => e.startsWith(RUN_DIR_PREFIX))) {
    const dir = join(tmpdir(), entry);
    try {
      // Only a folder this user made private, with an owner file in it that only this user could write.
      if (untrusted(dir, "folder") || untrusted(join(dir, "owner.json"), "file")) continue;
      const owner = JSON.parse(readFileSync(join(dir, "owner.json"), "utf8")) as Owner;
      if (isServerWeStarted(owner.process)) continue;
      for (const server of owner.servers) if (isServerWeStarted(server)) killGroup(server.pid);
      rmSync(dir, { recursive: true, force: true });
      reaped++;
    } catch {
      /* being created, or not ours */
    }
  }
  return reaped;
}

/** owner.json: the run that started the servers in its folder, each identified beyond its pid. */
interface Owner {
  process: Pick<Launched, "pid" | "startTicks" | "command">;
  servers: Array<Pick<Launched, "pid" | "startTicks" | "command">>;
}

function killGroup(pid: number): void {
  for (const target of [-pid, pid]) {
    try {
      process.kill(target, "SIGKILL");
      return;
    } catch {
      /* try the pid alone, or already gone */
    }
  }
}

/** Every BrokerServers of this process, so an unexpected error still stops what they started. */
const everyInstance = new Set<BrokerServers>();

/** On an error nobody expected: SIGKILL every server this process started, and remove their folders. */
export function killAllOwnedNow(): void {
  for (const b of everyInstance) b.killOwnedNow();
}

export class BrokerServers {
  private readonly started = new Map<string, Promise<Launched>>();
  private readonly owned: Launched[] = [];
  private readonly clusters = new Map<string, RunningCluster>();
  private runDir: string | undefined;

  constructor(
    private readonly external: Readonly<Record<string, string>>,
    private readonly log: (line: string) => void,
  ) {
    everyInstance.add(this);
  }

  private recordOwner(): void {
    const owner: Owner = {
      process: { pid: process.pid, startTicks: processStartTicks(process.pid) ?? undefined, command: processCommand(process.pid) ?? undefined },
      servers: this.owned.map(({ pid, startTicks, command }) => ({ pid, startTicks, command })),
    };
    writeFileSync(join(this.runDir!, "owner.json"), JSON.stringify(owner), { mode: 0o600 });
  }

  async resolve(brokerName: string): Promise<Resolved> {
    const broker = getBroker(brokerName);
    if (broker.inProcess) return { ok: true, endpoint: { version: "builtin" } };
    const url = this.external[brokerName];
    if (url) return { ok: true, endpoint: { url, version: "external" } };
    const server = broker.server!;
    const running = readUpState().find((l) => l.name === server);
    if (running) return { ok: true, endpoint: { url: running.url, version: running.version, pid: running.pid } };
    let launching = this.started.get(server);
    if (!launching) {
      this.log(`starting ${server} for ${brokerName}`);
      if (!this.runDir) {
        reapStaleRuns();
        this.runDir = mkdtempSync(join(tmpdir(), RUN_DIR_PREFIX));
        this.recordOwner();
      }
      launching = (clusters.has(server) ? this.startClusterOwned(server) : startServer(server, this.runDir)).then(async (l) => {
        // Stopped (killOwnedNow) while it was starting: it is not to outlive us.
        if (!everyInstance.has(this)) {
          await stopServer(l);
          throw new Error("stopped while starting");
        }
        if (!clusters.has(server)) this.owned.push(l);
        this.recordOwner();
        this.log(`${server} ${l.version} up on port ${l.port} (pid ${l.pid})`);
        return l;
      });
      this.started.set(server, launching);
    }
    try {
      const l = await launching;
      return { ok: true, endpoint: { url: l.url, version: l.version, pid: l.pid } };
    } catch (err) {
      return { ok: false, reason: `${server}: ${(err as Error).message.split("\n")[0]}` };
    }
  }

  /**
   * What resolve() will give a broker whose server is a cluster, without starting it:
   * its version, or why it cannot start (undefined for any other broker). Idle, the
   * clusters took 9% of a core here (three JVMs for Kafka), so a run starts one just
   * before its first cell and stops it after its last, not beside every other cell.
   */
  deferred(brokerName: string): Resolved | undefined {
    const broker = getBroker(brokerName);
    const spec = broker.server ? clusters.get(broker.server) : undefined;
    if (!spec || broker.inProcess || this.external[brokerName]) return undefined;
    const why = spec.unavailable();
    return why ? { ok: false, reason: `${spec.name}: ${why}` } : { ok: true, endpoint: { version: spec.version() } };
  }

  /** Stops a cluster this run started, once its last cell is done: its nodes, data and network. */
  async stopClusterOwned(server: string): Promise<void> {
    const c = this.clusters.get(server);
    if (!c) return;
    this.clusters.delete(server);
    this.started.delete(server);
    await stopCluster(c);
    this.owned.splice(0, this.owned.length, ...this.owned.filter((l) => !l.name.startsWith(`${server}/`)));
    this.recordOwner();
    rmSync(c.dir, { recursive: true, force: true });
  }

  /** A cluster's nodes are owned (and written down for the reaper) as each starts; it resolves as its first node. */
  private async startClusterOwned(name: string): Promise<Launched> {
    const c = await startCluster(name, this.runDir!, (node) => {
      this.owned.push(node);
      this.recordOwner();
    });
    this.clusters.set(name, c);
    return { ...c.nodes[0]!, name, url: c.url, version: c.version };
  }

  /**
   * The server behind a broker when this run started it: its current pid, and a
   * restart (a fault) on the same port and data. Undefined for servers it does not own.
   */
  ownedServer(brokerName: string): OwnedServer | undefined {
    const name = getBroker(brokerName).server;
    const cluster = name ? this.clusters.get(name) : undefined;
    if (cluster) {
      const levers = leversOf(cluster, () => {
        this.owned.splice(0, this.owned.length, ...this.owned.filter((l) => !l.name.startsWith(`${cluster.name}/`)), ...cluster.nodes);
        this.recordOwner();
      });
      return { pid: () => levers.pids()[0] ?? cluster.nodes[0]!.pid, cluster: levers };
    }
    const index = (): number => this.owned.findIndex((l) => l.name === name);
    if (!name || index() < 0) return undefined;
    return {
      pid: () => this.owned[index()]!.pid,
      restart: async () => {
        const next = await restartServer(this.owned[index()]!);
        this.owned[index()] = next;
        this.recordOwner();
        this.log(`${name} restarted on port ${next.port} (pid ${next.pid})`);
      },
    };
  }

  /** Stops what this run started and removes its folders. */
  async stopOwned(): Promise<void> {
    // A server still starting is waited for, so that it is stopped too.
    await Promise.allSettled(this.started.values());
    await Promise.all(this.owned.splice(0).map((l) => stopServer(l)));
    for (const c of this.clusters.values()) c.net.removeNow();
    this.clusters.clear();
    if (this.runDir && existsSync(this.runDir)) rmSync(this.runDir, { recursive: true, force: true });
  }

  /** For Ctrl-C or a kill: no time to wait, so SIGKILL what this run started. */
  killOwnedNow(): void {
    everyInstance.delete(this);
    for (const l of this.owned) if (isServerWeStarted(l)) killGroup(l.pid);
    removeClusterNetsNow();
    if (this.runDir) rmSync(this.runDir, { recursive: true, force: true });
  }
}

/** `rtbench brokers up [names]`: names are servers (redis) or brokers (redis-streams). */
export function serverNames(names: string[]): string[] {
  if (names.length === 0) return [...servers.keys()];
  const out = new Set<string>();
  for (const n of names) {
    if (servers.has(n)) out.add(n);
    else {
      const b = getBroker(n);
      if (!b.server) throw new Error(`${n} runs in-process: there is no server to start`);
      if (clusters.has(b.server)) throw new Error(`${n} runs on a cluster (${b.server}), which a run starts and stops itself; \`brokers up\` keeps single servers only`);
      out.add(b.server);
    }
  }
  return [...out];
}

export async function brokersUp(names: string[], log: (line: string) => void): Promise<{ started: Launched[]; failed: string[] }> {
  const state = readUpState();
  const started: Launched[] = [];
  const failed: string[] = [];
  for (const name of serverNames(names)) {
    const running = state.find((l) => l.name === name);
    if (running) {
      log(`${name}: already running (pid ${running.pid}, port ${running.port})`);
      continue;
    }
    log(`${name}: starting`);
    try {
      const l = await startServer(name, upDir());
      state.push(l);
      started.push(l);
      writeUpState(state);
      log(`${name}: ${l.version} on port ${l.port}, pid ${l.pid}, ${l.url}`);
    } catch (err) {
      failed.push(name);
      log(`${name}: unavailable: ${(err as Error).message.split("\n")[0]}`);
    }
  }
  return { started, failed };
}

export async function brokersDown(names: string[], log: (line: string) => void): Promise<void> {
  const wanted = new Set(serverNames(names));
  const state = readUpState();
  for (const l of state.filter((s) => wanted.has(s.name))) {
    log(`${l.name}: stopping pid ${l.pid}`);
    await stopServer(l);
  }
  writeUpState(state.filter((s) => !wanted.has(s.name)));
}
