/** Shared by the tests that drive rtbench as a user would: as processes. */
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync } from "node:fs";
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
