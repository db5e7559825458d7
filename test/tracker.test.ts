import assert from "node:assert/strict";
import { test } from "node:test";
import { SequenceTracker } from "../core/tracker.js";

test("in-order delivery counts everything delivered and nothing else", () => {
  const t = new SequenceTracker();
  for (let s = 1; s <= 100; s++) t.record(s);
  assert.deepEqual(t.counts(100), { expected: 100, delivered: 100, lost: 0, duplicated: 0, reordered: 0 });
  assert.equal(t.isComplete(100), true);
});

test("gaps are losses until the missing messages arrive late, which counts as reordering", () => {
  const t = new SequenceTracker();
  for (const s of [1, 2, 5, 6, 3, 9]) t.record(s);
  // 4, 7, 8 missing; 3 arrived late.
  assert.deepEqual(t.counts(10), { expected: 10, delivered: 6, lost: 4, duplicated: 0, reordered: 1 });
  assert.equal(t.isComplete(9), false);
  t.record(4);
  t.record(8);
  t.record(7);
  t.record(10);
  assert.deepEqual(t.counts(10), { expected: 10, delivered: 10, lost: 0, duplicated: 0, reordered: 4 });
  assert.equal(t.isComplete(10), true);
});

test("a message seen twice is a duplicate, whether it came in order or late", () => {
  const t = new SequenceTracker();
  for (const s of [1, 2, 2, 4, 3, 3, 1]) t.record(s);
  assert.deepEqual(t.counts(4), { expected: 4, delivered: 4, lost: 0, duplicated: 3, reordered: 1 });
});

test("a gap in the middle of a missing range splits it", () => {
  const t = new SequenceTracker();
  t.record(1);
  t.record(10); // 2..9 missing
  t.record(5);
  t.record(5);
  assert.equal(t.duplicated, 1);
  assert.deepEqual(t.counts(10), { expected: 10, delivered: 3, lost: 7, duplicated: 1, reordered: 1 });
});
