/**
 * Machine limits a plan must fit before anything starts: open files per process
 * (each connection is one on the relay's side and one on the fleet's).
 */
import { readFileSync } from "node:fs";

/** Descriptors a process needs besides its connections (stdio, IPC, listeners, libuv). */
export const FD_HEADROOM = 64;

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

/** Why a plan of `clients` connections over `fleetProcesses` cannot run here, or null if it can. */
export function connectionPlanProblem(clients: number, fleetProcesses: number, limit = openFileLimit()): string | null {
  if (limit === null) return null;
  const usable = limit - FD_HEADROOM;
  if (clients > usable) {
    return `${clients} clients need ${clients} open files in the one relay process, but this machine allows ${limit} per process (ulimit -n): use at most ${usable} clients`;
  }
  const perFleet = Math.ceil(clients / fleetProcesses);
  if (perFleet > usable) {
    return `${perFleet} clients per fleet process exceed the ${limit} open files allowed per process (ulimit -n): raise fleetProcesses`;
  }
  return null;
}
