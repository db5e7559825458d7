/**
 * Nothing measured is lost and nothing is left running: Ctrl-C keeps every finished
 * cell, and a coordinator killed outright takes its children with it.
 */
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import type { RunResult } from "../results/schema.js";
import { rtbenchChildren, startCli, tempDir, waitFor } from "./helpers.js";

function cellsWritten(out: string): RunResult | null {
  const runs = existsSync(out) ? readdirSync(out) : [];
  if (runs.length !== 1) return null;
  const file = join(out, runs[0]!, "result.json");
  return existsSync(file) ? (JSON.parse(readFileSync(file, "utf8")) as RunResult) : null;
}

const longRun = (out: string): string[] =>
  ["run", "--transports", "sse,ws", "--brokers", "inproc", "--clients", "5", "--rate", "50", "--warmup", "0", "--out", out];

test("Ctrl-C during the second cell keeps the first and stops every child", async () => {
  const out = tempDir();
  const child = startCli([...longRun(out), "--duration", "2", "--repetitions", "3"]);
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  await waitFor(() => (cellsWritten(out)?.cells.length ?? 0) >= 1, 30_000, "the first cell to be written");
  child.kill("SIGINT");
  assert.equal(await exited, 130);
  const run = cellsWritten(out)!;
  assert.equal(run.interrupted, true);
  assert.ok(run.cells.length >= 1 && run.cells.length < 6);
  assert.equal(run.cells[0]!.status, "ok");
  assert.equal(run.cells[0]!.counts.lost, 0);
  await waitFor(async () => (await rtbenchChildren()).length === 0, 5_000, "no rtbench child process");
});

test("a coordinator killed with SIGKILL leaves no relay or fleet process behind", async () => {
  const out = tempDir();
  const child = startCli([...longRun(out), "--duration", "30"]);
  await waitFor(async () => (await rtbenchChildren()).length >= 2, 20_000, "relay and fleet to start");
  child.kill("SIGKILL");
  await waitFor(async () => (await rtbenchChildren()).length === 0, 5_000, "children to exit with their coordinator");
});
