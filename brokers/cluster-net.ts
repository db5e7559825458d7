/**
 * The network a broker cluster runs on: each node a host of its own (a network
 * namespace), all on one bridge, so a fault can cut one node off from the others with
 * iptables while its clients still reach it (a minority partition), as on separate
 * machines. Nodes on loopback addresses of one namespace could not be told apart by a
 * packet filter: a connection a node opens to another leaves from 127.0.0.1.
 *
 * Layout: a bridge in the root namespace holding 10.214.X.1/24, where the relays and
 * producers reach the nodes, and node k at 10.214.X.(11+k) in namespace
 * rtbc-<pid>-<net>-<k>. Nothing outside this machine is reachable from it. Needs root,
 * `ip` and `iptables`.
 */
import { execFile, execFileSync, spawnSync } from "node:child_process";
import { promisify } from "node:util";

const run = promisify(execFile);

/** Why network namespaces (a cluster's, or a relay's of its own) cannot be made here, or null. Checked once. */
let problem: string | null | undefined;
export function clusterNetProblem(): string | null {
  if (problem !== undefined) return problem;
  const has = (cmd: string, args: string[]): boolean => spawnSync(cmd, args, { stdio: "ignore" }).status === 0;
  problem =
    process.getuid?.() !== 0
      ? "it needs root (network namespaces and iptables)"
      : !has("ip", ["-V"])
        ? "the ip command is missing (apt-get install iproute2)"
        : !has("iptables", ["--version"])
          ? "the iptables command is missing (apt-get install iptables)"
          : null;
  return problem;
}

let made = 0;
const live = new Set<ClusterNet>();

export class ClusterNet {
  private constructor(
    readonly id: string,
    private readonly bridge: string,
    private readonly prefix: string,
    readonly nodes: number,
  ) {}

  /** The root namespace's address on the bridge. */
  get hostIp(): string {
    return `${this.prefix}.1`;
  }

  ip(node: number): string {
    return `${this.prefix}.${11 + node}`;
  }

  namespace(node: number): string {
    return `rtbc-${this.id}-${node}`;
  }

  /** Prefix for a command that runs inside node k's namespace (`ip netns exec ...`). */
  exec(node: number): string[] {
    return ["ip", "netns", "exec", this.namespace(node)];
  }

  static async create(nodes: number): Promise<ClusterNet> {
    const k = made++;
    const slot = (process.pid * 8 + k) % 256;
    const id = `${process.pid}-${k}`;
    const net = new ClusterNet(id, `rtbc${process.pid}b${k}`.slice(0, 15), `10.214.${slot}`, nodes);
    live.add(net);
    const ip = (...args: string[]) => run("ip", args);
    try {
      await ip("link", "add", net.bridge, "type", "bridge");
      await ip("addr", "add", `${net.hostIp}/24`, "dev", net.bridge);
      await ip("link", "set", net.bridge, "up");
      for (let n = 0; n < nodes; n++) {
        const ns = net.namespace(n);
        const hostEnd = `rtbc${process.pid}h${k}${n}`.slice(0, 15);
        await ip("netns", "add", ns);
        await ip("link", "add", hostEnd, "type", "veth", "peer", "name", "eth0", "netns", ns);
        await ip("link", "set", hostEnd, "master", net.bridge);
        await ip("link", "set", hostEnd, "up");
        await ip("-n", ns, "addr", "add", `${net.ip(n)}/24`, "dev", "eth0");
        await ip("-n", ns, "link", "set", "eth0", "up");
        await ip("-n", ns, "link", "set", "lo", "up");
      }
    } catch (err) {
      net.removeNow();
      throw new Error(`could not make a network for the cluster: ${(err as Error).message.split("\n")[0]}`);
    }
    return net;
  }

  /** Node k's packets to and from every other node dropped (or let through again), both ways, in one step. */
  private async rules(node: number, action: "-A" | "-D"): Promise<void> {
    const lines = ["*filter"];
    for (let o = 0; o < this.nodes; o++) {
      if (o === node) continue;
      lines.push(`${action} INPUT -s ${this.ip(o)} -j DROP`, `${action} OUTPUT -d ${this.ip(o)} -j DROP`);
    }
    lines.push("COMMIT", "");
    const [ip, ...inNamespace] = this.exec(node);
    const restore = run(ip!, [...inNamespace, "iptables-restore", "--noflush"]);
    restore.child.stdin?.end(lines.join("\n"));
    await restore;
  }

  /**
   * Cuts node k off from the other nodes for `ms`; its clients (on the bridge's host
   * address) still reach it. Resolves with how long the packets were dropped, in seconds.
   */
  async partition(node: number, ms: number): Promise<number> {
    await this.rules(node, "-A");
    const from = performance.now();
    await new Promise((resolve) => setTimeout(resolve, ms));
    await this.rules(node, "-D");
    return (performance.now() - from) / 1000;
  }

  /** Deletes the namespaces (their veth pairs and rules go with them) and the bridge. */
  removeNow(): void {
    live.delete(this);
    for (let n = 0; n < this.nodes; n++) removeNamespace(this.namespace(n));
    spawnSync("ip", ["link", "del", this.bridge], { stdio: "ignore" });
  }
}

/**
 * Kills whatever still runs in the namespace (a daemon a node started leaves the
 * node's process group), then deletes it.
 */
function removeNamespace(namespace: string): void {
  const pids = spawnSync("ip", ["netns", "pids", namespace], { encoding: "utf8" }).stdout ?? "";
  for (const pid of pids.split(/\s+/).filter(Boolean)) {
    try {
      process.kill(Number(pid), "SIGKILL");
    } catch {
      /* gone already */
    }
  }
  spawnSync("ip", ["netns", "del", namespace], { stdio: "ignore" });
}

/** For Ctrl-C and exits: every cluster network this process made. */
export function removeClusterNetsNow(): void {
  for (const net of [...live]) net.removeNow();
}

/**
 * Networks of runs that died without removing theirs (SIGKILL): a namespace named for
 * a pid that is no longer running. Their nodes were killed by the reaper of servers.
 */
export function reapStaleClusterNets(): void {
  let names: string[];
  try {
    names = execFileSync("ip", ["netns", "list"], { encoding: "utf8" }).split("\n").map((l) => l.split(" ")[0]!);
  } catch {
    return;
  }
  for (const name of names) {
    const m = /^rtbc-(\d+)-(\d+)-\d+$/.exec(name);
    if (!m || Number(m[1]) === process.pid) continue;
    try {
      process.kill(Number(m[1]), 0);
      continue;
    } catch {
      removeNamespace(name);
      spawnSync("ip", ["link", "del", `rtbc${m[1]}b${m[2]}`.slice(0, 15)], { stdio: "ignore" });
    }
  }
}
