/** The machine a run measured on: part of every result, and of comparability. */
import { execFileSync } from "node:child_process";
import os from "node:os";
import type { Environment } from "../results/schema.js";

export function describeEnvironment(brokerVersions: Record<string, string>): Environment {
  return {
    cpuModel: os.cpus()[0]?.model.trim() ?? "unknown",
    cores: os.availableParallelism(),
    memoryBytes: os.totalmem(),
    os: `${os.type()} ${os.machine()}`,
    kernel: os.release(),
    node: process.version,
    brokers: brokerVersions,
  };
}

export function gitState(cwd: string): { sha: string | null; dirty: boolean | null } {
  try {
    const sha = execFileSync("git", ["rev-parse", "HEAD"], { cwd, stdio: ["ignore", "pipe", "ignore"] }).toString().trim();
    const status = execFileSync("git", ["status", "--porcelain", "--untracked-files=no"], {
      cwd,
      stdio: ["ignore", "pipe", "ignore"],
    }).toString();
    return { sha, dirty: status.trim().length > 0 };
  } catch {
    return { sha: null, dirty: null };
  }
}
