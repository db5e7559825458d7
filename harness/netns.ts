/**
 * A network namespace for one relay, so a fault can drop its packets to and from the
 * broker (iptables DROP) instead of resetting its connections (the TCP proxy's cut).
 * Dropped packets leave every connection open and stalled, as a real partition does;
 * when the rules go, TCP retransmits what was held back.
 *
 * Layout: a veth pair, the host end in the root namespace (10.213.X.1/30) and the
 * other in the relay's (10.213.X.2/30). The relay listens on its address, and reaches
 * the broker through a TcpProxy listening on the host end (the broker itself listens
 * on loopback, which a namespace cannot see). Needs root, `ip` and `iptables`.
 */
import { execFile, spawnSync } from "node:child_process";
import { clusterNetProblem } from "../brokers/cluster-net.js";
import { promisify } from "node:util";

const run = promisify(execFile);

/** Why namespaces cannot be made here, or null: the same needs as a broker cluster's network. */
export const netnsProblem = clusterNetProblem;

let made = 0;
const live = new Set<RelayNamespace>();

export class RelayNamespace {
  private constructor(
    readonly name: string,
    private readonly hostLink: string,
    /** The root namespace's end: where the broker proxy listens. */
    readonly hostIp: string,
    /** The relay's address, which clients connect to. */
    readonly relayIp: string,
  ) {}

  /** Prefix that runs a command inside the namespace. */
  get exec(): string[] {
    return ["netns", "exec", this.name];
  }

  static async create(): Promise<RelayNamespace> {
    // Unique per process and per namespace it makes; a /30 each in 10.213.0.0/16.
    const k = made++;
    const slot = (process.pid * 16 + k) % 16384;
    const base = `10.213.${slot >> 6}.${(slot & 63) * 4}`;
    const [a, b, c, d] = base.split(".").map(Number) as [number, number, number, number];
    const hostIp = `${a}.${b}.${c}.${d + 1}`;
    const relayIp = `${a}.${b}.${c}.${d + 2}`;
    const name = `rtbench-${process.pid}-${k}`;
    const hostLink = `rtb${process.pid}h${k}`.slice(0, 15);
    const nsLink = `rtb${process.pid}n${k}`.slice(0, 15);
    const ns = new RelayNamespace(name, hostLink, hostIp, relayIp);
    live.add(ns);
    const ip = (...args: string[]) => run("ip", args);
    try {
      await ip("netns", "add", name);
      await ip("link", "add", hostLink, "type", "veth", "peer", "name", nsLink);
      await ip("link", "set", nsLink, "netns", name);
      await ip("addr", "add", `${hostIp}/30`, "dev", hostLink);
      await ip("link", "set", hostLink, "up");
      await ip(...ns.exec, "ip", "addr", "add", `${relayIp}/30`, "dev", nsLink);
      await ip(...ns.exec, "ip", "link", "set", nsLink, "up");
      await ip(...ns.exec, "ip", "link", "set", "lo", "up");
      // Every address of the host through its end: a worker in one namespace reaches relays listening on another's host end.
      await ip(...ns.exec, "ip", "route", "add", "default", "via", hostIp);
    } catch (err) {
      await ns.remove();
      throw new Error(`could not make a network namespace for the relay: ${(err as Error).message.split("\n")[0]}`);
    }
    return ns;
  }

  /** Both ways: the relay's packets to the broker proxy, and the proxy's to the relay; as one iptables-restore table, applied at once. */
  private rules(action: "-A" | "-D", port: number): string {
    return [
      "*filter",
      `${action} OUTPUT -p tcp -d ${this.hostIp} --dport ${port} -j DROP`,
      `${action} INPUT -p tcp -s ${this.hostIp} --sport ${port} -j DROP`,
      "COMMIT",
      "",
    ].join("\n");
  }

  /** Applies rules in the namespace in one step (--noflush: added to or removed from what is there). */
  private async apply(rules: string): Promise<void> {
    const restore = run("ip", [...this.exec, "iptables-restore", "--noflush"]);
    restore.child.stdin?.end(rules);
    await restore;
  }

  /**
   * Drops every packet between the relay and `port` on the host end for `ms`, then lets
   * them through again. Resolves with how long the packets were dropped, in seconds:
   * from the rules in place to their removal done.
   */
  async partition(port: number, ms: number): Promise<number> {
    await this.apply(this.rules("-A", port));
    const from = performance.now();
    await new Promise((resolve) => setTimeout(resolve, ms));
    await this.apply(this.rules("-D", port));
    return (performance.now() - from) / 1000;
  }

  /** Deletes the namespace, its veth pair and its rules with it. */
  async remove(): Promise<void> {
    live.delete(this);
    await run("ip", ["netns", "del", this.name]).catch(() => {});
    // The host end goes with its peer; delete it in case the peer never moved.
    await run("ip", ["link", "del", this.hostLink]).catch(() => {});
  }
}

/** For Ctrl-C: no time to wait, so remove what is left synchronously. */
export function removeNamespacesNow(): void {
  for (const ns of live) {
    spawnSync("ip", ["netns", "del", ns.name], { stdio: "ignore" });
  }
  live.clear();
}
