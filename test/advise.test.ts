/** rtbench advise: needs judged off measured cells; what no cell measures is unknown, never guessed. */
import assert from "node:assert/strict";
import { join } from "node:path";
import { test } from "node:test";
import { createHistogram, encodeHistogram } from "../core/histogram.js";
import { advise, meets, NeedError, parseNeeds } from "../reports/advise.js";
import type { CellResult } from "../results/schema.js";
import { ROOT, runCli } from "./helpers.js";

const PARAMS = { rate: 100, clients: 10, size: 256, topics: 1, durationS: 5 };

function steady(transport: string, broker: string, p99Us: number): CellResult {
  const h = createHistogram();
  h.recordValueWithCount(Math.round(p99Us / 2), 98);
  h.recordValueWithCount(p99Us, 2);
  return { transport, broker, scenario: "steady", status: "ok", saturated: false, params: PARAMS, histograms: { latencyUs: encodeHistogram(h) } } as unknown as CellResult;
}

function ramp(transport: string, broker: string, maxConnections: number, limitMeasured: boolean): CellResult {
  return { transport, broker, scenario: "connections", status: "ok", saturated: false, params: PARAMS, ramp: { maxConnections, limitMeasured, stoppedBy: limitMeasured ? "failure" : "max-clients", steps: [] } } as unknown as CellResult;
}

test("pairings that meet every measured need are ranked by p99; a figure excludes, a missing one leaves undecided; an unmeasured need is unknown", () => {
  const cells = [
    steady("sse", "inproc", 2_000),
    ramp("sse", "inproc", 10_000, false), // held every step up to 10,000: at least that
    steady("ws", "inproc", 1_000),
    ramp("ws", "inproc", 20_000, true),
    steady("shortpoll", "inproc", 990_000),
    ramp("shortpoll", "inproc", 50_000, true),
    steady("direct", "kafka", 40_000),
    ramp("longpoll", "inproc", 5_000, false), // at least 5,000: cannot say 10,000
  ];
  const needs = parseNeeds("connections=10000,p99=100ms,browser=yes,two-way=no");
  const a = advise(cells, needs);
  assert.deepEqual(a.unknown.map((u) => u.need), ["browser=yes"], "asked for and measured by no run; two-way=no asks nothing");
  assert.deepEqual(a.ranked.map((r) => r.pairing), ["ws × inproc", "sse × inproc"]);
  assert.match(a.ranked[1]!.figures.join("; "), /connections: maxConnections ≥ 10000/);
  assert.deepEqual(a.excluded.map((e) => e.pairing), ["shortpoll × inproc"]);
  assert.match(a.excluded[0]!.because.join(), /p99=100ms: p99 990 ms/);
  assert.deepEqual(a.undecided.map((u) => u.pairing).sort(), ["direct × kafka", "longpoll × inproc"]);
});

test("a bad need is one line naming it and what was expected; the CLI exits 2", async () => {
  assert.throws(() => parseNeeds("latency=1ms"), (e: unknown) => e instanceof NeedError && /unknown need "latency" \(known: p99, connections/.test(e.message));
  assert.throws(() => parseNeeds("p99=fast"), /p99: expected a duration: 100ms, 2s, 500us, got "fast"/);
  const r = await runCli(["advise", join(ROOT, "test/fixtures/run"), "--need", "connections=many"]);
  assert.equal(r.code, 2);
  assert.equal(r.stderr.trim(), 'rtbench advise: flag --need: connections: expected a whole number: 10000, got "many"');
  const ok = await runCli(["advise", join(ROOT, "test/fixtures/run"), "--need", "p99=100ms,browser=yes"]);
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stdout, /unknown \(no run here measures it[^\n]*\n {2}browser=yes: no scenario drives real browsers yet/);
  assert.match(ok.stdout, /1\. (sse|ws) × inproc: p99: p99 [\d.]+ (ms|µs)/);
});

test("an upper bound meets a need it is under, fails one it is not over, and leaves the rest open", () => {
  const under = [{ value: 1000, atLeast: false, below: true }];
  assert.equal(meets("atLeast", under, 100_000), false, "below 1,000/s cannot sustain 100,000/s");
  assert.equal(meets("atLeast", under, 500), undefined, "below 1,000/s may or may not sustain 500/s");
  assert.equal(meets("below", under, 5000), true);
  assert.equal(meets("atMost", under, 500), undefined);
});
