/** Shared by the tests that drive rtbench as a user would: as processes. */
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, readlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { RunResult } from "../results/schema.js";

export const CLI = fileURLToPath(new URL("../harness/cli.js", import.meta.url));
export const ROOT = fileURLToPath(new URL("../../", import.meta.url));

export function tempDir(prefix = "rtbench-test-"): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export interface CliOutcome {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function runCli(args: string[], options: { cwd?: string; timeoutMs?: number; env?: Record<string, string> } = {}): Promise<CliOutcome> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [CLI, ...args],
      { cwd: options.cwd ?? ROOT, timeout: options.timeoutMs ?? 120_000, env: { ...process.env, CI: "1", ...options.env } },
      (err, stdout, stderr) => {
        const code = err ? ((err as { code?: number }).code ?? null) : 0;
        resolve({ code: typeof code === "number" ? code : null, stdout, stderr });
      },
    );
  });
}

export function startCli(args: string[], env: Record<string, string> = {}): ChildProcess {
  return spawn(process.execPath, [CLI, ...args], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, CI: "1", ...env } });
}

/** The result.json of the only run under outDir. */
export function readOnlyRun(outDir: string): RunResult {
  const runs = readdirSync(outDir);
  if (runs.length !== 1) throw new Error(`expected one run in ${outDir}, found ${runs.length}`);
  return JSON.parse(readFileSync(join(outDir, runs[0]!, "result.json"), "utf8")) as RunResult;
}

/** Pids of rtbench child processes still alive (relay or fleet). */
export async function rtbenchChildren(): Promise<string[]> {
  return new Promise((resolve) => {
    execFile("pgrep", ["-f", "dist/harness/(relay|fleet|producer)-process.js"], (_err, stdout) =>
      resolve(stdout.split("\n").filter(Boolean)),
    );
  });
}

export async function waitFor(check: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

/** Starts `rtbench serve` with these arguments; resolves with its base URL. Push the child to kill it after. */
export function serveRelay(args: string[], children: ChildProcess[]): Promise<string> {
  const child = startCli(["serve", "--port", "0", ...args]);
  children.push(child);
  let out = "";
  return new Promise((resolve, reject) => {
    child.stdout!.on("data", (chunk: Buffer) => {
      out += chunk.toString();
      const m = /endpoint: (https?:\/\/[^/\s]+)/.exec(out);
      if (m) resolve(m[1]!);
    });
    child.on("exit", (code) => reject(new Error(`serve exited with ${code}: ${out}`)));
  });
}

/** Pids of a process and all its descendants, from /proc. */
export function processTree(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync("/proc").filter((e) => /^\d+$/.test(e))) {
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(entry)]);
    } catch {
      /* gone meanwhile */
    }
  }
  const out: number[] = [];
  const todo = [root];
  while (todo.length > 0) {
    const pid = todo.pop()!;
    out.push(pid);
    todo.push(...(children.get(pid) ?? []));
  }
  return out;
}

/** The addresses a process tree listens on (TCP, IPv4 and IPv6), read from /proc/net and the processes' sockets. */
export function listeningAddresses(root: number): string[] {
  const inodes = new Set<string>();
  for (const pid of processTree(root)) {
    try {
      for (const fd of readdirSync(`/proc/${pid}/fd`)) {
        try {
          const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
          if (m) inodes.add(m[1]!);
        } catch {
          /* closed meanwhile */
        }
      }
    } catch {
      /* gone meanwhile */
    }
  }
  const out: string[] = [];
  for (const file of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    for (const line of readFileSync(file, "utf8").split("\n").slice(1)) {
      const f = line.trim().split(/\s+/);
      // f[1] local address:port (hex), f[3] state (0A: LISTEN), f[9] inode.
      if (f.length < 10 || f[3] !== "0A" || !inodes.has(f[9]!)) continue;
      const [hex, portHex] = f[1]!.split(":") as [string, string];
      out.push(`${hexAddress(hex)}:${parseInt(portHex, 16)}`);
    }
  }
  return out;
}

function hexAddress(hex: string): string {
  // /proc/net prints each 32-bit word in host (little-endian) byte order.
  const words = hex.match(/.{8}/g)!.map((w) => w.match(/../g)!.reverse().join(""));
  if (words.length === 1) return words[0]!.match(/../g)!.map((b) => parseInt(b, 16)).join(".");
  const joined = words.join("").toLowerCase();
  // An IPv4 address mapped into IPv6 (a Java server's dual-stack socket): ::ffff:a.b.c.d.
  if (/^0{20}ffff/.test(joined)) return `::ffff:${joined.slice(24).match(/../g)!.map((b) => parseInt(b, 16)).join(".")}`;
  const v6 = joined.match(/.{4}/g)!.map((g) => parseInt(g, 16).toString(16));
  const text = v6.join(":");
  return text === "0:0:0:0:0:0:0:1" ? "::1" : text === "0:0:0:0:0:0:0:0" ? "::" : text;
}
