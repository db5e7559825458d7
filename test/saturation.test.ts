/**
 * The saturation sweep against a known answer: a relay made to burn 2 ms of CPU per
 * message can hold at most 500 msg/s, so a ×1.5 sweep from 100/s must lag by 507/s;
 * it holds 338/s here (a loaded machine may stop one step earlier). And a sweep
 * stopped by its own load generator claims only a floor.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { judgeStep, nextRate } from "../harness/scenarios/saturation.js";
import { sweepNote } from "../harness/progress.js";
import type { CellResult } from "../results/schema.js";
import { readOnlyRun, rtbenchChildren, runCli, tempDir } from "./helpers.js";

test("rates step by the factor, rounded to three figures, and always go up", () => {
  const rates = [100];
  while (rates.length < 6) rates.push(nextRate(rates.at(-1)!, 1.5));
  assert.deepEqual(rates, [100, 150, 225, 338, 507, 761]);
  assert.equal(nextRate(1, 1.05), 2, "a factor too small to move a small rate still moves it");
  assert.equal(nextRate(123_456, 2), 247_000);
});

test("a relay that can hold 500 msg/s: the sweep holds no more than 338/s and stops with the system's lag", async () => {
  const out = tempDir();
  const r = await runCli(
    ["run", "--scenario", "saturation", "--transports", "ws", "--brokers", "inproc", "--clients", "10", "--rate", "100",
      "--duration", "2", "--warmup", "1", "--drain", "3", "--out", out],
    { timeoutMs: 170_000, env: { RTBENCH_TEST_RELAY_BURN_US: "2000" } },
  );
  assert.equal(r.code, 0, r.stderr);
  const [cell] = readOnlyRun(out).cells;
  assert.equal(cell!.status, "ok", cell!.error);
  const sweep = cell!.sweep!;
  const rates = [100, 150, 225, 338, 507];
  assert.deepEqual(sweep.steps.map((s) => s.rate), rates.slice(0, sweep.steps.length));
  assert.deepEqual(sweep.steps.map((s) => s.sustained), [...sweep.steps.slice(1).map(() => true), false]);
  assert.ok(sweep.maxSustainableRate === 338 || sweep.maxSustainableRate === 225, `held ${sweep.maxSustainableRate}/s; 507/s is past the 500/s the relay can do`);
  assert.ok(sweep.stoppedBy === "lag" || sweep.stoppedBy === "slo", `the relay's own limit ended it (${sweep.stoppedBy}: ${sweep.steps.at(-1)!.reason})`);
  assert.equal(sweep.limitMeasured, true);
  // The cell's figures are those of the highest step held.
  assert.equal(cell!.params.rate, sweep.maxSustainableRate);
  assert.equal(cell!.counts.lost, 0);
  assert.match(r.stdout, /held (338|225)\/s \((lag|slo) at (507|338)\/s\)/);
  assert.deepEqual(await rtbenchChildren(), []);
});

test("a step whose client fleet is pegged ends the sweep as the generator's limit, never the system's", () => {
  const sample = (elu: number) => ({ t: 1.5, rssBytes: 1, heapUsedBytes: 1, cpuPct: 100, elu, eventLoopDelayP99Ms: 1, eventLoopDelayMaxMs: 1 });
  const cell = {
    status: "ok",
    params: { rate: 1000, warmupS: 1, durationS: 2 },
    resources: { fleet: [[sample(0.99), { ...sample(0.99), t: 2.5 }]] },
    publishedPerSec: 1000,
    publishDelayUs: { p99: 100 },
    counts: { lost: 500, expected: 3000 },
    drainedComplete: false,
    throughput: 500,
    latencyUs: { p99: 1_000_000 },
  } as unknown as CellResult;
  const verdict = judgeStep(cell, 100_000, false);
  assert.equal(verdict.sustained, false);
  assert.equal(verdict.limit, "generator", "a pegged fleet explains the lag, so the lag is not the system's");
  assert.match(verdict.reason!, /fleet process 0 event loop busy 99%/);
  const note = sweepNote({ factor: 1.5, sloP99Us: 100_000, steps: [{ rate: 1000, sustained: false, limit: "generator" } as never], maxSustainableRate: 667, stoppedBy: "generator", limitMeasured: false });
  assert.equal(note, "held at least 667/s (generator at 1000/s)");
});
