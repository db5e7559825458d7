/**
 * Machine limits a plan must fit before anything starts: open files per process (each
 * connection is one on a relay's side and one on a fleet's) and ephemeral ports per
 * source address (each fleet process binds its connections to one 127.0.0.x, and a
 * bound port is taken whatever the destination).
 */
import { readFileSync } from "node:fs";

/** Descriptors a process needs besides its connections (stdio, IPC, listeners, libuv). */
export const FD_HEADROOM = 64;
/** Fleet processes get source addresses 127.0.0.1 to 127.0.0.250. */
export const SOURCE_ADDRESSES = 250;

export interface MachineLimits {
  /** Soft limit on open files per process; null where unknown. */
  openFiles: number | null;
  /** Ephemeral ports (net.ipv4.ip_local_port_range), i.e. connections per source address; null where unknown. */
  ports: { from: number; to: number } | null;
}

export interface ConnectionPlan {
  clients: number;
  fleetProcesses: number;
  relays: number;
}

/** The soft limit on open files for processes started from here, or null where unknown. */
export function openFileLimit(): number | null {
  try {
    const line = readFileSync("/proc/self/limits", "utf8")
      .split("\n")
      .find((l) => l.startsWith("Max open files"));
    const soft = line?.split(/\s{2,}/)[1];
    return soft === undefined || soft === "unlimited" ? null : Number(soft);
  } catch {
    return null;
  }
}

function portRange(): MachineLimits["ports"] {
  try {
    const [from, to] = readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/).map(Number);
    return Number.isInteger(from) && Number.isInteger(to) && to! >= from! ? { from: from!, to: to! } : null;
  } catch {
    return null;
  }
}

export function machineLimits(): MachineLimits {
  return { openFiles: openFileLimit(), ports: portRange() };
}

const portCount = (ports: NonNullable<MachineLimits["ports"]>): number => ports.to - ports.from + 1;

/** The limits in one line, for the connections scenario's preflight. */
export function describeLimits(limits: MachineLimits): string {
  const files = limits.openFiles === null ? "open files per process: no limit known" : `open files per process: ${limits.openFiles} (ulimit -n)`;
  const ports =
    limits.ports === null
      ? "ephemeral ports: unknown"
      : `ephemeral ports ${limits.ports.from}-${limits.ports.to}: ${portCount(limits.ports)} connections per source address, ${SOURCE_ADDRESSES} addresses`;
  return `${files}; ${ports}`;
}

/** Why a plan of connections over fleet processes and relays cannot run here, or null if it can. */
export function connectionPlanProblem(plan: ConnectionPlan, limits: MachineLimits = machineLimits()): string | null {
  const { clients, fleetProcesses, relays } = plan;
  const perRelay = Math.ceil(clients / relays);
  const perFleet = Math.ceil(clients / fleetProcesses);
  if (limits.openFiles !== null) {
    const usable = limits.openFiles - FD_HEADROOM;
    if (perRelay > usable) {
      const where = relays === 1 ? "the one relay process" : `each of ${relays} relay processes`;
      return `${clients} clients need ${perRelay} open files in ${where}, but this machine allows ${limits.openFiles} per process (ulimit -n): use at most ${usable * relays} clients, or more relays`;
    }
    if (perFleet > usable) {
      return `${perFleet} clients per fleet process exceed the ${limits.openFiles} open files allowed per process (ulimit -n): raise fleetProcesses`;
    }
  }
  if (limits.ports !== null && perFleet > portCount(limits.ports)) {
    return `${perFleet} clients per fleet process exceed the ${portCount(limits.ports)} ephemeral ports of its source address (net.ipv4.ip_local_port_range ${limits.ports.from}-${limits.ports.to}): raise fleetProcesses`;
  }
  if (fleetProcesses > SOURCE_ADDRESSES) {
    return `${fleetProcesses} fleet processes exceed the ${SOURCE_ADDRESSES} source addresses 127.0.0.x they are spread over: use fewer`;
  }
  return null;
}
