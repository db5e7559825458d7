import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { createHistogram, decodeHistogram, encodeHistogram, mergeEncoded, percentiles } from "../core/histogram.js";

const run = promisify(execFile);
const fixture = fileURLToPath(new URL("./fixtures/record-histogram.js", import.meta.url));

test("histograms recorded in separate processes merge into the histogram of all values", async () => {
  // Two processes with very different distributions: a fast and a slow one.
  const [fast, slow] = await Promise.all([
    run(process.execPath, [fixture, "100", "1099", "1"]),
    run(process.execPath, [fixture, "50000", "59990", "10"]),
  ]);
  const merged = mergeEncoded([fast.stdout, slow.stdout]);

  const all = createHistogram();
  for (let v = 100; v <= 1099; v++) all.recordValue(v);
  for (let v = 50000; v <= 59990; v += 10) all.recordValue(v);

  assert.equal(merged.totalCount, 2000);
  assert.deepEqual(percentiles(merged), percentiles(all));
  // The merged p50 sits at the boundary of the two halves; averaging the two
  // processes' p50s (~600 and ~55,000) would give ~27,800, a value nobody saw.
  const p50 = percentiles(merged).p50;
  assert.ok(p50 < 1100, `merged p50 ${p50} must come from the recorded values`);
});

test("an encoded histogram decodes to the same counts", () => {
  const h = createHistogram();
  for (const v of [1, 2, 3, 1000, 250_000]) h.recordValue(v);
  assert.deepEqual(percentiles(decodeHistogram(encodeHistogram(h))), percentiles(h));
  assert.deepEqual(percentiles(mergeEncoded([])).count, 0);
});
